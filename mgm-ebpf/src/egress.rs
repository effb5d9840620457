//! The per-copy rules of an outgoing interface: TTL (or hop limit) threshold, MTU and, for
//! IPv6, the admin-scope boundary; source MAC; and the per-(entry, interface) drop counters
//! (copies sent are derived, see `OifCounters`). The devmap egress program applies them to every
//! copy of a broadcast, and to the single copy of an entry with one outgoing interface whose
//! copies carry it (`IFACE_FLAG_EGRESS_PROGRAM`, redirected through `OIF_DIRECT`); the ingress
//! program applies them itself to the single copy for any other interface, which it redirects
//! with no program. The kernel runs one program on every frame queued to an interface in one
//! NAPI poll (the first one's), so each interface has one: this one, or none.
//!
//! A copy costs one inlined array lookup (`IFACES`, by ifindex) and no header read: the ingress
//! program hands what the rules look at (length, TTL or hop limit, scope) and the entry's
//! counter slot over in the frame's metadata ([`XdpMeta`]). Only a frame without it (the
//! metadata could not be attached, `stat::META_FAILED`) has its header read here.
//!
//! One member of a set may have no program on its devmap entry (its "bare member", chosen by
//! userspace among interfaces whose rules drop nothing): the ingress program applies its rules
//! and writes its MAC before the broadcast ([`prepare_bare_member`]), which saves the kernel's
//! run of this program (frame to buffer and back, an indirect call) for one copy per packet.
//!
//! Frags-aware like the ingress program (a devmap's programs must match the program that
//! redirects into it); the broadcast never hands it a multi-buffer frame (see
//! [`crate::jumbo`]), and the rules read the packet's length from its header, the whole
//! packet's.
use aya_ebpf::{bindings::xdp_action, macros::xdp, programs::XdpContext};
use core::mem::size_of;
use mgm_common::{stat, IfaceConfig, OifCounterKey, XdpMeta, IFACE_FLAG_CONFIGURED, NO_SCOPE};

use crate::{
    maps::{count, IFACES, OIF_STATS, SET_BARE_MEMBER},
    packet::{ptr_at, set_source_mac, Ipv4Hdr, Ipv6Hdr, ETH_HDR_LEN, ETH_P_IPV6, IPV6_HDR_LEN},
};

/// Egress program of every entry of every outgoing-interface set (but bare members') and of
/// `OIF_DIRECT`.
#[xdp(frags, map = "devmap")]
pub fn mgm_egress(ctx: XdpContext) -> u32 {
    // SAFETY: reading the context the kernel handed us.
    let ifindex = unsafe { (*ctx.ctx).egress_ifindex };
    let copy = match from_metadata(&ctx) {
        Some(copy) => copy,
        None => {
            count(stat::EGRESS_NO_COUNTER);
            match from_header(ctx.data(), ctx.data_end()) {
                Some(copy) => copy,
                None => {
                    count(stat::EGRESS_MALFORMED);
                    return xdp_action::XDP_DROP;
                }
            }
        }
    };
    if prepare_copy(&ctx, ifindex, IFACES.get(ifindex), &copy) {
        xdp_action::XDP_PASS
    } else {
        xdp_action::XDP_DROP
    }
}

/// Applies the rules of interface `ifindex` (its `IFACES` element `iface`) to the frame `copy`
/// describes (an untagged IPv4 or IPv6 packet whose TTL or hop limit was decremented): false if
/// it must not be sent there (counted with the reason, and for the entry with counter slot
/// `copy.stats_slot` unless that is [`NO_SLOT`]).
#[inline(always)]
pub fn prepare_copy(
    ctx: &XdpContext,
    ifindex: u32,
    iface: Option<&IfaceConfig>,
    copy: &XdpMeta,
) -> bool {
    let Some(iface) = admit(ifindex, iface, copy) else {
        return false;
    };
    if !set_source_mac(ctx.data(), ctx.data_end(), &iface.mac) {
        count_drop(copy, ifindex);
        count(stat::EGRESS_MALFORMED);
        return false;
    }
    // Copies sent are derived from the entry's packets (see `OifCounters`): nothing to count
    // per copy here.
    count(stat::EGRESS_TX);
    true
}

/// The settings of interface `ifindex` when its rules let the copy `copy` describes out;
/// `None` (counted with the reason, and for the entry) when they do not.
#[inline(always)]
pub fn admit_copy(ifindex: u32, copy: &XdpMeta) -> Option<&'static IfaceConfig> {
    admit(ifindex, IFACES.get(ifindex), copy)
}

/// [`admit_copy`] with the interface's `IFACES` element `iface` looked up already.
#[inline(always)]
fn admit<'a>(
    ifindex: u32,
    iface: Option<&'a IfaceConfig>,
    copy: &XdpMeta,
) -> Option<&'a IfaceConfig> {
    let iface = match iface {
        Some(iface) if iface.flags & IFACE_FLAG_CONFIGURED != 0 => iface,
        _ => {
            count_drop(copy, ifindex);
            count(stat::EGRESS_NO_CONFIG);
            return None;
        }
    };
    if let Some(reason) = refusal(iface, copy) {
        count_drop(copy, ifindex);
        count(reason);
        return None;
    }
    Some(iface)
}

/// Which of the rules of `iface` (a configured interface) keeps the copy `copy` describes
/// from going out (the counter of the reason), if any.
#[inline(always)]
fn refusal(iface: &IfaceConfig, copy: &XdpMeta) -> Option<u32> {
    if copy.hops < iface.ttl_threshold {
        Some(stat::EGRESS_TTL_THRESHOLD)
    } else if iface.mtu != 0 && copy.len > iface.mtu {
        Some(stat::EGRESS_MTU)
    } else if copy.scope <= iface.scope_boundary {
        Some(stat::EGRESS_SCOPE_BOUNDARY)
    } else {
        None
    }
}

/// Prepares the frame `copy` describes, about to be broadcast to outgoing set `set` from
/// interface `ingress`, for the set's bare member (`SET_BARE_MEMBER`: its devmap entry runs no
/// egress program): writes that member's MAC as the source, which every copy starts from (the
/// other members' programs rewrite theirs). False, with the frame unchanged, if that member's
/// rules would not let the copy out (its MTU, or rules changed since userspace chose it): the
/// broadcast must not reach it then. True with nothing done if the set has no bare member or
/// it is the ingress interface, which the broadcast leaves out.
#[inline(always)]
pub fn prepare_bare_member(ctx: &XdpContext, set: u32, ingress: u32, copy: &XdpMeta) -> bool {
    let bare = match SET_BARE_MEMBER.get(set) {
        Some(&bare) if bare != 0 && bare != ingress => bare,
        _ => return true,
    };
    let iface = match IFACES.get(bare) {
        Some(iface) if iface.flags & IFACE_FLAG_CONFIGURED != 0 => iface,
        _ => return false,
    };
    if refusal(iface, copy).is_some() || !set_source_mac(ctx.data(), ctx.data_end(), &iface.mac) {
        return false;
    }
    // As the egress program counts the copies it lets out.
    count(stat::EGRESS_TX);
    true
}

/// What the ingress program handed over in front of the frame, if anything.
#[inline(always)]
fn from_metadata(ctx: &XdpContext) -> Option<XdpMeta> {
    let meta = ctx.metadata();
    if meta + size_of::<XdpMeta>() > ctx.data() {
        return None;
    }
    // SAFETY: inside the metadata area (checked just above); native loads (see
    // `packet::set_source_mac`).
    Some(unsafe { *(meta as *const XdpMeta) })
}

/// The description of the untagged IPv4 or IPv6 frame `[start, end)` read from its header, with
/// no counter slot; `None` if its header is not there.
#[inline(always)]
fn from_header(start: usize, end: usize) -> Option<XdpMeta> {
    let ethertype = ptr_at::<u16>(start, end, 12)?;
    // SAFETY: in bounds (checked by ptr_at).
    if u16::from_be(unsafe { *ethertype }) == ETH_P_IPV6 {
        let ip = ptr_at::<Ipv6Hdr>(start, end, ETH_HDR_LEN)?;
        // SAFETY: in bounds (checked by ptr_at).
        let ip = unsafe { &*ip };
        return Some(XdpMeta {
            stats_slot: NO_SLOT,
            len: IPV6_HDR_LEN as u32 + u32::from(u16::from_be(ip.payload_len)),
            hops: ip.hop_limit,
            scope: ip.addrs.group[1] & 0x0f,
            reserved: [0; 2],
        });
    }
    let ip = ptr_at::<Ipv4Hdr>(start, end, ETH_HDR_LEN)?;
    // SAFETY: in bounds (checked by ptr_at).
    let ip = unsafe { &*ip };
    Some(XdpMeta {
        stats_slot: NO_SLOT,
        len: u32::from(u16::from_be(ip.total_len)),
        hops: ip.ttl,
        scope: NO_SCOPE,
        reserved: [0; 2],
    })
}

/// Counts `copy`, which interface `ifindex`'s rules dropped, for its entry (the rare path: the
/// only per-(entry, interface) lookup).
#[inline(always)]
pub fn count_drop(copy: &XdpMeta, ifindex: u32) {
    if copy.stats_slot == NO_SLOT {
        return;
    }
    let Some(counters) = OIF_STATS.get_ptr_mut(OifCounterKey {
        stats_slot: copy.stats_slot,
        ifindex,
    }) else {
        count(stat::EGRESS_NO_COUNTER);
        return;
    };
    // SAFETY: per-CPU value.
    unsafe {
        (*counters).drops += 1;
        (*counters).drop_bytes += u64::from(copy.len);
    }
}

/// No counter slot known (a plain sentinel: an `Option` payload confuses the verifier).
pub const NO_SLOT: u32 = u32::MAX;
