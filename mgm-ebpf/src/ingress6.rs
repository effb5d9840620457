//! The IPv6 branch of the ingress program: classify, look the (S,G) up ([`crate::probe`]), then the
//! hit path and the miss path shared with IPv4 ([`crate::ingress::hit`], [`crate::ingress::miss`]).
//!
//! Order of the checks: a truncated or inconsistent fixed header (version, payload length past
//! the frame) is dropped; unicast and groups of scope 0–2 (ff00::/16 reserved, ff01::/16
//! interface-local, ff02::/16 link-local, whatever the flags) go to the kernel; then the
//! extension-header chain ([`crate::exthdr`]): MLD goes to the kernel, malformed chains are
//! dropped, chains too long to walk go to the kernel; then the admin-scope boundary of the
//! arrival interface (only groups of scope ≤ `MAX_SCOPE_BOUNDARY` cost its lookup), the lookup,
//! and the shared hit path (the incoming interface, hold mode, mirrored entries, hop limit ≤ 1,
//! negative entries). IPv6 has no header checksum: forwarding decrements the hop limit alone.
use aya_ebpf::{bindings::xdp_action, programs::XdpContext};
use mgm_common::{
    inside_scope_boundary, ipv6_scope, report_kind, stat, Sg6Key, MAX_SCOPE_BOUNDARY,
};

use crate::{
    exthdr::{self, Chain},
    ingress::{self, iface_config, verdict, Arrival, Family, Packet},
    maps::count,
    packet::{self, ptr_at, Ipv6Hdr, ETH_HDR_LEN, IPV6_HDR_LEN},
    probe, report,
};

/// An IPv6 packet of `sg` (in the packet itself) whose header starts at `offset`.
struct Ipv6<'a> {
    sg: &'a Sg6Key,
    offset: usize,
}

impl Family for Ipv6<'_> {
    const EXPIRED: u32 = stat::HOP_LIMIT_EXPIRED;

    #[inline(always)]
    fn report_wrong_if(&self, ctx: &XdpContext, ingress: u32) {
        let (start, end) = (ctx.data(), ctx.data_end());
        let digest = self.sg.digest();
        report::raise(
            report_kind::WRONG_IF6,
            ingress,
            digest,
            start,
            end,
            self.offset,
        );
    }

    #[inline(always)]
    fn decrement(ctx: &XdpContext) -> bool {
        let Some(ip) = ptr_at::<Ipv6Hdr>(ctx.data(), ctx.data_end(), ETH_HDR_LEN) else {
            return false;
        };
        // SAFETY: in bounds (checked by ptr_at); nothing else holds a reference to the frame.
        let ip = unsafe { &mut *ip };
        ip.hop_limit -= 1;
        let [.., g12, g13, g14, g15] = ip.addrs.group;
        let (start, end) = (ctx.data(), ctx.data_end());
        packet::set_destination_mac(start, end, [0x33, 0x33, g12, g13], [g14, g15])
    }
}

/// The ingress program's verdict for an IPv6 frame whose header starts at `offset`.
#[inline(always)]
pub fn ingress6(ctx: &XdpContext, offset: usize, tagged: bool) -> u32 {
    if tagged {
        count(stat::VLAN);
    }
    let start = ctx.data();
    let end = ctx.data_end();
    let Some(ip) = ptr_at::<Ipv6Hdr>(start, end, offset) else {
        return ingress::unreadable(ctx, stat::MALFORMED_IPV6);
    };
    // SAFETY: the fixed header is inside the frame (checked by ptr_at).
    let ip = unsafe { &*ip };
    let payload_len = usize::from(u16::from_be(ip.payload_len));
    if ip.version_class >> 4 != 6 {
        return verdict(stat::MALFORMED_IPV6, xdp_action::XDP_DROP);
    }
    let frame_len = packet::packet_extent(ctx, offset + IPV6_HDR_LEN + payload_len);
    if frame_len == packet::TRUNCATED {
        return verdict(stat::MALFORMED_IPV6, xdp_action::XDP_DROP);
    }
    if ip.addrs.group[0] != 0xff {
        return verdict(stat::IPV6_NOT_MULTICAST, xdp_action::XDP_PASS);
    }
    let scope = ipv6_scope(&ip.addrs.group);
    if scope <= 2 {
        return verdict(stat::IPV6_LOCAL_SCOPE, xdp_action::XDP_PASS);
    }
    match exthdr::walk(start, end, offset, ip.next_header, payload_len) {
        Chain::Plain => {}
        Chain::Extended => count(stat::IPV6_EXT_HEADERS),
        Chain::Fragment => {
            count(stat::IPV6_EXT_HEADERS);
            count(stat::FRAGMENT);
        }
        Chain::Mld => return verdict(stat::MLD, xdp_action::XDP_PASS),
        Chain::Malformed => return verdict(stat::BAD_EXT_CHAIN, xdp_action::XDP_DROP),
        Chain::ShortIcmp => return verdict(stat::MALFORMED_IPV6, xdp_action::XDP_DROP),
        Chain::TooLong => return verdict(stat::EXT_CHAIN_TOO_LONG, xdp_action::XDP_PASS),
        Chain::PastFirstBuffer => {
            return verdict(stat::HEADERS_PAST_FIRST_BUFFER, xdp_action::XDP_PASS)
        }
    }
    let ingress = ctx.ingress_ifindex() as u32;
    if scope <= MAX_SCOPE_BOUNDARY
        && iface_config(ingress)
            .is_some_and(|iface| inside_scope_boundary(scope, iface.scope_boundary))
    {
        return verdict(stat::SCOPE_BOUNDARY, xdp_action::XDP_DROP);
    }
    count(stat::IPV6_MULTICAST);
    // The key is looked up in place, in the packet: a copy would cost 32 byte loads and stores.
    let sg = &ip.addrs;
    let Some(entry) = probe::find6(sg) else {
        let at = Arrival {
            ingress,
            offset,
            frame_len,
            martian_source: packet::martian_source6(&sg.source),
        };
        return ingress::miss(ctx, stat::IPV6_MISS, report_kind::MISS6, sg.digest(), &at);
    };
    let packet = Packet {
        ingress,
        hops: ip.hop_limit,
        len: (IPV6_HDR_LEN + payload_len) as u64,
        scope,
        tagged,
        frame_len,
    };
    ingress::hit(ctx, &Ipv6 { sg, offset }, &entry, &packet)
}
