//! Root lab test of the punt path across interface flaps: after the incoming interface goes
//! down and up again (same ifindex), and after it is deleted and created anew (new ifindex),
//! the first packets of a new flow are still punted, held and delivered — each interface gets
//! fresh punt sockets when it returns — and `mgmctl check` finds the maps as the MGM has them.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

fn config() -> String {
    support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
        + "[[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\"]\n"
}

/// Waits until mgmd shows `name` in service (returning its ifindex) or out of it; in service,
/// also until its punt sockets are open (the kernel releases the sockets of an interface that
/// left service a moment later, and mgmd retries until it does).
fn wait_for_service(mgmd: &Mgmd, name: &str, in_service: bool) -> Result<u32> {
    let ifindex = wait_for(
        &format!("{name} in service: {in_service}"),
        Duration::from_secs(10),
        || {
            let rows = mgmd.interfaces()?;
            let row = rows.iter().find(|r| r.name == name).context("no row")?;
            Ok((row.xdp.is_some() == in_service).then_some(row.ifindex))
        },
    )?;
    if in_service {
        wait_for("punt sockets open", Duration::from_secs(10), || {
            let waiting = mgmd.stats()?.get("punt_waiting_now").copied();
            Ok((waiting == Some(0)).then_some(()))
        })?;
    }
    Ok(ifindex)
}

/// Every packet of a flow new to mgmd arrives, from the first one on, the first ones through
/// the punt path and the hold queues.
fn new_flow_arrives_whole(mgmd: &mut Mgmd, group: Ipv4Addr, step: &str) -> Result<()> {
    let held = |mgmd: &Mgmd| -> Result<u64> {
        Ok(mgmd.stats()?.get("hold_delivered").copied().unwrap_or(0))
    };
    let before = held(mgmd)?;
    mgmd.expect_delivery(group, 30, &[1], step)?;
    let after = held(mgmd)?;
    ensure!(
        after > before,
        "{step}: no packet went through the hold queues ({before} delivered before and after)"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn new_flows_lose_no_first_packet_after_the_incoming_interface_flaps() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config())?;
    new_flow_arrives_whole(&mut mgmd, Ipv4Addr::new(239, 7, 1, 1), "at start")?;

    // Down and up: the same ifindex, fresh punt sockets.
    let first = wait_for_service(&mgmd, "up0", true)?;
    mgmd.lab.ip(Host::Router, &["link", "set", "up0", "down"])?;
    wait_for_service(&mgmd, "up0", false)?;
    mgmd.lab.ip(Host::Router, &["link", "set", "up0", "up"])?;
    ensure!(wait_for_service(&mgmd, "up0", true)? == first);
    new_flow_arrives_whole(&mut mgmd, Ipv4Addr::new(239, 7, 1, 2), "up0 down and up")?;

    // Deleted and created anew: a new ifindex.
    mgmd.lab.ip(Host::Router, &["link", "del", "up0"])?;
    wait_for_service(&mgmd, "up0", false)?;
    let lab = &mgmd.lab;
    lab.link(Host::Source, "eth0", Host::Router, "up0")?;
    lab.run(Host::Source, &["ethtool", "-K", "eth0", "tx", "off"])?;
    lab.address(Host::Source, "eth0", "10.0.0.1/24")?;
    lab.address(Host::Router, "up0", "10.0.0.254/24")?;
    lab.ip(
        Host::Source,
        &["route", "add", "default", "via", "10.0.0.254"],
    )?;
    let second = wait_for_service(&mgmd, "up0", true)?;
    ensure!(second != first, "up0 kept ifindex {first}");
    new_flow_arrives_whole(&mut mgmd, Ipv4Addr::new(239, 7, 1, 3), "up0 created anew")?;

    let check = mgmd.mgmctl(&["check"])?;
    ensure!(
        check.status.success(),
        "mgmctl check found differences: {}",
        String::from_utf8_lossy(&check.stdout)
    );
    Ok(())
}
