//! Root lab test of the punt path across interface flaps: after the incoming interface goes
//! down and up again (same ifindex), and after it is deleted and created anew (new ifindex),
//! the first packets of a new flow are still punted, held and delivered — each interface gets
//! fresh punt sockets when it returns — and `mgmctl check` finds the maps as the MGM has them.
mod support;

use anyhow::{ensure, Result};
use mgm_user::lab::{Host, Lab};
use std::net::Ipv4Addr;
use support::{Mgmd, NO_IGMP};

fn config() -> String {
    support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
        + "[[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\"]\n"
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
    let first = mgmd.wait_for_service("up0", true)?;
    mgmd.lab.ip(Host::Router, &["link", "set", "up0", "down"])?;
    mgmd.wait_for_service("up0", false)?;
    mgmd.lab.ip(Host::Router, &["link", "set", "up0", "up"])?;
    ensure!(mgmd.wait_for_service("up0", true)? == first);
    new_flow_arrives_whole(&mut mgmd, Ipv4Addr::new(239, 7, 1, 2), "up0 down and up")?;

    // Deleted and created anew: a new ifindex.
    mgmd.lab.ip(Host::Router, &["link", "del", "up0"])?;
    mgmd.wait_for_service("up0", false)?;
    let lab = &mgmd.lab;
    lab.link(Host::Source, "eth0", Host::Router, "up0")?;
    lab.run(Host::Source, &["ethtool", "-K", "eth0", "tx", "off"])?;
    lab.address(Host::Source, "eth0", "10.0.0.1/24")?;
    lab.address(Host::Router, "up0", "10.0.0.254/24")?;
    lab.ip(
        Host::Source,
        &["route", "add", "default", "via", "10.0.0.254"],
    )?;
    let second = mgmd.wait_for_service("up0", true)?;
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
