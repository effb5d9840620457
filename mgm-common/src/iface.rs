//! Per-interface settings (`IFACES`) and the IPv6 scope boundary rule.

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
/// outgoing set in use, and is not bare in them): the ingress program sends an entry's single copy
/// there through the interface's `OIF_DIRECT` entry, which carries that program, with no metadata
/// (the egress program reads the copy's header). Without it the ingress program applies the
/// interface's rules and MAC itself and redirects with no program. The kernel runs one program on
/// every frame queued to an interface in one NAPI poll, so all of them must agree.
pub const IFACE_FLAG_EGRESS_PROGRAM: u8 = 4;

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
