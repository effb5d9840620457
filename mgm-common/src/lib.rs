//! Map keys and values shared by mgm's XDP program (`mgm-ebpf`) and its control plane (`mgm-user`).
//!
//! Every type is `#[repr(C)]` and laid out without implicit padding, so that both sides agree on
//! the bytes. IPv4 addresses are kept exactly as they sit in the packet (network byte order): a
//! `u32` read from the header with a native load, never byte-swapped on the fast path; IPv6
//! addresses likewise as their 16 bytes.
#![no_std]

use core::net::{Ipv4Addr, Ipv6Addr};

/// Counter indexes of the global per-CPU `STATS` array: why each packet went where it went.
pub mod stat {
    /// Every frame the ingress program saw.
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
    /// IPv4 multicast data frames considered for forwarding.
    pub const MULTICAST: u32 = 7;
    /// Frames carrying one 802.1Q tag (the tag is removed from forwarded copies).
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
    /// Redirect impossible (the entry's outgoing set is missing): dropped.
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
    /// Packets of an entry in hold mode forwarded by the fast path because userspace had sent
    /// on every packet punted before them on the same receive queue (the handover).
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
    /// Frames of entries with several outgoing interfaces that the devmap broadcast cannot
    /// clone (multi-buffer, or longer than a page holds behind the headroom; the kernel would
    /// drop every copy): passed, with their TTL or hop limit decremented and a [`JumboMeta`]
    /// in front, to the TC program on the same interface, which replicates them
    /// ([`JUMBO_REPLICATED`]).
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
    /// Frames of a broadcast that the rules of their set's bare member (the one whose devmap
    /// entry runs no egress program, `SetBroadcast::bare_member`) would not let out (its rules
    /// changed since userspace chose it): passed to the TC program as [`JUMBO_PASSED`] frames are (and counted there as
    /// [`JUMBO_REPLICATED`]), which applies every member's rules.
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
    /// Number of counters.
    pub const COUNT: u32 = 65;

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
    ];
}

/// Key of the MFE map: one (S,G) pair, both addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SgKey {
    /// Source address.
    pub source: u32,
    /// Group address.
    pub group: u32,
}

impl SgKey {
    /// The key of (`source`, `group`).
    pub const fn new(source: Ipv4Addr, group: Ipv4Addr) -> Self {
        Self {
            source: u32::from_ne_bytes(source.octets()),
            group: u32::from_ne_bytes(group.octets()),
        }
    }

    /// The source address.
    pub const fn source_addr(&self) -> Ipv4Addr {
        let [a, b, c, d] = self.source.to_ne_bytes();
        Ipv4Addr::new(a, b, c, d)
    }

    /// The group address.
    pub const fn group_addr(&self) -> Ipv4Addr {
        let [a, b, c, d] = self.group.to_ne_bytes();
        Ipv4Addr::new(a, b, c, d)
    }

    /// The top `bits` bits of a multiplicative hash of both addresses: the slot of this
    /// (S,G) in a table of `1 << bits` slots.
    #[inline(always)]
    pub const fn hash_slot(&self, bits: u32) -> u32 {
        let key = (self.source as u64) << 32 | self.group as u64;
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as u32
    }

    /// Its bucket in `MFE_PROBE` (see [`ProbeBucket`]).
    #[inline(always)]
    pub const fn probe_bucket(&self) -> u32 {
        self.hash_slot(limits::PROBE_BUCKETS.trailing_zeros())
    }
}

impl core::fmt::Display for SgKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "({},{})", self.source_addr(), self.group_addr())
    }
}

/// Key of the IPv6 MFE map (`MFES6`): one (S,G) pair, both addresses as their 16 bytes in
/// network order (as they sit in the packet).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sg6Key {
    /// Source address.
    pub source: [u8; 16],
    /// Group address.
    pub group: [u8; 16],
}

impl Sg6Key {
    /// The key of (`source`, `group`).
    pub const fn new(source: Ipv6Addr, group: Ipv6Addr) -> Self {
        Self {
            source: source.octets(),
            group: group.octets(),
        }
    }

    /// The source address.
    pub const fn source_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(u128::from_be_bytes(self.source))
    }

    /// The group address.
    pub const fn group_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(u128::from_be_bytes(self.group))
    }

    /// Its bucket in `MFE_PROBE6` (see [`ProbeBucket`]): that of its [`digest`](Self::digest).
    #[inline(always)]
    pub const fn probe_bucket(&self) -> u32 {
        self.digest().probe_bucket()
    }

    /// The 64-bit digest that stands for this (S,G) in the report budget (`REPORTED_SGS`,
    /// keyed by [`SgKey`]): each address folded to 32 bits by XOR of its words. Two (S,G)s
    /// with the same digest share one budget slot and its repeat interval.
    #[inline(always)]
    pub const fn digest(&self) -> SgKey {
        let (s, g) = (&self.source, &self.group);
        Self::digest_of_words(&[
            word(s, 0),
            word(s, 4),
            word(s, 8),
            word(s, 12),
            word(g, 0),
            word(g, 4),
            word(g, 8),
            word(g, 12),
        ])
    }

    /// The [`digest`](Self::digest) of the key whose native-order words (source first) are
    /// `w` (the XDP program reads them from the packet with native loads).
    #[inline(always)]
    pub const fn digest_of_words(w: &[u32; 8]) -> SgKey {
        SgKey {
            source: w[0] ^ w[1] ^ w[2] ^ w[3],
            group: w[4] ^ w[5] ^ w[6] ^ w[7],
        }
    }
}

/// The native-order word at byte `i` of `a`.
#[inline(always)]
const fn word(a: &[u8; 16], i: usize) -> u32 {
    u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]])
}

impl core::fmt::Display for Sg6Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "({},{})", self.source_addr(), self.group_addr())
    }
}

/// Value of the MFE map: what to do with a packet of one (S,G).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfeValue {
    /// The only ifindex packets of this entry are accepted from.
    pub iif: u32,
    /// Outgoing-interface set (slot of the `OIF_SETS` array of devmaps); [`NO_OIF_SET`] for a
    /// negative entry, whose packets are dropped, or for one with a single `oif`.
    pub oif_set: u32,
    /// Slot of this entry's counters in `MFE_STATS` (also handed to the egress program).
    pub stats_slot: u32,
    /// [`MFE_FLAG_HOLD`], [`MFE_FLAG_MIRRORED`], or 0.
    pub flags: u32,
    /// The outgoing ifindex when the list has exactly one interface (not the incoming one):
    /// the packet is redirected to it directly, and `oif_set` is [`NO_OIF_SET`]; 0 otherwise.
    pub oif: u32,
}

/// `MfeValue::flags`: the entry exists, but userspace still holds earlier packets of it, so
/// its packets go to the punt socket behind them instead of being forwarded here.
pub const MFE_FLAG_HOLD: u32 = 1;

/// `MfeValue::flags`: the entry mirrors a kernel route (its incoming interface is mirrored):
/// one packet per `MIRROR_SAMPLE_NS` goes to the kernel instead, packets on the wrong interface
/// go to the kernel (rate limited), and all of them do once mgmd's heartbeat is stale.
pub const MFE_FLAG_MIRRORED: u32 = 2;

/// `MfeValue::oif_set` of a negative entry.
pub const NO_OIF_SET: u32 = u32::MAX;

/// Per-CPU counters of one MFE (`MFE_STATS[stats_slot]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfeCounters {
    /// Packets accepted on the incoming interface.
    pub packets: u64,
    /// Bytes of those packets (layer 3).
    pub bytes: u64,
    /// Packets that arrived on another interface.
    pub wrong_if: u64,
    /// Packets dropped for TTL (IPv6: hop limit) ≤ 1.
    pub ttl_expired: u64,
    /// Mirrored entries: packets handed to the kernel as samples (also counted in `packets`).
    pub sampled: u64,
    /// Mirrored entries: bytes of those samples (also counted in `bytes`).
    pub sampled_bytes: u64,
    /// Mirrored entries: when this CPU last handed a sample to the kernel (ns, monotonic).
    pub last_sample_ns: u64,
}

impl MfeCounters {
    /// (packets, bytes) of `per_cpu` (one entry's values of every CPU) that XDP forwarded:
    /// those accepted less the samples handed to the kernel.
    pub fn forwarded(per_cpu: &[MfeCounters]) -> (u64, u64) {
        per_cpu.iter().fold((0u64, 0u64), |(packets, bytes), c| {
            (
                packets.wrapping_add(c.packets.wrapping_sub(c.sampled)),
                bytes.wrapping_add(c.bytes.wrapping_sub(c.sampled_bytes)),
            )
        })
    }
}

/// Key of the per-(entry, outgoing interface) counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OifCounterKey {
    /// The entry's `stats_slot`.
    pub stats_slot: u32,
    /// The outgoing ifindex.
    pub ifindex: u32,
}

/// Per-CPU counters of one (entry, outgoing interface). Copies sent are not counted per copy
/// (that would cost every copy a hash lookup): every packet the entry forwarded here (its
/// packets less a mirrored entry's samples, which the kernel forwards) goes to every outgoing
/// interface unless that interface's rules drop it, so the copies sent since the interface
/// joined the entry are the entry's forwarded packets since then minus the interface's drops
/// (see [`OifCounters::sent`]). Userspace writes the entry's forwarded counts at the time the
/// interface joined into CPU 0's value when it creates the key; the egress program only adds
/// drops.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OifCounters {
    /// The entry's forwarded packets when the interface joined it (CPU 0's value; 0 in the
    /// others).
    pub base_packets: u64,
    /// The entry's forwarded bytes when the interface joined it (CPU 0's value; 0 in the
    /// others).
    pub base_bytes: u64,
    /// Copies dropped by the TTL threshold or the MTU.
    pub drops: u64,
    /// Bytes (layer 3) of those copies.
    pub drop_bytes: u64,
}

impl OifCounters {
    /// (packets, bytes) sent out of the interface, from the entry's forwarded totals (all CPUs,
    /// see [`MfeCounters::forwarded`]) and this key's values of every CPU.
    pub fn sent(entry_packets: u64, entry_bytes: u64, per_cpu: &[OifCounters]) -> (u64, u64) {
        let mut total = OifCounters::default();
        for c in per_cpu {
            total.base_packets = total.base_packets.wrapping_add(c.base_packets);
            total.base_bytes = total.base_bytes.wrapping_add(c.base_bytes);
            total.drops = total.drops.wrapping_add(c.drops);
            total.drop_bytes = total.drop_bytes.wrapping_add(c.drop_bytes);
        }
        (
            entry_packets
                .saturating_sub(total.base_packets)
                .saturating_sub(total.drops),
            entry_bytes
                .saturating_sub(total.base_bytes)
                .saturating_sub(total.drop_bytes),
        )
    }
}

/// Per-interface settings (`IFACES[ifindex]`, an array indexed by ifindex: one inlined lookup
/// per copy), read by the egress program for outgoing copies and by the ingress program to
/// find the interface's punt sockets. An interface never configured reads as zeros (no
/// [`IFACE_FLAG_CONFIGURED`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfaceConfig {
    /// The interface's MAC address, written as the source of every copy.
    pub mac: [u8; 6],
    /// Copies whose TTL or IPv6 hop limit (after the decrement) is below this are dropped; 0 or
    /// 1 lets all through (the kernel's ipmr rule `ttl > threshold`, before the decrement).
    pub ttl_threshold: u8,
    /// [`IFACE_FLAG_CONFIGURED`], with [`IFACE_FLAG_MIRRORED`] or not, and
    /// [`IFACE_FLAG_EGRESS_PROGRAM`] or not.
    pub flags: u8,
    /// Largest IP packet (layer 3 bytes) sent on this interface; 0 = no check.
    pub mtu: u32,
    /// First slot of this interface's AF_XDP punt sockets in `PUNT_SOCKETS`: the socket of
    /// receive queue `q` sits at `punt_slot + q`.
    pub punt_slot: u32,
    /// Receive queues with a punt slot (0 = misses on this interface go to the kernel).
    pub punt_queues: u32,
    /// IPv6 admin-scope boundary (RFC 4007 zones, RFC 7346 scopes, mrouted's `boundary`): the
    /// largest multicast scope whose groups stay on this side of the interface; 0 = none.
    /// Packets of groups of this scope or a smaller one are neither accepted from the interface
    /// nor sent out of it (a zone of a smaller scope lies inside one of a larger scope, so a
    /// site boundary, 5, also bounds admin-local, 4, and realm-local, 3, groups). At most
    /// [`MAX_SCOPE_BOUNDARY`].
    pub scope_boundary: u8,
    /// Reserved, zero.
    pub reserved: [u8; 3],
}

/// Largest `IfaceConfig::scope_boundary`: the global scope (14) has no boundary.
pub const MAX_SCOPE_BOUNDARY: u8 = 13;

/// `IfaceConfig::flags`: the kernel routes multicast arriving here (mgmd mirrors its routes):
/// misses go to the kernel without a creation alert or a punt.
pub const IFACE_FLAG_MIRRORED: u8 = 1;

/// `IfaceConfig::flags`: the interface was configured (its MAC, TTL threshold and MTU are
/// set); copies to an interface without it are dropped (`stat::EGRESS_NO_CONFIG`).
pub const IFACE_FLAG_CONFIGURED: u8 = 2;

/// `IfaceConfig::flags`: copies to the interface carry the egress program (it is listed in an
/// outgoing set in use, and is not bare in them): the ingress program sends an entry's single
/// copy there through the interface's `OIF_DIRECT` entry, which carries that program, with
/// no metadata (the egress program reads the copy's header). Without it the ingress program applies the interface's
/// rules and MAC itself and redirects with no program. The kernel runs one program on every
/// frame queued to an interface in one NAPI poll, so all of them must agree.
pub const IFACE_FLAG_EGRESS_PROGRAM: u8 = 4;

/// What the rules of an outgoing interface need of a copy, and its entry's counter slot for
/// the per-(entry, interface) drop counters: carried to the TC program in a [`JumboMeta`],
/// built by the ingress program for the copies it prepares itself, and read from the copy's
/// header by the egress program (copies carry no metadata). The eBPF programs' own: userspace
/// reads it only in tests, in a `JumboMeta`; it is here because `JumboMeta` is.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpMeta {
    /// The entry's `stats_slot`.
    pub stats_slot: u32,
    /// Layer 3 bytes of the packet.
    pub len: u32,
    /// TTL or IPv6 hop limit, after the decrement.
    pub hops: u8,
    /// The group's IPv6 scope; [`NO_SCOPE`] for IPv4, which no scope boundary applies to.
    pub scope: u8,
    /// Reserved, zero.
    pub reserved: [u8; 2],
}

/// Metadata the ingress program puts in front of a jumbo frame of an entry with several
/// outgoing interfaces, which it passes on to the TC program instead of broadcasting
/// (`stat::JUMBO_PASSED`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JumboMeta {
    /// [`JUMBO_MARKER`]: tells this metadata from anything else in front of a frame.
    pub marker: u32,
    /// The entry's outgoing set (`SET_MEMBERS` key).
    pub oif_set: u32,
    /// What every copy's rules need, as for the egress program.
    pub copy: XdpMeta,
}

/// `JumboMeta::marker`.
pub const JUMBO_MARKER: u32 = 0x4a55_4d42;

/// The interfaces of one outgoing set (`SET_MEMBERS`, keyed by set id), for the TC program
/// that replicates jumbo frames: devmaps cannot be read from TC.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetMembers {
    /// Interfaces listed in `ifindex`.
    pub count: u32,
    /// Their ifindexes, the first `count` of them.
    pub ifindex: [u32; limits::SET_IFACES as usize],
}

impl SetMembers {
    /// The member list of `oifs` (at most `limits::SET_IFACES`; more are left out).
    pub fn new(oifs: &[u32]) -> Self {
        let mut members = Self {
            count: 0,
            ifindex: [0; limits::SET_IFACES as usize],
        };
        for (slot, oif) in members.ifindex.iter_mut().zip(oifs) {
            *slot = *oif;
            members.count += 1;
        }
        members
    }
}

/// What the ingress program needs of an outgoing set before its broadcast (`SET_BROADCAST`,
/// indexed by set id).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SetBroadcast {
    /// The member whose devmap entry runs no egress program, whose rules and MAC the ingress
    /// program applies before the broadcast (0: none).
    pub bare_member: u32,
    /// The smallest MTU of the members (`IfaceConfig::mtu`, `u32::MAX` if none has one): a
    /// longer packet is not broadcast (the kernel would skip the members it exceeds, uncounted)
    /// but replicated by the TC program. 0 (a set never written) sends every packet there.
    pub mtu: u32,
}

/// `XdpMeta::scope` of IPv4 packets: above every boundary.
pub const NO_SCOPE: u8 = u8::MAX;

/// The scope of the IPv6 multicast group `group` (its second byte's low nibble, RFC 4291).
#[inline(always)]
pub const fn ipv6_scope(group: &[u8; 16]) -> u8 {
    group[1] & 0x0f
}

/// Whether packets of a group of `scope` ([`NO_SCOPE`] for IPv4) stay inside the admin-scope
/// boundary `boundary` of an interface (`IfaceConfig::scope_boundary`, 0 none): they neither
/// come in from it nor go out of it. The one rule of the fast path and the hold queues.
#[inline(always)]
pub const fn inside_scope_boundary(scope: u8, boundary: u8) -> bool {
    scope <= boundary
}

/// Metadata the ingress program puts in front of every frame it punts to an AF_XDP socket
/// (copied into the UMEM in front of the frame).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PuntMeta {
    /// The frame's number among those punted to its socket slot (`PUNTED` after this frame):
    /// userspace tells the data plane how far it has dealt with them (`PUNTS_HANDLED`), and an
    /// entry in hold mode is forwarded by the fast path only once both are equal.
    pub seq: u32,
}

/// Kinds of [`Report`] the XDP program sends to userspace.
pub mod report_kind {
    /// A packet matched no (S,G) entry: the MGM creation alert input.
    pub const MISS: u32 = 1;
    /// A packet of a known entry arrived on the wrong interface.
    pub const WRONG_IF: u32 = 2;
    /// An IPv6 packet matched no (S,G) entry of `MFES6`.
    pub const MISS6: u32 = 3;
    /// An IPv6 packet of a known entry arrived on the wrong interface.
    pub const WRONG_IF6: u32 = 4;
}

/// One ring-buffer record from the XDP program to userspace.
///
/// IPv6 reports ([`report_kind::MISS6`], [`report_kind::WRONG_IF6`]) have the same layout:
/// `sg` is the (S,G)'s digest ([`Sg6Key::digest`], its key in the report budget) and the (S,G)
/// itself is the one of the IPv6 header at the start of `header`, which they always carry whole
/// ([`IPV6_REPORT_SOURCE`], [`IPV6_REPORT_GROUP`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// One of [`report_kind`].
    pub kind: u32,
    /// The ifindex the packet arrived on.
    pub ifindex: u32,
    /// Source and group of the packet (IPv6: their digest).
    pub sg: SgKey,
    /// Length of `header` that is valid.
    pub header_len: u32,
    /// Reserved, zero.
    pub reserved: u32,
    /// The packet from its IP header on (for the RPF and wrong-if callbacks).
    pub header: [u8; REPORT_HEADER_BYTES],
}

/// Bytes of the packet copied into a [`Report`] from its IP header on: the largest IPv4
/// header (options included), or the fixed header and the start of the data (MGM-SPEC §5.1,
/// A-53); for IPv6 the fixed header and the 20 bytes behind it. A shorter packet is copied
/// whole.
pub const REPORT_HEADER_BYTES: usize = 60;

/// Bytes of an IPv6 report's `header` holding the source address.
pub const IPV6_REPORT_SOURCE: core::ops::Range<usize> = 8..24;
/// Bytes of an IPv6 report's `header` holding the group address.
pub const IPV6_REPORT_GROUP: core::ops::Range<usize> = 24..40;

/// Settings of the `CONFIG` array (`u64` values), indexed by these constants.
pub mod config {
    /// Nanoseconds of credit one report costs, per CPU and per report kind (0 = unlimited).
    pub const REPORT_INTERVAL_NS: u32 = 0;
    /// Reports a CPU may raise back to back before the interval applies.
    pub const REPORT_BURST: u32 = 1;
    /// Mirrored entries: a sample goes to the kernel once per this many ns per CPU (0 = none).
    pub const MIRROR_SAMPLE_NS: u32 = 2;
    /// mgmd's last heartbeat (ns, CLOCK_MONOTONIC: the clock of `bpf_ktime_get_ns`, which the
    /// data plane reads coarse).
    pub const MIRROR_HEARTBEAT_NS: u32 = 3;
    /// A heartbeat older than this (ns) sends every packet of a mirrored entry to the kernel.
    pub const MIRROR_TIMEOUT_NS: u32 = 4;
    /// Nanoseconds of credit one wrong-interface pass of a mirrored entry costs, per CPU.
    pub const MIRROR_WRONG_IF_INTERVAL_NS: u32 = 5;
    /// Wrong-interface passes a CPU may make back to back before the interval applies.
    pub const MIRROR_WRONG_IF_BURST: u32 = 6;
    /// Nanoseconds during which an (S,G) that raised a creation alert raises no other (0 = no
    /// such wait): its packets are punted or passed as any miss's.
    pub const REPORT_REPEAT_NS: u32 = 7;
    /// Longest frame (bytes, Ethernet header on) a punt socket's frame holds: longer ones are
    /// not punted (`stat::TOO_LONG_TO_PUNT`); 0 = no limit.
    pub const PUNT_FRAME_MAX: u32 = 8;
    /// 1: the ingress program looks (S,G)s up in the probe arrays before the hash maps; 0:
    /// in the hash maps only. Set by userspace when it loads the data plane (1 on x86-64 only,
    /// whose loads keep their order, see `mgm-user/docs/design.md`).
    pub const PROBE: u32 = 9;
    /// Number of settings.
    pub const COUNT: u32 = 10;
}

/// Slots of the `REPORT_RATE` token buckets: one per report kind, then one for the creation
/// alerts of (S,G)s that missed before without a report (see `REPORTED_SGS`).
pub mod report_bucket {
    /// First misses of an (S,G).
    pub const MISS: u32 = 0;
    /// Wrong-interface reports.
    pub const WRONG_IF: u32 = 1;
    /// Misses of an (S,G) whose earlier miss was refused by the [`MISS`] bucket: a flow
    /// sending more than one packet, which a spray of one packet per (S,G) cannot starve.
    pub const REPEAT_MISS: u32 = 2;
    /// Number of buckets.
    pub const COUNT: u32 = 3;
}

/// One slot of the `REPORTED_SGS` array: the last (S,G) hashed to it that missed.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReportedSg {
    /// The (S,G).
    pub sg: SgKey,
    /// When its last creation alert was raised (monotonic ns); 0 if none was.
    pub reported_ns: u64,
}

impl ReportedSg {
    /// The `REPORTED_SGS` slot of `sg`: the top bits of a multiplicative hash of both
    /// addresses.
    #[inline(always)]
    pub const fn slot(sg: SgKey) -> u32 {
        sg.hash_slot(limits::REPORTED_SGS.trailing_zeros())
    }
}

/// Ways (entries) of one [`ProbeBucket`].
pub const PROBE_WAYS: usize = 4;

/// `ProbeBucket::used`: an entry of this bucket found it full and lives only in the hash map,
/// so an (S,G) not in the bucket may still have an entry there.
pub const PROBE_SPILLED: u32 = 1 << 31;

/// An (S,G) key of the probe arrays: [`SgKey`] or [`Sg6Key`], made of whole 4-byte words and
/// at most 4-byte aligned, so that a [`ProbeBucket`] of either has no padding.
pub trait ProbeKey: Copy + Default + PartialEq + sealed::Sealed {
    /// Its bucket ([`SgKey::probe_bucket`], [`Sg6Key::probe_bucket`]).
    fn bucket(&self) -> u32;
}

impl ProbeKey for SgKey {
    fn bucket(&self) -> u32 {
        self.probe_bucket()
    }
}

impl ProbeKey for Sg6Key {
    fn bucket(&self) -> u32 {
        self.probe_bucket()
    }
}

mod sealed {
    /// Only the keys of this crate are [`super::ProbeKey`]s.
    pub trait Sealed {}
    impl Sealed for super::SgKey {}
    impl Sealed for super::Sg6Key {}
}

/// One entry of a [`ProbeBucket`]: an (S,G) key of `MFES` or `MFES6` and its value, a copy of
/// the hash map's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeWay<K> {
    /// The (S,G).
    pub key: K,
    /// Its entry, as in the hash map.
    pub value: MfeValue,
}

/// One bucket of the inlined lookup in front of the hash maps (`MFE_PROBE`, `MFE_PROBE6`,
/// plain arrays indexed by [`SgKey::probe_bucket`] / [`Sg6Key::probe_bucket`]): the entries of
/// up to [`PROBE_WAYS`] (S,G)s of the bucket, copies of the hash map's, which stays the
/// authority. Userspace rewrites a bucket as a seqlock: `seq` odd, then the body, then `seq`
/// even again; the program reads `seq`, the ways, `seq` again, and a torn read falls back to
/// the hash map, as does an (S,G) not found in a [`PROBE_SPILLED`] bucket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeBucket<K> {
    /// Sequence number: odd while userspace rewrites the bucket.
    pub seq: u32,
    /// Bit `i` set: way `i` holds an entry; and [`PROBE_SPILLED`].
    pub used: u32,
    /// The entries.
    pub ways: [ProbeWay<K>; PROBE_WAYS],
}

/// Per-CPU token bucket of one report kind (`REPORT_RATE[report_bucket::*]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Time of the last report attempt (ns, monotonic clock).
    pub last_ns: u64,
    /// Credit left, in nanoseconds (one report costs `REPORT_INTERVAL_NS`).
    pub credit_ns: u64,
}

/// Size limits of the maps.
pub mod limits {
    /// MFE entries of each family (`MFES`, `MFES6`), and the counter slots both share.
    pub const MFES: u32 = 131_072;
    /// Outgoing-interface sets (slots of the outer `OIF_SETS` array).
    pub const OIF_SETS: u32 = 16_384;
    /// Interfaces in one outgoing set (`max_entries` of every inner devmap).
    pub const SET_IFACES: u32 = 256;
    /// Slots of `IFACES`, indexed by ifindex: an interface whose ifindex is this or more
    /// cannot be configured (refused with an error; copies to it count as
    /// `stat::EGRESS_NO_CONFIG`).
    pub const IFACES: u32 = 65_536;
    /// Per-(entry, outgoing interface) counters.
    pub const OIF_COUNTERS: u32 = 262_144;
    /// AF_XDP punt socket slots.
    pub const PUNT_SOCKETS: u32 = 1024;
    /// Ring buffer bytes for reports.
    pub const REPORT_RING_BYTES: u32 = 1 << 20;
    /// Ring buffer bytes for the creation alerts of repeated misses (read first).
    pub const REPEAT_REPORT_RING_BYTES: u32 = 1 << 16;
    /// Slots of the report budget's memory of (S,G)s that missed (a power of two): each
    /// (S,G) hashes to one slot and overwrites whatever (S,G) was there, which then counts
    /// as new again.
    pub const REPORTED_SGS: u32 = 65_536;
    /// Buckets of each probe array in front of the hash maps (`MFE_PROBE`, `MFE_PROBE6`; a
    /// power of two): [`PROBE_WAYS`](crate::PROBE_WAYS) entries each, twice `MFES` in all.
    pub const PROBE_BUCKETS: u32 = 65_536;
}

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // SAFETY: all of these are repr(C) plain integers and byte arrays without padding.
    unsafe impl aya::Pod for SgKey {}
    unsafe impl aya::Pod for Sg6Key {}
    unsafe impl aya::Pod for MfeValue {}
    unsafe impl aya::Pod for MfeCounters {}
    unsafe impl aya::Pod for OifCounterKey {}
    unsafe impl aya::Pod for OifCounters {}
    unsafe impl aya::Pod for IfaceConfig {}
    unsafe impl aya::Pod for Report {}
    unsafe impl aya::Pod for RateLimit {}
    unsafe impl aya::Pod for ReportedSg {}
    unsafe impl aya::Pod for SetMembers {}
    unsafe impl aya::Pod for SetBroadcast {}
    // SAFETY: two words and the keys' words (see `ProbeKey`): no padding.
    unsafe impl<K: ProbeKey + aya::Pod> aya::Pod for ProbeBucket<K> {}
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::{limits, JumboMeta, SetMembers, Sg6Key, SgKey};
    use core::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn set_members_list_the_interfaces_and_their_count() {
        let members = SetMembers::new(&[7, 3, 9]);
        assert_eq!(members.count, 3);
        assert_eq!(members.ifindex[..4], [7, 3, 9, 0]);
        let full: [u32; limits::SET_IFACES as usize + 1] = core::array::from_fn(|i| i as u32);
        assert_eq!(SetMembers::new(&full).count, limits::SET_IFACES, "bounded");
    }

    #[test]
    fn jumbo_meta_fits_xdp_metadata() {
        // XDP metadata is taken in 4-byte steps, at most 32 bytes.
        let size = core::mem::size_of::<JumboMeta>();
        assert!(size.is_multiple_of(4) && size <= 32, "{size}");
    }

    #[test]
    fn sg6_key_keeps_packet_byte_order() {
        let source: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let group: Ipv6Addr = "ff3e::8000:1".parse().unwrap();
        let key = Sg6Key::new(source, group);
        assert_eq!(key.source[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(key.group[..2], [0xff, 0x3e]);
        assert_eq!((key.source_addr(), key.group_addr()), (source, group));
    }

    #[test]
    fn sg6_digest_folds_each_address() {
        let key = Sg6Key {
            source: [1, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0, 8, 0, 0, 0],
            group: [0xff; 16],
        };
        let digest = key.digest();
        assert_eq!(digest.source.to_ne_bytes(), [15, 0, 0, 0]);
        assert_eq!(digest.group, 0);
        let words: [u32; 8] = core::array::from_fn(|i| {
            let bytes = if i < 4 { &key.source } else { &key.group };
            let at = (i % 4) * 4;
            u32::from_ne_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        });
        assert_eq!(
            Sg6Key::digest_of_words(&words),
            digest,
            "from the packet's words"
        );
    }

    #[test]
    fn probe_buckets_have_no_padding() {
        use super::{MfeValue, ProbeBucket, PROBE_WAYS};
        use core::mem::size_of;
        let way = |key: usize| key + size_of::<MfeValue>();
        assert_eq!(size_of::<ProbeBucket<SgKey>>(), 8 + PROBE_WAYS * way(8));
        assert_eq!(size_of::<ProbeBucket<Sg6Key>>(), 8 + PROBE_WAYS * way(32));
    }

    #[test]
    fn probe_buckets_spread_keys_over_the_whole_array() {
        let bucket = |i: u32| {
            SgKey::new(
                Ipv4Addr::from_bits(0x0a00_0000 + i),
                Ipv4Addr::new(239, 1, 1, 1),
            )
            .probe_bucket()
        };
        let buckets: std::collections::HashSet<u32> = (0..1000).map(bucket).collect();
        assert!(buckets.len() > 950, "{}", buckets.len());
        assert!(buckets.iter().all(|&b| b < limits::PROBE_BUCKETS));
    }

    #[test]
    fn sg_key_keeps_packet_byte_order() {
        let key = SgKey::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 2, 3));
        assert_eq!(key.source.to_ne_bytes(), [10, 0, 0, 1]);
        assert_eq!(key.group.to_ne_bytes(), [239, 1, 2, 3]);
        assert_eq!(key.group_addr(), Ipv4Addr::new(239, 1, 2, 3));
    }
}
