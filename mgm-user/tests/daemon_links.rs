//! Root lab test of mgmd following its interfaces through rtnetlink: an outgoing interface
//! that goes down leaves service (the other receiver keeps its flow) and comes back into it
//! when it is up again; one deleted and created anew, under a new ifindex, is taken into
//! service again and gets the flow's traffic once more.
mod support;

use anyhow::Result;
use mgm_user::lab::{Host, Lab};
use std::net::Ipv4Addr;
use support::{Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 7, 0, 1);

fn config() -> String {
    support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP), ("rcv2", NO_IGMP)])
        + "[[route]]\nfrom = \"up0\"\ngroup = \"239.7.0.0/16\"\nto = [\"rcv1\", \"rcv2\"]\n"
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn interfaces_that_go_down_or_come_back_anew_are_followed() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config())?;
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "at start")?;

    // rcv1 down: out of service; rcv2 keeps the flow. Up again: both get it.
    mgmd.lab
        .ip(Host::Router, &["link", "set", "rcv1", "down"])?;
    mgmd.wait_for_service("rcv1", false)?;
    mgmd.expect_delivery(GROUP, 30, &[2], "rcv1 down")?;
    mgmd.lab.ip(Host::Router, &["link", "set", "rcv1", "up"])?;
    mgmd.wait_for_service("rcv1", true)?;
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "rcv1 up again")?;

    // rcv2 deleted (with its peer), then created anew: a new ifindex, followed.
    let old = mgmd.wait_for_service("rcv2", true)?;
    mgmd.lab.ip(Host::Router, &["link", "del", "rcv2"])?;
    mgmd.wait_for_service("rcv2", false)?;
    mgmd.expect_delivery_among(&[1], GROUP, 30, &[1], "rcv2 deleted")?;
    let lab = &mgmd.lab;
    lab.link(Host::Receiver(2), "eth0", Host::Router, "rcv2")?;
    lab.address(Host::Receiver(2), "eth0", "10.2.0.1/24")?;
    lab.address(Host::Router, "rcv2", "10.2.0.254/24")?;
    lab.run(Host::Receiver(2), &["ethtool", "-K", "eth0", "gro", "on"])?;
    let new = mgmd.wait_for_service("rcv2", true)?;
    anyhow::ensure!(new != old, "rcv2 kept ifindex {old}");
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "rcv2 created anew")?;
    Ok(())
}
