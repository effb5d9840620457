//! Bounds-checked access to the frame: Ethernet (untagged or one 802.1Q tag), IPv4 and the
//! fixed IPv6 header.
//!
//! Headers are read in the frame's first buffer (`[data, data_end)`); a multi-buffer (jumbo)
//! frame's other buffers hold the rest of its payload. A packet whose length (from its header)
//! runs past the first buffer is checked against the whole frame ([`packet_extent`]); the
//! whole frame's length is asked only then and where bytes past the packet matter.
use aya_ebpf::{helpers::bpf_xdp_get_buff_len, programs::XdpContext};
use core::mem::size_of;
use mgm_common::{stat, IfaceConfig, Sg6Key};

use crate::maps::count;

/// Bytes of an untagged Ethernet header.
pub const ETH_HDR_LEN: usize = 14;
/// Bytes of one 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;
const ETH_P_IP: u16 = 0x0800;
/// Ethertype of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
const ETH_P_8021Q: u16 = 0x8100;
/// IPv4 protocol number of IGMP.
pub const IPPROTO_IGMP: u8 = 2;

/// The fixed part of an IPv4 header, as it sits in the packet.
#[repr(C)]
pub struct Ipv4Hdr {
    pub version_ihl: u8,
    pub tos: u8,
    pub total_len: u16,
    pub id: u16,
    pub frag_off: u16,
    pub ttl: u8,
    pub protocol: u8,
    pub check: u16,
    pub saddr: u32,
    pub daddr: u32,
}

/// Bytes of the fixed IPv6 header.
pub const IPV6_HDR_LEN: usize = 40;

/// The fixed IPv6 header, as it sits in the packet.
#[repr(C)]
pub struct Ipv6Hdr {
    /// Version (high nibble) and the start of the traffic class.
    pub version_class: u8,
    /// The rest of the traffic class and the flow label.
    pub class_flow: [u8; 3],
    pub payload_len: u16,
    pub next_header: u8,
    pub hop_limit: u8,
    /// Source and destination (group) addresses, side by side as in the MFES6 key.
    pub addrs: Sg6Key,
}

/// A pointer to a `T` at `offset` into the frame `[start, end)`, if it fits.
#[inline(always)]
pub fn ptr_at<T>(start: usize, end: usize, offset: usize) -> Option<*mut T> {
    if start + offset + size_of::<T>() > end {
        None
    } else {
        Some((start + offset) as *mut T)
    }
}

/// What the link layer carries.
pub enum Link {
    /// IPv4 at this offset; `tagged` when one 802.1Q tag precedes it.
    Ipv4 { offset: usize, tagged: bool },
    /// IPv6 at this offset; `tagged` as for IPv4.
    Ipv6 { offset: usize, tagged: bool },
    /// Another protocol (or a second tag).
    Other,
    /// Tagged with a VLAN ID (not a priority tag, ID 0): a frame of that VLAN, not of the port's
    /// own LAN.
    OtherVlan,
    /// Too short for its own Ethernet header.
    Truncated,
}

/// Reads the Ethernet header and at most one 802.1Q tag. Only a priority tag (VLAN ID 0) leaves
/// the frame on the port's own LAN, as the kernel takes it.
#[inline(always)]
pub fn link(start: usize, end: usize) -> Link {
    let Some(ethertype) = ptr_at::<u16>(start, end, 12) else {
        return Link::Truncated;
    };
    // SAFETY: in bounds (checked just above).
    let ethertype = u16::from_be(unsafe { *ethertype });
    if ethertype == ETH_P_IP {
        return Link::Ipv4 {
            offset: ETH_HDR_LEN,
            tagged: false,
        };
    }
    if ethertype == ETH_P_IPV6 {
        return Link::Ipv6 {
            offset: ETH_HDR_LEN,
            tagged: false,
        };
    }
    if ethertype != ETH_P_8021Q {
        return Link::Other;
    }
    let Some(tag) = ptr_at::<[u16; 2]>(start, end, ETH_HDR_LEN) else {
        return Link::Truncated;
    };
    // SAFETY: in bounds (checked just above).
    let [tci, inner] = unsafe { *tag };
    if u16::from_be(tci) & 0x0fff != 0 {
        return Link::OtherVlan;
    }
    match u16::from_be(inner) {
        ETH_P_IP => Link::Ipv4 {
            offset: ETH_HDR_LEN + VLAN_TAG_LEN,
            tagged: true,
        },
        ETH_P_IPV6 => Link::Ipv6 {
            offset: ETH_HDR_LEN + VLAN_TAG_LEN,
            tagged: true,
        },
        _ => Link::Other,
    }
}

/// Bytes of the whole frame, every buffer of a multi-buffer frame included: a kernel call
/// (`bpf_xdp_get_buff_len`, ~12 ns on the bench VM), so asked only where a frame spanning
/// buffers makes a difference (see [`packet_extent`]). A frame that spans buffers is counted
/// (`multi_buffer`).
#[inline(always)]
pub fn whole_frame_len(ctx: &XdpContext) -> usize {
    // SAFETY: helper without preconditions.
    let len = unsafe { bpf_xdp_get_buff_len(ctx.ctx) as usize };
    if past_first_buffer(ctx, len) {
        count(stat::MULTI_BUFFER);
    }
    len
}

/// Whether `len` bytes from the frame's start reach past its first buffer. `len` is bounded
/// before it is added to a packet pointer, as the verifier requires (no first buffer is
/// longer than the largest packet offset it allows).
#[inline(always)]
pub fn past_first_buffer(ctx: &XdpContext, len: usize) -> bool {
    len > MAX_FIRST_BUFFER || ctx.data() + len > ctx.data_end()
}

/// Longest first buffer of a frame (the verifier's largest packet offset, 64 KiB − 1).
const MAX_FIRST_BUFFER: usize = 0xffff;

/// What the program knows of a frame's length in bytes: the length itself, or [`NOT_READ`]
/// (the frame's packet ends in its first buffer and nothing needed more yet). Plain integers
/// with sentinels: the undefined payload of an `Option`'s `None` spilled to the stack is
/// refused by the verifier.
pub type KnownLen = usize;
/// The frame's length was not asked.
pub const NOT_READ: KnownLen = 0;
/// The frame is shorter than its packet.
pub const TRUNCATED: KnownLen = usize::MAX;

/// What the program knows of the length of a frame whose IP packet ends `packet_end` bytes
/// into it: [`NOT_READ`] when that is inside the first buffer (the whole frame's length is not
/// asked: the packet needs no more), the frame's length when the packet runs past the first
/// buffer and the frame holds it, [`TRUNCATED`] when the frame is shorter (malformed).
#[inline(always)]
pub fn packet_extent(ctx: &XdpContext, packet_end: usize) -> KnownLen {
    if ctx.data() + packet_end <= ctx.data_end() {
        return NOT_READ;
    }
    let len = whole_frame_len(ctx);
    if packet_end <= len {
        len
    } else {
        TRUNCATED
    }
}

/// Bytes of the whole frame, `known` if read already, asked otherwise.
#[inline(always)]
pub fn frame_len(ctx: &XdpContext, known: KnownLen) -> usize {
    if known == NOT_READ {
        whole_frame_len(ctx)
    } else {
        known
    }
}

/// Longest frame the devmap broadcast can copy: the kernel clones a frame into one page, behind
/// its headroom (256 bytes on veth and most drivers) and the frame's descriptor (40 bytes), and
/// cannot clone a multi-buffer frame at all.
pub const BROADCAST_CLONE_MAX: usize = 4096 - 256 - 40;

/// Whether the devmap broadcast cannot clone the frame (`known`: its length, if read): one
/// longer than [`BROADCAST_CLONE_MAX`] or spanning buffers. Asks the frame's length when not
/// known: a packet that ends in the first buffer may still be followed by bytes in others.
#[inline(always)]
pub fn too_large_to_clone(ctx: &XdpContext, known: KnownLen) -> bool {
    let len = frame_len(ctx, known);
    len > BROADCAST_CLONE_MAX || past_first_buffer(ctx, len)
}

/// Length in bytes of the IPv4 header `ip`, when version, IHL and total length are consistent
/// with each other; `None` for a malformed header. Whether the frame holds the packet is
/// [`packet_extent`]'s question.
#[inline(always)]
pub fn ipv4_header_len(ip: &Ipv4Hdr) -> Option<usize> {
    if ip.version_ihl >> 4 != 4 {
        return None;
    }
    let header_len = usize::from(ip.version_ihl & 0x0f) * 4;
    if header_len < size_of::<Ipv4Hdr>() || usize::from(u16::from_be(ip.total_len)) < header_len {
        return None;
    }
    Some(header_len)
}

/// Whether the IPv4 header `ip` at `offset` (of `header_len` bytes, already known to be inside
/// the frame) has a valid checksum. The fixed header is summed with five native loads (see
/// [`set_source_mac`]); only options are read bytewise, word by word: native loads in that loop
/// make the verifier's walk of it and of the options check behind it exceed its limit.
#[inline(always)]
pub fn ipv4_checksum_ok(
    start: usize,
    end: usize,
    offset: usize,
    ip: &Ipv4Hdr,
    header_len: usize,
) -> bool {
    // SAFETY: the fixed header is 20 bytes, five words (repr(C), no padding).
    let fixed = unsafe { *(ip as *const Ipv4Hdr as *const [u32; 5]) };
    let mut sum: u64 = fixed.iter().map(|&word| u64::from(word)).sum();
    let words = header_len / 4;
    for i in 5..15 {
        if i >= words {
            break;
        }
        let Some(word) = ptr_at::<u32>(start, end, offset + i * 4) else {
            return false;
        };
        // SAFETY: in bounds (checked just above); IPv4 headers may sit at odd addresses.
        sum += u64::from(unsafe { word.read_unaligned() });
    }
    // Three 16-bit folds bring the sum of at most fifteen words (below 2^36) to 16 bits:
    // below 2^21, then below 2^16 + 2^5, then at most 0xffff.
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum == 0xffff
}

/// Writes the MAC address of `iface` as the source address of the frame `[start, end)`; false
/// if the frame is too short. Two native loads and two native stores: a copy of the six bytes
/// as an array would be a call to a bytewise `memmove` subprogram, and reading the array
/// (alignment 1) six byte loads, shifts and ors. The verifier allows packet accesses at any
/// address on the architectures with cheap unaligned access (x86-64, arm64), as it does for
/// the header fields.
#[inline(always)]
pub fn set_source_mac(start: usize, end: usize, iface: &IfaceConfig) -> bool {
    // The MAC starts the 4-byte aligned `IfaceConfig`: its first four bytes are a `u32`, the
    // last two a `u16`.
    const _: () = assert!(
        core::mem::offset_of!(IfaceConfig, mac) == 0 && core::mem::align_of::<IfaceConfig>() >= 4
    );
    let Some(source) = ptr_at::<[u8; 6]>(start, end, 6) else {
        return false;
    };
    let mac = iface as *const IfaceConfig;
    // SAFETY: in bounds (checked by ptr_at); `mac` is aligned for both loads (above).
    unsafe {
        *(source as *mut u32) = *(mac as *const u32);
        *(source as *mut u16).add(2) = *(mac as *const u16).add(2);
    }
    true
}

/// Whether the IPv4 source address `source` (host order) is one no host may send from, as the
/// kernel's multicast input path judges it: 0.0.0.0/8, 127.0.0.0/8, multicast, limited
/// broadcast.
#[inline(always)]
pub fn martian_source(source: u32) -> bool {
    let first = source >> 24;
    first == 0 || first == 127 || source >> 28 == 0xe || source == u32::MAX
}

/// Whether the IPv6 source address `source` is one no host may send from: the unspecified and
/// loopback addresses, multicast, IPv4-mapped (as the kernel's IPv6 input drops them).
#[inline(always)]
pub fn martian_source6(source: &[u8; 16]) -> bool {
    if source[0] == 0xff {
        return true;
    }
    let word =
        |i: usize| u32::from_be_bytes([source[i], source[i + 1], source[i + 2], source[i + 3]]);
    let (w0, w1, w2, w3) = (word(0), word(4), word(8), word(12));
    w0 == 0 && w1 == 0 && (w2 == 0 && w3 <= 1 || w2 == 0xffff)
}

/// Writes `head` and `tail` as the destination MAC address of the frame `[start, end)`; false if
/// the frame is too short. One 4-byte and one 2-byte native store, as [`set_source_mac`].
#[inline(always)]
pub fn set_destination_mac(start: usize, end: usize, head: [u8; 4], tail: [u8; 2]) -> bool {
    let Some(destination) = ptr_at::<[u8; 6]>(start, end, 0) else {
        return false;
    };
    // SAFETY: in bounds (checked by ptr_at); packet stores at any alignment are allowed (see
    // `set_source_mac`).
    unsafe {
        *(destination as *mut u32) = u32::from_ne_bytes(head);
        *(destination as *mut u16).add(2) = u16::from_ne_bytes(tail);
    }
    true
}

/// Decrements the TTL and patches the checksum incrementally (RFC 1624), as the kernel's
/// `ip_decrease_ttl` does.
#[inline(always)]
pub fn decrease_ttl(ip: &mut Ipv4Hdr) {
    let check = u32::from(u16::from_be(ip.check)) + 0x0100;
    let check = check + u32::from(check >= 0xffff);
    ip.check = (check as u16).to_be();
    ip.ttl -= 1;
}
