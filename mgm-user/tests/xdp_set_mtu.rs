//! The MTU of an outgoing set's broadcast (design.md, "A set's broadcast and its members'
//! MTUs"): the kernel's devmap broadcast skips, before any program runs, a member whose device
//! MTU a frame exceeds, so a packet longer than the smallest MTU of a set's members goes to
//! the TC program instead, which counts each member's MTU drop and sends the others their copy.
//! BPF_PROG_TEST_RUN of the ingress program, then real packets through veths in a lab, and
//! the pins of the maps the limit joined (`SET_BARE_MEMBER`, then `SET_BROADCAST`, now
//! `SET_BROADCASTS`) on upgrade.
mod xdp_common;

use mgm_common::{JumboMeta, JUMBO_MARKER};
use mgm_user::{
    dataplane::{DataPlane, ForwardingBackend, IfaceSettings},
    lab::{Host, Lab},
};
use std::{collections::BTreeMap, net::UdpSocket, time::Duration};
use xdp_common::rig::{histogram, Rig, GROUP, PORT, SEND_TTL};
use xdp_common::{mac_of, Frame, LO, XDP_PASS, XDP_REDIRECT};

/// A test frame whose IPv4 packet is `len` bytes long.
fn frame_of(len: usize) -> Vec<u8> {
    Frame {
        payload: len - 20 - 8,
        ..Frame::default()
    }
    .bytes()
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_packet_over_a_members_mtu_is_not_broadcast_and_the_limit_follows_the_members() {
    let mut fx = xdp_common::Fixture::with_oifs(3);
    let oifs = fx.oifs.clone();
    fx.backend
        .install_mfe(xdp_common::sg(), LO, &oifs)
        .expect("install");
    let mtu = |fx: &mut xdp_common::Fixture, mtu: u32| {
        let settings = IfaceSettings {
            mac: mac_of(1),
            mtu,
            ..IfaceSettings::default()
        };
        fx.backend
            .configure_interface(oifs[1], settings)
            .expect("configure");
    };
    // No member has an MTU: broadcast.
    assert_eq!(fx.run(&frame_of(1350)).0, XDP_REDIRECT);
    // One member's is 1300: a longer packet goes to the TC program, described; one within it
    // is still broadcast.
    mtu(&mut fx, 1300);
    let (verdict, out) = fx.run(&frame_of(1350));
    assert_eq!(verdict, XDP_PASS);
    let marker = u32::from_ne_bytes(out[..4].try_into().expect("4 bytes"));
    assert_eq!(marker, JUMBO_MARKER, "the TC program's metadata in front");
    assert_eq!(out.len(), size_of::<JumboMeta>() + frame_of(1350).len());
    assert_eq!(fx.run(&frame_of(1300)).0, XDP_REDIRECT);
    let stats = fx.stats();
    assert_eq!(
        (stats["broadcast_over_mtu"], stats["bare_member_refused"]),
        (1, 0)
    );
    // Its MTU raised: broadcast again.
    mtu(&mut fx, 1400);
    assert_eq!(fx.run(&frame_of(1350)).0, XDP_REDIRECT);
    mtu(&mut fx, 1300);
    assert_eq!(fx.run(&frame_of(1350)).0, XDP_PASS);
    // A set without that member: broadcast.
    let others = [oifs[0], oifs[2]];
    fx.backend
        .install_mfe(xdp_common::sg(), LO, &others)
        .expect("change");
    assert_eq!(fx.run(&frame_of(1350)).0, XDP_REDIRECT);
    assert_eq!(fx.stats()["broadcast_over_mtu"], 2);
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_interface_a_packet_came_in_on_does_not_limit_its_broadcast() {
    let mut fx = xdp_common::Fixture::with_oifs(3);
    let oifs = fx.oifs.clone();
    let mtu = |fx: &mut xdp_common::Fixture, at: usize, mtu: u32| {
        let settings = IfaceSettings {
            mac: mac_of(at),
            mtu,
            ..IfaceSettings::default()
        };
        fx.backend
            .configure_interface(oifs[at], settings)
            .expect("configure");
    };
    mtu(&mut fx, 1, 1300);
    // The entry comes in on the member with the smallest MTU, which its broadcast leaves out:
    // the others take 1350 bytes.
    fx.backend
        .install_mfe(xdp_common::sg(), oifs[1], &oifs)
        .expect("install");
    assert_eq!(fx.run_on(&frame_of(1350), oifs[1]).0, XDP_REDIRECT);
    assert_eq!(fx.stats()["broadcast_over_mtu"], 0);
    // Another member as small: it limits the broadcast.
    mtu(&mut fx, 2, 1300);
    assert_eq!(fx.run_on(&frame_of(1350), oifs[1]).0, XDP_PASS);
    mtu(&mut fx, 2, 1400);
    assert_eq!(fx.run_on(&frame_of(1350), oifs[1]).0, XDP_REDIRECT);
    assert_eq!(fx.run_on(&frame_of(1450), oifs[1]).0, XDP_PASS);
    assert_eq!(fx.stats()["broadcast_over_mtu"], 2);
    // Coming in elsewhere, the small member is reached: limited by it.
    fx.backend
        .install_mfe(xdp_common::sg(), LO, &oifs)
        .expect("change");
    assert_eq!(fx.run(&frame_of(1350)).0, XDP_PASS);
    assert_eq!(fx.stats()["broadcast_over_mtu"], 3);
}

/// Sends datagrams `seqs` of `len` bytes of IPv4 packet each (their sequence number first).
fn send_sized(socket: &UdpSocket, seqs: std::ops::Range<u64>, len: usize) {
    for seq in seqs {
        let mut payload = seq.to_be_bytes().to_vec();
        payload.resize(len - 20 - 8, 0);
        socket.send_to(&payload, (GROUP, PORT)).expect("send");
        if seq % 50 == 49 {
            std::thread::sleep(Duration::from_micros(500));
        }
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn copies_over_a_members_link_mtu_are_counted_as_its_mtu_drops_and_the_others_get_every_packet() {
    let mut rig = Rig::new();
    let listed = [1u8, 2, 3];
    rig.set_list(&listed);
    // Receiver 1's link at 1300 bytes, its data-plane MTU with it (as mgmd keeps it).
    let narrow = Lab::router_iface(Host::Receiver(1));
    rig.lab
        .ip(
            Host::Router,
            &["link", "set", "dev", &narrow, "mtu", "1300"],
        )
        .expect("set MTU");
    rig.configure(1, 0, 1300);
    const N: u64 = 200;
    // Packets over its MTU, then packets within it.
    send_sized(&rig.sender, 0..N, 1350);
    send_sized(&rig.sender, N..2 * N, 1200);
    let (copies, _) = rig.captured();
    for n in listed {
        let seen = histogram(&copies[&n]);
        let expected: Vec<u64> = if n == 1 {
            (N..2 * N).collect()
        } else {
            (0..2 * N).collect()
        };
        assert_eq!(
            seen.keys().copied().collect::<Vec<_>>(),
            expected,
            "receiver {n}"
        );
        assert!(seen.values().all(|&c| c == 1), "receiver {n}: once");
        assert!(
            copies[&n]
                .iter()
                .all(|c| c.source_mac == rig.ports[&n].mac && u32::from(c.ttl) == SEND_TTL - 1),
            "receiver {n}: its interface's MAC as source, TTL - 1"
        );
    }
    let global = rig.router().plane.global_stats().expect("stats");
    assert_eq!(
        (global["broadcast_over_mtu"], global["egress_mtu"]),
        (N, N),
        "each packet over it replicated by the TC program, receiver 1's copy dropped there"
    );
    let stats = rig
        .router()
        .backend
        .mfe_stats(xdp_common::rig::sg())
        .expect("stats");
    assert_eq!(stats.packets, 2 * N);
    let per_receiver: BTreeMap<u8, (u64, u64)> = stats
        .oifs
        .iter()
        .map(|(ifindex, oif)| (rig.receiver_of(*ifindex), (oif.packets, oif.drops)))
        .collect();
    assert_eq!(
        per_receiver,
        BTreeMap::from([(1, (N, N)), (2, (2 * N, 0)), (3, (2 * N, 0))]),
        "copies sent and MTU drops per interface"
    );
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn pins_of_the_earlier_bare_member_map_are_replaced_not_misread() {
    // The maps earlier versions pinned: the bare member alone (4-byte values), then with the
    // smallest MTU (8 bytes).
    let pins = xdp_common::PinDir::new();
    std::fs::create_dir_all(&pins.0).expect("pin directory");
    let old: aya::maps::Array<aya::maps::MapData, u32> =
        aya::maps::Array::create(mgm_common::limits::OIF_SETS, 0).expect("map");
    old.pin(pins.0.join("SET_BARE_MEMBER")).expect("pin");
    let older: aya::maps::Array<aya::maps::MapData, u64> =
        aya::maps::Array::create(mgm_common::limits::OIF_SETS, 0).expect("map");
    older.pin(pins.0.join("SET_BROADCAST")).expect("pin");
    let plane = DataPlane::load_pinned(&pins.0).expect("loads over the earlier pins");
    for earlier in ["SET_BARE_MEMBER", "SET_BROADCAST"] {
        assert!(
            !pins.0.join(earlier).exists(),
            "the pin of {earlier} is removed"
        );
    }
    let info = aya::maps::MapInfo::from_pin(pins.0.join("SET_BROADCASTS")).expect("new pin");
    assert_eq!(
        info.value_size() as usize,
        size_of::<mgm_common::SetBroadcast>()
    );
    drop(plane);
}
