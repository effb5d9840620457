//! Reports from the XDP program to userspace and their budget.

use crate::{limits, SgKey};

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
/// IPv6 reports ([`report_kind::MISS6`], [`report_kind::WRONG_IF6`]) have the same layout: `sg` is
/// the (S,G)'s digest ([`Sg6Key::digest`](crate::Sg6Key::digest), its key in the report budget) and
/// the (S,G) itself is the one of the IPv6 header at the start of `header`, which they always carry
/// whole ([`IPV6_REPORT_SOURCE`], [`IPV6_REPORT_GROUP`]).
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

/// Per-CPU token bucket of one report kind (`REPORT_RATE[report_bucket::*]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// Time of the last report attempt (ns, monotonic clock).
    pub last_ns: u64,
    /// Credit left, in nanoseconds (one report costs `REPORT_INTERVAL_NS`).
    pub credit_ns: u64,
}
