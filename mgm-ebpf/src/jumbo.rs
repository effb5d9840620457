//! The slow path of jumbo frames: a TC ingress program (next to the XDP program on every
//! interface mgm routes on) that replicates what the devmap broadcast cannot clone, or would
//! skip a member of uncounted (a frame over its MTU, see `SetBroadcast::mtu`).
//!
//! The ingress program hands such a frame of an entry with several outgoing interfaces on with
//! XDP_PASS, its tag removed, its TTL or hop limit decremented and a [`JumboMeta`] in front (the
//! XDP metadata becomes the skb's). Here each member of the entry's set (`SET_MEMBERS`) but the
//! arrival interface gets a copy: the interface's rules as the egress program applies them
//! ([`crate::egress::admit_copy`]), its MAC as source, then one `bpf_clone_redirect` (an skb
//! clone shares the frame's fragments, so any length goes). The original is dropped. Frames
//! without the metadata (everything else XDP passes) continue into the stack untouched.
use aya_ebpf::{
    bindings::{TC_ACT_OK, TC_ACT_SHOT},
    macros::classifier,
    programs::TcContext,
};
use core::mem::size_of;
use mgm_common::{limits, stat, JumboMeta, XdpMeta, JUMBO_MARKER};

use crate::{
    egress::{admit_copy, count_drop},
    maps::{count, SET_MEMBERS},
};

/// The TC ingress program.
#[classifier]
pub fn mgm_tc_jumbo(ctx: TcContext) -> i32 {
    let Some(meta) = jumbo_meta(&ctx) else {
        return TC_ACT_OK;
    };
    count(stat::JUMBO_REPLICATED);
    // SAFETY: the value is read at once; sets are emptied only a grace period after their
    // last entry left them.
    let Some(members) = (unsafe { SET_MEMBERS.get(meta.oif_set) }) else {
        count(stat::JUMBO_NO_MEMBERS);
        return TC_ACT_SHOT;
    };
    // SAFETY: reading the context the kernel handed us.
    let ingress = unsafe { (*ctx.skb.skb).ingress_ifindex };
    let listed = members.count as usize;
    for i in 0..limits::SET_IFACES as usize {
        if i >= listed {
            break;
        }
        let ifindex = members.ifindex[i];
        if ifindex != ingress {
            send_copy(&ctx, ifindex, &meta.copy);
        }
    }
    TC_ACT_SHOT
}

/// The [`JumboMeta`] in front of the frame, if the ingress program put one there.
#[inline(always)]
fn jumbo_meta(ctx: &TcContext) -> Option<JumboMeta> {
    let skb = ctx.skb.skb;
    // SAFETY: reading the context the kernel handed us.
    let (meta, data) = unsafe { ((*skb).data_meta as usize, (*skb).data as usize) };
    if meta + size_of::<JumboMeta>() > data {
        return None;
    }
    // SAFETY: inside the metadata area (checked just above).
    let found = unsafe { *(meta as *const JumboMeta) };
    (found.marker == JUMBO_MARKER).then_some(found)
}

/// Sends a copy of the frame out of `ifindex` if its rules let `copy` out (counted as the
/// egress program counts copies).
#[inline(never)]
fn send_copy(ctx: &TcContext, ifindex: u32, copy: &XdpMeta) {
    let Some(iface) = admit_copy(ifindex, copy) else {
        return;
    };
    if ctx.store(6, &iface.mac, 0).is_err() {
        count_drop(copy.stats_slot, copy.len, ifindex);
        count(stat::EGRESS_MALFORMED);
        return;
    }
    if ctx.clone_redirect(ifindex, 0).is_err() {
        count_drop(copy.stats_slot, copy.len, ifindex);
        count(stat::JUMBO_CLONE_FAILED);
        return;
    }
    count(stat::EGRESS_TX);
}
