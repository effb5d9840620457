//! Root lab test of mgmd's built-in IGMP proxy (RFC 4605): when receivers join a group on the
//! downstream interfaces, the router joins it upstream (an IGMP report from the router is seen
//! on the upstream link) and forwards what the upstream host sends; when they leave, the router
//! leaves upstream (a leave report is seen) and the traffic stops. `mgmctl join/leave` make the
//! router itself join and leave as a host. The same proxy serves IPv6 with MLD: the router's
//! MLD report of the group is seen upstream and its kernel holds the membership there. In both
//! families a source-specific receiver makes the router join that source only upstream (an
//! INCLUDE record with it). Both kinds of joins, the proxy's and `mgmctl join`'s, of both
//! families, follow the upstream interface through a flap: after it goes down and up, and
//! after it is deleted and created anew under the same name, the router's kernel holds them
//! again and the flow is forwarded. `mgmctl show joins` lists the router's joins and who holds
//! each. A `[[join]]` of the configuration file (smcroute's `mgroup`) is joined from the start
//! and left when a reload drops it.
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::{
    lab::{Host, Lab, Listener, Stack},
    rawio::{self, Framing, PacketSocket},
    wire::{
        igmp::{self, msg_type, RecordType, ALL_V3_ROUTERS},
        ipv4, ipv6, mld,
    },
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::{
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};
use support::{router_joined, wait_for, Mgmd};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 6, 0, 1);
/// The upstream host, the flow's source.
const UPSTREAM_SOURCE: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 1);
/// The router's address on the upstream link.
const ROUTER_UPSTREAM: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);

fn config() -> String {
    support::interfaces(&[("wan0", ""), ("rcv1", ""), ("rcv2", "")])
        + "[proxy]\nupstream = \"wan0\"\ndownstream = [\"rcv1\", \"rcv2\"]\n"
}

/// What the router reported for the group on the upstream link.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// Any source (EXCLUDE mode, or a v1/v2 report).
    Join,
    /// No source any more (INCLUDE {}, or a v2 leave / MLD done).
    Leave,
    /// These sources only (INCLUDE mode or new allowed sources).
    Sources(Vec<IpAddr>),
}

/// What an IGMPv3 or MLDv2 record of the group with `sources` reports: a join (an exclude
/// record), a leave (an include record without sources) or sources (an include or allow
/// record with some).
fn record_report(record_type: u8, sources: Vec<IpAddr>) -> Option<Report> {
    match (RecordType::from(record_type), sources.is_empty()) {
        (RecordType::ToExclude | RecordType::IsExclude, _) => Some(Report::Join),
        (RecordType::ToInclude | RecordType::IsInclude, true) => Some(Report::Leave),
        (RecordType::ToInclude | RecordType::IsInclude | RecordType::Allow, false) => {
            Some(Report::Sources(sources))
        }
        _ => None,
    }
}

/// What one report's records of the group (type and sources each) say of it. Records apply in
/// order, so the last that says something decides: after a leave made while the link was down
/// and a join made soon after it came up, the kernel sends the pending leave (TO_IN {}) and the
/// join (TO_EX {}) of the same group in one report, the leave first.
fn group_report(records: impl Iterator<Item = (u8, Vec<IpAddr>)>) -> Option<Report> {
    records
        .filter_map(|(record_type, sources)| record_report(record_type, sources))
        .last()
}

/// How a test sees the router's upstream membership of its group: the next report of it,
/// whether its kernel filter includes the test's source, whether it is joined at all.
struct UpstreamChecks<'a> {
    report: &'a mut dyn FnMut(Report) -> Result<()>,
    includes: &'a dyn Fn(&Mgmd) -> Result<bool>,
    joined: &'a dyn Fn(&Mgmd) -> Result<bool>,
}

/// A source-specific receiver makes the router join that source only upstream (RFC 4605
/// §4.1); an any-source receiver joining too makes the membership any-source, and when it
/// leaves, the membership is of the source only again; when the last receiver goes, the
/// router leaves upstream.
fn source_specific_then_any_source(
    mgmd: &mut Mgmd,
    source: IpAddr,
    group: IpAddr,
    checks: UpstreamChecks<'_>,
) -> Result<()> {
    let ssm = mgmd.listen_to(Host::Receiver(1), source, group, 1, 20.0)?;
    (checks.report)(Report::Sources(vec![source]))?;
    ensure!((checks.joined)(mgmd)?, "no upstream membership");
    ensure!((checks.includes)(mgmd)?, "no source filter upstream");
    let any_source = mgmd.listen(Host::Receiver(2), group, 1, 2.0)?;
    (checks.report)(Report::Join)?;
    any_source.finish()?;
    wait_for(
        "the source-only membership again",
        Duration::from_secs(30),
        || Ok((checks.includes)(mgmd)?.then_some(())),
    )?;
    ssm.finish()?;
    wait_for(
        "the source-specific join left",
        Duration::from_secs(30),
        || Ok((!(checks.joined)(mgmd)?).then_some(())),
    )
}

/// Receivers 1 and 2 listen for `count` packets of `group` (leaving when they have them).
fn listen_downstream(mgmd: &mut Mgmd, group: IpAddr, count: u32) -> Result<Vec<Listener>> {
    [1, 2]
        .map(|n| mgmd.listen(Host::Receiver(n), group, count, 30.0))
        .into_iter()
        .collect()
}

/// The upstream host sends `count` packets to `group`: each receiver listening (rcv1, then
/// rcv2) gets every one, once and in order, through the entry of (`source`, `group`) coming in
/// on wan0.
fn expect_forwarded_downstream(
    mgmd: &mut Mgmd,
    listeners: Vec<Listener>,
    source: IpAddr,
    group: IpAddr,
    count: u32,
) -> Result<()> {
    mgmd.send(Host::Upstream, group, count, 5)?;
    for (n, listener) in [1, 2].into_iter().zip(listeners) {
        let received = listener.finish()?;
        ensure!(
            received.is_complete(u64::from(count)),
            "rcv{n} should get 0..{count} once each, in order, got {:?}",
            received.seqs
        );
    }
    let mfe = mgmd
        .mfe(source, group)?
        .context("no entry for the upstream flow")?;
    ensure!(mfe.iif == "wan0", "inbound interface {}", mfe.iif);
    Ok(())
}

/// After the receivers left, the entry of (`source`, `group`) loses its outgoing interfaces,
/// and what the upstream host sends still reaches the router but goes nowhere.
fn expect_pruned(mgmd: &mut Mgmd, source: IpAddr, group: IpAddr) -> Result<()> {
    let pruned = wait_for(
        "the downstream interfaces pruned",
        Duration::from_secs(30),
        || Ok(mgmd.mfe(source, group)?.filter(|m| m.oifs.is_empty())),
    )?;
    mgmd.send(Host::Upstream, group, 20, 5)?;
    // The packets may still be on their way when the sender returns: wait for the count.
    let after = wait_for(
        "the 20 packets counted on the pruned entry",
        Duration::from_secs(30),
        || {
            let entry = mgmd.mfe(source, group)?.context("the entry is gone")?;
            Ok((entry.packets >= pruned.packets + 20).then_some(entry))
        },
    )?;
    ensure!(
        after.oifs.is_empty(),
        "after the leave the flow should arrive and go nowhere: before {pruned:?}, after {after:?}"
    );
    Ok(())
}

/// A raw IGMP socket of the upstream host that has joined 224.0.0.22 (where IGMPv3 reports
/// go), so it sees the reports the router sends on the upstream link.
fn upstream_listener(lab: &Lab) -> Result<Socket> {
    lab.in_ns(Host::Upstream, || -> Result<Socket> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(2)))?;
        let ifindex = mgm_user::leaf::Iface::lookup("eth0")?.index;
        socket.join_multicast_v4_n(&ALL_V3_ROUTERS, &InterfaceIndexOrAddress::Index(ifindex))?;
        Ok(socket)
    })?
}

/// Waits for the router to report `want` for [`GROUP`] (v3 records, or v2 report/leave),
/// skipping every other IGMP message.
fn expect_report(socket: &Socket, want: Report, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let datagram = rawio::recv(socket, left)?
            .with_context(|| format!("no {want:?} report for {GROUP} within {timeout:?}"))?;
        let Ok(ip) = ipv4::Packet::new_checked(&datagram.data[..]) else {
            continue;
        };
        let Ok(message) = igmp::Packet::new_checked(ip.payload()) else {
            continue;
        };
        if ip.src_addr() != ROUTER_UPSTREAM {
            continue;
        }
        let report = match message.msg_type() {
            msg_type::REPORT_V2 if message.group_addr() == GROUP => Some(Report::Join),
            msg_type::LEAVE if message.group_addr() == GROUP => Some(Report::Leave),
            msg_type::REPORT_V3 => group_report(
                message
                    .records()
                    .filter(|r| r.group_addr() == GROUP)
                    .map(|r| (r.record_type(), r.sources().map(IpAddr::V4).collect())),
            ),
            _ => None,
        };
        if report.as_ref() == Some(&want) {
            return Ok(());
        }
    }
}

/// Whether the router's kernel holds `source` in the INCLUDE filter of its membership of
/// `group` on `iface`, as `/proc/net/<table>` (`mcfilter`, `mcfilter6`) writes them.
fn router_includes(
    mgmd: &Mgmd,
    table: &str,
    iface: &str,
    group: &str,
    source: &str,
) -> Result<bool> {
    let out = mgmd
        .lab
        .run(Host::Router, &["cat", &format!("/proc/net/{table}")])?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(fields[..], [_, i, g, s, include, _]
            if i == iface && g == group && s == source && include != "0")
    }))
}

/// Whether the router's upstream membership of [`GROUP`] includes `source` (mcfilter writes
/// addresses as hex words in host order).
fn upstream_includes(mgmd: &Mgmd, source: Ipv4Addr) -> Result<bool> {
    let hex = |a: Ipv4Addr| format!("0x{:08x}", u32::from(a));
    router_includes(mgmd, "mcfilter", "wan0", &hex(GROUP), &hex(source))
}

/// Whether the router joined [`GROUP`] upstream.
fn joined_upstream(mgmd: &Mgmd) -> Result<bool> {
    router_joined(&mgmd.lab, "wan0", GROUP)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn proxy_joins_upstream_forwards_and_prunes() -> Result<()> {
    let mut lab = Lab::star(2)?;
    lab.add_upstream()?;
    let mut mgmd = Mgmd::start(lab, &config())?;
    let upstream = upstream_listener(&mgmd.lab)?;
    // The router itself joins and leaves as a host (`mgmctl join/leave`, like smcroutectl).
    let own = Ipv4Addr::new(239, 6, 9, 9);
    mgmd.mgmctl_ok(&["join", "wan0", "239.6.9.9"])?;
    ensure!(
        router_joined(&mgmd.lab, "wan0", own)?,
        "mgmctl join: no join"
    );
    // `show joins` lists it, as `smcroutectl show groups` does, until it is left.
    let joins = mgmd.mgmctl_ok(&["show", "joins"])?;
    ensure!(
        joins.lines().any(|l| l == "wan0 * 239.6.9.9 join joined"),
        "show joins after mgmctl join:\n{joins}"
    );
    mgmd.mgmctl_ok(&["leave", "wan0", "239.6.9.9"])?;
    ensure!(
        !router_joined(&mgmd.lab, "wan0", own)?,
        "mgmctl leave: still joined"
    );
    let joins = mgmd.mgmctl_ok(&["show", "joins"])?;
    ensure!(
        !joins.contains("239.6.9.9"),
        "show joins after leave:\n{joins}"
    );
    let again = mgmd.mgmctl(&["leave", "wan0", "239.6.9.9"])?;
    ensure!(again.status.code() == Some(1), "leaving twice: {again:?}");

    ensure!(
        !joined_upstream(&mgmd)?,
        "joined upstream before any receiver"
    );

    let checks = UpstreamChecks {
        report: &mut |want| expect_report(&upstream, want, Duration::from_secs(30)),
        includes: &|mgmd| upstream_includes(mgmd, UPSTREAM_SOURCE),
        joined: &joined_upstream,
    };
    source_specific_then_any_source(&mut mgmd, UPSTREAM_SOURCE.into(), GROUP.into(), checks)?;

    // Receivers join downstream: the router joins upstream and forwards every packet.
    let count = 60;
    let listeners = listen_downstream(&mut mgmd, GROUP.into(), count)?;
    mgmd.wait_for_igmp_members(GROUP, &["rcv1", "rcv2"])?;
    expect_report(&upstream, Report::Join, Duration::from_secs(30))?;
    ensure!(
        joined_upstream(&mgmd)?,
        "/proc/net/igmp shows no join on wan0"
    );
    let joins = mgmd.mgmctl_ok(&["show", "joins"])?;
    ensure!(
        joins
            .lines()
            .any(|l| l == format!("wan0 * {GROUP} proxy joined")),
        "show joins lists the proxy's upstream join:\n{joins}"
    );
    let (source, group) = (UPSTREAM_SOURCE.into(), GROUP.into());
    expect_forwarded_downstream(&mut mgmd, listeners, source, group, count)?;

    // The receivers left when they had their packets: the router leaves upstream, and what
    // the upstream host sends still reaches the router but goes nowhere.
    expect_report(&upstream, Report::Leave, Duration::from_secs(30))?;
    ensure!(
        !joined_upstream(&mgmd)?,
        "/proc/net/igmp still shows the join"
    );
    expect_pruned(&mut mgmd, source, group)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_join_of_the_file_is_made_at_start_and_left_when_a_reload_drops_it() -> Result<()> {
    let mut lab = Lab::star(2)?;
    lab.add_upstream()?;
    let own = Ipv4Addr::new(239, 6, 9, 8);
    let joined = format!(
        "{}[[join]]\ninterface = \"wan0\"\ngroup = \"{own}\"\n",
        config()
    );
    let mgmd = Mgmd::start(lab, &joined)?;
    wait_for("the file's join on wan0", Duration::from_secs(10), || {
        router_joined(&mgmd.lab, "wan0", own).map(|j| j.then_some(()))
    })?;
    let joins = mgmd.mgmctl_ok(&["show", "joins"])?;
    ensure!(
        joins
            .lines()
            .any(|l| l == format!("wan0 * {own} file joined")),
        "show joins lists the file's join:\n{joins}"
    );
    // SIGHUP: mgmd reloads when its loop gets to it.
    mgmd.reload(&config())?;
    wait_for("the file's join left", Duration::from_secs(10), || {
        router_joined(&mgmd.lab, "wan0", own).map(|j| (!j).then_some(()))
    })
    .context("a reload without the [[join]] keeps it")?;
    Ok(())
}

/// The IPv6 group of the MLD proxy test.
const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x60, 1);

/// A capture of the IPv6 packets arriving on the upstream host's eth0 (the router's MLD
/// reports among them).
fn upstream_capture6(lab: &Lab) -> Result<PacketSocket> {
    lab.in_ns(Host::Upstream, || -> io::Result<PacketSocket> {
        let capture = PacketSocket::open(Framing::Cooked, libc::ETH_P_IPV6 as u16)?;
        capture.socket().set_nonblocking(true)?;
        capture.bind(rawio::ifindex("eth0")?)?;
        Ok(capture)
    })?
    .context("capture")
}

/// What an MLD packet from the router's link-local address reports for [`GROUP6`].
fn mld_report_of(packet: &[u8]) -> Option<Report> {
    let ip = ipv6::Packet::new_checked(packet).ok()?;
    let (next, upper) = ip.upper_layer();
    if next != ipv6::NEXT_ICMPV6 || ip.src_addr().segments()[0] != 0xfe80 {
        return None;
    }
    let message = mld::Packet::new_checked(upper).ok()?;
    match message.msg_type() {
        mld::msg_type::REPORT_V1 if message.address() == GROUP6 => Some(Report::Join),
        mld::msg_type::DONE if message.address() == GROUP6 => Some(Report::Leave),
        mld::msg_type::REPORT_V2 => group_report(
            message
                .records()
                .filter(|r| r.address() == GROUP6)
                .map(|r| (r.record_type(), r.sources().map(IpAddr::V6).collect())),
        ),
        _ => None,
    }
}

/// Waits for the router to report `want` for [`GROUP6`] on the upstream link.
fn expect_mld_report(capture: &PacketSocket, want: Report) -> Result<()> {
    let mut buffer = [0u8; 2048];
    wait_for(
        &format!("the router's MLD {want:?} report upstream"),
        Duration::from_secs(30),
        || loop {
            match capture.recv_from(&mut buffer) {
                Ok((len, arrival)) if !arrival.outgoing => {
                    if mld_report_of(&buffer[..len]).as_ref() == Some(&want) {
                        return Ok(Some(()));
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(None),
                Err(e) => return Err(e).context("capture"),
            }
        },
    )
}

/// Whether the router's upstream membership of [`GROUP6`] includes `source` (mcfilter6
/// writes addresses as 32 hex digits).
fn upstream_includes6(mgmd: &Mgmd, source: Ipv6Addr) -> Result<bool> {
    let hex = |a: Ipv6Addr| {
        a.octets()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    router_includes(mgmd, "mcfilter6", "wan0", &hex(GROUP6), &hex(source))
}

/// Whether the router's kernel holds a membership of `group` on wan0.
fn router_joined6(mgmd: &Mgmd, group: Ipv6Addr) -> Result<bool> {
    let out = mgmd
        .lab
        .ip(Host::Router, &["-6", "maddr", "show", "dev", "wan0"])?;
    Ok(String::from_utf8_lossy(&out.stdout).contains(&group.to_string()))
}

/// Whether the router's kernel holds a membership of [`GROUP6`] on wan0.
fn joined_upstream6(mgmd: &Mgmd) -> Result<bool> {
    router_joined6(mgmd, GROUP6)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mld_proxy_joins_upstream_forwards_and_prunes() -> Result<()> {
    let mut lab = Lab::star_with(2, Stack::Dual)?;
    lab.add_upstream()?;
    let mut mgmd = Mgmd::start(lab, &config())?;
    let capture = upstream_capture6(&mgmd.lab)?;
    let source = Lab::address6_of(Host::Upstream).context("the upstream's IPv6 address")?;
    ensure!(
        !joined_upstream6(&mgmd)?,
        "joined upstream before any receiver"
    );
    let checks = UpstreamChecks {
        report: &mut |want| expect_mld_report(&capture, want),
        includes: &|mgmd| upstream_includes6(mgmd, source),
        joined: &joined_upstream6,
    };
    source_specific_then_any_source(&mut mgmd, source.into(), GROUP6.into(), checks)?;

    // MLDv2 receivers join downstream: the router joins upstream (an MLD report from its
    // link-local address, and its kernel's membership) and forwards every packet in XDP.
    let count = 60;
    let listeners = listen_downstream(&mut mgmd, GROUP6.into(), count)?;
    mgmd.wait_for_members("mld", GROUP6, &["rcv1", "rcv2"])?;
    expect_mld_report(&capture, Report::Join)?;
    ensure!(
        joined_upstream6(&mgmd)?,
        "ip -6 maddr shows no join on wan0"
    );
    let shown = mgmd.mgmctl_ok(&["show", "interfaces"])?;
    ensure!(
        mgmd.interfaces()?
            .iter()
            .all(|i| i.mld == (i.name != "wan0")),
        "MLD runs on the downstream interfaces only:\n{shown}"
    );
    let (source, group) = (source.into(), GROUP6.into());
    expect_forwarded_downstream(&mut mgmd, listeners, source, group, count)?;
    ensure!(
        mgmd.stats()?.get("forwarded").copied().unwrap_or(0) > 0,
        "XDP forwarded nothing: {:?}",
        mgmd.stats()?
    );

    // The receivers left when they had their packets: the router leaves upstream, and what
    // the upstream host sends goes nowhere.
    expect_mld_report(&capture, Report::Leave)?;
    wait_for(
        "the upstream membership gone",
        Duration::from_secs(10),
        || Ok((!joined_upstream6(&mgmd)?).then_some(())),
    )?;
    expect_pruned(&mut mgmd, source, group)
}

/// The groups `mgmctl join` joins on wan0 in the flap test.
const OWN: Ipv4Addr = Ipv4Addr::new(239, 6, 9, 9);
const OWN6: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x69, 9);

/// Waits until the router's kernel holds the proxy's upstream joins ([`GROUP`], [`GROUP6`])
/// and the `mgmctl join`s ([`OWN`], [`OWN6`]) on wan0.
fn wait_for_all_joins(mgmd: &Mgmd, step: &str) -> Result<()> {
    wait_for(
        &format!("{step}: the proxy's and mgmctl's joins on wan0"),
        Duration::from_secs(30),
        || {
            let all = joined_upstream(mgmd)?
                && joined_upstream6(mgmd)?
                && router_joined(&mgmd.lab, "wan0", OWN)?
                && router_joined6(mgmd, OWN6)?;
            Ok(all.then_some(()))
        },
    )
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn host_and_proxy_joins_follow_the_upstream_interface_through_flaps() -> Result<()> {
    let mut lab = Lab::star_with(1, Stack::Dual)?;
    lab.add_upstream()?;
    let config = support::interfaces(&[("wan0", ""), ("rcv1", "")])
        + "[proxy]\nupstream = \"wan0\"\ndownstream = [\"rcv1\"]\n";
    let mut mgmd = Mgmd::start(lab, &config)?;
    mgmd.mgmctl_ok(&["join", "wan0", &OWN.to_string()])?;
    mgmd.mgmctl_ok(&["join", "wan0", &OWN6.to_string()])?;
    let count = 20;
    let receiver = mgmd.listen(Host::Receiver(1), GROUP, count, 120.0)?;
    let _receiver6 = mgmd.listen(Host::Receiver(1), GROUP6, 1, 120.0)?;
    mgmd.wait_for_igmp_members(GROUP, &["rcv1"])?;
    mgmd.wait_for_members("mld", GROUP6, &["rcv1"])?;
    wait_for_all_joins(&mgmd, "at start")?;

    // Down and up, the same ifindex: the router reports the group upstream again.
    let upstream = upstream_listener(&mgmd.lab)?;
    let first = mgmd.wait_for_service("wan0", true)?;
    mgmd.lab
        .ip(Host::Router, &["link", "set", "wan0", "down"])?;
    mgmd.wait_for_service("wan0", false)?;
    mgmd.lab.ip(Host::Router, &["link", "set", "wan0", "up"])?;
    ensure!(mgmd.wait_for_service("wan0", true)? == first);
    expect_report(&upstream, Report::Join, Duration::from_secs(30))?;
    wait_for_all_joins(&mgmd, "after down and up")?;

    // Deleted and created anew, a new ifindex: the kernel dropped every membership with the
    // old interface, and mgmd makes them again on the new one.
    mgmd.lab.ip(Host::Router, &["link", "del", "wan0"])?;
    mgmd.wait_for_service("wan0", false)?;
    mgmd.lab.link_upstream()?;
    ensure!(mgmd.wait_for_service("wan0", true)? != first);
    wait_for_all_joins(&mgmd, "after wan0 was created anew")?;
    let (source, group) = (UPSTREAM_SOURCE.into(), GROUP.into());
    expect_forwarded_downstream(&mut mgmd, vec![receiver], source, group, count)
}
