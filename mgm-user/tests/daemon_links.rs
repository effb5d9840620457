//! Root lab test of mgmd following its interfaces through rtnetlink: an outgoing interface
//! that goes down leaves service (the other receiver keeps its flow) and comes back into it
//! when it is up again; one deleted and created anew, under a new ifindex, is taken into
//! service again and gets the flow's traffic once more; one configured before it exists is
//! named in one warning at start and served once it is created (and named by `mgmctl monitor`
//! started before); one deleted or renamed and created anew while no mgmd runs is served by the
//! next mgmd, not left to its pinned link.
//! An outgoing bridge, which native XDP cannot send into, is named in a warning, and so is an
//! interface a reload adds that does not exist.
//! IGMP starts on an interface whose
//! IPv4 address is added after it came into service, starts over from a new address, and
//! stops when the interface has none left.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

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
    create_rcv2(&mgmd.lab)?;
    let new = mgmd.wait_for_service("rcv2", true)?;
    anyhow::ensure!(new != old, "rcv2 kept ifindex {old}");
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "rcv2 created anew")?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_interface_configured_before_it_exists_is_named_and_served_once_created() -> Result<()> {
    let lab = Lab::star(2)?;
    lab.ip(Host::Router, &["link", "del", "rcv2"])?;
    let mut mgmd = Mgmd::start_logged(lab, &config())?;
    ensure!(
        missing_rcv2_warnings(&mgmd)? == 1,
        "no warning naming the missing rcv2"
    );
    mgmd.expect_delivery_among(&[1], GROUP, 30, &[1], "rcv2 missing")?;
    // `mgmctl monitor`, started before rcv2 exists, names it once it does.
    let monitor = mgmd.monitor(&[])?;
    // Time to subscribe (it reads the interfaces first, rcv2 not among them).
    std::thread::sleep(Duration::from_secs(1));

    create_rcv2(&mgmd.lab)?;
    mgmd.wait_for_service("rcv2", true)?;
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "rcv2 created")?;
    wait_for(
        "the entry's change naming rcv2",
        Duration::from_secs(5),
        || {
            Ok(monitor
                .lines
                .try_iter()
                .find(|line| line.starts_with("mfe") && line.contains("oifs [rcv1 rcv2]")))
        },
    )?;
    drop(monitor);
    ensure!(
        missing_rcv2_warnings(&mgmd)? == 1,
        "the warning was repeated"
    );
    Ok(())
}

/// Creates the link between receiver 2 and the router anew (rcv2, eth0 on the receiver), with
/// the star's addresses.
fn create_rcv2(lab: &Lab) -> Result<()> {
    lab.link(Host::Receiver(2), "eth0", Host::Router, "rcv2")?;
    lab.address(Host::Receiver(2), "eth0", "10.2.0.1/24")?;
    lab.address(Host::Router, "rcv2", "10.2.0.254/24")?;
    lab.run(Host::Receiver(2), &["ethtool", "-K", "eth0", "gro", "on"])?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_interface_deleted_or_renamed_while_no_mgmd_runs_is_served_by_the_next() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config())?;
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "at start")?;

    // Deleted and created anew while mgmd is down: its pinned XDP link outlived it.
    support::signal_pid(mgmd.pid(), libc::SIGKILL)?;
    support::wait_exited(mgmd.pid())?;
    mgmd.lab.ip(Host::Router, &["link", "del", "rcv2"])?;
    create_rcv2(&mgmd.lab)?;
    mgmd.spawn_daemon()?;
    wait_for_rcv2_in_the_adopted_flow(&mgmd)?;
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "rcv2 created anew before the start")?;

    // Renamed (old2) and a new rcv2 created while mgmd is down: the pinned link serves old2.
    support::signal_pid(mgmd.pid(), libc::SIGKILL)?;
    support::wait_exited(mgmd.pid())?;
    let lab = &mgmd.lab;
    for (host, from, to) in [
        (Host::Router, "rcv2", "old2"),
        (Host::Receiver(2), "eth0", "old0"),
    ] {
        lab.ip(host, &["link", "set", from, "down"])?;
        lab.ip(host, &["addr", "flush", "dev", from])?;
        lab.ip(host, &["link", "set", from, "name", to])?;
    }
    create_rcv2(lab)?;
    mgmd.spawn_daemon()?;
    wait_for_rcv2_in_the_adopted_flow(&mgmd)?;
    mgmd.expect_delivery(GROUP, 30, &[1, 2], "rcv2 created anew after a rename")?;
    let old = mgmd.lab.ip(Host::Router, &["link", "show", "old2"])?;
    let old = String::from_utf8_lossy(&old.stdout);
    ensure!(
        !old.contains("xdp"),
        "the renamed old2 keeps mgm's XDP: {old}"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_interface_native_xdp_cannot_send_into_is_named_in_a_warning() -> Result<()> {
    let lab = Lab::star(1)?;
    // A bridge has a carrier once one of its ports has.
    for args in [
        &["link", "add", "br0", "type", "bridge"][..],
        &[
            "link", "add", "brp0", "type", "veth", "peer", "name", "brp1",
        ],
        &["link", "set", "brp0", "master", "br0"],
        &["link", "set", "brp0", "up"],
        &["link", "set", "brp1", "up"],
        &["link", "set", "br0", "up"],
    ] {
        let out = lab.ip(Host::Router, args)?;
        ensure!(out.status.success(), "ip {args:?}: {out:?}");
    }
    let body = support::interfaces(&[
        ("up0", NO_IGMP),
        ("rcv1", NO_IGMP),
        ("br0", "igmp = false\nxdp_mode = \"generic\"\n"),
    ]);
    let mgmd = Mgmd::start_logged(lab, &body)?;
    mgmd.wait_for_service("br0", true)?;
    let warning = "native XDP cannot send into this interface";
    ensure!(
        mgmd.log_lines_with(&[warning, "interface=br0"])? == 1,
        "no warning naming br0"
    );
    ensure!(mgmd.log_lines(warning)? == 1, "a veth was named too");
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_interface_a_reload_adds_that_does_not_exist_is_named_in_a_warning() -> Result<()> {
    let body = support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)]);
    let mgmd = Mgmd::start_logged(Lab::star(1)?, &body)?;
    mgmd.reload(&(body + &support::interfaces(&[("rcv9", NO_IGMP)])))?;
    wait_for("the warning naming rcv9", Duration::from_secs(10), || {
        let lines = mgmd.log_lines_with(&["no such interface", "interface=rcv9"])?;
        Ok((lines == 1).then_some(()))
    })
}

/// Waits until the flow's entry, adopted from the previous run without the new rcv2, lists it
/// again: its re-derivation at the end of the adoption window.
fn wait_for_rcv2_in_the_adopted_flow(mgmd: &Mgmd) -> Result<()> {
    let source = Ipv4Addr::new(10, 0, 0, 1);
    wait_for("rcv2 in the adopted entry", Duration::from_secs(30), || {
        let oifs = mgmd.oifs(source, GROUP)?;
        Ok(oifs.iter().any(|o| o == "rcv2").then_some(()))
    })
}

/// The lines of mgmd's log that warn that rcv2 does not exist.
fn missing_rcv2_warnings(mgmd: &Mgmd) -> Result<usize> {
    let log = std::fs::read_to_string(mgmd.log_path().context("a logged mgmd")?)?;
    Ok(log
        .lines()
        .filter(|l| l.contains("no such interface") && l.contains("interface=rcv2"))
        .count())
}

/// Waits until `show interfaces` says whether IGMP runs on `name`.
fn wait_for_igmp(mgmd: &Mgmd, name: &str, running: bool) -> Result<()> {
    wait_for(
        &format!("IGMP on {name}: {running}"),
        Duration::from_secs(30),
        || {
            let on = mgmd.interfaces()?.iter().any(|r| r.name == name && r.igmp);
            Ok((on == running).then_some(()))
        },
    )
}

/// Receiver 1 joins [`GROUP`]; once IGMP on rcv1 has its membership, it gets every packet of
/// the source's flow.
fn igmp_receiver_gets_the_flow(mgmd: &mut Mgmd, step: &str) -> Result<()> {
    let listener = mgmd.listen(Host::Receiver(1), GROUP, 30, 30.0)?;
    mgmd.wait_for_igmp_members(GROUP, &["rcv1"])?;
    mgmd.send(Host::Source, GROUP, 30, 5)?;
    let received = listener.finish()?;
    ensure!(
        received.is_complete(30),
        "{step}: rcv1 should get 0..30 once each, in order, got {:?}",
        received.seqs
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn igmp_follows_the_ipv4_address_of_an_interface_in_service() -> Result<()> {
    let lab = Lab::star(1)?;
    // rcv1 is up without an IPv4 address when mgmd starts (addresses assigned later, as by
    // DHCP or an interface manager).
    let out = lab.ip(Host::Router, &["-4", "addr", "flush", "dev", "rcv1"])?;
    ensure!(out.status.success(), "ip addr flush: {out:?}");
    let timers = "igmp_query_interval_s = 5\nigmp_query_response_ms = 1000\n\
                  igmp_last_member_interval_ms = 200\n";
    let mut mgmd = Mgmd::start(
        lab,
        &support::interfaces(&[("up0", NO_IGMP), ("rcv1", timers)]),
    )?;
    mgmd.wait_for_service("rcv1", true)?;
    wait_for_igmp(&mgmd, "rcv1", false)?;

    // The address comes: IGMP starts, its startup query brings the receiver's report, and the
    // flow is forwarded by that membership.
    mgmd.lab.address(Host::Router, "rcv1", "10.1.0.254/24")?;
    wait_for_igmp(&mgmd, "rcv1", true)?;
    igmp_receiver_gets_the_flow(&mut mgmd, "IPv4 address added")?;

    // Another address becomes the first (the old one's secondary promoted): IGMP starts over
    // from it.
    let promote = "net.ipv4.conf.rcv1.promote_secondaries=1";
    let out = mgmd.lab.run(Host::Router, &["sysctl", "-w", promote])?;
    ensure!(out.status.success(), "sysctl: {out:?}");
    let out = mgmd.lab.ip(
        Host::Router,
        &["addr", "add", "10.1.0.250/24", "dev", "rcv1"],
    )?;
    ensure!(out.status.success(), "ip addr add: {out:?}");
    let out = mgmd.lab.ip(
        Host::Router,
        &["addr", "del", "10.1.0.254/24", "dev", "rcv1"],
    )?;
    ensure!(out.status.success(), "ip addr del: {out:?}");
    wait_for(
        "IGMP querying from 10.1.0.250",
        Duration::from_secs(30),
        || {
            let shown = mgmd.mgmctl_ok(&["show", "igmp"])?;
            Ok(shown.contains("querier 10.1.0.250").then_some(()))
        },
    )?;
    igmp_receiver_gets_the_flow(&mut mgmd, "IPv4 address changed")?;

    // No address left: IGMP stops, its memberships with it.
    let out = mgmd
        .lab
        .ip(Host::Router, &["-4", "addr", "flush", "dev", "rcv1"])?;
    ensure!(out.status.success(), "ip addr flush: {out:?}");
    wait_for_igmp(&mgmd, "rcv1", false)?;
    let groups = mgmd.groups()?;
    ensure!(
        !groups
            .iter()
            .any(|g| g.iface == "rcv1" && g.protocol == "igmp"),
        "IGMP memberships left on rcv1: {groups:?}"
    );
    Ok(())
}
