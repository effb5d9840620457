//! Root lab test of the XDP data plane forwarding real traffic: a source, the router running
//! the XDP backend, five receivers. Listed receivers get every packet exactly once, with the
//! TTL decremented and the router's MAC as source; the others and the source get none; list
//! changes under continuous traffic lose and duplicate nothing on unchanged interfaces; misses
//! reach the AF_XDP punt socket and the creation-alert ring. A set's bare member (no egress
//! program on its devmap entry) gets its own MAC and counts, moves when a rule is set on it,
//! and sets sharing interfaces keep at most one each.
mod xdp_common;

use mgm_common::SgKey;
use mgm_user::{
    dataplane::{
        DataPlaneReport, ForwardingBackend, IfaceSettings, PuntSockets, ReportReader, XskConfig,
    },
    lab::{Host, Lab},
    rawio::PacketSocket,
};
use std::{
    collections::BTreeMap,
    net::{Ipv4Addr, UdpSocket},
    path::PathBuf,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};
use xdp_common::lab::{
    capture_on, receiver_captures, receiver_ports, start_router, udp_sender, Port, Router,
};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const PORT: u16 = 5000;
const SEND_TTL: u32 = 8;
const RECEIVERS: u8 = 5;

/// One captured copy of a test packet.
#[derive(Debug, Clone, Copy)]
struct Copy {
    seq: u64,
    ttl: u8,
    source_mac: [u8; 6],
}

/// The receive buffer of the captures: large, so that nothing is lost while the test sends.
const CAPTURE_BUFFER: libc::c_int = 64 << 20;

/// Parses a captured frame: a UDP packet of the test group and port, carrying a sequence number.
fn parse(frame: &[u8]) -> Option<Copy> {
    if frame.len() < 14 + 20 + 8 + 8 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    if ip[9] != 17 || ip[16..20] != GROUP.octets() || ip.len() < header_len + 16 {
        return None;
    }
    let udp = &ip[header_len..];
    if udp[2..4] != PORT.to_be_bytes() {
        return None;
    }
    let mut source_mac = [0u8; 6];
    source_mac.copy_from_slice(&frame[6..12]);
    Some(Copy {
        seq: u64::from_be_bytes(udp[8..16].try_into().ok()?),
        ttl: ip[8],
        source_mac,
    })
}

/// Reads every frame received on `capture` (not those sent from it) until none came for
/// `idle`.
fn drain(capture: &PacketSocket, idle: Duration) -> Vec<Copy> {
    let mut copies = Vec::new();
    let mut buf = vec![0u8; 2048];
    let mut last = Instant::now();
    while last.elapsed() < idle {
        let Ok((len, arrival)) = capture.recv_from(&mut buf) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        last = Instant::now();
        if arrival.outgoing {
            continue;
        }
        if let Some(copy) = parse(&buf[..len]) {
            copies.push(copy);
        }
    }
    copies
}

/// How many copies of each sequence number arrived.
fn histogram(copies: &[Copy]) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for copy in copies {
        *seen.entry(copy.seq).or_insert(0) += 1;
    }
    seen
}

fn send(socket: &UdpSocket, seqs: std::ops::Range<u64>, pace: Option<Duration>) {
    for seq in seqs {
        let mut payload = seq.to_be_bytes().to_vec();
        payload.extend_from_slice(&[0u8; 24]);
        socket.send_to(&payload, (GROUP, PORT)).expect("send");
        if let Some(pause) = pace {
            if seq % 50 == 49 {
                std::thread::sleep(pause);
            }
        }
    }
}

/// The lab with the XDP backend forwarding on its router.
struct Rig {
    lab: Lab,
    router: Option<Router>,
    /// The bpffs directory of the router's pinned state, if pinned.
    pins: Option<PathBuf>,
    iif: u32,
    ports: BTreeMap<u8, Port>,
    captures: BTreeMap<u8, PacketSocket>,
    source_capture: PacketSocket,
    sender: UdpSocket,
}

impl Rig {
    /// The lab with the router running, unpinned.
    fn new() -> Self {
        Self::with_pins(None)
    }

    /// The lab with the router running, its state pinned under `pins` if given.
    fn with_pins(pins: Option<PathBuf>) -> Self {
        let lab = Lab::star(RECEIVERS).expect("lab");
        let iif = lab.ifindex(Host::Router, "up0").expect("ifindex");
        let ports = receiver_ports(&lab, RECEIVERS);
        let captures = receiver_captures(&lab, RECEIVERS, CAPTURE_BUFFER);
        let source_capture = capture_on(&lab, Host::Source, CAPTURE_BUFFER);
        let sender = udp_sender(&lab, SOURCE, SEND_TTL);
        let mut rig = Self {
            lab,
            router: None,
            pins,
            iif,
            ports,
            captures,
            source_capture,
            sender,
        };
        rig.start();
        rig
    }

    /// Starts the router's data plane: loads (or reopens the pinned state), configures the
    /// receivers' interfaces, attaches to `up0`.
    fn start(&mut self) {
        let router = start_router(&self.lab, self.pins.as_deref(), &self.ports, |_| 1500);
        self.router = Some(router);
    }

    /// Ends the router's process state (as if mgmd exited): pinned state stays in the kernel.
    fn stop(&mut self) {
        self.router = None;
    }

    fn router(&mut self) -> &mut Router {
        self.router.as_mut().expect("the router runs")
    }

    fn oifs(&self, receivers: &[u8]) -> Vec<u32> {
        receivers.iter().map(|n| self.ports[n].ifindex).collect()
    }

    /// Installs or changes the entry, from the router's namespace.
    fn set_list(&mut self, receivers: &[u8]) {
        let oifs = self.oifs(receivers);
        let iif = self.iif;
        let backend = &mut self.router.as_mut().expect("the router runs").backend;
        self.lab
            .in_ns(Host::Router, || backend.install_mfe(sg(), iif, &oifs))
            .expect("enter router")
            .expect("install");
    }

    fn collect(&mut self) {
        let backend = &mut self.router.as_mut().expect("the router runs").backend;
        self.lab
            .in_ns(Host::Router, || backend.collect())
            .expect("enter router")
            .expect("grace period");
    }

    /// Configures receiver `n`'s interface with TTL threshold `ttl_threshold` and MTU `mtu`.
    fn configure(&mut self, n: u8, ttl_threshold: u8, mtu: u32) {
        let port = self.ports[&n];
        let backend = &mut self.router.as_mut().expect("the router runs").backend;
        let settings = IfaceSettings {
            mac: port.mac,
            ttl_threshold,
            mtu,
            mirrored: false,
        };
        self.lab
            .in_ns(Host::Router, || {
                backend.configure_interface(port.ifindex, settings)
            })
            .expect("enter router")
            .expect("configure");
    }

    /// The receiver behind the router's interface `ifindex`.
    fn receiver_of(&self, ifindex: u32) -> u8 {
        let found = self.ports.iter().find(|(_, port)| port.ifindex == ifindex);
        *found.expect("a receiver's interface").0
    }

    /// The bare member of `sg`'s set and its members without an egress program, as written
    /// in the kernel.
    fn bare(&mut self, sg: SgKey) -> (u32, Vec<u32>) {
        let backend = &self.router().backend;
        backend.bare_member(sg).expect("read back").expect("a set")
    }

    /// Everything each receiver (and the source) captured since the last call.
    fn captured(&self) -> (BTreeMap<u8, Vec<Copy>>, Vec<Copy>) {
        let idle = Duration::from_millis(300);
        let per_receiver = self
            .captures
            .iter()
            .map(|(n, fd)| (*n, drain(fd, idle)))
            .collect();
        (per_receiver, drain(&self.source_capture, idle))
    }
}

fn sg() -> SgKey {
    SgKey::new(SOURCE, GROUP)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn listed_receivers_get_every_packet_once_and_list_changes_lose_nothing() {
    let mut rig = Rig::new();
    rig.set_list(&[1, 2, 3, 4]);

    // Part 1: a burst with a fixed list.
    const BURST: u64 = 2000;
    send(&rig.sender, 0..BURST, Some(Duration::from_micros(500)));
    let (copies, at_source) = rig.captured();
    for n in 1..=4u8 {
        let got = &copies[&n];
        let seen = histogram(got);
        assert_eq!(seen.len() as u64, BURST, "receiver {n}: every packet");
        assert!(seen.values().all(|&c| c == 1), "receiver {n}: exactly once");
        assert!(
            got.iter().all(|c| c.ttl as u32 == SEND_TTL - 1),
            "receiver {n}: TTL - 1"
        );
        assert!(
            got.iter().all(|c| c.source_mac == rig.ports[&n].mac),
            "receiver {n}: the router's MAC as source"
        );
    }
    assert!(
        copies[&5].is_empty(),
        "unlisted receiver got {}",
        copies[&5].len()
    );
    assert!(
        at_source.is_empty(),
        "the source got {} copies back",
        at_source.len()
    );
    let stats = rig.router().backend.mfe_stats(sg()).expect("entry stats");
    assert_eq!(stats.packets, BURST);
    for (ifindex, oif) in &stats.oifs {
        assert_eq!(
            oif.packets, BURST,
            "per-(entry, interface) counter of {ifindex}"
        );
    }
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(global["forwarded"], BURST);
    assert_eq!(global["egress_tx"], 4 * BURST);

    // Part 2: continuous traffic while the list changes; 1, 2 and 3 stay listed throughout.
    const STREAM: u64 = 20_000;
    let lists: [&[u8]; 4] = [&[1, 2, 3], &[1, 2, 3, 4], &[1, 2, 3, 5], &[1, 2, 3, 4, 5]];
    let sender = rig.sender.try_clone().expect("sender");
    let changes = std::thread::scope(|scope| {
        let sender = &sender;
        let traffic = scope.spawn(move || {
            send(
                sender,
                BURST..BURST + STREAM,
                Some(Duration::from_micros(500)),
            )
        });
        let mut changes = 0usize;
        while !traffic.is_finished() {
            rig.set_list(lists[changes % lists.len()]);
            changes += 1;
            if changes.is_multiple_of(16) {
                rig.collect();
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        traffic.join().expect("sender");
        changes
    });
    let (copies, at_source) = rig.captured();
    eprintln!("{changes} list changes under {STREAM} packets");
    assert!(changes >= 20, "only {changes} list changes happened");
    for n in 1..=3u8 {
        let seen = histogram(&copies[&n]);
        let missing = (BURST..BURST + STREAM)
            .filter(|s| !seen.contains_key(s))
            .count();
        assert_eq!(missing, 0, "receiver {n} (always listed) lost packets");
        assert!(seen.values().all(|&c| c == 1), "receiver {n}: duplicates");
    }
    for n in 4..=5u8 {
        let seen = histogram(&copies[&n]);
        assert!(seen.values().all(|&c| c == 1), "receiver {n}: duplicates");
        assert!(!seen.is_empty(), "receiver {n} was listed part of the time");
    }
    assert!(at_source.is_empty());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn misses_are_punted_to_af_xdp_and_reported() {
    let mut rig = Rig::new();
    let mut reports = ReportReader::new(&mut rig.router().plane).expect("report ring");
    let iif = rig.iif;
    let Router { plane, backend } = rig.router.as_mut().expect("the router runs");
    let punt = rig
        .lab
        .in_ns(Host::Router, || {
            let mut punt = PuntSockets::new(plane, XskConfig::default())?;
            punt.open(backend, iif, 1)?;
            Ok::<_, mgm_user::dataplane::DataPlaneError>(punt)
        })
        .expect("enter router")
        .expect("punt socket on up0");

    const MISSES: u64 = 200;
    send(&rig.sender, 0..MISSES, Some(Duration::from_micros(500)));
    let mut punted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while (punted.len() as u64) < MISSES && Instant::now() < deadline {
        let mut sockets = punt.lock();
        let socket = &mut sockets.get_mut(&iif).expect("up0's sockets").sockets[0];
        socket.wait(100).expect("poll");
        socket.recv(|_, frame| punted.extend(parse(frame)));
    }
    let seqs: Vec<u64> = punted.iter().map(|c| c.seq).collect();
    assert_eq!(
        seqs,
        (0..MISSES).collect::<Vec<_>>(),
        "every miss punted, in order"
    );
    assert!(
        punted.iter().all(|c| c.ttl as u32 == SEND_TTL),
        "punted frames are untouched"
    );
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(global["miss"], MISSES);
    assert_eq!(global["miss_punted"], MISSES);
    let alerts: Vec<DataPlaneReport> = std::iter::from_fn(|| reports.try_next()).collect();
    assert!(!alerts.is_empty());
    assert!(alerts
        .iter()
        .all(|r| matches!(r, DataPlaneReport::Miss { sg: got, ifindex, .. } if *got == sg() && *ifindex == iif)));
    assert_eq!(alerts.len() as u64, global["report_miss"]);

    // Once the entry exists, packets are forwarded, not punted.
    rig.set_list(&[1]);
    send(
        &rig.sender,
        MISSES..2 * MISSES,
        Some(Duration::from_micros(500)),
    );
    let (copies, _) = rig.captured();
    assert_eq!(histogram(&copies[&1]).len() as u64, MISSES);
    assert_eq!(
        punt.lock().get_mut(&iif).expect("up0's sockets").sockets[0].recv(|_, _| ()),
        0,
        "nothing punted after install"
    );
}

/// A bpffs directory for one test's pinned state, removed (with everything pinned in it) on
/// drop, also when the test fails.
struct PinDir(PathBuf);

impl PinDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self(PathBuf::from(format!(
            "/sys/fs/bpf/mgm-test-{}-{n}",
            std::process::id()
        )))
    }
}

impl Drop for PinDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn pinned_forwarding_survives_a_restart_and_is_adopted() {
    // Dropped last: the lab's namespaces go first, then the pinned maps and links.
    let pins = PinDir::new();
    let mut rig = Rig::with_pins(Some(pins.0.clone()));
    rig.set_list(&[1]);
    const N: u64 = 300;
    send(&rig.sender, 0..N, Some(Duration::from_micros(500)));
    assert_eq!(histogram(&rig.captured().0[&1]).len() as u64, N);

    // The daemon is gone: the pinned link, program and maps go on forwarding.
    rig.stop();
    send(&rig.sender, N..2 * N, Some(Duration::from_micros(500)));
    let (copies, _) = rig.captured();
    assert_eq!(
        histogram(&copies[&1]).len() as u64,
        N,
        "forwarding without the daemon"
    );
    assert!(copies[&2].is_empty());

    // A new daemon adopts the entry, its set and its counters, and can change it.
    rig.start();
    let stats = rig.router().backend.mfe_stats(sg()).expect("adopted entry");
    assert_eq!(stats.packets, 2 * N, "counters kept across the restart");
    assert_eq!(stats.oifs.len(), 1);
    assert_eq!(stats.oifs[0].1.packets, 2 * N);
    assert_eq!(rig.router().backend.len(), 1);
    rig.set_list(&[1, 2]);
    send(&rig.sender, 2 * N..3 * N, Some(Duration::from_micros(500)));
    let (copies, _) = rig.captured();
    for n in [1u8, 2] {
        let seen = histogram(&copies[&n]);
        assert_eq!(
            seen.len() as u64,
            N,
            "receiver {n} after the adopted change"
        );
        assert!(seen.values().all(|&c| c == 1));
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn egress_applies_each_interfaces_ttl_threshold_and_mtu() {
    let mut rig = Rig::new();
    let (threshold_if, mtu_if) = (rig.ports[&3].ifindex, rig.ports[&4].ifindex);
    let (mac3, mac4) = (rig.ports[&3].mac, rig.ports[&4].mac);
    let backend = &mut rig.router.as_mut().expect("the router runs").backend;
    rig.lab
        .in_ns(Host::Router, || {
            // Copies leave with TTL 7: a threshold of 8 stops them on receiver 3.
            let threshold = IfaceSettings {
                mac: mac3,
                ttl_threshold: SEND_TTL as u8,
                mtu: 1500,
                mirrored: false,
            };
            backend.configure_interface(threshold_if, threshold)?;
            // The test packets are 20 + 8 + 32 bytes: an MTU of 59 stops them on receiver 4.
            let small = IfaceSettings {
                mac: mac4,
                ttl_threshold: 0,
                mtu: 59,
                mirrored: false,
            };
            backend.configure_interface(mtu_if, small)
        })
        .expect("enter router")
        .expect("configure");
    rig.set_list(&[1, 3, 4]);
    const N: u64 = 100;
    send(&rig.sender, 0..N, Some(Duration::from_micros(500)));
    let (copies, _) = rig.captured();
    assert_eq!(histogram(&copies[&1]).len() as u64, N);
    assert!(
        copies[&3].is_empty(),
        "TTL threshold let {} through",
        copies[&3].len()
    );
    assert!(
        copies[&4].is_empty(),
        "MTU let {} through",
        copies[&4].len()
    );
    let stats = rig.router().backend.mfe_stats(sg()).expect("stats");
    for (ifindex, oif) in &stats.oifs {
        let dropped = *ifindex == threshold_if || *ifindex == mtu_if;
        let expected = if dropped { (0, N) } else { (N, 0) };
        assert_eq!((oif.packets, oif.drops), expected, "interface {ifindex}");
    }
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(global["egress_ttl_threshold"], N);
    assert_eq!(global["egress_mtu"], N);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_sets_bare_member_gets_its_mac_and_counts_and_moves_when_a_rule_is_set_on_it() {
    let mut rig = Rig::new();
    let listed = [1u8, 2, 3];
    rig.set_list(&listed);
    const N: u64 = 200;
    let mut sent = 0;
    // Sends N packets; checks that exactly `getting` got each once, with TTL - 1 and their
    // own MAC, and every listed interface's counters (copies derived: entry packets less
    // drops; `dropping` counts every packet as a drop).
    let mut round = |rig: &mut Rig, getting: &[u8], drops: &BTreeMap<u8, u64>| {
        send(
            &rig.sender,
            sent..sent + N,
            Some(Duration::from_micros(500)),
        );
        sent += N;
        let (copies, _) = rig.captured();
        for n in listed {
            let got = &copies[&n];
            if !getting.contains(&n) {
                assert!(got.is_empty(), "receiver {n} got {}", got.len());
                continue;
            }
            let seen = histogram(got);
            assert_eq!(seen.len() as u64, N, "receiver {n}: every packet");
            assert!(seen.values().all(|&c| c == 1), "receiver {n}: once");
            assert!(
                got.iter()
                    .all(|c| c.source_mac == rig.ports[&n].mac && c.ttl as u32 == SEND_TTL - 1),
                "receiver {n}: its interface's MAC as source, TTL - 1"
            );
        }
        let stats = rig.router().backend.mfe_stats(sg()).expect("stats");
        assert_eq!(stats.packets, sent);
        for (ifindex, oif) in &stats.oifs {
            let n = rig.receiver_of(*ifindex);
            let dropped = drops.get(&n).copied().unwrap_or(0);
            assert_eq!(
                (oif.packets, oif.drops),
                (sent - dropped, dropped),
                "receiver {n}"
            );
        }
    };

    // Every interface's rules drop nothing: one member goes without the program.
    let (bare, unprogrammed) = rig.bare(sg());
    assert_ne!(bare, 0, "a bare member");
    assert_eq!(unprogrammed, vec![bare], "only it without the program");
    let first = rig.receiver_of(bare);
    round(&mut rig, &listed, &BTreeMap::new());
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(global["egress_tx"], 3 * N, "its copies counted as sent too");
    assert_eq!(global["bare_member_refused"], 0);

    // A TTL threshold on it (the copies leave with TTL 7): another member becomes bare.
    rig.configure(first, SEND_TTL as u8, 1500);
    let (bare, unprogrammed) = rig.bare(sg());
    assert!(bare != 0 && rig.receiver_of(bare) != first, "moved");
    assert_eq!(unprogrammed, vec![bare]);
    let second = rig.receiver_of(bare);
    let third = listed.into_iter().find(|n| ![first, second].contains(n));
    let third = third.expect("a third member");
    let mut drops = BTreeMap::from([(first, N)]);
    round(&mut rig, &[second, third], &drops);

    // An MTU below 1500 on the new one (which lets these packets out): it moves again.
    rig.configure(second, 0, 1400);
    let (bare, unprogrammed) = rig.bare(sg());
    assert_eq!((rig.receiver_of(bare), unprogrammed), (third, vec![bare]));
    *drops.entry(first).or_default() += N;
    round(&mut rig, &[second, third], &drops);

    // A threshold on the last one too: no member can be bare, every copy runs the program.
    rig.configure(third, SEND_TTL as u8, 1500);
    assert_eq!(rig.bare(sg()), (0, vec![]));
    *drops.entry(first).or_default() += N;
    *drops.entry(third).or_default() += N;
    round(&mut rig, &[second], &drops);

    // The first one's threshold removed: it is bare again.
    rig.configure(first, 0, 1500);
    let (bare, unprogrammed) = rig.bare(sg());
    assert_eq!((rig.receiver_of(bare), unprogrammed), (first, vec![bare]));
    *drops.entry(third).or_default() += N;
    round(&mut rig, &[first, second], &drops);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn sets_sharing_interfaces_keep_one_bare_member_each_and_an_interface_bare_in_all_or_none() {
    let mut rig = Rig::new();
    let group = |last: u8| SgKey::new(SOURCE, Ipv4Addr::new(239, 1, 2, last));
    // sg() and the second entry share a set; the others overlap it and each other.
    let entries: [(SgKey, &[u8]); 4] = [
        (sg(), &[1, 2]),
        (group(4), &[1, 2]),
        (group(5), &[2, 3]),
        (group(6), &[3, 4, 5]),
    ];
    for (sg, receivers) in entries {
        let oifs = rig.oifs(receivers);
        let iif = rig.iif;
        let backend = &mut rig.router.as_mut().expect("the router runs").backend;
        rig.lab
            .in_ns(Host::Router, || backend.install_mfe(sg, iif, &oifs))
            .expect("enter router")
            .expect("install");
    }
    let check = |rig: &mut Rig| -> Vec<u32> {
        let mut without_program = BTreeMap::new();
        let mut bares = Vec::new();
        for (sg, receivers) in entries {
            let (bare, unprogrammed) = rig.bare(sg);
            assert!(unprogrammed.len() <= 1, "{sg:?}: at most one bare member");
            assert_eq!(
                unprogrammed,
                (bare != 0).then_some(bare).into_iter().collect::<Vec<_>>()
            );
            for ifindex in rig.oifs(receivers) {
                let bare_here = unprogrammed.contains(&ifindex);
                let before = *without_program.entry(ifindex).or_insert(bare_here);
                assert_eq!(
                    before, bare_here,
                    "interface {ifindex}: bare in all sets or none"
                );
            }
            bares.push(bare);
        }
        assert_eq!(bares[0], bares[1], "the shared set");
        bares
    };
    let bares = check(&mut rig);
    assert_ne!(bares[0], 0);

    // A TTL threshold on the shared set's bare member: both entries see the change.
    let n = rig.receiver_of(bares[0]);
    rig.configure(n, SEND_TTL as u8, 1500);
    let moved = check(&mut rig);
    assert_ne!(moved[0], bares[0]);
    const N: u64 = 200;
    send(&rig.sender, 0..N, Some(Duration::from_micros(500)));
    let (copies, _) = rig.captured();
    let other = if n == 1 { 2 } else { 1 };
    assert!(copies[&n].is_empty());
    let got = &copies[&other];
    assert_eq!(histogram(got).len() as u64, N);
    assert!(got.iter().all(|c| c.source_mac == rig.ports[&other].mac));
    let stats = rig.router().backend.mfe_stats(sg()).expect("stats");
    for (ifindex, oif) in &stats.oifs {
        let drops = if rig.receiver_of(*ifindex) == n { N } else { 0 };
        assert_eq!((oif.packets, oif.drops), (N - drops, drops));
    }
}
