//! BPF_PROG_TEST_RUN tests of the real XDP programs loaded in the kernel (root): every verdict
//! other than a hit (misses and their reports, wrong interfaces, expired TTLs, malformed and
//! foreign frames), and the maps' layout check. The hit path is in `xdp_prog.rs`.
mod xdp_common;

use aya::{programs::ProgramError, sys::SyscallError};
use mgm_common::SgKey;
use mgm_user::dataplane::{DataPlane, DataPlaneReport, ForwardingBackend, IfaceSettings};
use std::net::{Ipv4Addr, Ipv6Addr};
use xdp_common::{v6::*, *};

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
fn misses_from_sources_no_host_may_send_from_are_dropped_without_an_alert() {
    let mut fx = fixture();
    let martians = [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "224.1.1.1",
        "239.9.9.9",
        "255.255.255.255",
    ];
    for source in martians {
        let frame = Frame {
            source: source.parse().expect("address"),
            ..Frame::default()
        };
        assert_eq!(fx.run(&frame.bytes()).0, XDP_DROP, "{source}");
    }
    let martians6 = ["::", "::1", "ff0e::1", "ff02::1", "::ffff:10.0.0.1"];
    for source in martians6 {
        let frame = Frame6 {
            source: source.parse().expect("address"),
            ..Frame6::default()
        };
        assert_eq!(fx.run(&frame.bytes()).0, XDP_DROP, "{source}");
    }
    let stats = fx.stats();
    assert_eq!(
        (stats["martian_source"], stats["miss"], stats["ipv6_miss"]),
        (11, 6, 5)
    );
    assert!(fx.drain_reports().is_empty(), "no creation alert");
    // Their neighbours are hosts' addresses: missed, reported.
    for source in ["1.0.0.1", "126.255.255.255", "223.255.255.255", "240.0.0.1"] {
        let frame = Frame {
            source: source.parse().expect("address"),
            ..Frame::default()
        };
        assert_eq!(fx.run(&frame.bytes()).0, XDP_PASS, "{source}");
    }
    for source in ["::2", "::ffff:0:0:1", "2001:db8::1", "fe80::1"] {
        let frame = Frame6 {
            source: source.parse().expect("address"),
            ..Frame6::default()
        };
        assert_eq!(fx.run(&frame.bytes()).0, XDP_PASS, "{source}");
    }
    assert_eq!(fx.drain_reports().len(), 8);
    assert_eq!(fx.stats()["martian_source"], 11);
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
    // The entry counts them, as the kernel's does, and sent none of them on: one forwarded
    // packet after them is its interface's only copy.
    fx.forward(&Frame::default().bytes());
    let entry = fx.backend.mfe_stats(sg()).expect("entry");
    let len = 20 + 8 + 18;
    assert_eq!(
        (entry.ttl_expired, entry.packets, entry.bytes, entry.sampled),
        (2, 3, 3 * len, 0)
    );
    assert_eq!((entry.oifs[0].1.packets, entry.oifs[0].1.bytes), (1, len));
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
fn frames_of_another_vlan_go_to_the_kernel_even_with_an_entry() {
    // Tagged with VLAN 5, for which the kernel has a VLAN device or drops them: not the port's
    // LAN, so not forwarded as if they had arrived untagged.
    let mut fx = forwarding_fixture();
    let mut tagged = Frame::default().bytes();
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    let mut tagged6 = Frame6::default().bytes();
    tagged6.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    for frame in [tagged, tagged6] {
        let (verdict, out) = fx.run(&frame);
        assert_eq!((verdict, out), (XDP_PASS, frame));
    }
    let stats = fx.stats();
    assert_eq!((stats["other_vlan"], stats["forwarded"]), (2, 0));
    assert!(fx.drain_reports().is_empty());
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

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn rx_and_multicast_count_every_frame_by_its_verdict() {
    // The programs count neither: userspace derives them from the verdicts.
    let mut fx = fixture();
    let (o0, o1) = (fx.oifs[0], fx.oifs[1]);
    let refusing = SgKey::new(SOURCE, Ipv4Addr::new(239, 1, 2, 9));
    fx.backend.install_mfe(sg(), LO, &[o0]).expect("install");
    fx.backend
        .install_mfe(refusing, LO, &[o1])
        .expect("install");
    fx.backend
        .install_mfe6(sg6(), LO, &[o0])
        .expect("install IPv6");
    let threshold = IfaceSettings {
        mac: mac_of(1),
        ttl_threshold: 200,
        ..IfaceSettings::default()
    };
    fx.backend
        .configure_interface(o1, threshold)
        .expect("configure");
    let ipv4 = [
        Frame::default(),
        Frame {
            ttl: 1,
            ..Frame::default()
        },
        Frame {
            group: Ipv4Addr::new(239, 9, 9, 9),
            ..Frame::default()
        },
        Frame {
            group: refusing.group_addr(),
            ..Frame::default()
        },
        Frame {
            options: vec![0x94, 0x01, 0, 0],
            ..Frame::default()
        },
    ];
    let not_multicast = [
        Frame {
            group: Ipv4Addr::new(10, 0, 0, 254),
            ..Frame::default()
        },
        Frame {
            protocol: 2,
            ..Frame::default()
        },
    ];
    let ipv6 = [
        Frame6::default(),
        Frame6::to(Ipv6Addr::new(0xff0e, 0, 0, 0, 0, 0, 0x8000, 9)),
        Frame6 {
            hop_limit: 1,
            ..Frame6::default()
        },
    ];
    let frames: Vec<Vec<u8>> = ipv4
        .iter()
        .chain(&not_multicast)
        .map(Frame::bytes)
        .chain(ipv6.iter().map(Frame6::bytes))
        .collect();
    let verdicts: Vec<u32> = frames.iter().map(|frame| fx.run(frame).0).collect();
    assert_eq!(
        verdicts,
        [
            XDP_REDIRECT,
            XDP_DROP,
            XDP_PASS,
            XDP_DROP,
            XDP_DROP,
            XDP_PASS,
            XDP_PASS,
            XDP_REDIRECT,
            XDP_PASS,
            XDP_DROP
        ]
    );
    let stats = fx.stats();
    assert_eq!((stats["single_copy_refused"], stats["bad_options"]), (1, 1));
    assert_eq!(stats["rx"], 10, "every frame");
    assert_eq!(stats["multicast"], 5, "the IPv4 multicast data frames");
    assert_eq!(stats["ipv6_multicast"], 3);
}
