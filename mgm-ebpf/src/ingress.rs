//! The ingress program: classify, look the (S,G) up, check, decrement the TTL and replicate with
//! one devmap broadcast; misses are reported and punted to userspace. IPv6 frames branch off at
//! the ethertype to [`crate::ingress6`], which shares the hit path ([`hit`]) and the miss path.
//!
//! Only exact (S,G) keys are looked up, with no (\*,G) fallback: an MGM forwarding entry is
//! always an (S,G) (wildcard routes and memberships live in the control plane, which turns the
//! creation alert of a new source into its own entry), and a second lookup would cost every
//! miss. The first packets of a new source are punted and held instead of lost.
//!
//! Order of the checks: malformed frames are dropped; non-IPv4, unicast, IGMP and link-local groups
//! go to the kernel; then the IPv4 header checksum, the IPv4 options (malformed ones are dropped as
//! ipmr drops them, see [`crate::options`]), the lookup, the incoming interface, hold mode (punted
//! and counted for the entry by userspace when it sends the packet, until the fast path can take
//! the entry over without overtaking a packet, see [`crate::hold`]), mirrored entries (samples and
//! the fail-safe, see [`crate::mirror`]), TTL ≤ 1 and negative entries. Hold and mirrored entries
//! cost the hit path of the others one flag test. Frames tagged for a VLAN go to the kernel (its
//! VLAN device, an interface of its own, serves them); priority-tagged ones (VLAN ID 0) are
//! forwarded untagged (the router's outgoing interfaces are L3 interfaces), and every forwarded
//! frame is addressed to its group's MAC, as the kernel frames what it forwards.
//!
//! Multi-buffer (jumbo) frames: the program is frags-aware (`xdp.frags`). Headers are read in
//! the first buffer (a frame whose headers run past it goes to the kernel), lengths are checked
//! against the whole frame. An entry with one outgoing interface redirects them like any frame
//! (through `OIF_DIRECT` to an interface whose copies carry the egress program, frags-aware);
//! the devmap broadcast cannot clone them (nor single-buffer frames past
//! [`packet::BROADCAST_CLONE_MAX`]), so those of an entry with several are passed, prepared
//! and described in a [`JumboMeta`], to the TC program ([`crate::jumbo`]), which replicates
//! them; misses are not punted (nor any frame longer than a punt socket's frames hold). Each
//! case is counted. The whole frame's length is a kernel call: it is asked only when the
//! packet's length from its header runs past the first buffer (checked against the whole
//! frame), before a broadcast and before a punt (where bytes behind the packet matter).
use aya_ebpf::{
    bindings::{xdp_action, BPF_F_BROADCAST, BPF_F_EXCLUDE_INGRESS},
    helpers::{bpf_redirect, bpf_xdp_adjust_head, bpf_xdp_adjust_meta},
    macros::xdp,
    programs::XdpContext,
};
use aya_log_ebpf::error;
use core::mem::size_of;
use mgm_common::{
    config, report_kind, stat, IfaceConfig, JumboMeta, MfeValue, PuntMeta, SgKey, XdpMeta,
    IFACE_FLAG_EGRESS_PROGRAM, IFACE_FLAG_MIRRORED, JUMBO_MARKER, MFE_FLAG_HOLD, MFE_FLAG_MIRRORED,
    NO_OIF_SET, NO_SCOPE,
};

use crate::{
    egress, hold, ingress6,
    maps::{count, CONFIG, IFACES, MFE_STATS, OIF_DIRECT, OIF_SETS, PUNTED, PUNT_SOCKETS},
    mirror,
    options::ipv4_options_ok,
    packet::{self, ptr_at, Ipv4Hdr, Link, ETH_HDR_LEN, IPPROTO_IGMP, VLAN_TAG_LEN},
    probe, report,
};

/// The ingress XDP program, attached to every interface mgm routes on.
#[xdp(frags)]
pub fn mgm_xdp(ctx: XdpContext) -> u32 {
    // `rx` and `multicast` are not counted here: userspace derives them from the verdicts
    // (`stat::derive`), which saves every packet two counter updates.
    let start = ctx.data();
    let end = ctx.data_end();
    let (offset, tagged) = match packet::link(start, end) {
        Link::Ipv4 { offset, tagged } => (offset, tagged),
        Link::Ipv6 { offset, tagged } => return ingress6::ingress6(&ctx, offset, tagged),
        Link::Other => return verdict(stat::NOT_IPV4, xdp_action::XDP_PASS),
        Link::OtherVlan => return verdict(stat::OTHER_VLAN, xdp_action::XDP_PASS),
        Link::Truncated => return unreadable(&ctx, stat::MALFORMED_ETH),
    };
    if tagged {
        count(stat::VLAN);
    }
    let Some(ip) = ptr_at::<Ipv4Hdr>(start, end, offset) else {
        return unreadable(&ctx, stat::MALFORMED_IPV4);
    };
    // SAFETY: the fixed header is inside the frame (checked by ptr_at).
    let ip = unsafe { &*ip };
    let Some(header_len) = packet::ipv4_header_len(ip) else {
        return verdict(stat::MALFORMED_IPV4, xdp_action::XDP_DROP);
    };
    let packet_end = offset + usize::from(u16::from_be(ip.total_len));
    let frame_len = packet::packet_extent(&ctx, packet_end);
    if frame_len == packet::TRUNCATED {
        return verdict(stat::MALFORMED_IPV4, xdp_action::XDP_DROP);
    }
    // Only a multi-buffer frame's options can run past the first buffer (the header is inside
    // the packet).
    if start + offset + header_len > end {
        return verdict(stat::HEADERS_PAST_FIRST_BUFFER, xdp_action::XDP_PASS);
    }
    let daddr = u32::from_be(ip.daddr);
    if daddr >> 28 != 0xe {
        return verdict(stat::NOT_MULTICAST, xdp_action::XDP_PASS);
    }
    if ip.protocol == IPPROTO_IGMP {
        return verdict(stat::IGMP, xdp_action::XDP_PASS);
    }
    if daddr >> 8 == 0xe0_00_00 {
        return verdict(stat::LINK_LOCAL, xdp_action::XDP_PASS);
    }
    if !packet::ipv4_checksum_ok(start, end, offset, ip, header_len) {
        return verdict(stat::BAD_CHECKSUM, xdp_action::XDP_DROP);
    }
    if header_len > size_of::<Ipv4Hdr>() {
        count(stat::IP_OPTIONS);
        if !ipv4_options_ok(start, end, offset, header_len) {
            return verdict(stat::BAD_OPTIONS, xdp_action::XDP_DROP);
        }
    }
    if u16::from_be(ip.frag_off) & 0x3fff != 0 {
        count(stat::FRAGMENT);
    }
    let sg = SgKey {
        source: ip.saddr,
        group: ip.daddr,
    };
    let ingress = ctx.ingress_ifindex() as u32;
    let Some(entry) = probe::find(sg) else {
        let at = Arrival {
            ingress,
            offset,
            frame_len,
            martian_source: packet::martian_source(u32::from_be(ip.saddr)),
        };
        return miss(&ctx, stat::MISS, report_kind::MISS, sg, &at);
    };
    let packet = Packet {
        ingress,
        hops: ip.ttl,
        len: u64::from(u16::from_be(ip.total_len)),
        scope: NO_SCOPE,
        tagged,
        frame_len,
    };
    hit(&ctx, &Ipv4 { sg, offset }, &entry, &packet)
}

/// What the shared hit path needs of a packet's address family.
pub trait Family {
    /// Counter of packets dropped for a TTL or hop limit ≤ 1.
    const EXPIRED: u32;
    /// Reports the packet (arrived on `ingress`, not its entry's incoming interface).
    fn report_wrong_if(&self, ctx: &XdpContext, ingress: u32);
    /// Decrements the TTL or hop limit of the untagged frame and addresses it to its group's
    /// multicast MAC, as the kernel frames what it forwards (a sender may have addressed it to
    /// the router's own MAC, which the receivers would drop); false if its header is missing.
    fn decrement(ctx: &XdpContext) -> bool;
}

/// An IPv4 packet of `sg` whose header starts at `offset`.
struct Ipv4 {
    sg: SgKey,
    offset: usize,
}

impl Family for Ipv4 {
    const EXPIRED: u32 = stat::TTL_EXPIRED;

    #[inline(always)]
    fn report_wrong_if(&self, ctx: &XdpContext, ingress: u32) {
        let (start, end) = (ctx.data(), ctx.data_end());
        report::raise(
            report_kind::WRONG_IF,
            ingress,
            self.sg,
            start,
            end,
            self.offset,
        );
    }

    #[inline(always)]
    fn decrement(ctx: &XdpContext) -> bool {
        let Some(ip) = ptr_at::<Ipv4Hdr>(ctx.data(), ctx.data_end(), ETH_HDR_LEN) else {
            return false;
        };
        // SAFETY: in bounds (checked by ptr_at); nothing else holds a reference to the frame.
        let ip = unsafe { &mut *ip };
        packet::decrease_ttl(ip);
        let [_, g1, g2, g3] = ip.daddr.to_ne_bytes();
        let (start, end) = (ctx.data(), ctx.data_end());
        packet::set_destination_mac(start, end, [0x01, 0x00, 0x5e, g1 & 0x7f], [g2, g3])
    }
}

/// What the hit path needs of a packet that matched an entry.
pub struct Packet {
    /// The interface it arrived on.
    pub ingress: u32,
    /// Its TTL or hop limit on arrival.
    pub hops: u8,
    /// Its layer 3 bytes.
    pub len: u64,
    /// The group's IPv6 scope; `NO_SCOPE` for IPv4.
    pub scope: u8,
    /// Whether it carries an 802.1Q tag.
    pub tagged: bool,
    /// Bytes of the whole frame if read already ([`packet::packet_extent`]: its packet runs
    /// past the first buffer), [`packet::NOT_READ`] otherwise.
    pub frame_len: packet::KnownLen,
}

/// The hit path of both families: the incoming interface, hold mode, mirrored entries, TTL or
/// hop limit ≤ 1, the entry's counters, negative entries, then the replication.
#[inline(always)]
pub fn hit<F: Family>(ctx: &XdpContext, family: &F, entry: &MfeValue, packet: &Packet) -> u32 {
    let counters = MFE_STATS.get_ptr_mut(entry.stats_slot);
    if entry.iif != packet.ingress {
        if let Some(counters) = counters {
            // SAFETY: per-CPU slot.
            unsafe { (*counters).wrong_if += 1 };
        }
        if entry.flags & MFE_FLAG_MIRRORED != 0 {
            return mirror::wrong_if();
        }
        family.report_wrong_if(ctx, packet.ingress);
        return verdict(stat::WRONG_IF, xdp_action::XDP_DROP);
    }
    if entry.flags != 0 {
        if entry.flags & MFE_FLAG_HOLD != 0 {
            if let Some(action) = hold::punt(ctx, entry.stats_slot, packet) {
                return action;
            }
        }
        if entry.flags & MFE_FLAG_MIRRORED != 0 && mirror::to_kernel(counters, packet.len) {
            return xdp_action::XDP_PASS;
        }
    }
    if packet.hops <= 1 {
        if let Some(counters) = counters {
            // SAFETY: per-CPU slot. The entry counts it, as the kernel's does, and not as
            // forwarded.
            unsafe {
                (*counters).packets += 1;
                (*counters).bytes += packet.len;
                (*counters).ttl_expired += 1;
                (*counters).unforwarded += 1;
                (*counters).unforwarded_bytes += packet.len;
            }
        }
        return verdict(F::EXPIRED, xdp_action::XDP_DROP);
    }
    if let Some(counters) = counters {
        // SAFETY: per-CPU slot.
        unsafe {
            (*counters).packets += 1;
            (*counters).bytes += packet.len;
        }
    }
    if entry.oif_set == NO_OIF_SET && entry.oif == 0 {
        return verdict(stat::NEGATIVE, xdp_action::XDP_DROP);
    }
    forward::<F>(ctx, entry, packet)
}

/// The verdict for a frame whose Ethernet or fixed IP header is not in its first buffer: a
/// multi-buffer frame goes to the kernel, which reads headers across buffers; any other is
/// too short: dropped, counted as `malformed`.
#[inline(always)]
pub fn unreadable(ctx: &XdpContext, malformed: u32) -> u32 {
    if packet::past_first_buffer(ctx, packet::whole_frame_len(ctx)) {
        verdict(stat::HEADERS_PAST_FIRST_BUFFER, xdp_action::XDP_PASS)
    } else {
        verdict(malformed, xdp_action::XDP_DROP)
    }
}

/// Counts `reason` and returns `action`.
#[inline(always)]
pub fn verdict(reason: u32, action: u32) -> u32 {
    count(reason);
    action
}

/// Removes the tag, decrements the TTL or hop limit, then sends the copy of the single
/// outgoing interface ([`forward_one`]) or broadcasts to the entry's outgoing set (never back
/// out of the ingress interface). The copies carry no description: the egress program reads
/// what its rules look at from the copy's header.
#[inline(always)]
fn forward<F: Family>(ctx: &XdpContext, entry: &MfeValue, packet: &Packet) -> u32 {
    // A broadcast only: the single copy's redirect takes any frame whole.
    let jumbo = entry.oif == 0 && packet::too_large_to_clone(ctx, packet.frame_len);
    // The header was read before: these fail only if it is gone after the tag's removal,
    // counted with the other frames an entry could not be forwarded for.
    if packet.tagged && !pop_vlan(ctx) || !F::decrement(ctx) {
        return verdict(stat::REDIRECT_FAILED, xdp_action::XDP_DROP);
    }
    let copy = XdpMeta {
        stats_slot: entry.stats_slot,
        len: packet.len as u32,
        hops: packet.hops - 1,
        scope: packet.scope,
        reserved: [0; 2],
    };
    if entry.oif != 0 {
        return forward_one(ctx, entry.oif, &copy);
    }
    let to_tc = if jumbo {
        Some(stat::JUMBO_PASSED)
    } else {
        egress::prepare_broadcast(ctx, entry.oif_set, packet.ingress, &copy)
    };
    if let Some(reason) = to_tc {
        // The broadcast cannot clone it, would skip a member it is too long for (uncounted),
        // or must not reach the set's bare member: the TC program behind XDP_PASS replicates
        // it, applying every member's rules.
        let meta = JumboMeta {
            marker: JUMBO_MARKER,
            oif_set: entry.oif_set,
            copy,
        };
        if !write_front(ctx, meta) {
            count(stat::META_FAILED);
        }
        return verdict(reason, xdp_action::XDP_PASS);
    }
    let Some(set) = OIF_SETS.get(entry.oif_set) else {
        // A control-plane bug, never expected: logged (rare path) as well as counted.
        error!(
            ctx,
            "entry points at missing outgoing set {}", entry.oif_set
        );
        return verdict(stat::REDIRECT_FAILED, xdp_action::XDP_DROP);
    };
    match set.redirect(0, u64::from(BPF_F_BROADCAST | BPF_F_EXCLUDE_INGRESS)) {
        Ok(action) => verdict(stat::FORWARDED, action),
        Err(_) => verdict(stat::REDIRECT_FAILED, xdp_action::XDP_DROP),
    }
}

/// Sends the one copy `copy` describes to interface `oif` with the program every copy queued
/// there carries (see `IFACE_FLAG_EGRESS_PROGRAM`): through its `OIF_DIRECT` entry, for the
/// egress program to apply its rules; or, with no program, its rules applied here and a plain
/// redirect. A flag racing its entry's removal falls back to the latter.
#[inline(always)]
fn forward_one(ctx: &XdpContext, oif: u32, copy: &XdpMeta) -> u32 {
    let iface = IFACES.get(oif);
    if iface.is_some_and(|iface| iface.flags & IFACE_FLAG_EGRESS_PROGRAM != 0) {
        if let Ok(action) = OIF_DIRECT.redirect(oif, 0) {
            return verdict(stat::FORWARDED, action);
        }
    }
    if !egress::prepare_copy(ctx, oif, iface, copy) {
        return verdict(stat::SINGLE_COPY_REFUSED, xdp_action::XDP_DROP);
    }
    // SAFETY: helper without preconditions.
    let action = unsafe { bpf_redirect(oif, 0) } as u32;
    verdict(stat::FORWARDED, action)
}

/// Moves the MAC addresses over the 802.1Q tag and drops the tag from the frame.
#[inline(always)]
fn pop_vlan(ctx: &XdpContext) -> bool {
    let Some(macs) = ptr_at::<[u32; 3]>(ctx.data(), ctx.data_end(), 0) else {
        return false;
    };
    // SAFETY: in bounds (checked by ptr_at); native loads (see `packet::set_source_mac`).
    let addresses = unsafe { *macs };
    let Some(moved) = ptr_at::<[u32; 3]>(ctx.data(), ctx.data_end(), VLAN_TAG_LEN) else {
        return false;
    };
    // SAFETY: in bounds (checked by ptr_at); native stores.
    unsafe { *moved = addresses };
    // SAFETY: the helper checks the new start against the frame itself.
    unsafe { bpf_xdp_adjust_head(ctx.ctx, VLAN_TAG_LEN as i32) == 0 }
}

/// Puts `meta` in front of the frame (XDP metadata): a [`JumboMeta`] for the TC program, a
/// [`PuntMeta`] for userspace, which read it at the start of the metadata. Metadata already
/// there (left by an earlier program on the frame's way, or kept by a recycled page's
/// descriptor) stays behind ours while the headroom has room for both, and is replaced by ours
/// when it has not.
#[inline(always)]
fn write_front<T>(ctx: &XdpContext, meta: T) -> bool {
    // SAFETY: the helper checks the room in front of the frame itself.
    if unsafe { bpf_xdp_adjust_meta(ctx.ctx, -(size_of::<T>() as i32)) } != 0 {
        let existing = metadata_len(ctx);
        // SAFETY: as above.
        if unsafe { bpf_xdp_adjust_meta(ctx.ctx, existing - size_of::<T>() as i32) } != 0 {
            return false;
        }
    }
    let front = ctx.metadata();
    if front + size_of::<T>() > ctx.data() {
        return false;
    }
    // SAFETY: inside the metadata area (checked just above); native stores (see
    // `packet::set_source_mac`).
    unsafe { *(front as *mut T) = meta };
    true
}

/// Bytes of metadata in front of the frame (the kernel keeps a multiple of 4, less than 256),
/// found by a binary search of comparisons: the verifier refuses the difference of two packet
/// pointers to a program loaded without `CAP_PERFMON`.
#[inline(always)]
fn metadata_len(ctx: &XdpContext) -> i32 {
    let mut len = 0;
    let mut step = 128;
    while step >= 4 {
        if ctx.metadata() + len + step <= ctx.data() {
            len += step;
        }
        step /= 2;
    }
    len as i32
}

/// The settings of interface `ifindex`, copied out (zeros if it was never configured).
#[inline(always)]
pub fn iface_config(ifindex: u32) -> Option<IfaceConfig> {
    IFACES.get(ifindex).copied()
}

/// Where a missed packet came from: its interface, the offset of its IP header and the bytes
/// of the whole frame if read already ([`packet::packet_extent`]).
pub struct Arrival {
    /// The interface it arrived on.
    pub ingress: u32,
    /// Where its IP header starts.
    pub offset: usize,
    /// Bytes of the whole frame, if read already.
    pub frame_len: packet::KnownLen,
    /// Whether its source is one no host may send from (see [`stat::MARTIAN_SOURCE`]).
    pub martian_source: bool,
}

/// No entry (counted as `counter`): raise a creation alert of `kind` (`sg`: the (S,G) or, for
/// IPv6, its digest) and hand the packet to the punt socket of its interface and receive
/// queue, or to the kernel when none serves that queue. On a mirrored interface the kernel
/// routes it (no alert, no punt).
#[inline(always)]
pub fn miss(ctx: &XdpContext, counter: u32, kind: u32, sg: SgKey, at: &Arrival) -> u32 {
    count(counter);
    if at.martian_source {
        return verdict(stat::MARTIAN_SOURCE, xdp_action::XDP_DROP);
    }
    let iface = iface_config(at.ingress);
    if iface.is_some_and(|i| i.flags & IFACE_FLAG_MIRRORED != 0) {
        return verdict(stat::MIRROR_MISS_PASSED, xdp_action::XDP_PASS);
    }
    report::raise(kind, at.ingress, sg, ctx.data(), ctx.data_end(), at.offset);
    match punt_slot(ctx, iface).and_then(|slot| punt_to(ctx, slot, at.frame_len, 0)) {
        Some(action) => verdict(stat::MISS_PUNTED, action),
        None => verdict(stat::MISS_PASSED, xdp_action::XDP_PASS),
    }
}

/// The `PUNT_SOCKETS` slot serving the packet's interface (`iface`) and receive queue, if any.
#[inline(always)]
pub(crate) fn punt_slot(ctx: &XdpContext, iface: Option<IfaceConfig>) -> Option<u32> {
    let iface = iface?;
    let queue = ctx.rx_queue_index();
    (queue < iface.punt_queues).then(|| iface.punt_slot.wrapping_add(queue))
}

/// The redirect to the socket in `slot` of the frame (`known`: its bytes, if read already),
/// numbered ([`PuntMeta`], `held`: its number among its entry's packets punted in hold mode,
/// 0 for a miss) and counted in `PUNTED`; `None` (frame unchanged) if it cannot be punted (a
/// frame the socket's frames cannot hold: the kernel would drop it there).
#[inline(always)]
pub(crate) fn punt_to(
    ctx: &XdpContext,
    slot: u32,
    known: packet::KnownLen,
    held: u32,
) -> Option<u32> {
    let max = CONFIG.get(config::PUNT_FRAME_MAX).copied().unwrap_or(0);
    let len = packet::frame_len(ctx, known);
    if packet::past_first_buffer(ctx, len) || (max != 0 && len as u64 > max) {
        count(stat::TOO_LONG_TO_PUNT);
        return None;
    }
    let punted = PUNTED.get_ptr_mut(slot)?;
    // SAFETY: only the CPU serving this slot's receive queue writes it.
    let seq = unsafe { *punted }.wrapping_add(1);
    if !write_front(ctx, PuntMeta { held, seq }) {
        count(stat::META_FAILED);
        return None;
    }
    match PUNT_SOCKETS.redirect(slot, 0) {
        Ok(action) => {
            // SAFETY: as above.
            unsafe { *punted = seq };
            Some(action)
        }
        Err(_) => {
            // SAFETY: gives back the metadata room taken just above.
            unsafe { bpf_xdp_adjust_meta(ctx.ctx, size_of::<PuntMeta>() as i32) };
            None
        }
    }
}
