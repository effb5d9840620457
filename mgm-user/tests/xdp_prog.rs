//! BPF_PROG_TEST_RUN tests of the real XDP programs loaded in the kernel (root): the hit path
//! (forwarding, broadcast through a set, the outgoing interfaces' rules at ingress and in the
//! egress program) and its counters. The other verdicts are in `xdp_verdicts.rs`.
mod xdp_common;

use mgm_common::{limits, SgKey};
use mgm_user::dataplane::{ForwardingBackend, IfaceSettings};
use std::net::Ipv4Addr;
use xdp_common::*;

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hit_is_redirected_with_ttl_decremented_and_valid_checksum() {
    let mut fx = forwarding_fixture();
    for ttl in [2u8, 64, 255] {
        let frame = Frame {
            ttl,
            ..Frame::default()
        };
        let out = fx.forward(&frame.bytes());
        let ip = &out[14..34];
        assert_eq!(ip[8], ttl - 1, "TTL decremented");
        assert_eq!(checksum(ip), 0, "checksum still valid at ttl {ttl}");
        assert_eq!(
            out[6..12],
            mac_of(0),
            "source MAC of the one outgoing interface"
        );
    }
    let stats = fx.backend.mfe_stats(sg()).expect("entry stats");
    assert_eq!(stats.packets, 3);
    assert_eq!(stats.bytes, 3 * (20 + 8 + 18));
    assert_eq!(stats.oifs[0].1.packets, 3, "per-(entry, interface) counter");
    assert_eq!(fx.stats()["forwarded"], 3);
    assert_eq!(fx.stats()["egress_tx"], 3);
    assert!(fx.drain_reports().is_empty());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_packet_framed_to_the_routers_own_mac_leaves_framed_to_its_groups_mac() {
    // A sender may frame a multicast packet to the router's unicast MAC; the kernel forwards it
    // to the group's MAC, which the receivers take (they drop a frame for another host's MAC).
    let group_mac = [0x01, 0x00, 0x5e, 0x01, 0x02, 0x03]; // 239.1.2.3
    let mut fx = forwarding_fixture();
    let mut to_router = Frame::default().bytes();
    to_router[..6].copy_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    assert_eq!(
        fx.forward(&to_router)[..6],
        group_mac,
        "through the one interface"
    );
    let mut fx = fixture();
    let oifs = fx.oifs.clone();
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    let (verdict, out) = fx.run(&to_router);
    assert_eq!(
        (verdict, &out[..6]),
        (XDP_REDIRECT, &group_mac[..]),
        "broadcast"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hit_through_a_set_is_broadcast_with_the_ttl_decremented_and_no_metadata() {
    let mut fx = fixture();
    let oifs = fx.oifs.clone();
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install");
    let frame = Frame::default().bytes();
    let (verdict, out) = fx.run(&frame);
    assert_eq!(verdict, XDP_REDIRECT);
    assert_eq!(
        out.len(),
        frame.len(),
        "nothing in front: the egress program reads the copy's header"
    );
    let ip = &out[14..34];
    assert_eq!((ip[8], checksum(ip)), (63, 0));
    assert_eq!(out[34..], frame[34..]);
    // Every copy starts with the MAC of the set's bare member (whose devmap entry runs no
    // program, its copy counted here); the other members' egress programs rewrite theirs.
    let (bare, unprogrammed) = fx.backend.bare_member(sg()).expect("read").expect("a set");
    assert_eq!(unprogrammed, vec![bare]);
    let member = oifs.iter().position(|&oif| oif == bare).expect("a member");
    assert_eq!(out[6..12], mac_of(member), "the bare member's MAC");
    assert_eq!(fx.stats()["egress_tx"], 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn foreign_metadata_in_front_of_a_frame_changes_nothing() {
    // Metadata an earlier program on the frame's way left in front of it (or a recycled page's
    // descriptor kept, as BPF_PROG_RUN's live frames do). As a copy's description, 12 bytes of
    // 0xa5 would say: counter slot 0xa5a5a5a5, 2.8 GB long, TTL 165.
    let mut fx = fixture();
    let (o0, o1) = (fx.oifs[0], fx.oifs[1]);
    let threshold = IfaceSettings {
        mac: mac_of(0),
        ttl_threshold: 10,
        mtu: 0,
        mirrored: false,
    };
    fx.backend
        .configure_interface(o0, threshold)
        .expect("configure");
    fx.backend
        .install_mfe(sg(), LO, &[o0, o1])
        .expect("install");
    let frame = Frame::default().bytes();
    // The ingress program leaves it as it is, however much of the headroom it takes.
    for existing in [4usize, 12, 212, 216] {
        let mut input = vec![0xa5u8; existing];
        input.extend_from_slice(&frame);
        let ctx = xdp_md(existing as u32, input.len() as u32, LO);
        let program = fx.plane.ingress_program().expect("program");
        let run = test_run(program, &input, &ctx, 1).expect("test run");
        assert_eq!(run.verdict, XDP_REDIRECT, "{existing} bytes in front");
        assert_eq!(run.out[..existing], input[..existing], "left as it was");
        let out = &run.out[existing..];
        assert_eq!(out.len(), frame.len());
        assert_eq!((out[14 + 8], checksum(&out[14..34])), (63, 0));
        assert_eq!(out[34..], frame[34..]);
    }
    // The egress program reads the copy's header: TTL 11 leaves with 10, both copies go; TTL
    // 10 leaves with 9, below o0's threshold: dropped there and counted for the entry.
    let _capture = capture_on_p0();
    let before = fx.stats();
    for ttl in [11, 10] {
        let mut input = vec![0xa5u8; 12];
        input.extend_from_slice(
            &Frame {
                ttl,
                ..Frame::default()
            }
            .bytes(),
        );
        let ctx = xdp_md(12, input.len() as u32, LO);
        let program = fx.plane.ingress_program().expect("program");
        live_run(program, &input, &ctx).expect("live test run");
    }
    let after = fx.stats();
    let delta = |name: &str| after[name] - before[name];
    assert_eq!(
        (
            delta("forwarded"),
            delta("egress_tx"),
            delta("egress_ttl_threshold"),
            delta("egress_mtu"),
            delta("egress_no_counter")
        ),
        (2, 3, 1, 0, 0)
    );
    let entry = fx.backend.mfe_stats(sg()).expect("entry");
    let sent_and_dropped = |oif: u32| {
        let (_, counters) = entry
            .oifs
            .iter()
            .find(|(i, _)| *i == oif)
            .expect("an outgoing interface");
        (counters.packets, counters.drops)
    };
    // The four test runs above and the two live ones.
    assert_eq!(entry.packets, 6);
    assert_eq!(sent_and_dropped(o0), (5, 1), "its one drop, for the entry");
    assert_eq!(sent_and_dropped(o1), (6, 0));
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn single_interface_rules_apply_at_ingress() {
    let mut fx = forwarding_fixture();
    let settings = IfaceSettings {
        mac: mac_of(0),
        ttl_threshold: 10,
        mtu: 100,
        mirrored: false,
    };
    fx.backend
        .configure_interface(fx.oifs[0], settings)
        .expect("configure");
    let below = Frame {
        ttl: 10,
        ..Frame::default()
    };
    assert_eq!(
        fx.run(&below.bytes()).0,
        XDP_DROP,
        "TTL 9 after the decrement < 10"
    );
    let big = Frame {
        payload: 100,
        ..Frame::default()
    };
    assert_eq!(fx.run(&big.bytes()).0, XDP_DROP, "above the MTU");
    fx.forward(
        &Frame {
            ttl: 11,
            ..Frame::default()
        }
        .bytes(),
    );
    let stats = fx.stats();
    assert_eq!(
        (
            stats["egress_ttl_threshold"],
            stats["egress_mtu"],
            stats["egress_tx"]
        ),
        (1, 1, 1)
    );
    assert_eq!(
        stats["single_copy_refused"], 2,
        "each refusal ends its frame"
    );
    let entry = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!(
        (
            entry.packets,
            entry.oifs[0].1.drops,
            entry.oifs[0].1.packets
        ),
        (3, 2, 1),
        "3 accepted, 2 dropped by the interface's rules: 1 copy sent"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn copies_to_an_interface_never_configured_are_dropped() {
    // Punt slots alone do not configure an interface: without its MAC a copy cannot leave.
    let mut fx = fixture();
    let oif = fx.oifs[0];
    fx.backend.remove_interface(oif).expect("remove");
    fx.backend.set_punt_slots(oif, 0, 1).expect("punt slots");
    fx.backend.install_mfe(sg(), LO, &[oif]).expect("install");
    assert_eq!(fx.run(&Frame::default().bytes()).0, XDP_DROP);
    let stats = fx.stats();
    assert_eq!((stats["egress_no_config"], stats["egress_tx"]), (1, 0));
    let entry = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!((entry.oifs[0].1.drops, entry.oifs[0].1.packets), (1, 0));
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_ifindex_past_the_interface_array_is_refused() {
    let mut fx = fixture();
    let past = limits::IFACES;
    let refusals = [
        fx.backend
            .configure_interface(past, IfaceSettings::default())
            .expect_err("configure refused"),
        fx.backend
            .set_punt_slots(past, 0, 1)
            .expect_err("punt slots refused"),
    ];
    for e in refusals {
        assert!(
            e.to_string().contains("an ifindex below 65536"),
            "a clear error: {e}"
        );
    }
    let last = past - 1;
    fx.backend
        .configure_interface(last, IfaceSettings::default())
        .expect("the last ifindex is taken");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn an_interface_counts_the_copies_since_it_joined_the_entry() {
    let mut fx = forwarding_fixture();
    let frame = Frame::default().bytes();
    for _ in 0..3 {
        fx.forward(&frame);
    }
    let both = fx.oifs.clone();
    fx.backend
        .update_mfe(sg(), LO, &both)
        .expect("add an interface");
    for _ in 0..2 {
        assert_eq!(fx.run(&frame).0, XDP_REDIRECT);
    }
    let stats = fx.backend.mfe_stats(sg()).expect("entry");
    let sent: Vec<(u32, u64, u64)> = stats
        .oifs
        .iter()
        .map(|(ifindex, s)| (*ifindex, s.packets, s.bytes))
        .collect();
    let len = (frame.len() - 14) as u64;
    assert_eq!(stats.packets, 5);
    assert_eq!(
        sent,
        vec![(both[0], 5, 5 * len), (both[1], 2, 2 * len)],
        "the second interface joined after 3 packets"
    );
    fx.backend
        .update_mfe(sg(), LO, &both[1..])
        .expect("drop the first");
    fx.backend
        .update_mfe(sg(), LO, &both)
        .expect("and add it again");
    fx.run(&frame);
    let stats = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!(
        stats
            .oifs
            .iter()
            .map(|(_, s)| s.packets)
            .collect::<Vec<_>>(),
        vec![1, 3],
        "a re-added interface starts from zero"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn checksum_update_is_right_for_every_ttl_and_id() {
    let mut fx = forwarding_fixture();
    for ttl in 2..=255u8 {
        for payload in [0usize, 1, 7] {
            let frame = Frame {
                ttl,
                payload,
                ..Frame::default()
            };
            let out = fx.forward(&frame.bytes());
            assert_eq!(checksum(&out[14..34]), 0, "ttl {ttl} payload {payload}");
        }
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn list_changes_share_sets_and_keep_counters() {
    let mut fx = Fixture::with_oifs(20);
    let o = fx.oifs.clone();
    let other = SgKey::new(Ipv4Addr::new(10, 0, 0, 2), GROUP);
    fx.backend
        .install_mfe(sg(), LO, &[o[0], o[1]])
        .expect("install");
    fx.backend
        .install_mfe(other, LO, &[o[1], o[0], o[0]])
        .expect("install");
    assert_eq!(fx.backend.sets_in_use(), 1, "equal lists share one set");
    fx.run(&Frame::default().bytes());
    fx.backend
        .update_mfe(sg(), LO, &[o[0], o[2]])
        .expect("update");
    assert_eq!(fx.backend.sets_in_use(), 2);
    let stats = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!(stats.packets, 1, "entry counters survive a list change");
    assert_eq!(
        stats.oifs.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        vec![o[0], o[2]]
    );
    fx.backend.delete_mfe(other).expect("delete");
    assert_eq!(fx.backend.sets_in_use(), 1);
    assert!(fx.backend.has_garbage());
    fx.backend.collect().expect("grace period");
    assert!(!fx.backend.has_garbage());
    assert!(
        fx.backend.update_mfe(other, LO, &[o[0]]).is_err(),
        "update of a deleted entry"
    );
    assert_eq!(
        fx.run(
            &Frame {
                source: Ipv4Addr::new(10, 0, 0, 2),
                ..Frame::default()
            }
            .bytes()
        )
        .0,
        XDP_PASS
    );
    // Many entries with many distinct lists (pairs of 20 interfaces: 190 lists, more than one
    // batch of devmaps), then list changes that retire and recycle sets.
    let pairs: Vec<[u32; 2]> = (0..20)
        .flat_map(|a| (a + 1..20).map(move |b| [a, b]))
        .map(|[a, b]| [o[a], o[b]])
        .collect();
    for (i, pair) in pairs.iter().enumerate() {
        let key = SgKey::new(Ipv4Addr::from(0x0a01_0000 + i as u32), GROUP);
        fx.backend.install_mfe(key, LO, pair).expect("install many");
    }
    // sg() has [o0, o2], one of the pairs: shared.
    assert_eq!(fx.backend.sets_in_use(), pairs.len());
    for round in 0..3 {
        for (i, pair) in pairs.iter().enumerate() {
            let key = SgKey::new(Ipv4Addr::from(0x0a01_0000 + i as u32), GROUP);
            let list = if round % 2 == 0 {
                vec![pair[0]]
            } else {
                pair.to_vec()
            };
            fx.backend.update_mfe(key, LO, &list).expect("change many");
        }
    }
    assert_eq!(fx.backend.len(), 1 + pairs.len());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn egress_applies_threshold_and_source_mac_and_the_broadcast_the_smallest_mtu() {
    // The kernel refuses BPF_PROG_TEST_RUN of devmap programs (EINVAL), so the egress program
    // runs where it runs in service: the ingress program redirects a live frame
    // (BPF_F_TEST_XDP_LIVE_FRAMES) through the entry's set, and the devmap runs the egress
    // program once per copy before the copy leaves on its veth.
    let mut fx = fixture();
    let (o0, o1) = (fx.oifs[0], fx.oifs[1]);
    for (ifindex, settings) in [
        (
            o0,
            IfaceSettings {
                mac: mac_of(0),
                ttl_threshold: 10,
                mtu: 0,
                mirrored: false,
            },
        ),
        (
            o1,
            IfaceSettings {
                mac: mac_of(1),
                ttl_threshold: 0,
                mtu: 100,
                mirrored: false,
            },
        ),
    ] {
        fx.backend
            .configure_interface(ifindex, settings)
            .expect("configure");
    }
    fx.backend
        .install_mfe(sg(), LO, &[o0, o1])
        .expect("install");
    let capture = capture_on_p0();
    let before = fx.stats();
    // TTL 11 leaves with 10: both copies go. TTL 10 leaves with 9: below o0's threshold.
    // 100 bytes of payload make a 128-byte datagram: above o1's MTU, the smallest of the set's,
    // so not broadcast but passed to the TC program (not attached here), which
    // counts o1's drop (tests/xdp_set_mtu.rs).
    for frame in [
        Frame {
            ttl: 11,
            ..Frame::default()
        },
        Frame {
            ttl: 10,
            ..Frame::default()
        },
        Frame {
            payload: 100,
            ..Frame::default()
        },
    ] {
        let bytes = frame.bytes();
        let ctx = xdp_md(0, bytes.len() as u32, LO);
        let program = fx.plane.ingress_program().expect("program");
        live_run(program, &bytes, &ctx).expect("live test run");
    }
    let after = fx.stats();
    let delta = |name: &str| after[name] - before[name];
    assert_eq!(
        (
            delta("forwarded"),
            delta("broadcast_over_mtu"),
            delta("egress_tx"),
            delta("egress_ttl_threshold")
        ),
        (2, 1, 3, 1),
        "broadcast, over a member's MTU, copies sent, below the TTL threshold"
    );
    // o0 sent the first frame, with its own MAC as the source.
    let mut sources = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut buffer = [0u8; 2048];
    while sources.is_empty() && std::time::Instant::now() < deadline {
        match capture.recv_from(&mut buffer) {
            Ok((len, arrival))
                if !arrival.outgoing && len > 34 && buffer[30..34] == GROUP.octets() =>
            {
                sources.push((buffer[6..12].to_vec(), buffer[22]));
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(5))
            }
            Err(e) => panic!("capture: {e}"),
        }
    }
    assert_eq!(
        sources,
        [(mac_of(0).to_vec(), 10)],
        "the copy o0 sent: its MAC as the source, TTL−1"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn measure_ns_per_packet() {
    let mut fx = forwarding_fixture();
    fx.backend.set_report_limit(1, 1).expect("limit");
    let hit = Frame {
        ttl: 255,
        ..Frame::default()
    }
    .bytes();
    let miss = Frame {
        group: Ipv4Addr::new(239, 9, 9, 9),
        ..Frame::default()
    }
    .bytes();
    // One test run repeats the program on the same frame: 250 hits fit in a TTL of 255.
    for (what, frame, repeat) in [("hit", &hit, 250), ("miss", &miss, 100_000)] {
        let ctx = xdp_md(0, frame.len() as u32, LO);
        let program = fx.plane.ingress_program().expect("program");
        let run = test_run(program, frame, &ctx, repeat).expect("run");
        eprintln!(
            "test_run {what}: {} ns/packet (repeat {repeat})",
            run.duration.as_nanos()
        );
    }
    assert_eq!(fx.stats()["forwarded"], 250);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hundred_thousand_entries_install_and_forward() {
    let mut fx = Fixture::with_oifs(16);
    let o = fx.oifs.clone();
    // 100 000 entries over 120 distinct outgoing lists (pairs of 16 interfaces).
    let lists: Vec<[u32; 2]> = (0..16)
        .flat_map(|a| (a + 1..16).map(move |b| [a, b]))
        .map(|[a, b]| [o[a], o[b]])
        .collect();
    let count = 100_000u32;
    let started = std::time::Instant::now();
    for i in 0..count {
        let key = SgKey::new(Ipv4Addr::from(0x0a00_0000 + i), GROUP);
        fx.backend
            .install_mfe(key, LO, &lists[i as usize % lists.len()])
            .expect("install");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "installed {count} entries over {} sets in {elapsed:?} ({:.1} µs each)",
        fx.backend.sets_in_use(),
        elapsed.as_secs_f64() * 1e6 / f64::from(count)
    );
    assert_eq!(fx.backend.len(), count as usize);
    assert_eq!(fx.backend.sets_in_use(), lists.len());
    let last = Frame {
        source: Ipv4Addr::from(0x0a00_0000 + count - 1),
        ..Frame::default()
    };
    fx.forward(&last.bytes());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn sets_listing_a_removed_interface_are_not_shared_again() {
    let mut fx = fixture();
    let o = fx.oifs.clone();
    let other = SgKey::new(Ipv4Addr::new(10, 0, 0, 2), GROUP);
    fx.backend.install_mfe(sg(), LO, &o).expect("install");
    fx.backend.remove_interface(o[1]).expect("remove");
    // The index may come back as another interface: the new list gets a set of its own.
    fx.backend.install_mfe(other, LO, &o).expect("install");
    assert_eq!(fx.backend.sets_in_use(), 2);
    fx.backend.delete_mfe(sg()).expect("delete");
    assert_eq!(fx.backend.sets_in_use(), 1);
    // The surviving set is shared again by equal lists.
    let third = SgKey::new(Ipv4Addr::new(10, 0, 0, 3), GROUP);
    fx.backend.install_mfe(third, LO, &o).expect("install");
    assert_eq!(fx.backend.sets_in_use(), 1);
}
