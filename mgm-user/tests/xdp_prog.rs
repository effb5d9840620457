//! BPF_PROG_TEST_RUN tests of the real XDP programs loaded in the kernel (root): every verdict
//! of the ingress program, its counters and reports, and the egress program's rules.
mod xdp_common;

use aya::{programs::ProgramError, sys::SyscallError};
use mgm_common::{limits, SgKey};
use mgm_user::dataplane::{DataPlane, DataPlaneReport, ForwardingBackend, IfaceSettings};
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
fn miss_is_reported_counted_and_passed_without_punt_socket() {
    let mut fx = fixture();
    let frame = Frame::default().bytes();
    let (verdict, out) = fx.run(&frame);
    assert_eq!(verdict, XDP_PASS);
    assert_eq!(out, frame, "a miss is not modified");
    let stats = fx.stats();
    assert_eq!(stats["miss"], 1);
    assert_eq!(stats["miss_passed"], 1);
    assert_eq!(stats["report_miss"], 1);
    let reports = fx.drain_reports();
    assert_eq!(reports.len(), 1);
    match &reports[0] {
        DataPlaneReport::Miss {
            sg: got,
            ifindex,
            header,
        } => {
            assert_eq!(*got, sg());
            assert_eq!(*ifindex, LO);
            assert_eq!(header[..], frame[14..14 + header.len()]);
            assert!(header.len() >= 20);
        }
        other => panic!("unexpected report {other:?}"),
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn reports_carry_the_packet_from_its_ip_header_up_to_60_bytes() {
    let mut fx = fixture();
    // The longest IPv4 header (40 bytes of options) and a payload: exactly the header.
    let options = [vec![0x94, 0x04, 0, 0], vec![1; 36]].concat();
    let long = Frame {
        options,
        payload: 100,
        ..Frame::default()
    }
    .bytes();
    // A short packet (46 bytes from its IP header on): all of it. Another (S,G): the first
    // was just reported, so its misses raise no other alert for a while.
    let short = Frame {
        group: Ipv4Addr::new(239, 1, 2, 4),
        ..Frame::default()
    }
    .bytes();
    for (frame, expected) in [(&long, 60), (&short, short.len() - 14)] {
        fx.run(frame);
        let reports = fx.drain_reports();
        let Some(DataPlaneReport::Miss { header, .. }) = reports.first() else {
            panic!("no miss report: {reports:?}");
        };
        assert_eq!(header[..], frame[14..14 + expected]);
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn miss_reports_are_rate_limited_per_cpu() {
    let mut fx = fixture();
    // One report per 100 s after a burst of 3: first packets of 10 (S,G)s raise 3 per CPU.
    fx.backend.set_report_limit(1, 3).expect("limit");
    fx.backend.set_report_limit(0, 3).expect("unlimited");
    fx.backend.set_report_limit(1, 3).expect("limit");
    for n in 0..10 {
        let frame = Frame {
            group: Ipv4Addr::new(239, 1, 3, n),
            ..Frame::default()
        }
        .bytes();
        assert_eq!(fx.run(&frame).0, XDP_PASS);
    }
    let stats = fx.stats();
    assert_eq!(stats["miss"], 10);
    // test runs may land on either CPU: at most a burst per CPU is raised.
    let raised = stats["report_miss"];
    assert!((3..=6).contains(&raised), "raised {raised}");
    assert_eq!(stats["report_rate_limited"], 10 - raised);
    assert_eq!(fx.drain_reports().len() as u64, raised);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn wrong_interface_is_counted_reported_and_dropped() {
    let mut fx = fixture();
    fx.backend
        .install_mfe(sg(), LO + 7, &fx.oifs)
        .expect("install");
    let (verdict, _) = fx.run(&Frame::default().bytes());
    assert_eq!(verdict, XDP_DROP);
    assert_eq!(fx.stats()["wrong_if"], 1);
    let stats = fx.backend.mfe_stats(sg()).expect("entry");
    assert_eq!((stats.wrong_if, stats.packets), (1, 0));
    let reports = fx.drain_reports();
    assert!(
        matches!(
            reports.as_slice(),
            [DataPlaneReport::WrongIf { ifindex: LO, .. }]
        ),
        "{reports:?}"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ttl_one_and_zero_are_dropped_and_counted() {
    let mut fx = forwarding_fixture();
    for ttl in [0u8, 1] {
        let (verdict, _) = fx.run(
            &Frame {
                ttl,
                ..Frame::default()
            }
            .bytes(),
        );
        assert_eq!(verdict, XDP_DROP, "ttl {ttl}");
    }
    assert_eq!(fx.stats()["ttl_expired"], 2);
    assert_eq!(fx.backend.mfe_stats(sg()).expect("entry").ttl_expired, 2);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn negative_entry_drops() {
    let mut fx = fixture();
    fx.backend
        .install_mfe(sg(), LO, &[])
        .expect("install negative");
    assert_eq!(fx.run(&Frame::default().bytes()).0, XDP_DROP);
    assert_eq!(fx.stats()["negative"], 1);
    assert!(
        fx.drain_reports().is_empty(),
        "no creation alert for a negative entry"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn ip_options_and_fragments_are_forwarded() {
    let mut fx = forwarding_fixture();
    // Router alert (4 bytes), then 36 bytes of NOPs: the longest header, 60 bytes.
    for options in [
        vec![0x94, 0x04, 0, 0],
        [vec![0x94, 0x04, 0, 0], vec![1; 36]].concat(),
    ] {
        let frame = Frame {
            options: options.clone(),
            ..Frame::default()
        };
        let out = fx.forward(&frame.bytes());
        let header = &out[14..14 + 20 + options.len()];
        assert_eq!(checksum(header), 0);
        assert_eq!(header[8], 63);
    }
    for frag_off in [0x2000u16, 0x0010, 0x2010] {
        let (verdict, _) = fx.run(
            &Frame {
                frag_off,
                ..Frame::default()
            }
            .bytes(),
        );
        assert_eq!(verdict, XDP_REDIRECT, "fragment {frag_off:#x}");
    }
    let stats = fx.stats();
    assert_eq!(stats["ip_options"], 2);
    assert_eq!(stats["fragment"], 3);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn vlan_tag_is_parsed_and_removed_from_the_copies() {
    let mut fx = forwarding_fixture();
    let frame = Frame {
        vlan: true,
        ..Frame::default()
    };
    let bytes = frame.bytes();
    let out = fx.forward(&bytes);
    assert_eq!(out.len(), bytes.len() - 4, "tag removed");
    assert_eq!(out[..6], bytes[..6], "destination kept");
    assert_eq!(out[6..12], mac_of(0), "the router's source MAC");
    assert_eq!(out[12..14], [0x08, 0x00]);
    assert_eq!(out[14 + 8], 63);
    assert_eq!(checksum(&out[14..34]), 0);
    assert_eq!(fx.stats()["vlan"], 1);
    // A tagged miss is passed unmodified.
    let other = Frame {
        vlan: true,
        group: Ipv4Addr::new(239, 9, 9, 9),
        ..Frame::default()
    };
    let (verdict, out) = fx.run(&other.bytes());
    assert_eq!((verdict, out), (XDP_PASS, other.bytes()));
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn truncated_frames_are_dropped_at_every_length() {
    let mut fx = forwarding_fixture();
    for vlan in [false, true] {
        for options in [Vec::new(), vec![1u8; 8]] {
            let frame = Frame {
                vlan,
                options: options.clone(),
                ..Frame::default()
            };
            let bytes = frame.bytes();
            let full_header = frame.l3_offset() + 20 + options.len();
            // The kernel refuses test frames shorter than an Ethernet header.
            for len in 14..=full_header {
                let (verdict, _) = fx.run(&bytes[..len]);
                assert_eq!(
                    verdict,
                    XDP_DROP,
                    "vlan {vlan} options {} length {len}",
                    options.len()
                );
            }
        }
    }
    let stats = fx.stats();
    assert_eq!(stats["forwarded"], 0);
    assert!(stats["malformed_eth"] + stats["malformed_ipv4"] > 0);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn frames_shorter_than_an_ethernet_header_are_refused_by_the_kernel() {
    let mut fx = fixture();
    let bytes = Frame::default().bytes();
    let program = fx.plane.ingress_program().expect("program");
    // The program's first bounds check assumes a whole Ethernet header: the kernel refuses
    // shorter test frames (and never hands such a frame to XDP) before the program runs.
    for len in 0..14 {
        let ctx = xdp_md(0, len as u32, LO);
        match test_run(program, &bytes[..len], &ctx, 1) {
            Err(ProgramError::SyscallError(SyscallError { io_error, .. })) => {
                assert_eq!(io_error.raw_os_error(), Some(libc::EINVAL), "length {len}")
            }
            Err(other) => panic!("length {len}: unexpected error {other}"),
            Ok(run) => panic!("length {len}: the kernel ran the program ({})", run.verdict),
        }
    }
    assert_eq!(fx.stats()["malformed_eth"], 0, "the program never ran");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn malformed_ipv4_is_dropped() {
    let mut fx = forwarding_fixture();
    let good = Frame::default().bytes();
    let mut cases = Vec::new();
    let mut bad_version = good.clone();
    bad_version[14] = 0x65;
    cases.push(("version", bad_version));
    let mut short_ihl = good.clone();
    short_ihl[14] = 0x44;
    cases.push(("ihl 4", short_ihl));
    let mut long_total = good.clone();
    long_total[16..18].copy_from_slice(&200u16.to_be_bytes());
    cases.push(("total length beyond frame", long_total));
    let mut short_total = good.clone();
    short_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    cases.push(("total length below header", short_total));
    let mut bad_sum = good.clone();
    bad_sum[24] ^= 0xff;
    cases.push(("checksum", bad_sum));
    for (what, frame) in cases {
        assert_eq!(fx.run(&frame).0, XDP_DROP, "{what}");
    }
    let stats = fx.stats();
    assert_eq!(stats["malformed_ipv4"], 4);
    assert_eq!(stats["bad_checksum"], 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn non_ipv4_unicast_link_local_and_igmp_are_passed() {
    let mut fx = fixture();
    let mut arp = Frame::default().bytes();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let unicast = Frame {
        group: Ipv4Addr::new(10, 0, 0, 254),
        ..Frame::default()
    }
    .bytes();
    let link_local = Frame {
        group: Ipv4Addr::new(224, 0, 0, 5),
        ..Frame::default()
    }
    .bytes();
    let igmp = Frame {
        group: Ipv4Addr::new(239, 1, 2, 3),
        protocol: 2,
        ..Frame::default()
    }
    .bytes();
    // Installed entries never capture IGMP or link-local traffic.
    fx.backend
        .install_mfe(
            SgKey::new(SOURCE, Ipv4Addr::new(224, 0, 0, 5)),
            LO,
            &fx.oifs[..1],
        )
        .expect("install link-local");
    fx.backend
        .install_mfe(sg(), LO, &fx.oifs[..1])
        .expect("install");
    for (what, frame) in [
        ("arp", &arp),
        ("unicast", &unicast),
        ("link-local", &link_local),
        ("igmp", &igmp),
    ] {
        let (verdict, out) = fx.run(frame);
        assert_eq!(verdict, XDP_PASS, "{what}");
        assert_eq!(&out, frame, "{what} unmodified");
    }
    let stats = fx.stats();
    assert_eq!(
        stats["not_ipv4"], 1,
        "IPv6 has its own path (tests/xdp_prog6.rs)"
    );
    assert_eq!(stats["not_multicast"], 1);
    assert_eq!(stats["link_local"], 1);
    assert_eq!(stats["igmp"], 1);
    assert_eq!(stats["forwarded"], 0);
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
fn async_reader_yields_reports() {
    let fx = fixture();
    let Fixture {
        mut plane, reports, ..
    } = fx;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let frame = Frame::default().bytes();
    let ctx = xdp_md(0, frame.len() as u32, LO);
    let program = plane.ingress_program().expect("program");
    let report = runtime.block_on(async {
        let mut reader = reports.into_async().expect("async reader");
        assert_eq!(
            test_run(program, &frame, &ctx, 1).expect("run").verdict,
            XDP_PASS
        );
        tokio::time::timeout(std::time::Duration::from_secs(5), reader.next())
            .await
            .expect("a report within 5 s")
            .expect("report")
    });
    assert!(matches!(report, DataPlaneReport::Miss { sg: got, .. } if got == sg()));
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

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn pinned_maps_of_another_layout_are_refused() {
    let dir = std::path::PathBuf::from(format!("/sys/fs/bpf/mgm-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("pin directory");
    let stale: aya::maps::HashMap<aya::maps::MapData, u32, u32> =
        aya::maps::HashMap::create(16, 0).expect("map");
    stale.pin(dir.join("MFES")).expect("pin");
    let result = DataPlane::load_pinned(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    match result {
        Err(mgm_user::dataplane::DataPlaneError::Invalid(message)) => {
            assert!(message.contains("MFES"), "{message}")
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("a stale pinned MFES was reused"),
    }
}
