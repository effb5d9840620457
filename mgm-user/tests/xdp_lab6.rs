//! Root lab tests of the IPv6 data plane with real frames: a source, the router with the XDP
//! program attached in driver mode, two receivers, each in its own network namespace. The
//! source sends raw IPv6 multicast UDP frames (the lab's hosts run no IPv6 stack; XDP and
//! packet sockets need none). With an entry installed by the backend the listed receiver gets
//! every packet once, with the hop limit decremented and the router's MAC as source, the other
//! none; without one, every packet reaches the AF_XDP punt socket untouched and in order, with
//! creation alerts naming its (S,G).
mod xdp_common;

use mgm_common::Sg6Key;
use mgm_user::{
    dataplane::{
        DataPlane, DataPlaneError, DataPlaneReport, ForwardingBackend as _, PuntSockets,
        ReportReader, XdpBackend, XskConfig,
    },
    lab::{Host, Lab},
    rawio::{self, Framing, PacketSocket},
};
use std::{
    collections::BTreeMap,
    io,
    time::{Duration, Instant},
};
use xdp_common::{
    lab::{receiver_captures, receiver_ports, start_router, Router},
    v6::*,
};

const PORT: u16 = 5000;
const PACKETS: u64 = 500;
const SEND_HOP_LIMIT: u8 = 8;

/// The receive buffer of the captures.
const CAPTURE_BUFFER: libc::c_int = 16 << 20;

/// The test's frame number `seq`: UDP to `PORT` of `GROUP6`, the number in the first 8 bytes.
fn frame(seq: u64) -> Vec<u8> {
    let mut upper = udp(24);
    upper[2..4].copy_from_slice(&PORT.to_be_bytes());
    upper[8..16].copy_from_slice(&seq.to_be_bytes());
    Frame6 {
        hop_limit: SEND_HOP_LIMIT,
        upper,
        ..Frame6::default()
    }
    .bytes()
}

/// One received copy of a test frame: (number, hop limit, source MAC).
fn parse(frame: &[u8]) -> Option<(u64, u8, [u8; 6])> {
    let ip = frame.get(14..)?;
    if frame[12..14] != [0x86, 0xdd] || ip.get(24..40)? != GROUP6.octets() || ip[6] != UDP {
        return None;
    }
    let udp = ip.get(40..56)?;
    if udp[2..4] != PORT.to_be_bytes() {
        return None;
    }
    let seq = u64::from_be_bytes(udp[8..16].try_into().ok()?);
    Some((seq, ip[7], frame[6..12].try_into().ok()?))
}

/// Reads what `capture` received until `done` says enough arrived (or 10 s passed), then
/// until nothing came for 300 ms (so that extra copies would be seen too).
fn collect(capture: &PacketSocket, done: impl Fn(usize) -> bool) -> Vec<(u64, u8, [u8; 6])> {
    let mut copies = Vec::new();
    let mut buffer = vec![0u8; 2048];
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = Instant::now();
    while Instant::now() < deadline
        && (!done(copies.len()) || last.elapsed() < Duration::from_millis(300))
    {
        match capture.recv_from(&mut buffer) {
            Ok((len, arrival)) => {
                last = Instant::now();
                if let Some(copy) = parse(&buffer[..len]).filter(|_| !arrival.outgoing) {
                    copies.push(copy);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("capture: {e}"),
        }
    }
    copies
}

/// The lab, its router's data plane (nothing installed) and what the test needs around it.
struct Rig {
    lab: Lab,
    plane: Option<DataPlane>,
    backend: Option<XdpBackend>,
    iif: u32,
    /// The router's interfaces towards the receivers, with their MACs.
    oifs: Vec<(u32, [u8; 6])>,
    captures: Vec<PacketSocket>,
    sender: PacketSocket,
    source_eth0: u32,
}

impl Rig {
    fn new() -> Self {
        let lab = Lab::star(2).expect("lab");
        let iif = lab.ifindex(Host::Router, "up0").expect("up0");
        let ports = receiver_ports(&lab, 2);
        let oifs = ports.values().map(|p| (p.ifindex, p.mac)).collect();
        let captures = receiver_captures(&lab, 2, CAPTURE_BUFFER)
            .into_values()
            .collect();
        let Router { plane, backend } = start_router(&lab, None, &ports, |_| 1500);
        let (sender, source_eth0) = lab
            .in_ns(Host::Source, || {
                let sender = PacketSocket::open(Framing::Frames, 0)?;
                Ok::<_, io::Error>((sender, rawio::ifindex("eth0")?))
            })
            .expect("enter source")
            .expect("sender");
        Self {
            lab,
            plane: Some(plane),
            backend: Some(backend),
            iif,
            oifs,
            captures,
            sender,
            source_eth0,
        }
    }

    fn plane(&mut self) -> &mut DataPlane {
        self.plane.as_mut().expect("the router runs")
    }

    fn backend(&mut self) -> &mut XdpBackend {
        self.backend.as_mut().expect("the router runs")
    }

    /// Installs the test's (S,G) from `up0` to the first receiver, from the router's namespace.
    fn install(&mut self) {
        let (iif, oif) = (self.iif, self.oifs[0].0);
        let backend = self.backend.as_mut().expect("the router runs");
        self.lab
            .in_ns(Host::Router, || backend.install_mfe6(sg(), iif, &[oif]))
            .expect("enter router")
            .expect("install");
    }

    /// Sends the frames numbered `seqs` from the source, in bursts of 50 (a veth's queue holds
    /// 256 frames).
    fn send(&self, seqs: std::ops::Range<u64>) {
        for seq in seqs {
            let bytes = frame(seq);
            let destination: [u8; 6] = bytes[..6].try_into().expect("MAC");
            self.sender
                .send_to(self.source_eth0, destination, &bytes)
                .expect("send");
            if seq % 50 == 49 {
                std::thread::sleep(Duration::from_micros(500));
            }
        }
    }
}

impl Drop for Rig {
    /// The data plane goes in the router's namespace, before the lab's namespaces.
    fn drop(&mut self) {
        let (plane, backend) = (self.plane.take(), self.backend.take());
        let _ = self.lab.in_ns(Host::Router, move || drop((backend, plane)));
    }
}

fn sg() -> Sg6Key {
    Sg6Key::new(SOURCE6, GROUP6)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_multicast_is_forwarded_between_namespaces() {
    let mut rig = Rig::new();
    rig.install();
    rig.send(0..PACKETS);
    let wanted = PACKETS as usize;
    let listed = collect(&rig.captures[0], |n| n >= wanted);
    let mut seen = BTreeMap::new();
    for (seq, hop_limit, mac) in &listed {
        *seen.entry(*seq).or_insert(0) += 1;
        assert_eq!(*hop_limit, SEND_HOP_LIMIT - 1, "hop limit − 1");
        assert_eq!(*mac, rig.oifs[0].1, "the router's MAC as source");
    }
    assert_eq!(seen.len(), wanted, "every packet");
    assert!(seen.values().all(|&c| c == 1), "exactly once");
    let unlisted = collect(&rig.captures[1], |_| true);
    assert!(
        unlisted.is_empty(),
        "the unlisted receiver got {}",
        unlisted.len()
    );
    let stats = rig.backend().mfe6_stats(sg()).expect("entry");
    assert_eq!((stats.packets, stats.oifs[0].1.packets), (PACKETS, PACKETS));
    let global = rig.plane().global_stats().expect("stats");
    assert_eq!(global["forwarded"], PACKETS);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_misses_are_punted_to_af_xdp_and_reported() {
    let mut rig = Rig::new();
    let mut reports = ReportReader::new(rig.plane()).expect("report rings");
    let iif = rig.iif;
    let (plane, backend) = (
        rig.plane.as_mut().expect("plane"),
        rig.backend.as_mut().expect("backend"),
    );
    let punt = rig
        .lab
        .in_ns(Host::Router, || {
            let mut punt = PuntSockets::new(plane, XskConfig::default())?;
            punt.open(backend, iif, 1)?;
            Ok::<_, DataPlaneError>(punt)
        })
        .expect("enter router")
        .expect("punt socket on up0");
    const MISSES: u64 = 200;
    rig.send(0..MISSES);
    let mut punted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while (punted.len() as u64) < MISSES && Instant::now() < deadline {
        let mut sockets = punt.lock();
        let socket = &mut sockets.get_mut(&iif).expect("up0's sockets").sockets[0];
        socket.wait(100).expect("poll");
        socket.recv(|_, frame| punted.extend(parse(frame)));
    }
    let seqs: Vec<u64> = punted.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs,
        (0..MISSES).collect::<Vec<_>>(),
        "every miss, in order"
    );
    assert!(
        punted
            .iter()
            .all(|(_, hop_limit, _)| *hop_limit == SEND_HOP_LIMIT),
        "punted frames are untouched"
    );
    let global = rig.plane().global_stats().expect("stats");
    assert_eq!(
        (global["ipv6_miss"], global["miss_punted"]),
        (MISSES, MISSES)
    );
    let alerts: Vec<DataPlaneReport> = std::iter::from_fn(|| reports.try_next()).collect();
    assert!(!alerts.is_empty());
    assert!(alerts.iter().all(
        |r| matches!(r, DataPlaneReport::Miss6 { sg: got, ifindex, .. } if *got == sg() && *ifindex == iif)
    ));
    assert_eq!(alerts.len() as u64, global["report_miss"]);
    // Once the entry exists, packets are forwarded, not punted.
    rig.install();
    rig.send(MISSES..2 * MISSES);
    let copies = collect(&rig.captures[0], |n| n >= MISSES as usize);
    assert_eq!(copies.len() as u64, MISSES);
    assert_eq!(
        punt.lock().get_mut(&iif).expect("up0's sockets").sockets[0].recv(|_, _| ()),
        0,
        "nothing punted after install"
    );
    drop(rig.lab.in_ns(Host::Router, move || drop(punt)));
}
