//! The per-copy rules of an outgoing interface: TTL (or hop limit) threshold, MTU and, for
//! IPv6, the admin-scope boundary; source MAC; and the per-(entry, interface) drop counters (copies sent are derived, see `OifCounters`). The devmap egress program applies them to every copy of a
//! broadcast; the ingress program applies them itself to an entry with a single outgoing
//! interface, which it redirects directly.
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use core::mem::size_of;
use mgm_common::{stat, OifCounterKey, XdpMeta};

use crate::{
    maps::{count, IFACES, OIF_STATS},
    packet::{ptr_at, Ipv4Hdr, Ipv6Hdr, ETH_HDR_LEN, ETH_P_IPV6, IPV6_HDR_LEN},
};

/// Egress program of every entry of every outgoing-interface set.
#[xdp(map = "devmap")]
pub fn mgm_egress(ctx: XdpContext) -> u32 {
    // SAFETY: reading the context the kernel handed us.
    let ifindex = unsafe { (*ctx.ctx).egress_ifindex };
    let slot = meta_slot(&ctx);
    if slot == NO_SLOT {
        count(stat::EGRESS_NO_COUNTER);
    }
    if prepare_copy(&ctx, ifindex, slot) {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    }
}

/// Applies the rules of interface `ifindex` to the frame (an untagged IPv4 or IPv6 packet
/// whose TTL or hop limit was decremented): false if it must not be sent there (counted with
/// the reason, and for the entry with counter slot `slot` unless that is [`NO_SLOT`]).
#[inline(always)]
pub fn prepare_copy(ctx: &XdpContext, ifindex: u32, slot: u32) -> bool {
    // SAFETY: the value is copied out at once.
    let Some(iface) = (unsafe { IFACES.get(ifindex) }).copied() else {
        count_drop(slot, ifindex, 0);
        count(stat::EGRESS_NO_CONFIG);
        return false;
    };
    let start = ctx.data();
    let end = ctx.data_end();
    let Some(copy) = copy_header(start, end) else {
        count_drop(slot, ifindex, 0);
        count(stat::EGRESS_MALFORMED);
        return false;
    };
    let dropped = if copy.hops < iface.ttl_threshold {
        Some(stat::EGRESS_TTL_THRESHOLD)
    } else if iface.mtu != 0 && copy.len > iface.mtu {
        Some(stat::EGRESS_MTU)
    } else if copy.scope <= iface.scope_boundary {
        Some(stat::EGRESS_SCOPE_BOUNDARY)
    } else {
        None
    };
    if let Some(reason) = dropped {
        count_drop(slot, ifindex, copy.len);
        count(reason);
        return false;
    }
    let Some(source) = ptr_at::<[u8; 6]>(start, end, 6) else {
        count_drop(slot, ifindex, copy.len);
        count(stat::EGRESS_MALFORMED);
        return false;
    };
    // SAFETY: in bounds (checked by ptr_at).
    unsafe { source.write_unaligned(iface.mac) };
    // Copies sent are derived from the entry's packets (see `OifCounters`): nothing to count
    // per copy here.
    count(stat::EGRESS_TX);
    true
}

/// What the rules of an outgoing interface look at in a copy.
struct CopyHeader {
    /// TTL or hop limit (after the decrement).
    hops: u8,
    /// Layer 3 bytes.
    len: u32,
    /// The group's IPv6 scope; [`NO_SCOPE`] for IPv4, which no scope boundary applies to.
    scope: u8,
}

/// `CopyHeader::scope` of IPv4 copies: above every boundary.
const NO_SCOPE: u8 = u8::MAX;

/// The TTL or hop limit, length and scope of the untagged IPv4 or IPv6 frame `[start, end)`;
/// `None` if its header is not there.
#[inline(always)]
fn copy_header(start: usize, end: usize) -> Option<CopyHeader> {
    let ethertype = ptr_at::<u16>(start, end, 12)?;
    // SAFETY: in bounds (checked by ptr_at).
    if u16::from_be(unsafe { *ethertype }) == ETH_P_IPV6 {
        let ip = ptr_at::<Ipv6Hdr>(start, end, ETH_HDR_LEN)?;
        // SAFETY: in bounds (checked by ptr_at).
        let ip = unsafe { &*ip };
        return Some(CopyHeader {
            hops: ip.hop_limit,
            len: IPV6_HDR_LEN as u32 + u32::from(u16::from_be(ip.payload_len)),
            scope: ip.addrs.group[1] & 0x0f,
        });
    }
    let ip = ptr_at::<Ipv4Hdr>(start, end, ETH_HDR_LEN)?;
    // SAFETY: in bounds (checked by ptr_at).
    let ip = unsafe { &*ip };
    Some(CopyHeader {
        hops: ip.ttl,
        len: u32::from(u16::from_be(ip.total_len)),
        scope: NO_SCOPE,
    })
}

/// Counts a copy of `len` bytes that interface `ifindex`'s rules dropped, for the entry with
/// counter slot `slot` (the rare path: the only per-(entry, interface) lookup).
#[inline(always)]
fn count_drop(slot: u32, ifindex: u32, len: u32) {
    if slot == NO_SLOT {
        return;
    }
    let Some(counters) = OIF_STATS.get_ptr_mut(OifCounterKey {
        stats_slot: slot,
        ifindex,
    }) else {
        count(stat::EGRESS_NO_COUNTER);
        return;
    };
    // SAFETY: per-CPU value.
    unsafe {
        (*counters).drops += 1;
        (*counters).drop_bytes += u64::from(len);
    }
}

/// No counter slot known (a plain sentinel: an `Option` payload confuses the verifier).
pub const NO_SLOT: u32 = u32::MAX;

/// The entry's counter slot, from the metadata the ingress program put in front of the frame.
#[inline(always)]
fn meta_slot(ctx: &XdpContext) -> u32 {
    let meta = ctx.metadata();
    if meta + size_of::<XdpMeta>() > ctx.data() {
        return NO_SLOT;
    }
    // SAFETY: inside the metadata area (checked just above).
    unsafe { (meta as *const XdpMeta).read_unaligned() }.stats_slot
}
