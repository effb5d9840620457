//! The devmap egress program, run once per copy on its outgoing interface: interface TTL
//! threshold and MTU, source MAC, per-(entry, interface) counters.
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use core::mem::size_of;
use mgm_common::{stat, OifCounterKey, OifCounters, XdpMeta};

use crate::{
    maps::{count, IFACES, OIF_STATS},
    packet::{ptr_at, Ipv4Hdr, ETH_HDR_LEN},
};

/// Egress program of every entry of every outgoing-interface set.
#[xdp(map = "devmap")]
pub fn mgm_egress(ctx: XdpContext) -> u32 {
    // SAFETY: reading the context the kernel handed us.
    let ifindex = unsafe { (*ctx.ctx).egress_ifindex };
    // SAFETY: the value is copied out at once.
    let Some(iface) = (unsafe { IFACES.get(ifindex) }).copied() else {
        count(stat::EGRESS_NO_CONFIG);
        return xdp_action::XDP_DROP;
    };
    let start = ctx.data();
    let end = ctx.data_end();
    let Some(ip) = ptr_at::<Ipv4Hdr>(start, end, ETH_HDR_LEN) else {
        count(stat::EGRESS_MALFORMED);
        return xdp_action::XDP_DROP;
    };
    // SAFETY: in bounds (checked by ptr_at).
    let (ttl, total_len) = unsafe { ((*ip).ttl, u16::from_be((*ip).total_len)) };
    let counters = oif_counters(&ctx, ifindex);
    let dropped = if ttl < iface.ttl_threshold {
        Some(stat::EGRESS_TTL_THRESHOLD)
    } else if iface.mtu != 0 && u32::from(total_len) > iface.mtu {
        Some(stat::EGRESS_MTU)
    } else {
        None
    };
    if let Some(reason) = dropped {
        if let Some(counters) = counters {
            // SAFETY: per-CPU value.
            unsafe { (*counters).drops += 1 };
        }
        count(reason);
        return xdp_action::XDP_DROP;
    }
    let Some(source) = ptr_at::<[u8; 6]>(start, end, 6) else {
        count(stat::EGRESS_MALFORMED);
        return xdp_action::XDP_DROP;
    };
    // SAFETY: in bounds (checked by ptr_at).
    unsafe { source.write_unaligned(iface.mac) };
    if let Some(counters) = counters {
        // SAFETY: per-CPU value.
        unsafe {
            (*counters).packets += 1;
            (*counters).bytes += u64::from(total_len);
        }
    }
    count(stat::EGRESS_TX);
    xdp_action::XDP_PASS
}

/// The (entry, interface) counters named by the frame's metadata.
#[inline(always)]
fn oif_counters(ctx: &XdpContext, ifindex: u32) -> Option<*mut OifCounters> {
    let meta = ctx.metadata();
    if meta + size_of::<XdpMeta>() > ctx.data() {
        count(stat::EGRESS_NO_COUNTER);
        return None;
    }
    // SAFETY: inside the metadata area (checked just above).
    let stats_slot = unsafe { (meta as *const XdpMeta).read_unaligned() }.stats_slot;
    let counters = OIF_STATS.get_ptr_mut(OifCounterKey {
        stats_slot,
        ifindex,
    });
    if counters.is_none() {
        count(stat::EGRESS_NO_COUNTER);
    }
    counters
}
