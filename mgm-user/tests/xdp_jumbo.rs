//! Jumbo frames through the XDP data plane (frames larger than one page): a multi-buffer frame
//! built by BPF_PROG_TEST_RUN, then a lab whose links carry a 9000-byte MTU, with 8000-byte and
//! 1400-byte UDP datagrams. An entry with one outgoing interface forwards them intact; an
//! interface whose MTU is smaller counts and drops them; an entry with several outgoing
//! interfaces hands the jumbo ones to the TC program (the broadcast cannot clone them), which
//! sends every listed interface a copy, intact too, as it does with a packet over the smallest
//! MTU of the set's members, here its bare member's (the member whose devmap entry runs no
//! program). IPv6 jumbo frames are forwarded alike, and a frame whose extension headers run
//! past its first buffer goes to the kernel, counted.
mod xdp_common;

use mgm_common::SgKey;
use mgm_common::{JumboMeta, JUMBO_MARKER};
use mgm_user::{
    dataplane::{
        DataPlane, DataPlaneError, ForwardingBackend, IfaceSettings, PuntSockets, XdpBackend,
        XskConfig,
    },
    lab::{Host, Lab},
    rawio::PacketSocket,
};
use std::{
    collections::BTreeMap,
    io,
    net::{Ipv4Addr, UdpSocket},
    time::{Duration, Instant},
};
use xdp_common::lab::{receiver_captures, receiver_ports, start_router, udp_sender, Router};
use xdp_common::v6::{dest_opts, forwarding_fixture6, udp, Frame6};
use xdp_common::{
    checksum, forwarding_fixture, metadata_of, test_run, xdp_md, Frame, LO, XDP_DROP, XDP_PASS,
    XDP_REDIRECT,
};

/// Bytes BPF_PROG_TEST_RUN puts in a frame's first buffer: a page less the XDP headroom (256)
/// and the room of the shared info behind it (320); the rest goes into fragments.
const TEST_RUN_FIRST_BUFFER: usize = 4096 - 256 - 320;

/// Runs the ingress program of `plane` on `frame` arriving on `lo`, the frame split into
/// buffers as a driver would; returns the verdict and the frame as the program left it.
fn run_split(plane: &mut DataPlane, frame: &[u8]) -> (u32, Vec<u8>) {
    let first = frame.len().min(TEST_RUN_FIRST_BUFFER) as u32;
    let program = plane.ingress_program().expect("program");
    let run = test_run(program, frame, &xdp_md(0, first, LO), 1).expect("test run");
    (run.verdict, run.out)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_multi_buffer_frame_is_forwarded_whole_or_passed_and_always_counted() {
    let mut fx = forwarding_fixture();
    let jumbo = Frame {
        payload: 8000,
        ..Frame::default()
    }
    .bytes();
    assert!(jumbo.len() > TEST_RUN_FIRST_BUFFER);

    // One outgoing interface: redirected, the TTL decremented, every byte behind the header
    // (in the fragments too) as it came.
    let (verdict, out) = run_split(&mut fx.plane, &jumbo);
    assert_eq!(
        verdict, XDP_REDIRECT,
        "a jumbo frame of a single-interface entry"
    );
    assert_eq!(
        out.len(),
        jumbo.len(),
        "the whole frame, fragments included"
    );
    assert_eq!(out[14 + 8], 63, "TTL decremented");
    assert_eq!(checksum(&out[14..34]), 0, "valid header checksum");
    assert_eq!(out[34..], jumbo[34..], "payload intact");
    let stats = fx.stats();
    assert_eq!(
        (
            stats["multi_buffer"],
            stats["forwarded"],
            stats["egress_tx"]
        ),
        (1, 1, 1)
    );
    let entry = fx.backend.mfe_stats(fx_sg()).expect("entry");
    assert_eq!(entry.packets, 1);
    assert_eq!(
        entry.bytes,
        (jumbo.len() - 14) as u64,
        "layer 3 bytes, all of them"
    );

    // The interface's MTU applies to the whole packet, not to its first buffer.
    let oif = fx.oifs[0];
    let settings = |mtu| IfaceSettings {
        mac: xdp_common::mac_of(0),
        mtu,
        ..IfaceSettings::default()
    };
    fx.backend
        .configure_interface(oif, settings(4000))
        .expect("configure");
    assert_eq!(
        run_split(&mut fx.plane, &jumbo).0,
        XDP_DROP,
        "above the MTU"
    );
    assert_eq!(fx.stats()["egress_mtu"], 1);
    fx.backend
        .configure_interface(oif, settings(9000))
        .expect("configure");
    assert_eq!(run_split(&mut fx.plane, &jumbo).0, XDP_REDIRECT);

    // Several outgoing interfaces: the broadcast cannot clone it; it is passed on to the TC
    // program, prepared (TTL decremented) and described in front; a small frame is still
    // broadcast.
    let oifs = fx.oifs.clone();
    fx.backend.install_mfe(fx_sg(), LO, &oifs).expect("install");
    let (verdict, out) = run_split(&mut fx.plane, &jumbo);
    assert_eq!(verdict, XDP_PASS);
    let meta_len = std::mem::size_of::<JumboMeta>();
    let word = |at: usize| u32::from_ne_bytes(out[at..at + 4].try_into().expect("4 bytes"));
    assert_eq!(word(0), JUMBO_MARKER, "the TC program's metadata in front");
    let (meta, frame) = metadata_of(&out[8..]);
    assert_eq!((meta.len, meta.hops), ((jumbo.len() - 14) as u32, 63));
    assert_eq!(frame.len(), jumbo.len());
    assert_eq!(frame[14 + 8], 63, "TTL decremented");
    assert_eq!(frame[34..], jumbo[34..], "payload intact");
    assert_eq!(out.len(), meta_len + jumbo.len());
    assert_eq!(fx.stats()["jumbo_passed"], 1);
    let small = Frame::default().bytes();
    assert_eq!(run_split(&mut fx.plane, &small).0, XDP_REDIRECT);
    assert_eq!(fx.stats()["multi_buffer"], 4);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_jumbo_frames_are_forwarded_and_headers_past_the_first_buffer_go_to_the_kernel() {
    let mut fx = forwarding_fixture6();
    let jumbo = Frame6 {
        upper: udp(8000),
        ..Frame6::default()
    }
    .bytes();
    let (verdict, out) = run_split(&mut fx.plane, &jumbo);
    assert_eq!(verdict, XDP_REDIRECT);
    assert_eq!(out.len(), jumbo.len());
    assert_eq!(out[14 + 7], 63, "hop limit decremented");
    assert_eq!(out[22..], jumbo[22..], "addresses and payload intact");

    // Three 2 KiB Destination Options headers: the third starts past the first buffer.
    let long_chain = Frame6 {
        ext: vec![dest_opts(256), dest_opts(256), dest_opts(256)],
        ..Frame6::default()
    }
    .bytes();
    let (verdict, out) = run_split(&mut fx.plane, &long_chain);
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(out, long_chain, "untouched");
    let stats = fx.stats();
    assert_eq!(
        (
            stats["multi_buffer"],
            stats["headers_past_first_buffer"],
            stats["bad_ext_chain"]
        ),
        (2, 1, 0)
    );
}

fn fx_sg() -> SgKey {
    xdp_common::sg()
}

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 9, 0, 1);
const PORT: u16 = 5009;
/// Receivers 1 and 2 are on 9000-byte links, receiver 3 on a 1500-byte one.
const RECEIVERS: u8 = 3;
const JUMBO: usize = 8000;
const SMALL: usize = 1400;
const EACH: u64 = 200;

/// The datagram `seq` of `len` bytes: its number, then a pattern that depends on both.
fn datagram(seq: u64, len: usize) -> Vec<u8> {
    let mut payload = seq.to_be_bytes().to_vec();
    payload.extend((8..len).map(|i| (i as u64 * 31 + seq) as u8));
    payload
}

/// Every UDP payload of the test group captured on `capture` until none came for a while.
fn drain(capture: &PacketSocket) -> Vec<Vec<u8>> {
    let mut payloads = Vec::new();
    let mut buf = vec![0u8; 10_000];
    let mut last = Instant::now();
    while last.elapsed() < Duration::from_millis(300) {
        let Ok((len, arrival)) = capture.recv_from(&mut buf) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        last = Instant::now();
        let frame = &buf[..len];
        if arrival.outgoing || frame.len() < 42 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let header_len = usize::from(ip[0] & 0x0f) * 4;
        if ip[9] != 17 || ip[16..20] != GROUP.octets() {
            continue;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        payloads.push(ip[header_len + 8..total].to_vec());
    }
    payloads
}

/// What each receiver captured, by datagram length: every one compared with what was sent.
fn check_intact(payloads: &[Vec<u8>]) -> BTreeMap<usize, u64> {
    let mut by_len = BTreeMap::new();
    for payload in payloads {
        let seq = u64::from_be_bytes(payload[..8].try_into().expect("sequence number"));
        assert_eq!(
            payload,
            &datagram(seq, payload.len()),
            "datagram {seq} intact"
        );
        *by_len.entry(payload.len()).or_insert(0) += 1;
    }
    by_len
}

/// Gives the links of the source and of receivers `receivers` a 9000-byte MTU.
fn nine_thousand_byte_links(lab: &Lab, receivers: &[u8]) {
    let mtu = |host: Host, iface: &str| {
        lab.ip(host, &["link", "set", "dev", iface, "mtu", "9000"])
            .expect("set MTU");
    };
    mtu(Host::Source, "eth0");
    mtu(Host::Router, "up0");
    for &n in receivers {
        mtu(Host::Receiver(n), "eth0");
        mtu(Host::Router, &Lab::router_iface(Host::Receiver(n)));
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_packet_over_the_bare_members_mtu_goes_to_the_tc_program_and_is_counted() {
    let lab = Lab::star(2).expect("lab");
    // The kernel refuses nothing on these links: mgm's MTUs decide.
    nine_thousand_byte_links(&lab, &[1, 2]);
    let iif = lab.ifindex(Host::Router, "up0").expect("ifindex");
    let ports = receiver_ports(&lab, 2);
    let captures = receiver_captures(&lab, 2, 64 << 20);
    let sender = udp_sender(&lab, SOURCE, 8);
    let mut router = start_router(&lab, None, &ports, |_| 9000);
    let sg = SgKey::new(SOURCE, GROUP);
    let oifs: Vec<u32> = ports.values().map(|port| port.ifindex).collect();
    lab.in_ns(Host::Router, || router.backend.install_mfe(sg, iif, &oifs))
        .expect("enter router")
        .expect("install");
    let bare_member = |router: &Router| router.backend.bare_member(sg).expect("read").expect("set");
    let (bare, unprogrammed) = bare_member(&router);
    assert_eq!(unprogrammed, vec![bare]);
    let receiver = |ifindex: u32| {
        *ports
            .iter()
            .find(|(_, p)| p.ifindex == ifindex)
            .expect("port")
            .0
    };
    let (narrow, wide) = if receiver(bare) == 1 { (1, 2) } else { (2, 1) };
    // A 1500-byte MTU drops nothing a standard link carries: it stays bare.
    let settings = IfaceSettings {
        mac: ports[&narrow].mac,
        ttl_threshold: 0,
        mtu: 1500,
        mirrored: false,
    };
    lab.in_ns(Host::Router, || {
        router.backend.configure_interface(bare, settings)
    })
    .expect("enter router")
    .expect("configure");
    assert_eq!(bare_member(&router), (bare, vec![bare]));

    // 2000-byte datagrams (which the broadcast could clone) are over its MTU: each goes to
    // the TC program, which sends the other member its copy and counts the drop.
    const MID: usize = 2000;
    for seq in 0..EACH {
        for len in [MID, SMALL] {
            sender
                .send_to(&datagram(seq, len), (GROUP, PORT))
                .expect("send");
        }
        if seq % 20 == 19 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = |n: u8| check_intact(&drain(&captures[&n]));
    assert_eq!(got(wide), BTreeMap::from([(SMALL, EACH), (MID, EACH)]));
    assert_eq!(got(narrow), BTreeMap::from([(SMALL, EACH)]));
    let stats = router.plane.global_stats().expect("stats");
    assert_eq!(
        (
            stats["broadcast_over_mtu"],
            stats["bare_member_refused"],
            stats["jumbo_replicated"],
            stats["jumbo_passed"],
            stats["egress_mtu"]
        ),
        (EACH, 0, EACH, 0, EACH),
        "over the set's smallest MTU (its bare member's)"
    );
    let entry = router.backend.mfe_stats(sg).expect("entry");
    for (ifindex, counters) in &entry.oifs {
        let drops = if *ifindex == bare { EACH } else { 0 };
        assert_eq!(
            (counters.packets, counters.drops),
            (2 * EACH - drops, drops),
            "interface {ifindex}"
        );
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_9000_byte_mtu_lab_forwards_8000_byte_datagrams_intact() {
    let lab = Lab::star(RECEIVERS).expect("lab");
    nine_thousand_byte_links(&lab, &[1, 2]);
    let iif = lab.ifindex(Host::Router, "up0").expect("ifindex");
    let ports = receiver_ports(&lab, RECEIVERS);
    let captures = receiver_captures(&lab, RECEIVERS, 64 << 20);
    let sender = udp_sender(&lab, SOURCE, 8);
    // Receiver 3's link keeps a 1500-byte MTU. A program without frags support cannot even be
    // attached to a 9000-byte veth.
    let mut router = start_router(&lab, None, &ports, |n| if n == 3 { 1500 } else { 9000 });
    let sg = SgKey::new(SOURCE, GROUP);
    let install = |router: &mut Router, receivers: &[u8]| {
        let oifs: Vec<u32> = receivers.iter().map(|n| ports[n].ifindex).collect();
        lab.in_ns(Host::Router, || router.backend.install_mfe(sg, iif, &oifs))
            .expect("enter router")
            .expect("install");
    };
    let send = |first: u64| {
        for seq in first..first + EACH {
            for len in [JUMBO, SMALL] {
                sender
                    .send_to(&datagram(seq, len), (GROUP, PORT))
                    .expect("send");
            }
            if seq % 20 == 19 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    };
    let captured = |n: u8| check_intact(&drain(&captures[&n]));

    // One outgoing interface on a 9000-byte link: every datagram, both sizes, intact.
    install(&mut router, &[1]);
    send(0);
    let got = captured(1);
    assert_eq!(got.get(&JUMBO), Some(&EACH), "every 8000-byte datagram");
    assert_eq!(got.get(&SMALL), Some(&EACH), "every 1400-byte datagram");
    let stats = router.plane.global_stats().expect("stats");
    assert_eq!(
        stats["multi_buffer"], EACH,
        "the 8000-byte frames span buffers"
    );
    assert_eq!(stats["forwarded"], 2 * EACH);
    let entry = router.backend.mfe_stats(sg).expect("entry");
    assert_eq!(entry.packets, 2 * EACH);

    // One outgoing interface with a 1500-byte MTU: the 8000-byte ones counted and dropped.
    install(&mut router, &[3]);
    send(EACH);
    let got = captured(3);
    assert_eq!(got.get(&JUMBO), None, "none above the MTU");
    assert_eq!(got.get(&SMALL), Some(&EACH));
    let stats = router.plane.global_stats().expect("stats");
    assert_eq!(stats["egress_mtu"], EACH);
    let entry = router.backend.mfe_stats(sg).expect("entry");
    let to_3 = entry
        .oifs
        .iter()
        .find(|(i, _)| *i == ports[&3].ifindex)
        .expect("oif 3");
    assert_eq!(
        to_3.1.drops, EACH,
        "the entry counts them for the interface"
    );

    // Three outgoing interfaces: the small ones broadcast; the jumbo ones replicated by the TC
    // program, every one intact at both 9000-byte receivers, counted and dropped for the
    // 1500-byte one.
    install(&mut router, &[1, 2, 3]);
    send(2 * EACH);
    for n in 1..=2 {
        let got = captured(n);
        assert_eq!(got.get(&SMALL), Some(&EACH), "receiver {n}");
        assert_eq!(got.get(&JUMBO), Some(&EACH), "receiver {n}");
    }
    let got = captured(3);
    assert_eq!((got.get(&SMALL), got.get(&JUMBO)), (Some(&EACH), None));
    let stats = router.plane.global_stats().expect("stats");
    assert_eq!(
        (stats["jumbo_passed"], stats["jumbo_replicated"]),
        (EACH, EACH)
    );
    assert_eq!(stats["multi_buffer"], 3 * EACH);
    assert_eq!(stats["egress_mtu"], 2 * EACH);
    assert_eq!(stats["jumbo_clone_failed"] + stats["jumbo_no_members"], 0);
    let entry = router.backend.mfe_stats(sg).expect("entry");
    // Receiver 3's interface stayed in the entry since the second part: its jumbo drops of
    // both parts, and the small ones as copies.
    for (ifindex, counters) in &entry.oifs {
        let drops = if *ifindex == ports[&3].ifindex {
            2 * EACH
        } else {
            0
        };
        assert_eq!(
            (counters.drops, counters.packets),
            (drops, 2 * EACH),
            "interface {ifindex}"
        );
    }

    // One outgoing interface whose copies carry the egress program (another entry's set lists
    // it, and a TTL threshold keeps it from being bare there): the jumbo ones go through
    // OIF_DIRECT and its frags-aware program, intact.
    let settings = IfaceSettings {
        mac: ports[&1].mac,
        ttl_threshold: 2,
        mtu: 9000,
        mirrored: false,
    };
    let other = SgKey::new(SOURCE, Ipv4Addr::new(239, 9, 9, 9));
    let oifs = [ports[&1].ifindex, ports[&2].ifindex];
    lab.in_ns(Host::Router, || {
        router
            .backend
            .configure_interface(ports[&1].ifindex, settings)?;
        router.backend.install_mfe(other, iif, &oifs)
    })
    .expect("enter router")
    .expect("the other entry");
    let direct = router.backend.direct_program(ports[&1].ifindex);
    assert_eq!(direct.expect("read back"), (true, true));
    install(&mut router, &[1]);
    send(3 * EACH);
    let got = captured(1);
    assert_eq!(got.get(&JUMBO), Some(&EACH), "every 8000-byte datagram");
    assert_eq!(got.get(&SMALL), Some(&EACH), "every 1400-byte datagram");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn misses_too_long_for_a_punt_socket_are_passed_and_counted() {
    let lab = Lab::star(1).expect("lab");
    lab.ip(Host::Source, &["link", "set", "dev", "eth0", "mtu", "9000"])
        .expect("MTU");
    lab.ip(Host::Router, &["link", "set", "dev", "up0", "mtu", "9000"])
        .expect("MTU");
    let iif = lab.ifindex(Host::Router, "up0").expect("ifindex");
    let (plane, _backend, punt) = lab
        .in_ns(Host::Router, || {
            let mut plane = DataPlane::load()?;
            let mut backend = XdpBackend::new(&mut plane)?;
            let mut punt = PuntSockets::new(&mut plane, XskConfig::default())?;
            punt.open(&mut backend, iif, 1)?;
            plane.attach("up0", false)?;
            Ok::<_, DataPlaneError>((plane, backend, punt))
        })
        .expect("enter router")
        .expect("data plane and punt socket");
    let sender = lab
        .in_ns(Host::Source, || {
            let socket = UdpSocket::bind((SOURCE, 0))?;
            socket.set_multicast_ttl_v4(8)?;
            Ok::<_, io::Error>(socket)
        })
        .expect("enter source")
        .expect("sender");
    // One buffer each, the second too long for a 2048-byte punt frame; then a multi-buffer one.
    const EACH: u64 = 20;
    for seq in 0..EACH {
        for len in [1000, 3000, JUMBO] {
            sender
                .send_to(&datagram(seq, len), (GROUP, PORT))
                .expect("send");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut punted = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline {
        let mut sockets = punt.lock();
        let socket = &mut sockets.get_mut(&iif).expect("up0's sockets").sockets[0];
        socket.wait(100).expect("poll");
        socket.recv(|_, frame| punted.push(frame.len()));
    }
    assert_eq!(
        punted,
        vec![14 + 20 + 8 + 1000; EACH as usize],
        "the short ones punted"
    );
    let stats = plane.global_stats().expect("stats");
    assert_eq!(
        (
            stats["miss"],
            stats["miss_punted"],
            stats["too_long_to_punt"],
            stats["miss_passed"]
        ),
        (3 * EACH, EACH, 2 * EACH, 2 * EACH)
    );
}

/// The types of the bpf_link descriptors this process holds on the interface `ifindex`.
fn held_links(ifindex: u32) -> Vec<String> {
    let mut types: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .expect("fd directory")
        .filter_map(|fd| {
            let fd = fd.ok()?;
            let target = std::fs::read_link(fd.path()).ok()?;
            if !target.to_string_lossy().contains("bpf_link") {
                return None;
            }
            let name = fd.file_name();
            let info =
                std::fs::read_to_string(format!("/proc/self/fdinfo/{}", name.to_string_lossy()))
                    .ok()?;
            let field = |key: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(key))
                    .map(|v| v.trim().to_owned())
            };
            (field("ifindex:")? == ifindex.to_string()).then(|| field("link_type:"))?
        })
        .collect();
    types.sort();
    types
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn detaching_removes_the_tc_program_too_and_an_interface_can_be_attached_again() {
    let mut fx = xdp_common::fixture();
    // An ifindex no other test's interface has (the tests share the process's descriptors).
    const INDEX: u32 = 4242;
    let index = INDEX.to_string();
    xdp_common::ip(&[
        "link", "add", "j0", "index", &index, "type", "veth", "peer", "name", "j1",
    ]);
    fx.plane.attach("j0", false).expect("attach");
    assert_eq!(held_links(INDEX), ["tcx", "xdp"]);
    fx.plane.detach("j0").expect("detach");
    assert!(
        held_links(INDEX).is_empty(),
        "left attached: {:?}",
        held_links(INDEX)
    );
    // An interface that went down, or was deleted and created anew, is attached again.
    fx.plane.attach("j0", false).expect("attach again");
    assert_eq!(held_links(INDEX), ["tcx", "xdp"]);
}
