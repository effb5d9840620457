//! Counter indexes of the global per-CPU `STATS` array: why each packet went where it went.
//!
//! Two counters are not counted by the programs but derived by userspace from the verdicts
//! that partition them ([`derive`]): [`RX`] and [`MULTICAST`]. Counting them would cost every
//! packet two counter updates on the hit path.

/// Every frame the ingress program saw. Derived ([`derive`]): the sum of [`EARLY_VERDICTS`] and
/// [`HIT_VERDICTS`].
pub const RX: u32 = 0;
/// Frames too short for their Ethernet (and 802.1Q) header: dropped.
pub const MALFORMED_ETH: u32 = 1;
/// Neither IPv4 nor IPv6 (ARP, double tags, ...): passed to the kernel.
pub const NOT_IPV4: u32 = 2;
/// IPv4 with a truncated or invalid header (version, IHL, total length): dropped.
pub const MALFORMED_IPV4: u32 = 3;
/// IPv4 unicast or broadcast: passed to the kernel (IPv6: [`IPV6_NOT_MULTICAST`]).
pub const NOT_MULTICAST: u32 = 4;
/// Link-local groups 224.0.0.0/24: passed to the kernel, never forwarded.
pub const LINK_LOCAL: u32 = 5;
/// IGMP: passed to the kernel (the control plane reads it there).
pub const IGMP: u32 = 6;
/// IPv4 multicast data frames considered for forwarding (header checksum correct, group not
/// link-local, not IGMP). Derived ([`derive`]): the frames whose verdict came after that
/// point, [`BAD_OPTIONS`], the misses and [`HIT_VERDICTS`], less the IPv6 ones.
pub const MULTICAST: u32 = 7;
/// Frames carrying one 802.1Q priority tag, VLAN ID 0 (the tag is removed from forwarded
/// copies; other IDs: [`OTHER_VLAN`]).
pub const VLAN: u32 = 8;
/// IPv4 headers with options (forwarded with their options).
pub const IP_OPTIONS: u32 = 9;
/// Fragments, IPv4 or IPv6 (any fragment of a datagram; forwarded like whole datagrams).
pub const FRAGMENT: u32 = 10;
/// No (S,G) entry: reported as a creation alert.
pub const MISS: u32 = 11;
/// Misses punted to userspace through AF_XDP.
pub const MISS_PUNTED: u32 = 12;
/// Misses passed to the kernel because no punt socket serves the interface and queue.
pub const MISS_PASSED: u32 = 13;
/// Reports (creation alerts or wrong-interface) not raised: the per-CPU rate limit was spent.
pub const REPORT_RATE_LIMITED: u32 = 14;
/// Reports lost because the ring buffer was full.
pub const REPORT_RING_FULL: u32 = 15;
/// Entry found but the packet came in on another interface: dropped.
pub const WRONG_IF: u32 = 16;
/// TTL 0 or 1 on arrival: dropped as the kernel's ipmr would.
pub const TTL_EXPIRED: u32 = 17;
/// Negative entries (no outgoing interfaces): dropped on purpose.
pub const NEGATIVE: u32 = 18;
/// Forwarded through the broadcast redirect.
pub const FORWARDED: u32 = 19;
/// Redirect impossible (the entry's outgoing set is missing, or the frame's header gone
/// after its 802.1Q tag was removed): dropped.
pub const REDIRECT_FAILED: u32 = 20;
/// Egress: copies sent.
pub const EGRESS_TX: u32 = 21;
/// Egress: copies dropped by the interface TTL threshold (IPv6: applied to the hop limit).
pub const EGRESS_TTL_THRESHOLD: u32 = 22;
/// Egress: copies dropped because they exceed the interface MTU.
pub const EGRESS_MTU: u32 = 23;
/// Egress: the interface was never configured (or its ifindex is past `limits::IFACES`):
/// dropped.
pub const EGRESS_NO_CONFIG: u32 = 24;
/// IPv4 header checksum wrong: dropped as the kernel would.
pub const BAD_CHECKSUM: u32 = 25;
/// Ingress could not attach the metadata (`PuntMeta`, `JumboMeta`) to a frame it punts or
/// passes to the TC program (no room in front of it): the punt is not made (the frame goes
/// to the kernel), the TC program does not replicate it.
pub const META_FAILED: u32 = 26;
/// Egress: a copy without a readable IPv4 or IPv6 header: dropped.
pub const EGRESS_MALFORMED: u32 = 27;
/// Egress: the (entry, interface) counter of a dropped copy is missing (its entry gone
/// since the packet came in, or no counter for the interface): counted only globally.
pub const EGRESS_NO_COUNTER: u32 = 28;
/// Creation alerts raised (ring buffer records written).
pub const REPORT_MISS: u32 = 29;
/// Wrong-interface reports raised (ring buffer records written).
pub const REPORT_WRONG_IF: u32 = 30;
/// Packets of an entry in hold mode sent to the punt socket (queued behind held ones).
pub const HOLD_PUNTED: u32 = 31;
/// IPv4 options malformed as the kernel's `ip_options_compile` rejects them (an option
/// other than EOL/NOP without a length byte, a length below 2, or one running past the
/// header): dropped, as ipmr drops them.
pub const BAD_OPTIONS: u32 = 32;
/// Misses on a mirrored interface (routing left to the kernel): passed to the kernel,
/// without a creation alert or a punt.
pub const MIRROR_MISS_PASSED: u32 = 33;
/// Packets of mirrored entries handed to the kernel as the entry's sample (one per
/// `MIRROR_SAMPLE_NS` per CPU), so that the route's owner sees the flow used.
pub const MIRROR_SAMPLED: u32 = 34;
/// Packets of mirrored entries passed to the kernel because mgmd's heartbeat is older
/// than `MIRROR_TIMEOUT_NS` (fail-safe: the kernel's own routes forward).
pub const MIRROR_STALE_PASSED: u32 = 35;
/// Packets of mirrored entries on the wrong interface passed to the kernel (PIM asserts).
pub const MIRROR_WRONG_IF_PASSED: u32 = 36;
/// Packets of mirrored entries on the wrong interface dropped: the pass rate was spent.
pub const MIRROR_WRONG_IF_LIMITED: u32 = 37;
/// Creation alerts not raised: the (S,G) was reported less than `config::REPORT_REPEAT_NS`
/// ago (its packet is still punted or passed).
pub const REPORT_RECENTLY_SENT: u32 = 38;
/// Creation alerts not raised for an (S,G) that missed before without a report: the
/// per-CPU rate limit of such repeated misses was spent.
pub const REPORT_REPEAT_RATE_LIMITED: u32 = 39;
/// Packets of an entry in hold mode that no punt socket serves (mgmd gone, or its sockets
/// not open): forwarded by the fast path, as nobody holds packets before them.
pub const HOLD_NO_PUNT_SOCKET: u32 = 40;
/// IPv6 with a truncated or invalid header (version, payload length past the frame), or an
/// ICMPv6 header without its type byte: dropped.
pub const MALFORMED_IPV6: u32 = 41;
/// IPv6 unicast: passed to the kernel.
pub const IPV6_NOT_MULTICAST: u32 = 42;
/// IPv6 groups of scope 0–2 (reserved, interface-local ff01::/16, link-local ff02::/16):
/// passed to the kernel, never forwarded.
pub const IPV6_LOCAL_SCOPE: u32 = 43;
/// MLD (ICMPv6 types 130, 131, 132, 143, wherever the extension headers put it) to a group
/// of scope 3 or more: passed to the kernel (the control plane reads it there).
pub const MLD: u32 = 44;
/// IPv6 multicast data frames considered for forwarding.
pub const IPV6_MULTICAST: u32 = 45;
/// IPv6 frames with extension headers (forwarded with them, untouched).
pub const IPV6_EXT_HEADERS: u32 = 46;
/// An extension header running past the payload, or a Hop-by-Hop header not first:
/// dropped, as the kernel drops them.
pub const BAD_EXT_CHAIN: u32 = 47;
/// More extension headers than the program walks (`MAX_EXT_HEADERS` in `mgm-ebpf`):
/// passed to the kernel, which walks them itself (and does not forward them).
pub const EXT_CHAIN_TOO_LONG: u32 = 48;
/// IPv6: no (S,G) entry (reported as a creation alert; punted or passed as IPv4 misses,
/// counted by [`MISS_PUNTED`], [`MISS_PASSED`] and [`MIRROR_MISS_PASSED`]).
pub const IPV6_MISS: u32 = 49;
/// IPv6 hop limit 0 or 1 on arrival: dropped.
pub const HOP_LIMIT_EXPIRED: u32 = 50;
/// IPv6 packets whose group's scope stays inside the admin-scope boundary of the interface
/// they arrived on (`IfaceConfig::scope_boundary`): dropped before the lookup.
pub const SCOPE_BOUNDARY: u32 = 51;
/// Egress: IPv6 copies dropped by the interface's admin-scope boundary.
pub const EGRESS_SCOPE_BOUNDARY: u32 = 52;
/// Packets of an entry in hold mode forwarded by the fast path because it took the entry over
/// from userspace (the handover): userspace had sent on every packet punted before them on
/// the same receive queue, or every packet of the entry punted before (then, or earlier).
pub const HOLD_HANDED_OVER: u32 = 53;
/// Multi-buffer (jumbo) frames: larger than the first buffer the driver gave the ingress
/// program (on veth, frames past ~3.5 KiB). Counted where the program asks the frame's
/// length, a kernel call it makes only where it matters: IPv4 and IPv6 frames whose packet
/// (by its header's length) or headers run past the first buffer, and frames it broadcasts
/// or punts; not other frames (non-IP, and IP ones whose packet ends in the first buffer
/// and that are not broadcast or punted), which the kernel gets or forwards whole.
pub const MULTI_BUFFER: u32 = 54;
/// Multi-buffer frames whose Ethernet, IP or IPv6 extension headers run past their first
/// buffer (the program reads headers there only): passed to the kernel.
pub const HEADERS_PAST_FIRST_BUFFER: u32 = 55;
/// Frames of entries with several outgoing interfaces that the devmap broadcast cannot clone
/// (multi-buffer, or longer than a page holds behind the headroom; the kernel would drop every
/// copy): passed, with their TTL or hop limit decremented and a [`JumboMeta`](crate::JumboMeta) in
/// front, to the TC program on the same interface, which replicates them ([`JUMBO_REPLICATED`]).
pub const JUMBO_PASSED: u32 = 56;
/// Frames not punted because a punt socket's frame cannot hold them (multi-buffer frames,
/// or longer than `config::PUNT_FRAME_MAX`; the kernel would drop them at the socket):
/// also counted by what happened instead ([`MISS_PASSED`], [`HOLD_NO_PUNT_SOCKET`]).
pub const TOO_LONG_TO_PUNT: u32 = 57;
/// Jumbo frames the TC program replicated with one skb clone per outgoing interface (each
/// copy counted as the egress program counts it: `EGRESS_TX` or a drop reason).
pub const JUMBO_REPLICATED: u32 = 58;
/// Jumbo frames whose outgoing set has no member list (`SET_MEMBERS`): dropped.
pub const JUMBO_NO_MEMBERS: u32 = 59;
/// Jumbo copies the kernel refused to clone or redirect: dropped (counted for the entry).
pub const JUMBO_CLONE_FAILED: u32 = 60;
/// Frames of a broadcast that the rules of their set's bare member (the one whose devmap entry runs
/// no egress program, `SetBroadcast::bare_member`) would not let out (its rules changed since
/// userspace chose it): passed to the TC program as [`JUMBO_PASSED`] frames are (and counted there
/// as [`JUMBO_REPLICATED`]), which applies every member's rules.
pub const BARE_MEMBER_REFUSED: u32 = 61;
/// (S,G) lookups whose probe bucket (`MFE_PROBE`, `MFE_PROBE6`) was being rewritten by
/// userspace (odd or changed sequence number): looked up in the hash map instead.
pub const PROBE_TORN: u32 = 62;
/// (S,G) lookups not found in their probe bucket while an entry of that bucket lives only
/// in the hash map (the bucket was full, [`PROBE_SPILLED`](crate::PROBE_SPILLED)): looked
/// up in the hash map.
pub const PROBE_SPILLED: u32 = 63;
/// Frames of a broadcast longer than the smallest MTU of their outgoing set's members
/// (`SetBroadcast::mtu`; the kernel's broadcast would skip such a member uncounted): passed
/// to the TC program as [`JUMBO_PASSED`] frames are (and counted there as
/// [`JUMBO_REPLICATED`]), which drops the copies over each member's MTU, counted
/// ([`EGRESS_MTU`], and per entry and interface), and sends the others.
pub const BROADCAST_OVER_MTU: u32 = 64;
/// Frames of an entry with one outgoing interface whose copy that interface's rules refused,
/// applied by the ingress program (the interface's copies carry no egress program): dropped,
/// the rule counted as the egress program counts it ([`EGRESS_TTL_THRESHOLD`], ...).
pub const SINGLE_COPY_REFUSED: u32 = 65;
/// Misses ([`MISS`], [`IPV6_MISS`]) whose source no host may send from, dropped as the kernel
/// drops them: IPv4 0.0.0.0/8, 127.0.0.0/8, multicast and 255.255.255.255; IPv6 the
/// unspecified and loopback addresses, multicast and IPv4-mapped addresses. No alert, no entry.
pub const MARTIAN_SOURCE: u32 = 66;
/// Frames tagged with a VLAN ID (not a priority tag): passed to the kernel, whose VLAN device
/// of that ID takes them (none: dropped). A VLAN is served as its VLAN device, an interface of
/// its own.
pub const OTHER_VLAN: u32 = 67;
/// Number of counters. New counters are appended, never renumbered: a restart over the pins of
/// an earlier version carries its counters over by index (`mgm-user`'s `grown_counters`).
pub const COUNT: u32 = 68;

/// The verdicts of the ingress program that end the way of a frame that matched no entry
/// (or was not looked up). With [`HIT_VERDICTS`], every frame is counted by exactly one.
pub const EARLY_VERDICTS: [u32; 21] = [
    MALFORMED_ETH,
    NOT_IPV4,
    MALFORMED_IPV4,
    NOT_MULTICAST,
    LINK_LOCAL,
    IGMP,
    BAD_CHECKSUM,
    BAD_OPTIONS,
    HEADERS_PAST_FIRST_BUFFER,
    MALFORMED_IPV6,
    IPV6_NOT_MULTICAST,
    IPV6_LOCAL_SCOPE,
    MLD,
    BAD_EXT_CHAIN,
    EXT_CHAIN_TOO_LONG,
    SCOPE_BOUNDARY,
    MISS_PUNTED,
    MISS_PASSED,
    MIRROR_MISS_PASSED,
    MARTIAN_SOURCE,
    OTHER_VLAN,
];

/// The verdicts of the ingress program that end the way of a frame (of either family) that
/// matched an entry.
pub const HIT_VERDICTS: [u32; 15] = [
    WRONG_IF,
    MIRROR_WRONG_IF_PASSED,
    MIRROR_WRONG_IF_LIMITED,
    MIRROR_STALE_PASSED,
    MIRROR_SAMPLED,
    HOLD_PUNTED,
    TTL_EXPIRED,
    HOP_LIMIT_EXPIRED,
    NEGATIVE,
    FORWARDED,
    REDIRECT_FAILED,
    JUMBO_PASSED,
    BARE_MEMBER_REFUSED,
    BROADCAST_OVER_MTU,
    SINGLE_COPY_REFUSED,
];

/// Fills in the derived counters ([`RX`], [`MULTICAST`]) of `counters` (every counter, summed
/// over CPUs; wrapping like the counters themselves). An IPv4 frame past the multicast checks
/// ends as [`BAD_OPTIONS`], a [`MISS`] or one of the [`HIT_VERDICTS`]; an IPv6 one
/// ([`IPV6_MULTICAST`], counted by the program) as an [`IPV6_MISS`] or a hit verdict.
pub fn derive(counters: &mut [u64; COUNT as usize]) {
    let sum = |indexes: &[u32]| {
        indexes
            .iter()
            .fold(0u64, |sum, &i| sum.wrapping_add(counters[i as usize]))
    };
    let rx = sum(&EARLY_VERDICTS).wrapping_add(sum(&HIT_VERDICTS));
    let ipv6_hits = counters[IPV6_MULTICAST as usize].wrapping_sub(counters[IPV6_MISS as usize]);
    let multicast = sum(&HIT_VERDICTS)
        .wrapping_sub(ipv6_hits)
        .wrapping_add(counters[BAD_OPTIONS as usize])
        .wrapping_add(counters[MISS as usize]);
    counters[RX as usize] = rx;
    counters[MULTICAST as usize] = multicast;
}

/// Human names, indexed by counter.
pub const NAMES: [&str; COUNT as usize] = [
    "rx",
    "malformed_eth",
    "not_ipv4",
    "malformed_ipv4",
    "not_multicast",
    "link_local",
    "igmp",
    "multicast",
    "vlan",
    "ip_options",
    "fragment",
    "miss",
    "miss_punted",
    "miss_passed",
    "report_rate_limited",
    "report_ring_full",
    "wrong_if",
    "ttl_expired",
    "negative",
    "forwarded",
    "redirect_failed",
    "egress_tx",
    "egress_ttl_threshold",
    "egress_mtu",
    "egress_no_config",
    "bad_checksum",
    "meta_failed",
    "egress_malformed",
    "egress_no_counter",
    "report_miss",
    "report_wrong_if",
    "hold_punted_xdp",
    "bad_options",
    "mirror_miss_passed",
    "mirror_sampled",
    "mirror_stale_passed",
    "mirror_wrong_if_passed",
    "mirror_wrong_if_limited",
    "report_recently_sent",
    "report_repeat_rate_limited",
    "hold_no_punt_socket",
    "malformed_ipv6",
    "ipv6_not_multicast",
    "ipv6_local_scope",
    "mld",
    "ipv6_multicast",
    "ipv6_ext_headers",
    "bad_ext_chain",
    "ext_chain_too_long",
    "ipv6_miss",
    "hop_limit_expired",
    "scope_boundary",
    "egress_scope_boundary",
    "hold_handed_over",
    "multi_buffer",
    "headers_past_first_buffer",
    "jumbo_passed",
    "too_long_to_punt",
    "jumbo_replicated",
    "jumbo_no_members",
    "jumbo_clone_failed",
    "bare_member_refused",
    "probe_torn",
    "probe_spilled",
    "broadcast_over_mtu",
    "single_copy_refused",
    "martian_source",
    "other_vlan",
];
