//! The IPv6 extension-header chain, walked far enough to tell MLD from data and to refuse
//! malformed chains, as the kernel's `ip6_mc_input` looks behind a Hop-by-Hop header for MLD.
//!
//! The walk follows at most [`MAX_EXT_HEADERS`] headers (Hop-by-Hop, Routing, Fragment,
//! Destination Options, AH, Mobility, HIP, Shim6), each read from its first 32-bit word with the
//! same bounds check as the IPv4 options. It stops at the first upper-layer header (or No Next
//! Header, or ESP) and at a non-first fragment, whose upper-layer header is elsewhere. A chain
//! still going after [`MAX_EXT_HEADERS`] headers goes to the kernel, which walks any length
//! itself (and, without routes of its own, does not forward it). Nothing is changed: forwarded
//! packets keep their extension headers as they are.
use crate::packet::{ptr_at, IPV6_HDR_LEN};

/// Extension headers walked at most.
pub const MAX_EXT_HEADERS: usize = 8;
/// Largest offset into the frame a header is looked for at (an explicit bound for the
/// verifier; past it, a header is beyond the first buffer XDP hands a program).
const MAX_OFFSET: usize = 0x3fff;

const HOP_BY_HOP: u8 = 0;
const ROUTING: u8 = 43;
const FRAGMENT: u8 = 44;
const AUTH: u8 = 51;
const DEST_OPTS: u8 = 60;
const MOBILITY: u8 = 135;
const HIP: u8 = 139;
const SHIM6: u8 = 140;
/// IPv6 next header of ICMPv6.
pub const ICMPV6: u8 = 58;

/// What the chain holds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Chain {
    /// Data right behind the fixed header.
    Plain,
    /// Data behind extension headers.
    Extended,
    /// Data behind extension headers that include a Fragment header.
    Fragment,
    /// An MLD message (ICMPv6 type 130, 131, 132 or 143).
    Mld,
    /// A header runs past the payload, or a Hop-by-Hop header is not the first.
    Malformed,
    /// ICMPv6 without room for its type, code and checksum.
    ShortIcmp,
    /// More than [`MAX_EXT_HEADERS`] extension headers.
    TooLong,
    /// A header inside the payload but past the frame's first buffer (a multi-buffer frame).
    PastFirstBuffer,
}

/// Whether `next` names an extension header.
#[inline(always)]
fn is_extension(next: u8) -> bool {
    matches!(
        next,
        HOP_BY_HOP | ROUTING | FRAGMENT | AUTH | DEST_OPTS | MOBILITY | HIP | SHIM6
    )
}

/// Walks the chain of the IPv6 packet whose fixed header (next header `first`, payload length
/// `payload_len`, known to be inside the frame) starts at `offset`.
#[inline(always)]
pub fn walk(start: usize, end: usize, offset: usize, first: u8, payload_len: usize) -> Chain {
    let mut at = offset + IPV6_HDR_LEN;
    let limit = at + payload_len;
    // Read back through memory: knowing that the payload lies inside the frame, LLVM would
    // drop the frame bounds checks below as implied by the payload ones, and the verifier
    // needs them.
    // SAFETY: reads a local.
    let limit = unsafe { core::ptr::read_volatile(&limit) };
    let mut next = first;
    let mut chain = Chain::Plain;
    for i in 0..MAX_EXT_HEADERS {
        if !is_extension(next) {
            break;
        }
        if next == HOP_BY_HOP && i != 0 {
            return Chain::Malformed;
        }
        // Every extension header is 8 bytes at least.
        if at + 8 > limit {
            return Chain::Malformed;
        }
        if at > MAX_OFFSET {
            return Chain::PastFirstBuffer;
        }
        let Some(word) = ptr_at::<u32>(start, end, at) else {
            return Chain::PastFirstBuffer;
        };
        // SAFETY: in bounds (checked by ptr_at); headers may sit at odd addresses.
        let word = u32::from_be(unsafe { word.read_unaligned() });
        let (header_next, len) = ((word >> 24) as u8, ((word >> 16) & 0xff) as usize);
        let header_len = match next {
            FRAGMENT => 8,
            AUTH => (len + 2) * 4,
            _ => (len + 1) * 8,
        };
        at += header_len;
        if at > limit {
            return Chain::Malformed;
        }
        if next == FRAGMENT {
            chain = Chain::Fragment;
            // A non-first fragment: the upper-layer header is in the first one.
            if word & 0xfff8 != 0 {
                return chain;
            }
        } else if chain == Chain::Plain {
            chain = Chain::Extended;
        }
        next = header_next;
    }
    if is_extension(next) {
        return Chain::TooLong;
    }
    if next != ICMPV6 {
        return chain;
    }
    if at + 4 > limit {
        return Chain::ShortIcmp;
    }
    if at > MAX_OFFSET {
        return Chain::PastFirstBuffer;
    }
    let Some(word) = ptr_at::<u32>(start, end, at) else {
        return Chain::PastFirstBuffer;
    };
    // SAFETY: in bounds (checked by ptr_at).
    let icmp_type = (u32::from_be(unsafe { word.read_unaligned() }) >> 24) as u8;
    if matches!(icmp_type, 130 | 131 | 132 | 143) {
        Chain::Mld
    } else {
        chain
    }
}
