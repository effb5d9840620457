//! The per-copy rules of an outgoing interface: TTL threshold and MTU, source MAC, and the
//! per-(entry, interface) drop counters (copies sent are derived, see `OifCounters`). The devmap egress program applies them to every copy of a
//! broadcast; the ingress program applies them itself to an entry with a single outgoing
//! interface, which it redirects directly.
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use core::mem::size_of;
use mgm_common::{stat, OifCounterKey, XdpMeta};

use crate::{
    maps::{count, IFACES, OIF_STATS},
    packet::{ptr_at, Ipv4Hdr, ETH_HDR_LEN},
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

/// Applies the rules of interface `ifindex` to the frame (an untagged IPv4 packet whose TTL
/// was decremented): false if it must not be sent there (counted with the reason, and for the
/// entry with counter slot `slot` unless that is [`NO_SLOT`]).
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
    let Some(ip) = ptr_at::<Ipv4Hdr>(start, end, ETH_HDR_LEN) else {
        count_drop(slot, ifindex, 0);
        count(stat::EGRESS_MALFORMED);
        return false;
    };
    // SAFETY: in bounds (checked by ptr_at).
    let (ttl, total_len) = unsafe { ((*ip).ttl, u16::from_be((*ip).total_len)) };
    let dropped = if ttl < iface.ttl_threshold {
        Some(stat::EGRESS_TTL_THRESHOLD)
    } else if iface.mtu != 0 && u32::from(total_len) > iface.mtu {
        Some(stat::EGRESS_MTU)
    } else {
        None
    };
    if let Some(reason) = dropped {
        count_drop(slot, ifindex, total_len);
        count(reason);
        return false;
    }
    let Some(source) = ptr_at::<[u8; 6]>(start, end, 6) else {
        count_drop(slot, ifindex, total_len);
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

/// Counts a copy of `len` bytes that interface `ifindex`'s rules dropped, for the entry with
/// counter slot `slot` (the rare path: the only per-(entry, interface) lookup).
#[inline(always)]
fn count_drop(slot: u32, ifindex: u32, len: u16) {
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
