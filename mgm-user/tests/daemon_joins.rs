//! Root lab test of which interfaces `mgmctl join` takes: those of mgmd's configuration, as
//! the file's `[[join]]`s. A join on an interface the file does not configure (one that
//! exists, or none at all) and one on a configured interface that does not exist now are
//! refused with an error naming the reason (exit 1), and the router's kernel holds no
//! membership for them; a join on a configured interface that exists is made.
mod support;

use anyhow::{ensure, Result};
use mgm_user::lab::Lab;
use std::net::Ipv4Addr;
use support::{router_joined, Mgmd};

/// `mgmctl join IFACE GROUP` exits 1 with `reason` in its error, and nothing is joined.
fn refused(mgmd: &Mgmd, iface: &str, group: Ipv4Addr, reason: &str) -> Result<()> {
    let out = mgmd.mgmctl(&["join", iface, &group.to_string()])?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.code() == Some(1) && stderr.contains(reason),
        "mgmctl join {iface} {group}: wanted exit 1 and {reason:?}, got {:?}: {stderr}",
        out.status.code()
    );
    ensure!(
        !router_joined(&mgmd.lab, iface, group)?,
        "the refused join on {iface} was made"
    );
    let joins = mgmd.mgmctl_ok(&["show", "joins"])?;
    ensure!(
        !joins.contains(&group.to_string()),
        "show joins lists the refused join:\n{joins}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmctl_join_takes_the_configured_interfaces_that_exist() -> Result<()> {
    // rcv2 exists but is not configured; ghost0 is configured but does not exist.
    let config = support::interfaces(&[("up0", ""), ("rcv1", ""), ("ghost0", "")]);
    let mgmd = Mgmd::start(Lab::star(2)?, &config)?;
    let group = Ipv4Addr::new(239, 7, 0, 1);
    refused(
        &mgmd,
        "rcv2",
        group,
        "rcv2 is not a configured [[interface]]",
    )?;
    refused(
        &mgmd,
        "nosuch0",
        group,
        "nosuch0 is not a configured [[interface]]",
    )?;
    refused(&mgmd, "ghost0", group, "ghost0 does not exist")?;
    mgmd.mgmctl_ok(&["join", "rcv1", &group.to_string()])?;
    ensure!(router_joined(&mgmd.lab, "rcv1", group)?, "no join on rcv1");
    Ok(())
}
