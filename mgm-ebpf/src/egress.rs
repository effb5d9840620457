//! The per-copy rules of an outgoing interface: TTL (or hop limit) threshold, MTU and, for
//! IPv6, the admin-scope boundary; source MAC; and the per-(entry, interface) drop counters
//! (copies sent are derived, see `OifCounters`). The devmap egress program applies them to every
//! copy of a broadcast, and to the single copy of an entry with one outgoing interface whose
//! copies carry it (`IFACE_FLAG_EGRESS_PROGRAM`, redirected through `OIF_DIRECT`); the ingress
//! program applies them itself to the single copy for any other interface, which it redirects
//! with no program. The kernel runs one program on every frame queued to an interface in one
//! NAPI poll (the first one's), so each interface has one: this one, or none.
//!
//! A copy costs one inlined array lookup (`IFACES`, by ifindex) and a read of the copy's own
//! header, which the ingress program has just written (in cache): its length, TTL or hop
//! limit (decremented already) and scope are what the rules look at. Only a copy the rules
//! drop needs its entry, for the per-(entry, interface) drop counter: the (S,G) in its header
//! is looked up then ([`crate::probe`], as the ingress program does), on that rare path alone.
//! Copies carry no metadata, so that metadata an earlier program left in front of a frame
//! changes nothing here.
//!
//! One member of a set may have no program on its devmap entry (its "bare member", chosen by
//! userspace among interfaces whose rules drop nothing): the ingress program applies its rules
//! and writes its MAC before the broadcast ([`prepare_broadcast`]), which saves the kernel's
//! run of this program (frame to buffer and back, an indirect call) for one copy per packet.
//!
//! The kernel's broadcast skips a member whose device MTU the frame exceeds before any devmap
//! program runs, so that this program never sees that copy to count its drop: a packet longer
//! than the smallest MTU of the set's members is not broadcast ([`prepare_broadcast`]) but
//! replicated by the TC program, which applies every member's rules ([`crate::jumbo`]).
//!
//! Frags-aware like the ingress program (a devmap's programs must match the program that
//! redirects into it); the broadcast never hands it a multi-buffer frame (see
//! [`crate::jumbo`]), and the rules read the packet's length from its header, the whole
//! packet's.
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use mgm_common::{
    inside_scope_boundary, ipv6_scope, stat, IfaceConfig, OifCounterKey, SgKey, XdpMeta,
    IFACE_FLAG_CONFIGURED, NO_SCOPE,
};

use crate::{
    maps::{count, IFACES, OIF_STATS, SET_BROADCASTS},
    packet::{ptr_at, set_source_mac, Ipv4Hdr, Ipv6Hdr, ETH_HDR_LEN, ETH_P_IPV6, IPV6_HDR_LEN},
    probe,
};

/// Egress program of every entry of every outgoing-interface set (but bare members') and of
/// `OIF_DIRECT`.
#[xdp(frags, map = "devmap")]
pub fn mgm_egress(ctx: XdpContext) -> u32 {
    // SAFETY: reading the context the kernel handed us.
    let ifindex = unsafe { (*ctx.ctx).egress_ifindex };
    let Some(copy) = from_header(ctx.data(), ctx.data_end()) else {
        count(stat::EGRESS_MALFORMED);
        return xdp_action::XDP_DROP;
    };
    if prepare_copy(&ctx, ifindex, IFACES.get(ifindex), &copy) {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    }
}

/// Applies the rules of interface `ifindex` (its `IFACES` element `iface`) to the frame `copy`
/// describes (an untagged IPv4 or IPv6 packet whose TTL or hop limit was decremented): false if
/// it must not be sent there (counted with the reason, and for the entry: with counter slot
/// `copy.stats_slot`, or the one of the entry of the (S,G) in the frame's header if that is
/// [`SLOT_FROM_HEADER`]).
#[inline(always)]
pub fn prepare_copy(
    ctx: &XdpContext,
    ifindex: u32,
    iface: Option<&IfaceConfig>,
    copy: &XdpMeta,
) -> bool {
    let reason = match admit(iface, copy) {
        Ok(iface) if set_source_mac(ctx.data(), ctx.data_end(), iface) => {
            // Copies sent are derived from the entry's packets (see `OifCounters`): nothing to
            // count per copy here.
            count(stat::EGRESS_TX);
            return true;
        }
        Ok(_) => stat::EGRESS_MALFORMED,
        Err(reason) => reason,
    };
    let slot = if copy.stats_slot == SLOT_FROM_HEADER {
        slot_from_header(ctx.data(), ctx.data_end())
    } else {
        copy.stats_slot
    };
    count_drop(slot, copy.len, ifindex);
    count(reason);
    false
}

/// The settings of interface `ifindex` when its rules let the copy `copy` describes out;
/// `None` (counted with the reason, and for the entry of `copy.stats_slot`) when they do not.
#[inline(always)]
pub fn admit_copy(ifindex: u32, copy: &XdpMeta) -> Option<&'static IfaceConfig> {
    match admit(IFACES.get(ifindex), copy) {
        Ok(iface) => Some(iface),
        Err(reason) => {
            count_drop(copy.stats_slot, copy.len, ifindex);
            count(reason);
            None
        }
    }
}

/// The interface's settings `iface` when its rules let the copy `copy` describes out; the
/// counter of the reason when they do not (the interface never configured, or a rule).
#[inline(always)]
fn admit<'a>(iface: Option<&'a IfaceConfig>, copy: &XdpMeta) -> Result<&'a IfaceConfig, u32> {
    match iface {
        Some(iface) if iface.flags & IFACE_FLAG_CONFIGURED != 0 => match refusal(iface, copy) {
            Some(reason) => Err(reason),
            None => Ok(iface),
        },
        _ => Err(stat::EGRESS_NO_CONFIG),
    }
}

/// Which of the rules of `iface` (a configured interface) keeps the copy `copy` describes
/// from going out (the counter of the reason), if any.
#[inline(always)]
fn refusal(iface: &IfaceConfig, copy: &XdpMeta) -> Option<u32> {
    if copy.hops < iface.ttl_threshold {
        Some(stat::EGRESS_TTL_THRESHOLD)
    } else if iface.mtu != 0 && copy.len > iface.mtu {
        Some(stat::EGRESS_MTU)
    } else if inside_scope_boundary(copy.scope, iface.scope_boundary) {
        Some(stat::EGRESS_SCOPE_BOUNDARY)
    } else {
        None
    }
}

/// Prepares the frame `copy` describes, about to be broadcast to outgoing set `set` from interface
/// `ingress`: `None` if it may be broadcast, the counter of the reason if it must go to the TC
/// program instead, frame unchanged. It may not if it is longer than the smallest MTU of the
/// members it reaches (`SetBroadcast::over_mtu`: the kernel would skip those members, uncounted),
/// nor if the set's bare member (its devmap entry runs no egress program) would not let it out
/// (rules changed since userspace chose it). Otherwise that member's MAC is written as the source,
/// which every copy starts from (the other members' programs rewrite theirs); nothing is done for
/// no bare member or one that is the ingress interface, which the broadcast leaves out.
#[inline(always)]
pub fn prepare_broadcast(ctx: &XdpContext, set: u32, ingress: u32, copy: &XdpMeta) -> Option<u32> {
    let broadcast = SET_BROADCASTS.get(set)?;
    if broadcast.over_mtu(copy.len, ingress) {
        return Some(stat::BROADCAST_OVER_MTU);
    }
    let bare = broadcast.bare_member;
    if bare == 0 || bare == ingress {
        return None;
    }
    let iface = match IFACES.get(bare) {
        Some(iface) if iface.flags & IFACE_FLAG_CONFIGURED != 0 => iface,
        _ => return Some(stat::BARE_MEMBER_REFUSED),
    };
    if refusal(iface, copy).is_some() || !set_source_mac(ctx.data(), ctx.data_end(), iface) {
        return Some(stat::BARE_MEMBER_REFUSED);
    }
    // As the egress program counts the copies it lets out.
    count(stat::EGRESS_TX);
    None
}

/// The description of the untagged IPv4 or IPv6 frame `[start, end)` read from its header,
/// its counter slot to be found from the header too ([`SLOT_FROM_HEADER`]); `None` if its
/// header is not there.
#[inline(always)]
fn from_header(start: usize, end: usize) -> Option<XdpMeta> {
    let ethertype = ptr_at::<u16>(start, end, 12)?;
    // SAFETY: in bounds (checked by ptr_at).
    if u16::from_be(unsafe { *ethertype }) == ETH_P_IPV6 {
        let ip = ptr_at::<Ipv6Hdr>(start, end, ETH_HDR_LEN)?;
        // SAFETY: in bounds (checked by ptr_at).
        let ip = unsafe { &*ip };
        return Some(XdpMeta {
            stats_slot: SLOT_FROM_HEADER,
            len: IPV6_HDR_LEN as u32 + u32::from(u16::from_be(ip.payload_len)),
            hops: ip.hop_limit,
            scope: ipv6_scope(&ip.addrs.group),
            reserved: [0; 2],
        });
    }
    let ip = ptr_at::<Ipv4Hdr>(start, end, ETH_HDR_LEN)?;
    // SAFETY: in bounds (checked by ptr_at).
    let ip = unsafe { &*ip };
    Some(XdpMeta {
        stats_slot: SLOT_FROM_HEADER,
        len: u32::from(u16::from_be(ip.total_len)),
        hops: ip.ttl,
        scope: NO_SCOPE,
        reserved: [0; 2],
    })
}

/// The counter slot of the entry of the (S,G) in the header of the untagged IPv4 or IPv6 frame
/// `[start, end)` (looked up as the ingress program does), [`NO_SLOT`] if it has none (removed
/// since the packet came in) or its header is not there.
#[inline(always)]
fn slot_from_header(start: usize, end: usize) -> u32 {
    let Some(ethertype) = ptr_at::<u16>(start, end, 12) else {
        return NO_SLOT;
    };
    // SAFETY: in bounds (checked by ptr_at).
    let entry = if u16::from_be(unsafe { *ethertype }) == ETH_P_IPV6 {
        let Some(ip) = ptr_at::<Ipv6Hdr>(start, end, ETH_HDR_LEN) else {
            return NO_SLOT;
        };
        // SAFETY: in bounds (checked by ptr_at).
        probe::find6(unsafe { &(*ip).addrs })
    } else {
        let Some(ip) = ptr_at::<Ipv4Hdr>(start, end, ETH_HDR_LEN) else {
            return NO_SLOT;
        };
        // SAFETY: in bounds (checked by ptr_at).
        let ip = unsafe { &*ip };
        probe::find(SgKey {
            source: ip.saddr,
            group: ip.daddr,
        })
    };
    entry.map_or(NO_SLOT, |entry| entry.stats_slot)
}

/// Counts a copy of `len` bytes, which interface `ifindex`'s rules dropped, for the entry with
/// counter slot `slot` (the rare path: the only per-(entry, interface) lookup). A drop whose
/// counter cannot be found (no entry, [`NO_SLOT`], or no key for this interface) is counted
/// as `egress_no_counter`.
#[inline(always)]
pub fn count_drop(slot: u32, len: u32, ifindex: u32) {
    let counters = if slot == NO_SLOT {
        None
    } else {
        OIF_STATS.get_ptr_mut(OifCounterKey {
            stats_slot: slot,
            ifindex,
        })
    };
    let Some(counters) = counters else {
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
/// The counter slot is the one of the entry of the (S,G) in the copy's header, looked up
/// only if the copy is dropped.
pub const SLOT_FROM_HEADER: u32 = u32::MAX - 1;
