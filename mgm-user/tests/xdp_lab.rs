//! Root lab test of the XDP data plane forwarding real traffic: a source, the router running
//! the XDP backend, five receivers. Listed receivers get every packet exactly once, with the
//! TTL decremented and the router's MAC as source; the others and the source get none; list
//! changes under continuous traffic lose and duplicate nothing on unchanged interfaces; misses
//! reach the AF_XDP punt socket and the creation-alert ring.
mod xdp_common;

use mgm_user::{
    dataplane::{
        DataPlaneReport, ForwardingBackend, IfaceSettings, PuntSockets, ReportReader, XskConfig,
    },
    lab::Host,
};
use std::time::{Duration, Instant};
use xdp_common::rig::{histogram, parse, send, sg, Rig, SEND_TTL};
use xdp_common::{lab::Router, PinDir};

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
