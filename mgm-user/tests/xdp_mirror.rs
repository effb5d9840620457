//! BPF_PROG_TEST_RUN tests of mirrored interfaces and entries (root): misses left to the
//! kernel, the sample pass, the heartbeat fail-safe and the rate-limited wrong-interface pass,
//! for IPv6 entries as for IPv4 ones.
//! Each test pins its thread to one CPU, so that the per-CPU sample times and token buckets
//! it exercises are the same ones from run to run.
mod xdp_common;

use mgm_common::SgKey;
use mgm_user::dataplane::{monotonic_ns, ForwardingBackend, IfaceSettings, MAX_SAMPLE_INTERVAL};
use std::time::Duration;
use xdp_common::{v6::*, *};

const LONG: Duration = Duration::from_secs(30);

/// Pins the calling thread to CPU 0.
fn pin_to_one_cpu() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the calls only read and write it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity"
        );
    }
}

/// A fixture whose test interface (`lo`) is mirrored, with a fresh heartbeat, the given
/// sample interval and a long timeout.
fn mirrored_fixture(sample: Duration) -> Fixture {
    pin_to_one_cpu();
    let mut fx = fixture();
    mirror(&mut fx, LO, true);
    fx.backend.set_mirror_timing(sample, LONG).expect("timing");
    fx.backend
        .mirror_heartbeat(monotonic_ns())
        .expect("heartbeat");
    fx
}

fn mirror(fx: &mut Fixture, ifindex: u32, mirrored: bool) {
    let settings = IfaceSettings {
        mirrored,
        ..IfaceSettings::default()
    };
    fx.backend
        .configure_interface(ifindex, settings)
        .expect("configure");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_miss_on_a_mirrored_interface_goes_to_the_kernel_without_alert_or_punt() {
    let mut fx = mirrored_fixture(LONG);
    let frame = Frame::default().bytes();
    let (verdict, out) = fx.run(&frame);
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(out, frame, "passed unmodified");
    let stats = fx.stats();
    assert_eq!(
        (
            stats["miss"],
            stats["mirror_miss_passed"],
            stats["report_miss"],
            stats["miss_passed"],
            stats["miss_punted"]
        ),
        (1, 1, 0, 0, 0)
    );
    assert!(fx.drain_reports().is_empty(), "no creation alert");
    // The same interface no longer mirrored: the miss is a creation alert again.
    mirror(&mut fx, LO, false);
    fx.run(&frame);
    assert_eq!(fx.stats()["report_miss"], 1);
    assert_eq!(fx.drain_reports().len(), 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_mirrored_entry_hands_one_packet_per_interval_to_the_kernel_and_forwards_the_rest() {
    let mut fx = mirrored_fixture(LONG);
    let oif = fx.oifs[0];
    fx.backend.install_mfe(sg(), LO, &[oif]).expect("install");
    let frame = Frame::default().bytes();
    let (first, out) = fx.run(&frame);
    assert_eq!(first, XDP_PASS, "the first packet is the sample");
    assert_eq!(
        out, frame,
        "the sample reaches the kernel unmodified (TTL too)"
    );
    for _ in 0..9 {
        fx.forward(&frame);
    }
    let stats = fx.stats();
    assert_eq!((stats["mirror_sampled"], stats["forwarded"]), (1, 9));
    let entry = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!(
        (entry.packets, entry.sampled),
        (10, 1),
        "samples count as packets"
    );
    assert_eq!(entry.oifs[0].1.packets, 9, "copies sent here");
    // A short interval: once it has passed, the next packet is a sample again.
    let interval = Duration::from_millis(1);
    fx.backend
        .set_mirror_timing(interval, LONG)
        .expect("timing");
    let since = monotonic_ns();
    // The data plane reads the coarse clock: wait the interval and a tick or two more.
    while monotonic_ns() - since < (interval + Duration::from_millis(25)).as_nanos() as u64 {
        std::hint::spin_loop();
    }
    assert_eq!(fx.run(&frame).0, XDP_PASS);
    assert_eq!(fx.backend.mfe_stats(sg()).expect("entry").sampled, 2);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_stale_heartbeat_hands_every_packet_of_mirrored_entries_to_the_kernel() {
    let mut fx = mirrored_fixture(Duration::ZERO);
    let (oif, plain_iif) = (fx.oifs[0], fx.oifs[1]);
    fx.backend.install_mfe(sg(), LO, &[oif]).expect("install");
    let other = SgKey::new(SOURCE, std::net::Ipv4Addr::new(239, 9, 9, 9));
    fx.backend
        .install_mfe(other, plain_iif, &[oif])
        .expect("install a non-mirrored entry");
    let frame = Frame::default().bytes();
    fx.forward(&frame);
    // mgmd stopped 10 s ago; the timeout is 3 s.
    fx.backend
        .set_mirror_timing(Duration::ZERO, Duration::from_secs(3))
        .expect("timing");
    fx.backend
        .mirror_heartbeat(monotonic_ns() - 10_000_000_000)
        .expect("heartbeat");
    for _ in 0..5 {
        assert_eq!(fx.run(&frame).0, XDP_PASS);
    }
    assert_eq!(fx.stats()["mirror_stale_passed"], 5);
    let other_frame = Frame {
        group: other.group_addr(),
        ..Frame::default()
    };
    let (verdict, _) = fx.run_on(&other_frame.bytes(), plain_iif);
    assert_eq!(
        verdict, XDP_REDIRECT,
        "entries not mirrored do not depend on the heartbeat"
    );
    // A fresh heartbeat: forwarded here again.
    fx.backend
        .mirror_heartbeat(monotonic_ns())
        .expect("heartbeat");
    fx.forward(&frame);
    // The interface stops being mirrored: its entry forwards whatever the heartbeat.
    fx.backend.mirror_heartbeat(0).expect("heartbeat");
    mirror(&mut fx, LO, false);
    fx.forward(&frame);
    assert_eq!(fx.stats()["mirror_stale_passed"], 5);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_wrong_interface_goes_to_the_kernel_rate_limited_and_without_reports() {
    let mut fx = mirrored_fixture(LONG);
    let iif = LO + 7;
    mirror(&mut fx, iif, true);
    let oifs = fx.oifs.clone();
    fx.backend.install_mfe(sg(), iif, &oifs).expect("install");
    // Three back to back, then one per 100 s.
    fx.backend.set_mirror_wrong_if_limit(1, 3).expect("limit");
    fx.backend
        .set_mirror_wrong_if_limit(0, 3)
        .expect("unlimited");
    fx.backend.set_mirror_wrong_if_limit(1, 3).expect("limit");
    let frame = Frame::default().bytes();
    let verdicts: Vec<u32> = (0..10).map(|_| fx.run(&frame).0).collect();
    assert_eq!(verdicts[..3], [XDP_PASS; 3]);
    assert_eq!(verdicts[3..], [XDP_DROP; 7]);
    let stats = fx.stats();
    assert_eq!(
        (
            stats["wrong_if"],
            stats["mirror_wrong_if_passed"],
            stats["mirror_wrong_if_limited"],
            stats["report_wrong_if"]
        ),
        (0, 3, 7, 0)
    );
    assert_eq!(fx.backend.mfe_stats(sg()).expect("entry").wrong_if, 10);
    assert!(
        fx.drain_reports().is_empty(),
        "the kernel reports it, not mgm"
    );
    // With mgmd gone, all of them go to the kernel.
    fx.backend.mirror_heartbeat(0).expect("heartbeat");
    assert_eq!(fx.run(&frame).0, XDP_PASS);
    assert_eq!(fx.stats()["mirror_stale_passed"], 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn sample_intervals_above_the_bound_and_a_zero_timeout_are_refused() {
    let mut fx = fixture();
    let above = MAX_SAMPLE_INTERVAL + Duration::from_millis(1);
    let error = fx
        .backend
        .set_mirror_timing(above, LONG)
        .expect_err("above the bound");
    assert!(error.to_string().contains("exceeds"), "{error}");
    fx.backend
        .set_mirror_timing(Duration::from_secs(1), Duration::ZERO)
        .expect_err("zero timeout");
    fx.backend
        .set_mirror_timing(MAX_SAMPLE_INTERVAL, LONG)
        .expect("the bound itself");
}

/// The hit cost of a mirrored entry next to a plain one (printed, not asserted: figures belong
/// in reports). One test run repeats the program on the same frame, whose TTL the forwarder
/// decrements: 250 hits fit in a TTL of 255; the best of 200 runs is kept for each.
#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn measure_the_hit_cost_of_mirrored_entries() {
    let mut fx = mirrored_fixture(LONG);
    let plain = SgKey::new(SOURCE, std::net::Ipv4Addr::new(239, 9, 9, 9));
    let (oif, plain_iif) = (fx.oifs[0], fx.oifs[1]);
    fx.backend.install_mfe(sg(), LO, &[oif]).expect("mirrored");
    fx.backend
        .install_mfe(plain, plain_iif, &[oif])
        .expect("plain");
    let frame = |group| {
        Frame {
            ttl: 255,
            group,
            ..Frame::default()
        }
        .bytes()
    };
    let mut best = |frame: &[u8], iif: u32| {
        let ctx = xdp_md(0, frame.len() as u32, iif);
        (0..200)
            .map(|_| {
                fx.backend
                    .mirror_heartbeat(monotonic_ns())
                    .expect("heartbeat");
                let program = fx.plane.ingress_program().expect("program");
                test_run(program, frame, &ctx, 250).expect("run").duration
            })
            .min()
            .expect("runs")
    };
    let mirrored = best(&frame(GROUP), LO);
    let plain = best(&frame(plain.group_addr()), plain_iif);
    eprintln!(
        "hit, fan-out 1: mirrored entry {} ns/packet, plain entry {} ns/packet ({:.2}x)",
        mirrored.as_nanos(),
        plain.as_nanos(),
        mirrored.as_secs_f64() / plain.as_secs_f64()
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ipv6_mirrored_entries_sample_fall_back_on_a_stale_heartbeat_and_leave_misses_to_the_kernel() {
    let mut fx = mirrored_fixture(LONG);
    let oif = fx.oifs[0];
    let frame = Frame6::default().bytes();
    // No entry yet: the miss goes to the kernel, without alert.
    let (verdict, out) = fx.run(&frame);
    assert_eq!((verdict, out.as_slice()), (XDP_PASS, frame.as_slice()));
    let stats = fx.stats();
    assert_eq!(
        (
            stats["ipv6_miss"],
            stats["mirror_miss_passed"],
            stats["report_miss"]
        ),
        (1, 1, 0)
    );
    assert!(fx.drain_reports().is_empty(), "no creation alert");
    // A mirrored entry: the first packet is the sample, the rest forward here.
    fx.backend.install_mfe6(sg6(), LO, &[oif]).expect("install");
    let (first, out) = fx.run(&frame);
    assert_eq!((first, out.as_slice()), (XDP_PASS, frame.as_slice()));
    for _ in 0..4 {
        fx.forward(&frame);
    }
    let entry = fx.backend.mfe6_stats(sg6()).expect("entry");
    assert_eq!((entry.packets, entry.sampled), (5, 1));
    assert_eq!(entry.oifs[0].1.packets, 4, "copies sent here");
    // mgmd stopped 10 s ago; the timeout is 3 s: every packet goes to the kernel.
    fx.backend
        .set_mirror_timing(Duration::ZERO, Duration::from_secs(3))
        .expect("timing");
    fx.backend
        .mirror_heartbeat(monotonic_ns() - 10_000_000_000)
        .expect("heartbeat");
    for _ in 0..3 {
        assert_eq!(fx.run(&frame).0, XDP_PASS);
    }
    assert_eq!(fx.stats()["mirror_stale_passed"], 3);
    fx.backend
        .mirror_heartbeat(monotonic_ns())
        .expect("heartbeat");
    fx.forward(&frame);
}
