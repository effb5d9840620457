//! BPF_PROG_TEST_RUN tests of the IPv6 path of the real XDP programs (root): forwarding with the
//! hop limit decremented, the incoming-interface check, hop limit expiry, scopes that never
//! leave the link, MLD, extension headers (forwarded untouched, malformed chains dropped),
//! misses and their reports, both families side by side. Output frames are read back with
//! etherparse, an independent parser. The per-interface rules: `xdp_rules6.rs`.
mod xdp_common;

use etherparse::{Ipv6HeaderSlice, Ipv6Slice};
use mgm_common::Sg6Key;
use mgm_user::dataplane::{DataPlaneReport, ForwardingBackend as _, IfaceSettings};
use std::net::Ipv6Addr;
use xdp_common::{v6::*, *};

/// What the program must leave of a forwarded `input`: untagged, hop limit − 1, the source MAC
/// `mac` (when the ingress program applied a single interface's rules), all else unchanged.
fn expected_copy(input: &Frame6, mac: Option<[u8; 6]>) -> Vec<u8> {
    let untagged = Frame6 {
        vlan: false,
        hop_limit: input.hop_limit - 1,
        ..input.clone()
    };
    let mut bytes = untagged.bytes();
    if let Some(mac) = mac {
        bytes[6..12].copy_from_slice(&mac);
    }
    bytes
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hit_is_redirected_with_hop_limit_decremented() {
    let mut fx = forwarding_fixture6();
    for (hop_limit, vlan) in [(2u8, false), (64, true), (255, false)] {
        let frame = Frame6 {
            hop_limit,
            vlan,
            ..Frame6::default()
        };
        let out = fx.forward(&frame.bytes());
        assert_eq!(out, expected_copy(&frame, Some(mac_of(0))));
        let ip = Ipv6HeaderSlice::from_slice(&out[14..]).expect("an IPv6 header");
        assert_eq!(ip.hop_limit(), hop_limit - 1);
        assert_eq!((ip.source_addr(), ip.destination_addr()), (SOURCE6, GROUP6));
        assert_eq!(usize::from(ip.payload_length()), out.len() - 14 - 40);
    }
    let stats = fx.backend.mfe6_stats(sg6()).expect("entry stats");
    let len = (40 + 8 + 18) as u64;
    assert_eq!((stats.packets, stats.bytes), (3, 3 * len));
    assert_eq!(
        (stats.oifs[0].1.packets, stats.oifs[0].1.bytes),
        (3, 3 * len)
    );
    let global = fx.stats();
    for (name, value) in [
        ("ipv6_multicast", 3),
        ("forwarded", 3),
        ("egress_tx", 3),
        ("vlan", 1),
        ("multicast", 0),
        ("not_ipv4", 0),
    ] {
        assert_eq!(global[name], value, "{name}");
    }
    assert!(fx.drain_reports().is_empty());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hit_through_a_set_is_broadcast_with_the_hop_limit_decremented_and_no_metadata() {
    let mut fx = fixture();
    let oifs = fx.oifs.clone();
    fx.backend.install_mfe6(sg6(), LO, &oifs).expect("install");
    let frame = Frame6::default();
    let bytes = frame.bytes();
    let (verdict, out) = fx.run(&bytes);
    assert_eq!(verdict, XDP_REDIRECT);
    // Every copy starts with the MAC of the set's bare member (whose devmap entry runs no
    // program); the other members' egress programs rewrite theirs.
    let (bare, unprogrammed) = fx
        .backend
        .bare_member6(sg6())
        .expect("read")
        .expect("a set");
    assert_eq!(unprogrammed, vec![bare]);
    let member = oifs.iter().position(|&oif| oif == bare).expect("a member");
    assert_eq!(out[..], expected_copy(&frame, Some(mac_of(member))));
    assert_eq!(fx.backend.sets_in_use(), 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_packet_framed_to_the_routers_own_mac_leaves_framed_to_its_groups_mac() {
    let group_mac = [0x33, 0x33, 0x80, 0x00, 0x00, 0x01]; // ff0e::8000:1
    let mut fx = forwarding_fixture6();
    let frame = Frame6::default();
    let mut to_router = frame.bytes();
    to_router[..6].copy_from_slice(&[0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
    let out = fx.forward(&to_router);
    assert_eq!(out, expected_copy(&frame, Some(mac_of(0))));
    assert_eq!(out[..6], group_mac);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn wrong_interface_is_dropped_counted_and_reported() {
    let mut fx = forwarding_fixture6();
    let other = fx.oifs[1];
    let frame = Frame6::default().bytes();
    assert_eq!(fx.run_on(&frame, other).0, XDP_DROP);
    assert_eq!(fx.stats()["wrong_if"], 1);
    assert_eq!(fx.backend.mfe6_stats(sg6()).expect("entry").wrong_if, 1);
    let reports = fx.drain_reports();
    assert_eq!(
        reports,
        [DataPlaneReport::WrongIf6 {
            sg: sg6(),
            ifindex: other,
            header: frame[14..14 + 60].to_vec(),
        }]
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hop_limit_of_one_or_zero_is_dropped_and_counted() {
    let mut fx = forwarding_fixture6();
    for hop_limit in [0u8, 1] {
        let frame = Frame6 {
            hop_limit,
            ..Frame6::default()
        };
        assert_eq!(fx.run(&frame.bytes()).0, XDP_DROP, "hop limit {hop_limit}");
    }
    assert_eq!(fx.stats()["hop_limit_expired"], 2);
    assert_eq!(fx.stats()["ttl_expired"], 0, "the IPv4 counter");
    let entry = fx.backend.mfe6_stats(sg6()).expect("entry");
    assert_eq!((entry.ttl_expired, entry.packets, entry.sampled), (2, 2, 0));
    assert_eq!(entry.oifs[0].1.packets, 0, "none sent on");
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn local_scopes_and_unicast_go_to_the_kernel_even_with_an_entry() {
    let mut fx = fixture();
    let groups: [Ipv6Addr; 4] = [
        "ff02::1:3".parse().expect("link-local"),
        "ff01::1".parse().expect("interface-local"),
        "ff12::8000:1".parse().expect("transient link-local"),
        "ff00::1".parse().expect("reserved scope 0"),
    ];
    let unicast: Ipv6Addr = "2001:db8::2".parse().expect("unicast");
    for group in groups.iter().chain([&unicast]) {
        fx.backend
            .install_mfe6(Sg6Key::new(SOURCE6, *group), LO, &fx.oifs[..1])
            .expect("install");
        let frame = Frame6::to(*group).bytes();
        let (verdict, out) = fx.run(&frame);
        assert_eq!(verdict, XDP_PASS, "{group}");
        assert_eq!(out, frame, "{group} unmodified");
    }
    let stats = fx.stats();
    assert_eq!(stats["ipv6_local_scope"], 4);
    assert_eq!(stats["ipv6_not_multicast"], 1);
    assert_eq!(stats["forwarded"], 0);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mld_goes_to_the_kernel_behind_any_chain_other_icmpv6_is_forwarded() {
    let mut fx = forwarding_fixture6();
    let mld = |icmp_type: u8, ext: Vec<Ext>| Frame6 {
        hop_limit: 1,
        ext,
        protocol: ICMPV6,
        upper: icmpv6(icmp_type),
        ..Frame6::default()
    };
    let cases = [
        (
            "MLDv1 report behind Router Alert",
            mld(131, vec![router_alert()]),
        ),
        ("MLDv1 done", mld(132, vec![router_alert()])),
        ("query", mld(130, vec![router_alert()])),
        ("MLDv2 report", mld(143, vec![router_alert()])),
        (
            "behind Router Alert and Destination Options",
            mld(131, vec![router_alert(), dest_opts(1)]),
        ),
        (
            "without Router Alert (the control plane counts it)",
            mld(131, Vec::new()),
        ),
    ];
    for (what, frame) in &cases {
        let bytes = frame.bytes();
        let (verdict, out) = fx.run(&bytes);
        assert_eq!(verdict, XDP_PASS, "{what}");
        assert_eq!(out, bytes, "{what} unmodified");
    }
    assert_eq!(fx.stats()["mld"], cases.len() as u64);
    let echo = Frame6 {
        protocol: ICMPV6,
        upper: icmpv6(128),
        ..Frame6::default()
    };
    let out = fx.forward(&echo.bytes());
    assert_eq!(
        out,
        expected_copy(&echo, Some(mac_of(0))),
        "an echo request is data"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn extension_headers_are_forwarded_untouched() {
    let mut fx = forwarding_fixture6();
    let chains = [
        vec![router_alert()],
        vec![dest_opts(1), routing(), dest_opts(3)],
        vec![router_alert(), fragment(0, true)],
        vec![fragment(100, false)],
        vec![dest_opts(1); 8],
    ];
    for ext in chains {
        let frame = Frame6 {
            ext: ext.clone(),
            ..Frame6::default()
        };
        let out = fx.forward(&frame.bytes());
        assert_eq!(out, expected_copy(&frame, Some(mac_of(0))), "{ext:?}");
        let packet = Ipv6Slice::from_slice(&out[14..]).expect("etherparse reads the packet");
        assert_eq!(packet.extensions().clone().into_iter().count(), ext.len());
    }
    let stats = fx.stats();
    assert_eq!((stats["ipv6_ext_headers"], stats["fragment"]), (5, 2));
    // A non-first fragment's ICMPv6 "type" is data: no MLD check.
    let later = Frame6 {
        ext: vec![fragment(3, false)],
        protocol: ICMPV6,
        upper: icmpv6(131),
        ..Frame6::default()
    };
    fx.forward(&later.bytes());
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn malformed_packets_and_chains_are_dropped_and_counted() {
    let mut fx = forwarding_fixture6();
    let with = |ext: Vec<Ext>| Frame6 {
        ext,
        ..Frame6::default()
    };
    let mut chains = vec![
        (
            "Hop-by-Hop not first",
            with(vec![dest_opts(1), router_alert()]).bytes(),
        ),
        (
            "Hop-by-Hop twice",
            with(vec![router_alert(), router_alert()]).bytes(),
        ),
    ];
    // A header whose length runs past the payload.
    let mut long = with(vec![dest_opts(2)]).bytes();
    long[14 + 40 + 1] = 9;
    chains.push(("length past the payload", long));
    // The payload ends inside the extension header.
    let mut cut = with(vec![dest_opts(1)]).bytes();
    cut[14 + 4..14 + 6].copy_from_slice(&4u16.to_be_bytes());
    chains.push(("payload ends inside the header", cut));
    for (what, frame) in &chains {
        assert_eq!(fx.run(frame).0, XDP_DROP, "{what}");
    }
    let frame = Frame6::default().bytes();
    let mut version = frame.clone();
    version[14] = 0x40;
    let mut past = frame.clone();
    past[14 + 4..14 + 6].copy_from_slice(&1000u16.to_be_bytes());
    let short_icmp = Frame6 {
        protocol: ICMPV6,
        upper: vec![131, 0],
        ..Frame6::default()
    }
    .bytes();
    let malformed = [
        ("version 4", version),
        ("payload length past the frame", past),
        ("truncated fixed header", frame[..14 + 39].to_vec()),
        ("ICMPv6 without its header", short_icmp),
    ];
    for (what, frame) in &malformed {
        assert_eq!(fx.run(frame).0, XDP_DROP, "{what}");
    }
    let stats = fx.stats();
    assert_eq!(stats["bad_ext_chain"], chains.len() as u64);
    assert_eq!(stats["malformed_ipv6"], malformed.len() as u64);
    assert_eq!((stats["forwarded"], stats["ipv6_miss"]), (0, 0));
    // Nine headers are more than the walk follows: the kernel's business.
    let nine = with(vec![dest_opts(1); 9]).bytes();
    let (verdict, out) = fx.run(&nine);
    assert_eq!((verdict, out), (XDP_PASS, nine));
    assert_eq!(fx.stats()["ext_chain_too_long"], 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn miss_is_reported_with_its_addresses_and_passed_without_punt_socket() {
    let mut fx = fixture();
    let source: Ipv6Addr = "2001:db8:1:2:3:4:5:6".parse().expect("source");
    let group: Ipv6Addr = "ff3e::1234:5678".parse().expect("SSM group");
    let frame = Frame6 {
        source,
        group,
        ext: vec![dest_opts(1)],
        ..Frame6::default()
    }
    .bytes();
    let (verdict, out) = fx.run(&frame);
    assert_eq!((verdict, &out), (XDP_PASS, &frame));
    let stats = fx.stats();
    for (name, value) in [
        ("ipv6_miss", 1),
        ("miss", 0),
        ("miss_passed", 1),
        ("report_miss", 1),
    ] {
        assert_eq!(stats[name], value, "{name}");
    }
    assert_eq!(
        fx.drain_reports(),
        [DataPlaneReport::Miss6 {
            sg: Sg6Key::new(source, group),
            ifindex: LO,
            header: frame[14..14 + 60].to_vec(),
        }]
    );
    // Within the repeat interval the (S,G) raises no second alert; once installed and removed,
    // its next miss is reported at once.
    fx.run(&frame);
    assert!(fx.drain_reports().is_empty());
    let sg = Sg6Key::new(source, group);
    fx.backend
        .install_mfe6(sg, LO, &fx.oifs[..1])
        .expect("install");
    fx.backend.delete_mfe6(sg).expect("delete");
    fx.run(&frame);
    assert_eq!(fx.drain_reports().len(), 1);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn both_families_share_slots_and_sets_and_keep_apart() {
    let mut fx = fixture();
    let oifs = fx.oifs.clone();
    fx.backend.install_mfe(sg(), LO, &oifs).expect("install v4");
    fx.backend
        .install_mfe6(sg6(), LO, &oifs)
        .expect("install v6");
    assert_eq!(fx.backend.sets_in_use(), 1, "one set for the same list");
    assert_eq!(fx.backend.len(), 2, "entries of both families");
    assert_eq!(fx.run(&Frame::default().bytes()).0, XDP_REDIRECT);
    for _ in 0..2 {
        assert_eq!(fx.run(&Frame6::default().bytes()).0, XDP_REDIRECT);
    }
    let v4 = fx.backend.mfe_stats(sg()).expect("v4");
    let v6 = fx.backend.mfe6_stats(sg6()).expect("v6");
    assert_eq!((v4.packets, v6.packets), (1, 2), "separate counter slots");
    let installed = fx.backend.installed6(sg6()).expect("v6 entry");
    assert_eq!((installed.iif, installed.oifs), (LO, oifs.clone()));
    assert_eq!(fx.backend.read_back6().expect("read back").len(), 1);
    fx.backend
        .update_mfe6(sg6(), LO, &oifs[1..])
        .expect("update");
    fx.backend.delete_mfe(sg()).expect("delete v4");
    assert_eq!(fx.backend.installed_all().len(), 0);
    assert_eq!(fx.backend.installed6_all().len(), 1);
    let out = fx.forward(&Frame6::default().bytes());
    assert_eq!(out[6..12], mac_of(1), "now the second interface alone");
    fx.backend.delete_mfe6(sg6()).expect("delete v6");
    assert!(fx.backend.delete_mfe6(sg6()).is_err(), "already gone");
    assert_eq!(
        fx.run(&Frame6::default().bytes()).0,
        XDP_PASS,
        "a miss again"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn hold_mode_without_punt_socket_forwards_and_a_mirrored_interface_passes_misses() {
    let mut fx = fixture();
    let oifs = fx.oifs[..1].to_vec();
    fx.backend.hold_on_create6(sg6());
    fx.backend.install_mfe6(sg6(), LO, &oifs).expect("install");
    // Nobody holds packets before it (no punt socket serves `lo`): the fast path forwards it.
    let out = fx.forward(&Frame6::default().bytes());
    assert_eq!(out[14 + 7], 63, "hop limit decremented");
    let stats = fx.stats();
    assert_eq!((stats["hold_no_punt_socket"], stats["forwarded"]), (1, 1));
    fx.backend.release_hold6(sg6()).expect("release");
    fx.forward(&Frame6::default().bytes());
    assert_eq!(fx.stats()["hold_no_punt_socket"], 1, "hold mode ended");
    // On a mirrored interface a miss is the kernel's: no creation alert, no punt.
    let settings = IfaceSettings {
        mirrored: true,
        ..IfaceSettings::default()
    };
    fx.backend
        .configure_interface(LO, settings)
        .expect("configure");
    let miss = Frame6::to("ff0e::9".parse().expect("group")).bytes();
    assert_eq!(fx.run(&miss), (XDP_PASS, miss.clone()));
    let stats = fx.stats();
    assert_eq!(
        (
            stats["ipv6_miss"],
            stats["mirror_miss_passed"],
            stats["report_miss"]
        ),
        (1, 1, 0)
    );
    assert!(fx.drain_reports().is_empty());
}
