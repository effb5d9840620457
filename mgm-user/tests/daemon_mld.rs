//! Root lab test (MLD through mgmd): hosts whose kernels report with MLDv1 and MLDv2 (an
//! INCLUDE and an EXCLUDE source filter) get exactly the IPv6 traffic they asked for from
//! mgmd's forwarding, read off their links, and none after leaving; `mgmctl show mld` and
//! `show groups` list the listeners. `mgmctl join` makes the router itself an IPv6 listener.
//! MLD starts on an interface whose link-local address is added after it came into service,
//! and stops when the address goes.
//!
//! RPF comes from the kernel's IPv6 unicast routes (the source's link is connected to the
//! router). Receiver 4 listens to every source throughout: its link carries every packet sent,
//! which marks the end of each burst.
mod support;

use anyhow::{bail, ensure, Context, Result};
use mgm_user::{
    lab::{Host, Lab, Stack},
    leaf::{Channel, Iface, Receiver},
    rawio::{self, PacketSocket},
};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::{
    collections::BTreeMap,
    io,
    net::{IpAddr, Ipv6Addr, SocketAddrV6},
    time::{Duration, Instant},
};
use support::{capture, interfaces, wait_for, Mgmd};

const GROUP: Ipv6Addr = Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x20, 1);
/// The second source on the source's link (the first is its address in the dual-stack lab).
const SOURCE2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
const PORT: u16 = 5020;
/// Packets per source and burst.
const BURST: u64 = 50;
/// Receiver 4's link carries every packet (an any-source listener that stays).
const EVERYTHING: u8 = 4;
/// How long a wait may take: it bounds a failure only.
const BOUND: Duration = Duration::from_secs(20);

/// The first source: the source host's address in the dual-stack lab.
fn source1() -> Ipv6Addr {
    Lab::address6_of(Host::Source).expect("the source's IPv6 address")
}

/// A UDP socket of the source host sending from `source` (an address of its eth0).
fn sender(lab: &Lab, source: Ipv6Addr) -> Result<Socket> {
    lab.in_ns(Host::Source, || -> Result<Socket> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.bind(&SockAddr::from(SocketAddrV6::new(source, 0, 0, 0)))?;
        socket.set_multicast_if_v6(rawio::ifindex("eth0")?)?;
        socket.set_multicast_hops_v6(8)?;
        Ok(socket)
    })?
}

/// Sends `seqs` from each of `senders` to the group, alternating.
fn send(senders: &[&Socket], seqs: std::ops::Range<u64>) -> Result<()> {
    let to = SockAddr::from(SocketAddrV6::new(GROUP, PORT, 0, 0));
    for seq in seqs {
        for socket in senders {
            socket.send_to(&seq.to_be_bytes(), &to)?;
        }
    }
    Ok(())
}

/// The test's UDP packets to the group in the captured IPv6 packet, as (source, number).
fn parse(packet: &[u8]) -> Option<(Ipv6Addr, u64)> {
    let udp = packet.get(40..56)?;
    let destination = Ipv6Addr::from(<[u8; 16]>::try_from(packet.get(24..40)?).ok()?);
    if packet[6] != 17 || destination != GROUP || udp[2..4] != PORT.to_be_bytes() {
        return None;
    }
    let source = Ipv6Addr::from(<[u8; 16]>::try_from(&packet[8..24]).ok()?);
    Some((source, u64::from_be_bytes(udp[8..16].try_into().ok()?)))
}

/// Reads what `capture` holds now: the numbers of the test's packets, by source.
fn drain(capture: &PacketSocket, into: &mut BTreeMap<Ipv6Addr, Vec<u64>>) -> Result<()> {
    let mut buffer = [0u8; 2048];
    loop {
        match capture.recv_from(&mut buffer) {
            Ok((len, arrival)) if !arrival.outgoing => {
                if let Some((source, seq)) = parse(&buffer[..len]) {
                    into.entry(source).or_default().push(seq);
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) => return Err(e).context("capture"),
        }
    }
}

/// What each receiver's link carries: the numbers of the test's packets, by source.
type Seen = BTreeMap<u8, BTreeMap<Ipv6Addr, Vec<u64>>>;

/// Sends a burst of `seqs` from both sources and returns what each capture saw once every
/// receiver got the sources `expected` names for it whole (receiver 4 gets both): mgmd sends
/// each packet to all its outgoing links at once, so a copy to a link that must not get it
/// would have arrived by then.
fn burst(
    senders: &[&Socket],
    captures: &BTreeMap<u8, PacketSocket>,
    seqs: std::ops::Range<u64>,
    expected: &BTreeMap<u8, Vec<Ipv6Addr>>,
) -> Result<Seen> {
    send(senders, seqs.clone())?;
    let mut seen = Seen::new();
    let deadline = Instant::now() + BOUND;
    let count = (seqs.end - seqs.start) as usize;
    loop {
        for (n, capture) in captures {
            drain(capture, seen.entry(*n).or_default())?;
        }
        let complete = expected.iter().all(|(n, sources)| {
            sources
                .iter()
                .all(|s| seen[n].get(s).is_some_and(|v| v.len() >= count))
        });
        if complete {
            for (n, capture) in captures {
                drain(capture, seen.entry(*n).or_default())?;
            }
            return Ok(seen);
        }
        if Instant::now() > deadline {
            bail!("the burst never arrived whole where expected: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Checks that each receiver's link carried exactly `seqs` once and in order from the sources
/// `expected` names for it, and nothing else.
fn check(
    seen: &Seen,
    expected: &BTreeMap<u8, Vec<Ipv6Addr>>,
    seqs: std::ops::Range<u64>,
    mgmd: &Mgmd,
) -> Result<()> {
    for (n, sources) in expected {
        let got = seen.get(n).cloned().unwrap_or_default();
        let want: BTreeMap<Ipv6Addr, Vec<u64>> = sources
            .iter()
            .map(|s| (*s, seqs.clone().collect()))
            .collect();
        ensure!(
            got == want,
            "receiver {n}: got packets from {:?}, wanted {sources:?} (each {seqs:?} once, in \
             order); mgmd counters {:?}",
            got.iter().map(|(s, v)| (s, v.len())).collect::<Vec<_>>(),
            mgmd.stats()?
        );
    }
    Ok(())
}

/// A socket of receiver `n` joined to the group (from `source` only, when given) on eth0.
fn join(lab: &Lab, n: u8, source: Option<Ipv6Addr>) -> Result<Receiver> {
    lab.in_ns(Host::Receiver(n), || {
        Receiver::join(
            Channel {
                group: GROUP,
                source,
            },
            PORT,
            Iface::lookup("eth0")?,
        )
    })?
    .context("join")
}

/// Waits until mgmd's MLD memberships of the group are `expected`: (interface, source or
/// `::`, excluded sources).
fn wait_for_listeners(mgmd: &Mgmd, expected: &[(&str, Ipv6Addr, Vec<IpAddr>)]) -> Result<()> {
    wait_for("the MLD listeners in show groups", BOUND, || {
        let mut rows: Vec<(String, IpAddr, Vec<IpAddr>)> = mgmd
            .groups()?
            .into_iter()
            .filter(|r| r.protocol == "mld" && r.group == IpAddr::V6(GROUP))
            .map(|r| (r.iface, r.source, r.excluded))
            .collect();
        rows.sort();
        let mut want: Vec<(String, IpAddr, Vec<IpAddr>)> = expected
            .iter()
            .map(|(i, s, e)| (i.to_string(), IpAddr::V6(*s), e.clone()))
            .collect();
        want.sort();
        Ok((rows == want).then_some(()))
    })
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mldv1_and_mldv2_include_and_exclude_listeners_get_exactly_what_they_asked_for() -> Result<()> {
    let lab = Lab::star_with(5, Stack::Dual)?;
    let out = lab.ip(
        Host::Source,
        &[
            "-6",
            "addr",
            "add",
            &format!("{SOURCE2}/64"),
            "dev",
            "eth0",
            "nodad",
        ],
    )?;
    ensure!(out.status.success(), "ip addr add: {out:?}");
    // Receiver 1 reports with MLDv1, the others with MLDv2; all report changes quickly.
    for n in 1..=5 {
        let version = if n == 1 { 1 } else { 2 };
        lab.force_mld_version(Host::Receiver(n), "eth0", version)?;
        for key in [
            "mldv1_unsolicited_report_interval",
            "mldv2_unsolicited_report_interval",
        ] {
            lab.sysctl(
                Host::Receiver(n),
                &format!("net.ipv6.conf.eth0.{key}"),
                "100",
            )?;
        }
    }
    // Short MLD timers (MLD takes IGMP's): a leave ends after 2 × 200 ms of queries.
    let timers = "igmp_query_interval_s = 5\nigmp_query_response_ms = 1000\n\
                  igmp_last_member_interval_ms = 200\n";
    let ifaces: Vec<(&str, &str)> = ["up0", "rcv1", "rcv2", "rcv3", "rcv4", "rcv5"]
        .into_iter()
        .map(|i| (i, timers))
        .collect();
    let body = interfaces(&ifaces);
    let mgmd = Mgmd::start(lab, &body)?;
    let lab = &mgmd.lab;
    let (s1, s2) = (source1(), SOURCE2);
    let senders = [sender(lab, s1)?, sender(lab, s2)?];
    let senders: Vec<&Socket> = senders.iter().collect();
    let captures: BTreeMap<u8, PacketSocket> = (1..=5)
        .map(|n| Ok((n, capture(lab, Host::Receiver(n), libc::ETH_P_IPV6)?)))
        .collect::<Result<_>>()?;

    let v1_any = join(lab, 1, None)?;
    let v2_include = join(lab, 2, Some(s1))?;
    let v2_exclude = join(lab, 3, None)?;
    v2_exclude.block(IpAddr::V6(s2))?;
    let _marker = join(lab, EVERYTHING, None)?;
    wait_for_listeners(
        &mgmd,
        &[
            ("rcv4", Ipv6Addr::UNSPECIFIED, vec![]),
            ("rcv1", Ipv6Addr::UNSPECIFIED, vec![]),
            ("rcv2", s1, vec![]),
            ("rcv3", Ipv6Addr::UNSPECIFIED, vec![IpAddr::V6(s2)]),
        ],
    )?;
    let running: Vec<(String, bool)> = mgmd
        .interfaces()?
        .into_iter()
        .map(|i| (i.name, i.mld))
        .collect();
    ensure!(
        running.iter().all(|(_, mld)| *mld),
        "MLD runs on every interface: {running:?}"
    );
    let show = mgmd.mgmctl_ok(&["show", "mld"])?;
    for line in [
        format!("{GROUP} Exclude compat MLDV1"),
        format!("{GROUP} Include compat MLDV2"),
        format!("{s1} forward"),
        format!("{GROUP} Exclude compat MLDV2"),
        format!("{s2} block"),
    ] {
        ensure!(show.contains(&line), "show mld lacks {line:?}:\n{show}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&mgmd.mgmctl_ok(&["--json", "show", "mld"])?)?;
    ensure!(json.to_string().contains(&GROUP.to_string()), "{json}");

    let expected: BTreeMap<u8, Vec<Ipv6Addr>> = [
        (1, vec![s1, s2]),
        (2, vec![s1]),
        (3, vec![s1]),
        (EVERYTHING, vec![s1, s2]),
        (5, vec![]),
    ]
    .into();
    let seen = burst(&senders, &captures, 0..BURST, &expected)?;
    check(&seen, &expected, 0..BURST, &mgmd)?;
    // The receivers' sockets got what they joined, too.
    for (receiver, from) in [(&v1_any, s1), (&v2_include, s1), (&v2_exclude, s1)] {
        let datagram = receiver.recv(BOUND)?.context("a datagram")?;
        ensure!(datagram.from.ip() == IpAddr::V6(from), "{datagram:?}");
    }

    // Everyone leaves: MLDv1 done, MLDv2 TO_IN {} / BLOCK; mgmd's queries go unanswered.
    v1_any.leave()?;
    v2_include.leave()?;
    v2_exclude.leave()?;
    wait_for_listeners(&mgmd, &[("rcv4", Ipv6Addr::UNSPECIFIED, vec![])])?;
    let expected: BTreeMap<u8, Vec<Ipv6Addr>> = [
        (1, vec![]),
        (2, vec![]),
        (3, vec![]),
        (EVERYTHING, vec![s1, s2]),
        (5, vec![]),
    ]
    .into();
    let seen = burst(&senders, &captures, BURST..2 * BURST, &expected)?;
    check(&seen, &expected, BURST..2 * BURST, &mgmd)?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmctl_join_makes_the_router_an_ipv6_listener_until_leave() -> Result<()> {
    let mgmd = Mgmd::start(
        Lab::star_with(1, Stack::Dual)?,
        &interfaces(&[("rcv1", "")]),
    )?;
    let joined = |want: bool| -> Result<()> {
        wait_for("the router's own IPv6 membership", BOUND, || {
            let out = mgmd
                .lab
                .ip(Host::Router, &["-6", "maddr", "show", "dev", "rcv1"])?;
            let listed = String::from_utf8_lossy(&out.stdout).contains("ff0e::30:1");
            Ok((listed == want).then_some(()))
        })
    };
    mgmd.mgmctl_ok(&["join", "rcv1", "ff0e::30:1"])?;
    joined(true)?;
    ensure!(
        !mgmd
            .mgmctl(&["join", "rcv1", "ff0e::30:1"])?
            .status
            .success(),
        "a second join is refused"
    );
    mgmd.mgmctl_ok(&["leave", "rcv1", "ff0e::30:1"])?;
    joined(false)?;
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mld_starts_when_the_link_local_address_comes_after_the_interface_and_stops_when_it_goes(
) -> Result<()> {
    let lab = Lab::star_with(1, Stack::Dual)?;
    // The router's rcv1 loses its link-local address and gets none generated again.
    for args in [
        &["link", "set", "rcv1", "addrgenmode", "none"][..],
        &["-6", "addr", "flush", "dev", "rcv1", "scope", "link"],
    ] {
        let out = lab.ip(Host::Router, args)?;
        ensure!(out.status.success(), "ip {args:?}: {out:?}");
    }
    let timers = "igmp_query_interval_s = 5\nigmp_query_response_ms = 1000\n\
                  igmp_last_member_interval_ms = 200\n";
    let mgmd = Mgmd::start(lab, &interfaces(&[("up0", timers), ("rcv1", timers)]))?;
    let mld_on_rcv1 = |mgmd: &Mgmd, want: bool| -> Result<()> {
        wait_for("MLD on rcv1 in show interfaces", BOUND, || {
            let on = mgmd
                .interfaces()?
                .into_iter()
                .any(|i| i.name == "rcv1" && i.mld);
            Ok((on == want).then_some(()))
        })
    };
    mld_on_rcv1(&mgmd, false)?;
    // A listener from before: its unsolicited reports went unheard.
    let listener = join(&mgmd.lab, 1, None)?;
    let (address, ll) = ("fe80::fe/64", "fe80::fe");
    let out = mgmd.lab.ip(
        Host::Router,
        &["-6", "addr", "add", address, "dev", "rcv1", "nodad"],
    )?;
    ensure!(out.status.success(), "ip addr add: {out:?}");
    mld_on_rcv1(&mgmd, true)?;
    let show = mgmd.mgmctl_ok(&["show", "mld"])?;
    ensure!(show.contains(ll), "MLD queries from {ll}:\n{show}");
    // MLD's startup query brings the listener's report: it is honoured, traffic flows.
    wait_for_listeners(&mgmd, &[("rcv1", Ipv6Addr::UNSPECIFIED, vec![])])?;
    let sender = sender(&mgmd.lab, source1())?;
    send(&[&sender], 0..BURST)?;
    for seq in 0..BURST {
        let datagram = listener
            .recv(BOUND)?
            .with_context(|| format!("datagram {seq} of {BURST}"))?;
        ensure!(datagram.from.ip() == IpAddr::V6(source1()), "{datagram:?}");
    }
    // The address goes: MLD stops cleanly, its listener with it.
    let out = mgmd
        .lab
        .ip(Host::Router, &["-6", "addr", "del", address, "dev", "rcv1"])?;
    ensure!(out.status.success(), "ip addr del: {out:?}");
    mld_on_rcv1(&mgmd, false)?;
    wait_for_listeners(&mgmd, &[])?;
    let oifs = mgmd.oifs(source1(), GROUP)?;
    ensure!(oifs.is_empty(), "rcv1 still forwarded to: {oifs:?}");
    Ok(())
}
