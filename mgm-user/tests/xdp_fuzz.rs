//! Random frames through the real ingress program with BPF_PROG_TEST_RUN (root): fully random
//! bytes, and mutations of valid IPv4 multicast frames (truncations at every length, IHL,
//! version, total length, checksums, options, fragments, VLAN tags, TTLs, addresses), with an
//! entry installed for the template's (S,G) so that the forwarding paths are reachable: one
//! group forwards to a single interface (direct redirect, that interface's MAC written at
//! ingress), another to a set of two (devmap broadcast, the entry's slot in the metadata).
//!
//! The property: the program's verdict is the one a reference model gives, built on etherparse (an
//! independent parser, not mgm's own wire views). In particular it redirects only well-formed IPv4
//! multicast data (not link-local, not IGMP, valid header checksum, TTL > 1, matching entry and
//! ingress interface), and a redirected frame leaves untagged with TTL−1, a valid header checksum
//! and nothing else changed but the source MAC (a single interface's, or the set's bare member's
//! for a broadcast); malformed frames are dropped, never redirected, and every frame is counted.
//!
//! The fast path checks the IPv4 header's version, lengths and checksum, and the options'
//! structure as the kernel's `ip_options_compile` does (EOL, NOP, length byte ≥ 2 and inside
//! the header); it does not interpret their contents (it forwards them as they are), so the
//! model does not either.
//!
//! IPv6 frames (random chains of extension headers, UDP or ICMPv6 with MLD among the types,
//! groups of every kind, mutated) go through the same property: the fixed header is read with
//! etherparse, the extension-header chain with the model's own walk of RFC 8200 (etherparse
//! stops at a repeated header type, which a router must walk past); a redirected frame leaves
//! untagged with the hop limit − 1 and nothing else changed but the source MAC, as for IPv4.
mod fuzz_model6;
mod xdp_common;

use etherparse::{EtherType, Ethernet2Slice, Ipv4HeaderSlice, SingleVlanSlice};
use fuzz_model6::{forwarded6, ipv6_offset, model6, mutated6, random_vlan_id, SET_GROUP6};
use mgm_common::{Sg6Key, SgKey};
use mgm_user::dataplane::ForwardingBackend as _;
use proptest::{
    prelude::RngExt as _,
    test_runner::{RngAlgorithm, TestRng},
};
use std::{net::Ipv4Addr, time::Instant};
use xdp_common::{v6::*, *};

/// Random cases on top of the systematic truncations.
const CASES: usize = 100_000;
/// Random IPv6 cases.
const CASES6: usize = 50_000;

/// The group forwarded from `SOURCE` to both veths through an outgoing set (`GROUP` goes to
/// the first veth alone).
const SET_GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 4);

/// What the program must do with a frame, and whether the frame is malformed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expected {
    verdict: u32,
    malformed: bool,
}

const MALFORMED: Expected = Expected {
    verdict: XDP_DROP,
    malformed: true,
};
const PASS: Expected = Expected {
    verdict: XDP_PASS,
    malformed: false,
};
const DROP: Expected = Expected {
    verdict: XDP_DROP,
    malformed: false,
};
const REDIRECT: Expected = Expected {
    verdict: XDP_REDIRECT,
    malformed: false,
};

/// An IPv4 datagram as etherparse reads its header, with the lengths checked as a router does
/// (etherparse's `Ipv4Slice` would also parse IPsec headers behind it, which a router does not).
struct Datagram<'a> {
    header: Ipv4HeaderSlice<'a>,
}

impl<'a> Datagram<'a> {
    /// `Err` when the version, the header length or the total length is wrong.
    fn parse(bytes: &'a [u8]) -> Result<Self, ()> {
        let header = Ipv4HeaderSlice::from_slice(bytes).map_err(drop)?;
        let (header_len, total) = (header.slice().len(), usize::from(header.total_len()));
        if total < header_len || total > bytes.len() {
            return Err(());
        }
        Ok(Self { header })
    }

    fn header(&self) -> &Ipv4HeaderSlice<'a> {
        &self.header
    }
}

/// The frame's IPv4 datagram as etherparse reads it (behind at most one 802.1Q tag), with the
/// offset of its header; `Err` for a frame the program must count as malformed, `Ok(None)` for
/// one that is not IPv4.
fn ipv4_of(frame: &[u8]) -> Result<Option<(usize, Datagram<'_>)>, ()> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).map_err(drop)?;
    let (offset, ether_type) = match eth.ether_type() {
        EtherType::VLAN_TAGGED_FRAME => {
            let tag = SingleVlanSlice::from_slice(eth.payload_slice()).map_err(drop)?;
            // Another VLAN's frame (not a priority tag) is the kernel's.
            if tag.vlan_identifier().value() != 0 {
                return Ok(None);
            }
            (18, tag.ether_type())
        }
        other => (14, other),
    };
    if ether_type != EtherType::IPV4 {
        return Ok(None);
    }
    let ip = Datagram::parse(&frame[offset..]).map_err(drop)?;
    Ok(Some((offset, ip)))
}

/// The reference model of the ingress program, with only `GROUP` and `SET_GROUP` from
/// `SOURCE` installed, both arriving on `LO` (and their IPv6 counterparts, [`model6`]).
fn model(frame: &[u8], ifindex: u32) -> Expected {
    if let Some(offset) = ipv6_offset(frame) {
        return model6(&frame[offset..], ifindex);
    }
    let datagram = match ipv4_of(frame) {
        Err(()) => return MALFORMED,
        Ok(None) => return PASS,
        Ok(Some((_, datagram))) => datagram,
    };
    let ip = datagram.header();
    let group = ip.destination_addr();
    let link_local = group.octets()[..3] == [224, 0, 0];
    let igmp = ip.protocol() == etherparse::IpNumber::IGMP;
    if !group.is_multicast() || igmp || link_local {
        return PASS;
    }
    // Over the raw header: etherparse's owned header drops the reserved flag bit.
    if checksum(ip.slice()) != 0 || !options_well_formed(ip.options()) {
        return MALFORMED;
    }
    let source = ip.source_addr();
    if source != SOURCE || (group != GROUP && group != SET_GROUP) {
        // A miss; one from a source no host may send from is dropped.
        let martian = source.octets()[0] == 0
            || source.is_loopback()
            || source.is_multicast()
            || source.is_broadcast();
        return if martian { DROP } else { PASS };
    }
    if ifindex != LO || ip.ttl() <= 1 {
        return DROP;
    }
    REDIRECT
}

/// Whether the kernel takes an IPv4 option list (`ip_options_compile`, `ip_rcv_options` with
/// source routes off and no CIPSO domain): EOL ends it, NOP is one byte, any other option has a
/// length byte of at least 2 and fits; record route, timestamp and router alert as
/// [`option_taken`] says; source routes and CIPSO are refused.
fn options_well_formed(options: &[u8]) -> bool {
    let mut at = 0;
    while let Some(&kind) = options.get(at) {
        match kind {
            0 => return true,
            1 => at += 1,
            131 | 137 | 134 => return false,
            _ => match options.get(at + 1).map(|&l| usize::from(l)) {
                Some(len) if len >= 2 && at + len <= options.len() => {
                    if !option_taken(&options[at..at + len]) {
                        return false;
                    }
                    at += len;
                }
                _ => return false,
            },
        }
    }
    true
}

/// Whether the kernel takes `option` (type, length and body, inside the header): record route
/// (7) and timestamp (68) need room for the next hop's data while not full, router alert (148)
/// at least 4 bytes.
fn option_taken(option: &[u8]) -> bool {
    let len = option.len();
    let pointer = option.get(2).map(|&p| usize::from(p));
    match (option[0], pointer) {
        (7, Some(p)) => p >= 4 && (p > len || p + 3 <= len),
        (7, None) => false,
        (68, Some(p)) if len >= 4 => {
            let flags = option[3];
            let kind = flags & 0x0f;
            if p < 5 {
                false
            } else if p <= len {
                p + if kind == 1 || kind == 3 { 7 } else { 3 } <= len
            } else {
                kind == 3 || flags >> 4 != 15
            }
        }
        (68, _) => false,
        (148, _) => len >= 4,
        _ => true,
    }
}

/// The frame a redirect must leave (no metadata in front), and the frame to expect:
/// untagged, TTL−1, the single interface's MAC as source on the direct path, all else
/// unchanged but the checksum, which is taken from the output (and must verify on its own).
fn forwarded<'a>(input: &[u8], out: &'a [u8], set_mac: [u8; 6]) -> (&'a [u8], Vec<u8>, bool) {
    let (offset, ip) = ipv4_of(input).expect("well-formed").expect("IPv4");
    let direct = ip.header().destination_addr() == GROUP;
    let mut expected = input[..12].to_vec();
    expected.extend_from_slice(&EtherType::IPV4.0.to_be_bytes());
    expected.extend_from_slice(&input[offset..]);
    expected[14 + 8] -= 1;
    // Framed to the group's MAC (RFC 1112 §6.4: its last 23 bits behind 01:00:5e).
    let [_, g1, g2, g3] = ip.header().destination();
    expected[..6].copy_from_slice(&[0x01, 0x00, 0x5e, g1 & 0x7f, g2, g3]);
    let out = if direct {
        expected[6..12].copy_from_slice(&mac_of(0));
        out
    } else {
        expected[6..12].copy_from_slice(&set_mac);
        out
    };
    expected
        .get_mut(24..26)
        .expect("checksum field")
        .copy_from_slice(out.get(24..26).expect("output checksum field"));
    (out, expected, direct)
}

/// Random bytes, one in four made to look like untagged IPv4 (version 4, IHL 5), one in four
/// like untagged IPv6 (version 6).
fn random_bytes(rng: &mut TestRng) -> Vec<u8> {
    let mut frame = vec![0u8; rng.random_range(14..300)];
    rng.fill(frame.as_mut_slice());
    match rng.random_range(0..4) {
        0 if frame.len() > 14 => frame[12..15].copy_from_slice(&[0x08, 0x00, 0x45]),
        1 if frame.len() > 14 => frame[12..15].copy_from_slice(&[0x86, 0xdd, 0x60]),
        _ => {}
    }
    frame
}

/// A valid frame with random options, fragment bits, TTL, protocol, addresses and payload;
/// most carry the installed (S,G).
fn template(rng: &mut TestRng) -> Frame {
    let options = match rng.random_range(0..5) {
        0 => vec![1; 4],
        1 => vec![0x94, 4, 0, 0],
        2 => {
            let mut o = vec![0u8; 4 * rng.random_range(1..=10)];
            rng.fill(o.as_mut_slice());
            o
        }
        _ => Vec::new(),
    };
    let pick = |rng: &mut TestRng, usual: Ipv4Addr, other: Ipv4Addr| match rng.random_range(0..8) {
        0 => Ipv4Addr::from(rng.random::<u32>()),
        1 => Ipv4Addr::new(224, 0, 0, rng.random()),
        2 | 3 => other,
        _ => usual,
    };
    Frame {
        vlan: rng.random_bool(0.3),
        options,
        ttl: *[0, 1, 2, 64, 255, rng.random()]
            .get(rng.random_range(0..6))
            .expect("a TTL"),
        protocol: *[17, 17, 17, 2, 6, rng.random()]
            .get(rng.random_range(0..6))
            .expect("a protocol"),
        source: pick(rng, SOURCE, SOURCE),
        group: pick(rng, GROUP, SET_GROUP),
        frag_off: *[0, 0, 0x2000, 0x4000, 0x0001, rng.random()]
            .get(rng.random_range(0..6))
            .expect("fragment bits"),
        payload: rng.random_range(0..100),
    }
}

/// Recomputes the IPv4 header checksum of a frame built from `template`, if it still fits.
fn fix_checksum(frame: &mut [u8], template: &Frame) {
    let ip = &mut frame[template.l3_offset()..];
    let header_len = usize::from(ip.first().copied().unwrap_or(0) & 0x0f) * 4;
    if ip.len() >= header_len.max(20) {
        ip[10..12].fill(0);
        let sum = checksum(&ip[..header_len.max(20)]);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
    }
}

/// A template with one structural mutation.
fn mutated(rng: &mut TestRng) -> Vec<u8> {
    let template = template(rng);
    let mut frame = template.bytes();
    let l3 = template.l3_offset();
    let fix = rng.random_bool(0.5);
    match rng.random_range(0..9) {
        0 => {}
        1 => frame.truncate(rng.random_range(14..frame.len())),
        2 => frame[l3] = 0x40 | rng.random_range(0..16u8),
        3 => frame[l3] = rng.random_range(0..16u8) << 4 | (frame[l3] & 0x0f),
        4 => {
            let at = rng.random_range(l3..l3 + 20);
            frame[at] ^= rng.random_range(1..=255u8);
        }
        5 => {
            frame[l3 + 2..l3 + 4].copy_from_slice(&rng.random::<u16>().to_be_bytes());
            if fix {
                fix_checksum(&mut frame, &template);
            }
        }
        6 => {
            let at = rng.random_range(0..frame.len());
            frame[at] = rng.random();
            if fix {
                fix_checksum(&mut frame, &template);
            }
        }
        7 => {
            let tag = [0x81, 0x00, rng.random::<u8>() & 0xf0, random_vlan_id(rng)];
            frame.splice(12..12, tag);
        }
        _ => {
            frame[l3 + 8] = rng.random();
            if fix {
                fix_checksum(&mut frame, &template);
            }
        }
    }
    frame
}

/// Frames seen, by outcome.
#[derive(Default)]
struct Tally {
    malformed: u64,
    direct: u64,
    through_set: u64,
    /// IPv6 frames redirected (also counted in `direct` or `through_set`).
    ipv6: u64,
    /// The source MAC every broadcast copy leaves ingress with: the set's bare member's.
    set_mac: [u8; 6],
}

/// Runs `frame` and checks the verdict (and the output of a redirect) against the model.
fn check(fx: &mut Fixture, frame: &[u8], ifindex: u32, tally: &mut Tally) {
    let expected = model(frame, ifindex);
    let (verdict, out) = fx.run_on(frame, ifindex);
    assert_eq!(
        verdict, expected.verdict,
        "frame {frame:02x?} on ifindex {ifindex}: model says {expected:?}"
    );
    if expected.malformed {
        tally.malformed += 1;
    }
    if verdict == XDP_REDIRECT {
        if let Some(offset) = ipv6_offset(frame) {
            let (out, expected, direct) = forwarded6(frame, offset, &out, tally.set_mac);
            tally.ipv6 += 1;
            if direct {
                tally.direct += 1;
            } else {
                tally.through_set += 1;
            }
            assert_eq!(out, expected, "redirected frame {frame:02x?}");
            return;
        }
        let (out, expected, direct) = forwarded(frame, &out, tally.set_mac);
        if direct {
            tally.direct += 1;
        } else {
            tally.through_set += 1;
        }
        assert_eq!(out, expected, "redirected frame {frame:02x?}");
        let out_ip = Datagram::parse(&out[14..]).expect("IPv4 out");
        assert_eq!(checksum(out_ip.header().slice()), 0, "header checksum");
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn random_frames_are_never_forwarded_unless_well_formed() {
    let mut fx = forwarding_fixture();
    let started = Instant::now();
    let before = fx.stats();
    let both = fx.oifs.clone();
    fx.backend
        .install_mfe(SgKey::new(SOURCE, SET_GROUP), LO, &both)
        .expect("install the set entry");
    fx.backend
        .install_mfe6(Sg6Key::new(SOURCE6, GROUP6), LO, &both[..1])
        .expect("install the IPv6 entry");
    fx.backend
        .install_mfe6(Sg6Key::new(SOURCE6, SET_GROUP6), LO, &both)
        .expect("install the IPv6 set entry");
    let wrong_if = fx.oifs[1];
    let mut rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
    let (bare, _) = fx
        .backend
        .bare_member(SgKey::new(SOURCE, SET_GROUP))
        .expect("read")
        .expect("a set");
    let member = both.iter().position(|&oif| oif == bare).expect("a member");
    let mut tally = Tally {
        set_mac: mac_of(member),
        ..Tally::default()
    };
    let mut frames = 0u64;
    for vlan in [false, true] {
        for options in [Vec::new(), vec![0x94, 4, 0, 0], vec![1; 40]] {
            let frame = Frame {
                vlan,
                options,
                ..Frame::default()
            }
            .bytes();
            for len in 14..=frame.len() {
                check(&mut fx, &frame[..len], LO, &mut tally);
                frames += 1;
            }
        }
    }
    for _ in 0..CASES {
        let frame = if rng.random_range(0..4) == 0 {
            random_bytes(&mut rng)
        } else {
            mutated(&mut rng)
        };
        let ifindex = if rng.random_range(0..10) == 0 {
            wrong_if
        } else {
            LO
        };
        check(&mut fx, &frame, ifindex, &mut tally);
        frames += 1;
    }
    for _ in 0..CASES6 {
        let frame = mutated6(&mut rng);
        let ifindex = if rng.random_range(0..10) == 0 {
            wrong_if
        } else {
            LO
        };
        check(&mut fx, &frame, ifindex, &mut tally);
        frames += 1;
    }
    let after = fx.stats();
    let delta = |names: &[&str]| -> u64 { names.iter().map(|n| after[n] - before[n]).sum() };
    assert_eq!(delta(&["rx"]), frames, "every frame is counted");
    assert_eq!(
        delta(&[
            "malformed_eth",
            "malformed_ipv4",
            "bad_checksum",
            "bad_options",
            "malformed_ipv6",
            "bad_ext_chain",
        ]),
        tally.malformed,
        "every malformed frame is counted as such"
    );
    let Tally {
        malformed,
        direct,
        through_set,
        ipv6,
        ..
    } = tally;
    assert_eq!(delta(&["forwarded"]), direct + through_set);
    eprintln!(
        "{frames} frames in {:?}: {malformed} malformed, {direct} redirected to one interface, \
         {through_set} through a set ({ipv6} of them IPv6)",
        started.elapsed()
    );
    assert!(
        malformed > 1000 && direct > 1000 && through_set > 1000 && ipv6 > 1000,
        "every side of the property is exercised"
    );
}
