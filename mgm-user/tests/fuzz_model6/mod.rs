//! The IPv6 side of the XDP fuzz test (`xdp_fuzz.rs`): the reference model (etherparse for the
//! fixed header, the model's own walk of the RFC 8200 extension-header chain) and the random
//! IPv6 frames.
use super::{Expected, DROP, MALFORMED, PASS, REDIRECT};
use crate::xdp_common::{mac_of, v6::*, LO};
use etherparse::{EtherType, Ethernet2Slice, Ipv6HeaderSlice, SingleVlanSlice};
use proptest::{prelude::RngExt as _, test_runner::TestRng};
use std::net::Ipv6Addr;

/// The IPv6 group forwarded from `SOURCE6` to both veths (`GROUP6` goes to the first alone).
pub const SET_GROUP6: Ipv6Addr = Ipv6Addr::new(0xff05, 0, 0, 0, 0, 0, 0, 0x1234);

/// Extension headers the program walks at most (`MAX_EXT_HEADERS` in mgm-ebpf).
const MAX_EXT_HEADERS: usize = 8;

/// The low byte of a random tag's VLAN ID: half of them priority tags (ID 0).
pub fn random_vlan_id(rng: &mut TestRng) -> u8 {
    if rng.random_bool(0.5) {
        0
    } else {
        rng.random()
    }
}

/// The offset of the frame's IPv6 packet (behind at most one 802.1Q priority tag), if it is
/// one.
pub fn ipv6_offset(frame: &[u8]) -> Option<usize> {
    let eth = Ethernet2Slice::from_slice_without_fcs(frame).ok()?;
    let (offset, ether_type) = match eth.ether_type() {
        EtherType::VLAN_TAGGED_FRAME => {
            let tag = SingleVlanSlice::from_slice(eth.payload_slice()).ok()?;
            if tag.vlan_identifier().value() != 0 {
                return None;
            }
            (18, tag.ether_type())
        }
        other => (14, other),
    };
    (ether_type == EtherType::IPV6).then_some(offset)
}

/// What an IPv6 extension-header chain holds, as RFC 8200 and the kernel read it.
#[derive(Debug, PartialEq, Eq)]
enum Walk {
    Data,
    Mld,
    /// A header past the payload, or Hop-by-Hop not first.
    Malformed,
    /// ICMPv6 shorter than its 4-byte header.
    ShortIcmp,
    /// More headers than the program walks.
    TooLong,
}

/// Walks the chain starting with next header `first` over `payload`.
fn walk(first: u8, payload: &[u8]) -> Walk {
    let (mut next, mut at) = (first, 0usize);
    for i in 0..=MAX_EXT_HEADERS {
        match next {
            0 | 43 | 44 | 51 | 60 | 135 | 139 | 140 => {}
            58 => {
                return match payload.get(at..at + 4) {
                    None => Walk::ShortIcmp,
                    Some(icmp) if [130, 131, 132, 143].contains(&icmp[0]) => Walk::Mld,
                    Some(_) => Walk::Data,
                }
            }
            _ => return Walk::Data,
        }
        if i == MAX_EXT_HEADERS {
            return Walk::TooLong;
        }
        if next == 0 && i > 0 {
            return Walk::Malformed;
        }
        let Some(header) = payload.get(at..at + 8) else {
            return Walk::Malformed;
        };
        let len = match next {
            44 => 8,
            51 => (usize::from(header[1]) + 2) * 4,
            _ => (usize::from(header[1]) + 1) * 8,
        };
        if at + len > payload.len() {
            return Walk::Malformed;
        }
        if next == 44 && u16::from_be_bytes([header[2], header[3]]) >> 3 != 0 {
            return Walk::Data;
        }
        at += len;
        next = header[0];
    }
    unreachable!("the loop returns at its last round")
}

/// The reference model for an IPv6 packet (`ip`: from its fixed header on), with `GROUP6` and
/// `SET_GROUP6` from `SOURCE6` installed, both arriving on `LO`.
pub fn model6(ip: &[u8], ifindex: u32) -> Expected {
    let Ok(header) = Ipv6HeaderSlice::from_slice(ip) else {
        return MALFORMED;
    };
    let Some(payload) = ip.get(40..40 + usize::from(header.payload_length())) else {
        return MALFORMED;
    };
    let group = header.destination_addr();
    if !group.is_multicast() || group.octets()[1] & 0x0f <= 2 {
        return PASS;
    }
    match walk(header.next_header().0, payload) {
        Walk::Data => {}
        Walk::Mld | Walk::TooLong => return PASS,
        Walk::Malformed | Walk::ShortIcmp => return MALFORMED,
    }
    let source = header.source_addr();
    if source != SOURCE6 || (group != GROUP6 && group != SET_GROUP6) {
        // A miss; one from a source no host may send from is dropped.
        let martian = source.is_unspecified()
            || source.is_loopback()
            || source.is_multicast()
            || source.to_ipv4_mapped().is_some();
        return if martian { DROP } else { PASS };
    }
    if ifindex != LO || header.hop_limit() <= 1 {
        return DROP;
    }
    REDIRECT
}

/// The frame a redirect of the IPv6 `input` (packet at `offset`) must leave.
pub fn forwarded6<'a>(
    input: &[u8],
    offset: usize,
    out: &'a [u8],
    set_mac: [u8; 6],
) -> (&'a [u8], Vec<u8>, bool) {
    let group: [u8; 16] = input[offset + 24..offset + 40].try_into().expect("group");
    let direct = Ipv6Addr::from(group) == GROUP6;
    let mut expected = input[..12].to_vec();
    expected.extend_from_slice(&EtherType::IPV6.0.to_be_bytes());
    expected.extend_from_slice(&input[offset..]);
    expected[14 + 7] -= 1;
    // Framed to the group's MAC (RFC 2464 §7: its last 32 bits behind 33:33).
    expected[..6].copy_from_slice(&[0x33, 0x33, group[12], group[13], group[14], group[15]]);
    if direct {
        expected[6..12].copy_from_slice(&mac_of(0));
        (out, expected, true)
    } else {
        expected[6..12].copy_from_slice(&set_mac);
        (out, expected, false)
    }
}

/// A random extension header of the kinds the program walks (and a few it does not know).
fn random_ext(rng: &mut TestRng) -> Ext {
    match rng.random_range(0..8) {
        0 | 1 => router_alert(),
        2 | 3 => dest_opts(rng.random_range(1..4)),
        4 => routing(),
        5 => fragment(
            *[0, 0, 7].get(rng.random_range(0..3)).expect("offset"),
            true,
        ),
        6 => Ext {
            kind: 51,
            bytes: vec![0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        },
        _ => Ext {
            kind: rng.random(),
            bytes: vec![0; 8],
        },
    }
}

/// A valid IPv6 frame with a random chain, upper layer, hop limit and addresses; most carry an
/// installed (S,G).
fn template6(rng: &mut TestRng) -> Frame6 {
    let chain_len = *[0, 0, 0, 1, 2, 3, 8, 9]
        .get(rng.random_range(0..8))
        .expect("a chain length");
    let ext = (0..chain_len).map(|_| random_ext(rng)).collect();
    let (protocol, upper) = match rng.random_range(0..6) {
        0 => (
            ICMPV6,
            icmpv6(
                *[128, 130, 131, 132, 143, rng.random()]
                    .get(rng.random_range(0..6))
                    .expect("a type"),
            ),
        ),
        1 => (rng.random(), vec![0; rng.random_range(0..16)]),
        _ => (UDP, udp(rng.random_range(0..100))),
    };
    let group = match rng.random_range(0..10) {
        0 => Ipv6Addr::from(rng.random::<u128>()),
        1 => Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, rng.random()),
        2 => Ipv6Addr::new(0xff00 | u16::from(rng.random::<u8>()), 0, 0, 0, 0, 0, 0, 1),
        3 | 4 => SET_GROUP6,
        _ => GROUP6,
    };
    Frame6 {
        vlan: rng.random_bool(0.3),
        hop_limit: *[0, 1, 2, 64, 255, rng.random()]
            .get(rng.random_range(0..6))
            .expect("a hop limit"),
        source: if rng.random_range(0..8) == 0 {
            Ipv6Addr::from(rng.random::<u128>())
        } else {
            SOURCE6
        },
        group,
        ext,
        protocol,
        upper,
    }
}

/// An IPv6 template with one structural mutation.
pub fn mutated6(rng: &mut TestRng) -> Vec<u8> {
    let template = template6(rng);
    let mut frame = template.bytes();
    let l3 = template.l3_offset();
    match rng.random_range(0..7) {
        0 | 1 => {}
        2 => frame.truncate(rng.random_range(14..frame.len())),
        3 => frame[l3 + 4..l3 + 6].copy_from_slice(&rng.random::<u16>().to_be_bytes()),
        4 => {
            // Somewhere in the fixed header or the first extension headers.
            let at = rng.random_range(l3..frame.len().min(l3 + 80));
            frame[at] = rng.random();
        }
        5 => {
            let tag = [0x81, 0x00, rng.random::<u8>() & 0xf0, random_vlan_id(rng)];
            frame.splice(12..12, tag);
        }
        _ => {
            let at = rng.random_range(l3..frame.len());
            frame[at] ^= rng.random_range(1..=255u8);
        }
    }
    frame
}
