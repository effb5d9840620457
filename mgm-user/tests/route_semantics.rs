//! Root lab tests: static routes forward as the kernel with smcroute does on the same topology
//! (every packet of every stream below reaches its receivers: 200/200, 300/300), with real
//! traffic through veth pairs in network namespaces.
//!
//! * A route with any source forwards a source the router has no unicast route to.
//! * A stray packet of a routed (S,G) on another interface first does not blackhole the flow:
//!   it is a wrong-interface drop, the flow forwards.
//! * Two streams of one (S,G), on the route's inbound interface and on another one, the other
//!   one first: only the inbound one is delivered, also from the hold queue.
//! * Taking an outgoing interface out of service updates the flow's entry in place (its
//!   counters, which include the copies sent from the hold queue, go on).
//! * A source behind an ECMP (multipath) default route passes RPF (its first next hop).
//! * Routes that match one flow add up (an (S,G) route and a (\*,G) prefix route of its
//!   group): its packets leave by every interface of both, in any order of the routes, where
//!   smcroute's choice of one depends on that order (README).
//! * A route whose source is the unspecified address (`0.0.0.0`, in the file or in `mgmctl
//!   add`) is an any-source route, as with smcroute, not a route of a source that never sends.
//! * A veth whose peer has no GRO is reported not ready, and the copies the kernel then drops
//!   silently are counted in `show stats`.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 0, 1);
const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn config(route: &str) -> String {
    let interfaces = support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP), ("rcv2", NO_IGMP)]);
    format!("{interfaces}[[route]]\n{route}\n")
}

/// Gives `host`'s eth0 the single address `cidr` (its sender then uses it as source) and makes
/// it compute UDP checksums itself, as the lab's source does.
fn readdress(mgmd: &Mgmd, host: Host, cidr: &str) -> Result<()> {
    mgmd.lab.ip(host, &["addr", "flush", "dev", "eth0"])?;
    mgmd.lab.ip(host, &["addr", "add", cidr, "dev", "eth0"])?;
    mgmd.lab
        .run(host, &["ethtool", "-K", "eth0", "tx", "off"])?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_any_source_route_forwards_a_source_without_unicast_route() -> Result<()> {
    let mut mgmd = Mgmd::start(
        Lab::star(2)?,
        &config("from = \"up0\"\ngroup = \"239.5.0.0/16\"\nto = [\"rcv1\"]"),
    )?;
    let far = Ipv4Addr::new(192, 0, 2, 1);
    readdress(&mgmd, Host::Source, "192.0.2.1/24")?;
    let rib = mgmd.lab.ip(Host::Router, &["route", "get", "192.0.2.1"]);
    ensure!(
        rib.is_err(),
        "the router must have no route to {far}: {rib:?}"
    );
    mgmd.expect_delivery(GROUP, 200, &[1], "a source without unicast route")?;
    let mfe = mgmd.mfe(far, GROUP)?.context("the flow's entry")?;
    ensure!(mfe.iif == "up0", "inbound {}", mfe.iif);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_stray_first_packet_on_another_interface_does_not_blackhole_the_flow() -> Result<()> {
    let mut mgmd = Mgmd::start(
        Lab::star(2)?,
        &config("from = \"up0\"\nsource = \"10.0.0.1\"\ngroup = \"239.5.0.1\"\nto = [\"rcv1\"]"),
    )?;
    // rcv2 sends one packet of the routed (S,G) first.
    readdress(&mgmd, Host::Receiver(2), "10.0.0.1/24")?;
    mgmd.send(Host::Receiver(2), GROUP, 1, 0)?;
    let stray = wait_for(
        "the entry made by the stray packet",
        Duration::from_secs(5),
        || mgmd.mfe(SOURCE, GROUP),
    )?;
    ensure!(
        stray.iif == "up0" && stray.oifs.len() == 1,
        "the entry comes in on the route's inbound interface and forwards: {stray:?}"
    );
    mgmd.expect_delivery_among(&[1], GROUP, 200, &[1], "after a stray packet")?;
    let mfe = mgmd.mfe(SOURCE, GROUP)?.context("the flow's entry")?;
    ensure!(
        mfe.wrong_if >= 1,
        "the stray packet is a wrong-interface drop: {mfe:?}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn packets_held_from_another_interface_are_not_released() -> Result<()> {
    let mut mgmd = Mgmd::start(
        Lab::star(2)?,
        &config("from = \"up0\"\ngroup = \"239.5.0.1\"\nto = [\"rcv1\"]"),
    )?;
    readdress(&mgmd, Host::Receiver(2), "10.0.0.1/24")?;
    let count = 300;
    let listener = mgmd.listen(Host::Receiver(1), GROUP, count, 5.0)?;
    // A back-to-back burst on rcv2 makes the entry: its first packets are held while it is
    // created, then the up0 stream starts while the rcv2 one goes on.
    mgmd.send(Host::Receiver(2), GROUP, 20, 0)?;
    mgmd.send_in_background(Host::Receiver(2), GROUP, count, 2)?;
    mgmd.send(Host::Source, GROUP, count, 2)?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(u64::from(count)),
        "rcv1 must get the up0 stream once and nothing of the rcv2 copies: {} datagrams {:?}",
        received.seqs.len(),
        received.seqs
    );
    let stats = mgmd.stats()?;
    ensure!(stats["hold_wrong_if"] > 0, "{stats:?}");
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_outgoing_interface_leaving_service_updates_the_entry_in_place() -> Result<()> {
    let mut mgmd = Mgmd::start(
        Lab::star(2)?,
        &config("from = \"up0\"\ngroup = \"239.5.0.1\"\nto = [\"rcv1\", \"rcv2\"]"),
    )?;
    mgmd.expect_delivery(GROUP, 50, &[1, 2], "both receivers")?;
    let before = mgmd.mfe(SOURCE, GROUP)?.context("the flow's entry")?;
    let sent: Vec<(String, u64)> = before
        .oifs
        .iter()
        .map(|o| (o.iface.clone(), o.packets))
        .collect();
    ensure!(
        before.packets == 50 && sent == [("rcv1".into(), 50), ("rcv2".into(), 50)],
        "every packet and copy counted, the held ones too: {before:?}"
    );
    mgmd.lab
        .ip(Host::Router, &["link", "set", "rcv2", "down"])?;
    let after = wait_for("the entry without rcv2", Duration::from_secs(5), || {
        Ok(mgmd
            .mfe(SOURCE, GROUP)?
            .filter(|m| m.oifs.iter().map(|o| o.iface.as_str()).eq(["rcv1"])))
    })?;
    ensure!(
        after.packets == 50 && after.oifs[0].packets == 50,
        "the same entry, updated: {after:?}"
    );
    mgmd.expect_delivery_among(&[1], GROUP, 30, &[1], "rcv1 alone")?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_veth_whose_peer_cannot_take_xdp_frames_is_reported() -> Result<()> {
    let mgmd = Mgmd::start(
        Lab::star(2)?,
        &config("from = \"up0\"\ngroup = \"239.5.0.1\"\nto = [\"rcv2\"]"),
    )?;
    let stats = mgmd.stats()?;
    ensure!(
        stats["veth_rcv1_peer_ready"] == 1 && stats["veth_rcv2_peer_ready"] == 1,
        "the lab's receivers have GRO on: {stats:?}"
    );
    // Without GRO (and without an XDP program) rcv2's peer has no NAPI to take XDP frames:
    // the kernel drops them without counting them anywhere.
    mgmd.lab
        .run(Host::Receiver(2), &["ethtool", "-K", "eth0", "gro", "off"])?;
    wait_for("rcv2 reported not ready", Duration::from_secs(10), || {
        mgmd.mfes()?; // refreshes the statistics
        Ok((mgmd.stats()?["veth_rcv2_peer_ready"] == 0).then_some(()))
    })?;
    // The entry is created (its first packets leave from the hold queue, in hold mode); once
    // the fast path forwards, the measured stream goes through XDP alone.
    wait_for("the fast path forwarding", Duration::from_secs(10), || {
        mgmd.send(Host::Source, GROUP, 1, 0)?;
        Ok((mgmd.stats()?["forwarded"] > 0).then_some(()))
    })?;
    let before = mgmd.mfe(SOURCE, GROUP)?.context("the flow's entry")?;
    let lost_before = mgmd.stats()?["veth_rcv2_xdp_lost"];
    mgmd.send(Host::Source, GROUP, 100, 1)?;
    let after = mgmd.mfe(SOURCE, GROUP)?.context("the flow's entry")?; // refreshes
    let stats = mgmd.stats()?;
    let counted = after.oifs[0].packets - before.oifs[0].packets;
    let lost = stats["veth_rcv2_xdp_lost"] - lost_before;
    ensure!(
        counted == 100 && lost == 100,
        "the 100 copies mgm counted for rcv2 must show as lost, got {lost}: {stats:?}"
    );
    ensure!(stats["veth_rcv1_peer_ready"] == 1 && stats["veth_rcv1_xdp_lost"] == 0);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_source_behind_an_ecmp_default_route_passes_rpf() -> Result<()> {
    // No static routes: the flow is forwarded by IGMP, which needs the RIB to place the source.
    let interfaces = support::interfaces(&[("up0", NO_IGMP), ("rcv1", ""), ("rcv2", NO_IGMP)]);
    let mut mgmd = Mgmd::start(Lab::star(2)?, &interfaces)?;
    let far = Ipv4Addr::new(192, 0, 2, 1);
    readdress(&mgmd, Host::Source, "192.0.2.1/24")?;
    mgmd.lab.ip(
        Host::Router,
        &[
            "route", "add", "default", "nexthop", "via", "10.0.0.1", "dev", "up0", "nexthop",
            "via", "10.2.0.1", "dev", "rcv2",
        ],
    )?;
    let count = 200;
    let listener = mgmd.listen(Host::Receiver(1), GROUP, count, 5.0)?;
    mgmd.wait_for_igmp_members(GROUP, &["rcv1"])?;
    mgmd.send(Host::Source, GROUP, count, 2)?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(u64::from(count)),
        "rcv1 got {} of {count}: {:?}",
        received.seqs.len(),
        received.seqs
    );
    let mfe = mgmd.mfe(far, GROUP)?.context("the flow's entry")?;
    ensure!(mfe.iif == "up0", "RPF through the first next hop: {mfe:?}");
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn routes_matching_one_flow_add_up_in_either_order() -> Result<()> {
    let s_g = "from = \"up0\"\nsource = \"10.0.0.1\"\ngroup = \"239.5.0.1\"\nto = [\"rcv2\"]";
    let star_g = "from = \"up0\"\ngroup = \"239.5.0.0/16\"\nto = [\"rcv1\"]";
    for (first, second) in [(s_g, star_g), (star_g, s_g)] {
        let mut mgmd = Mgmd::start(
            Lab::star(2)?,
            &config(&format!("{first}\n\n[[route]]\n{second}")),
        )?;
        mgmd.expect_delivery(GROUP, 200, &[1, 2], "overlapping routes")?;
    }
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_unspecified_source_is_any_source_in_the_file_and_in_mgmctl_add() -> Result<()> {
    let mut mgmd = Mgmd::start(
        Lab::star(2)?,
        &config("from = \"up0\"\nsource = \"0.0.0.0\"\ngroup = \"239.5.0.1\"\nto = [\"rcv1\"]"),
    )?;
    mgmd.mgmctl_ok(&["add", "up0", "0.0.0.0", "239.5.0.1", "rcv2"])?;
    mgmd.expect_delivery(GROUP, 200, &[1, 2], "routes of source 0.0.0.0")?;
    let routes = mgmd.mgmctl_ok(&["show", "routes"])?;
    ensure!(
        routes.lines().all(|l| l.starts_with("up0 * 239.5.0.1/32 ")),
        "routes of source 0.0.0.0 read as any-source ones:\n{routes}"
    );
    Ok(())
}
