//! Metadata the eBPF programs put in front of frames: for the TC program and the punt sockets.

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
    /// The group's IPv6 scope; [`NO_SCOPE`](crate::NO_SCOPE) for IPv4, which no scope boundary
    /// applies to.
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

/// Metadata the ingress program puts in front of every frame it punts to an AF_XDP socket
/// (copied into the UMEM in front of the frame).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PuntMeta {
    /// For a packet of an entry in hold mode, its number among that entry's packets punted
    /// in hold mode (`HOLD_PUNTED` after this frame): userspace tells the data plane how far
    /// it has sent them on (`HOLD_SENT`), and the fast path takes the entry over for good
    /// once both are equal. 0 for a miss. (In front of `seq`, which an earlier version's
    /// metadata held alone, so that `seq` keeps its place right before the frame.)
    pub held: u32,
    /// The frame's number among those punted to its socket slot (`PUNTED` after this frame):
    /// userspace tells the data plane how far it has dealt with them (`PUNTS_HANDLED`), and an
    /// entry in hold mode is forwarded by the fast path only once both are equal.
    pub seq: u32,
}

/// `HOLD_PUNTED` of an entry the fast path has taken over from the punt path for good: its
/// later packets are forwarded even while other frames punted on its receive queue wait.
pub const HOLD_TAKEN_OVER: u32 = u32::MAX;
