//! Root lab tests of entries' single copies (design.md, "What a hit and a copy cost"): the
//! kernel runs one program on every frame queued to an interface in a NAPI poll, so a single
//! copy to an interface carries the same program as the sets' copies to it (`OIF_DIRECT`),
//! which follows the interface's bareness; with both kinds in the same batches every copy
//! leaves with the interface's MAC.
mod xdp_common;

use aya::{
    maps::{Array, DevMap},
    programs::{TestRun, TestRunAttrs, TestRunOptions, Xdp},
    Ebpf,
};
use mgm_common::SgKey;
use mgm_user::{
    dataplane::{ForwardingBackend, IfaceSettings, BENCH_OBJECT},
    lab::Host,
    rawio::{self, PacketSocket},
};
use std::{
    collections::BTreeMap,
    net::Ipv4Addr,
    time::{Duration, Instant},
};
use xdp_common::{
    capture_on_p0, fixture, live_run, mac_of,
    rig::{receive_each, Rig, SEND_TTL, SOURCE},
    sg, xdp_md, Frame, PinDir, GROUP, LO,
};

/// The group of the entry with a single outgoing interface (receiver 1).
const SINGLE: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 10);
/// The group of the entry with a set (receivers 1 and 2).
const SHARED: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 11);
/// Bytes of the headers the generator writes per frame (Ethernet and IPv4).
const HEADER_LEN: usize = 34;

fn install(rig: &mut Rig, group: Ipv4Addr, receivers: &[u8]) {
    let oifs = rig.oifs(receivers);
    let iif = rig.iif;
    let backend = &mut rig.router.as_mut().expect("the router runs").backend;
    rig.lab
        .in_ns(Host::Router, || {
            backend.install_mfe(SgKey::new(SOURCE, group), iif, &oifs)
        })
        .expect("enter router")
        .expect("install");
}

/// Whether receiver `n`'s interface has an `OIF_DIRECT` entry with the egress program, and
/// its flag, as written in the kernel.
fn direct(rig: &mut Rig, n: u8) -> (bool, bool) {
    let ifindex = rig.ports[&n].ifindex;
    let backend = &rig.router().backend;
    backend.direct_program(ifindex).expect("read back")
}

/// Checks that each of `receivers` gets the egress program for single copies exactly when a
/// set in use lists it and it is not bare there.
fn check_follows_bareness(rig: &mut Rig, bare: &[u8], receivers: &[u8], listed: &[u8]) {
    for &n in receivers {
        let program = listed.contains(&n) && !bare.contains(&n);
        assert_eq!(direct(rig, n), (program, program), "receiver {n}");
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_program_of_single_copies_follows_the_interfaces_bareness() {
    let mut rig = Rig::new();
    install(&mut rig, SINGLE, &[1]);
    // Listed in no set: no program.
    check_follows_bareness(&mut rig, &[], &[1, 2, 3], &[]);

    install(&mut rig, SHARED, &[1, 2]);
    let shared = SgKey::new(SOURCE, SHARED);
    let (bare, _) = rig.bare(shared);
    let first = rig.receiver_of(bare);
    check_follows_bareness(&mut rig, &[first], &[1, 2, 3], &[1, 2]);

    // A rule on the bare member: the other one becomes bare, the first gets the program.
    rig.configure(first, SEND_TTL as u8, 1500);
    let (bare, _) = rig.bare(shared);
    let second = rig.receiver_of(bare);
    assert_ne!(second, first);
    check_follows_bareness(&mut rig, &[second], &[1, 2, 3], &[1, 2]);
    // Reconfiguring keeps the flag (the backend rewrites the rest of the element).
    rig.configure(first, SEND_TTL as u8, 1400);
    check_follows_bareness(&mut rig, &[second], &[1, 2, 3], &[1, 2]);

    // Rules on both: none bare, both with the program.
    rig.configure(second, SEND_TTL as u8, 1500);
    assert_eq!(rig.bare(shared), (0, vec![]));
    check_follows_bareness(&mut rig, &[], &[1, 2, 3], &[1, 2]);

    // The set's entry gone: listed in no set in use, no program.
    let backend = &mut rig.router.as_mut().expect("the router runs").backend;
    rig.lab
        .in_ns(Host::Router, || backend.delete_mfe(shared))
        .expect("enter router")
        .expect("delete");
    check_follows_bareness(&mut rig, &[], &[1, 2, 3], &[]);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_restart_adopts_the_program_of_single_copies() {
    // Dropped last: the lab's namespaces go first, then the pinned maps and links.
    let pins = PinDir::new();
    let mut rig = Rig::with_pins(Some(pins.0.clone()));
    rig.configure(1, SEND_TTL as u8, 1500);
    install(&mut rig, SINGLE, &[1]);
    install(&mut rig, SHARED, &[1, 2]);
    let shared = SgKey::new(SOURCE, SHARED);
    let (bare, _) = rig.bare(shared);
    assert_eq!(rig.receiver_of(bare), 2);
    check_follows_bareness(&mut rig, &[2], &[1, 2, 3], &[1, 2]);

    // The new daemon adopts the set with the program on every member, then the interfaces'
    // settings (no rules now) choose a bare member again.
    rig.stop();
    rig.start();
    let (bare, _) = rig.bare(shared);
    assert_ne!(bare, 0);
    let bare = rig.receiver_of(bare);
    check_follows_bareness(&mut rig, &[bare], &[1, 2, 3], &[1, 2]);
}

/// Copies captured on `capture` until none came for `idle`: (group, source MAC) → count.
fn count_by_group_and_mac(
    capture: &PacketSocket,
    idle: Duration,
) -> BTreeMap<(Ipv4Addr, [u8; 6]), u64> {
    let mut counts = BTreeMap::new();
    receive_each(capture, idle, |frame| {
        if frame.len() < HEADER_LEN || frame[12..14] != [0x08, 0x00] {
            return;
        }
        let group = Ipv4Addr::new(frame[30], frame[31], frame[32], frame[33]);
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&frame[6..12]);
        *counts.entry((group, mac)).or_default() += 1;
    });
    counts
}

/// Sends `frames` frames from the source host, alternating from `first` to `second`
/// (which differ in their first [`HEADER_LEN`] bytes only), in live-frames batches of 64: the
/// router's veth receives them in the same batches, so that its XDP program runs on both
/// flows in each NAPI poll.
fn generate_alternating(rig: &Rig, first: &[u8], second: &[u8], frames: u32) {
    rig.lab
        .in_ns(Host::Source, || {
            let mut object = Ebpf::load(BENCH_OBJECT).expect("the benchmark object");
            let mut headers: Array<_, [u8; HEADER_LEN]> =
                Array::try_from(object.map_mut("GEN_HEADER").expect("GEN_HEADER")).expect("array");
            for (slot, frame) in [(0u32, first), (1, second)] {
                let header: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().expect("headers");
                headers.set(slot, header, 0).expect("write the headers");
            }
            let mut tx: DevMap<_> =
                DevMap::try_from(object.map_mut("GEN_TX").expect("GEN_TX")).expect("devmap");
            let eth0 = rawio::ifindex("eth0").expect("the source's eth0");
            tx.set(0, eth0, None, 0).expect("the generator's interface");
            let program: &mut Xdp = object
                .program_mut("bench_gen_alternate")
                .expect("generator")
                .try_into()
                .expect("XDP program");
            program.load().expect("load the generator");
            program
                .test_run(TestRunOptions {
                    data_in: Some(first),
                    repeat: frames,
                    attrs: TestRunAttrs::new().xdp_live_frames(64),
                    ..TestRunOptions::new()
                })
                .expect("BPF_PROG_RUN in live-frames mode");
        })
        .expect("enter the source");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_interfaces_single_and_set_copies_in_one_poll_all_leave_with_its_mac() {
    let mut rig = Rig::new();
    // Receiver 1's MTU keeps it from being bare (it lets these packets out): receiver 2 is
    // the set's bare member, and the set's copies to receiver 1 carry the egress program.
    rig.configure(1, 0, 1400);
    install(&mut rig, SINGLE, &[1]);
    install(&mut rig, SHARED, &[1, 2]);
    let shared = SgKey::new(SOURCE, SHARED);
    let (bare, _) = rig.bare(shared);
    assert_eq!(rig.receiver_of(bare), 2, "receiver 2 bare");
    let frame = |group| {
        Frame {
            group,
            ttl: SEND_TTL as u8,
            ..Frame::default()
        }
        .bytes()
    };
    // Batches starting with either flow: the kernel runs the program of a poll's first copy
    // to receiver 1 on all of them.
    const FRAMES: u32 = 20_000;
    generate_alternating(&rig, &frame(SINGLE), &frame(SHARED), FRAMES);
    generate_alternating(&rig, &frame(SHARED), &frame(SINGLE), FRAMES);

    let idle = Duration::from_millis(300);
    let first = count_by_group_and_mac(&rig.captures[&1], idle);
    let second = count_by_group_and_mac(&rig.captures[&2], idle);
    let (mac1, mac2) = (rig.ports[&1].mac, rig.ports[&2].mac);
    let wrong: Vec<_> = first.iter().filter(|((_, mac), _)| *mac != mac1).collect();
    assert!(
        wrong.is_empty(),
        "receiver 1 got copies with another source MAC: {wrong:?} (all: {first:?})"
    );
    for group in [SINGLE, SHARED] {
        assert!(first.get(&(group, mac1)).is_some_and(|&n| n > 0), "{group}");
    }
    assert!(second
        .keys()
        .all(|(group, mac)| *group == SHARED && *mac == mac2));
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(
        global["egress_no_counter"], 0,
        "every copy had its description"
    );
    assert_eq!(global["egress_malformed"], 0);
    // Nothing dropped by a rule, and the copies sent are the entries' packets.
    for group in [SINGLE, SHARED] {
        let stats = rig
            .router()
            .backend
            .mfe_stats(SgKey::new(SOURCE, group))
            .expect("stats");
        assert!(stats.packets > 0, "{group}");
        for (ifindex, oif) in &stats.oifs {
            assert_eq!((oif.packets, oif.drops), (stats.packets, 0), "{ifindex}");
        }
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_single_copy_through_oif_direct_gets_the_rules_and_its_drop_counted_once() {
    // o0 has a TTL threshold (never bare), so a set listing it gives it the egress program,
    // and the single entry's copies go through OIF_DIRECT; live frames run that program.
    let mut fx = fixture();
    let (o0, o1) = (fx.oifs[0], fx.oifs[1]);
    let settings = IfaceSettings {
        mac: mac_of(0),
        ttl_threshold: 10,
        mtu: 0,
        mirrored: false,
    };
    fx.backend
        .configure_interface(o0, settings)
        .expect("configure");
    let other = SgKey::new(SOURCE, SHARED);
    fx.backend
        .install_mfe(other, LO, &[o0, o1])
        .expect("install");
    fx.backend.install_mfe(sg(), LO, &[o0]).expect("install");
    assert_eq!(fx.backend.direct_program(o0).expect("read"), (true, true));
    let capture = capture_on_p0();
    let before = fx.stats();
    // TTL 11 leaves with 10: out. TTL 10 leaves with 9: below o0's threshold.
    for ttl in [11, 10] {
        let bytes = Frame {
            ttl,
            ..Frame::default()
        }
        .bytes();
        let ctx = xdp_md(0, bytes.len() as u32, LO);
        let program = fx.plane.ingress_program().expect("program");
        live_run(program, &bytes, &ctx).expect("live test run");
    }
    let after = fx.stats();
    let delta = |name: &str| after[name] - before[name];
    assert_eq!(
        [
            "forwarded",
            "egress_tx",
            "egress_ttl_threshold",
            "egress_no_counter"
        ]
        .map(delta),
        [2, 1, 1, 0]
    );
    let stats = fx.backend.mfe_stats(sg()).expect("stats");
    assert_eq!(stats.packets, 2);
    assert_eq!(stats.oifs.len(), 1);
    let (ifindex, oif) = &stats.oifs[0];
    assert_eq!(
        (*ifindex, oif.packets, oif.drops),
        (o0, 1, 1),
        "drop counted once"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buffer = [0u8; 2048];
    let copy = loop {
        assert!(Instant::now() < deadline, "no copy on o0");
        match capture.recv_from(&mut buffer) {
            Ok((len, arrival))
                if !arrival.outgoing && len > 34 && buffer[30..34] == GROUP.octets() =>
            {
                break (buffer[6..12].to_vec(), buffer[22]);
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("capture: {e}"),
        }
    };
    assert_eq!(copy, (mac_of(0).to_vec(), 10), "o0's MAC, TTL - 1");
}
