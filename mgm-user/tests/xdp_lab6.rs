//! Root lab test of the IPv6 data plane with real frames: a source, the router with the XDP
//! program attached in driver mode and an IPv6 entry installed by the backend, two receivers,
//! each in its own network namespace. The source sends raw IPv6 multicast UDP frames (the lab's
//! hosts run no IPv6 stack; XDP and packet sockets need none); the listed receiver gets every
//! packet once, with the hop limit decremented and the router's MAC as source, the other none.
mod xdp_common;

use mgm_common::Sg6Key;
use mgm_user::{
    dataplane::{DataPlane, DataPlaneError, ForwardingBackend as _, IfaceSettings, XdpBackend},
    lab::{Host, Lab},
    rawio::{self, Framing, PacketSocket},
};
use std::{
    collections::BTreeMap,
    io,
    time::{Duration, Instant},
};
use xdp_common::v6::*;

const PORT: u16 = 5000;
const PACKETS: u64 = 500;
const SEND_HOP_LIMIT: u8 = 8;

/// A packet socket seeing every frame arriving on `eth0` of the calling thread's namespace.
fn open_capture() -> io::Result<PacketSocket> {
    let capture = PacketSocket::open(Framing::Frames, libc::ETH_P_ALL as u16)?;
    capture.socket().set_nonblocking(true)?;
    let size: libc::c_int = 16 << 20;
    rawio::set_opt(
        capture.socket(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        &size,
    )?;
    capture.bind(rawio::ifindex("eth0")?)?;
    Ok(capture)
}

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

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_multicast_is_forwarded_between_namespaces() {
    let lab = Lab::star(2).expect("lab");
    let iif = lab.ifindex(Host::Router, "up0").expect("up0");
    let oifs: Vec<(u32, [u8; 6])> = [1u8, 2]
        .iter()
        .map(|n| {
            let iface = Lab::router_iface(Host::Receiver(*n));
            let ifindex = lab.ifindex(Host::Router, &iface).expect("ifindex");
            (ifindex, lab.mac(Host::Router, &iface).expect("mac"))
        })
        .collect();
    let captures: Vec<PacketSocket> = [1u8, 2]
        .iter()
        .map(|n| {
            lab.in_ns(Host::Receiver(*n), open_capture)
                .expect("enter receiver")
                .expect("capture")
        })
        .collect();
    let sg = Sg6Key::new(SOURCE6, GROUP6);
    let settings = oifs.clone();
    let (plane, backend) = lab
        .in_ns(Host::Router, move || {
            let mut plane = DataPlane::load()?;
            let mut backend = XdpBackend::new(&mut plane)?;
            for (ifindex, mac) in &settings {
                let iface = IfaceSettings {
                    mac: *mac,
                    mtu: 1500,
                    ..IfaceSettings::default()
                };
                backend.configure_interface(*ifindex, iface)?;
            }
            backend.install_mfe6(sg, iif, &[settings[0].0])?;
            plane.attach("up0", false)?;
            Ok::<_, DataPlaneError>((plane, backend))
        })
        .expect("enter router")
        .expect("data plane on the router");
    let (sender, source_eth0) = lab
        .in_ns(Host::Source, || {
            let sender = PacketSocket::open(Framing::Frames, 0)?;
            Ok::<_, io::Error>((sender, rawio::ifindex("eth0")?))
        })
        .expect("enter source")
        .expect("sender");
    for seq in 0..PACKETS {
        let bytes = frame(seq);
        let destination: [u8; 6] = bytes[..6].try_into().expect("MAC");
        sender
            .send_to(source_eth0, destination, &bytes)
            .expect("send");
        // Paced in bursts of 50: a veth's queue holds 256 frames.
        if seq % 50 == 49 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
    let wanted = PACKETS as usize;
    let listed = collect(&captures[0], |n| n >= wanted);
    let mut seen = BTreeMap::new();
    for (seq, hop_limit, mac) in &listed {
        *seen.entry(*seq).or_insert(0) += 1;
        assert_eq!(*hop_limit, SEND_HOP_LIMIT - 1, "hop limit − 1");
        assert_eq!(*mac, oifs[0].1, "the router's MAC as source");
    }
    assert_eq!(seen.len(), wanted, "every packet");
    assert!(seen.values().all(|&c| c == 1), "exactly once");
    let unlisted = collect(&captures[1], |_| true);
    assert!(
        unlisted.is_empty(),
        "the unlisted receiver got {}",
        unlisted.len()
    );
    let stats = backend.mfe6_stats(sg).expect("entry");
    assert_eq!((stats.packets, stats.oifs[0].1.packets), (PACKETS, PACKETS));
    let global = plane.global_stats().expect("stats");
    assert_eq!(global["forwarded"], PACKETS);
    drop(lab.in_ns(Host::Router, move || drop((backend, plane))));
}
