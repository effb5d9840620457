//! Per-interface MLD counters: the drop reasons and message kinds of MLD; the ignore reasons
//! and the counter set itself are IGMP's (`crate::igmp::Counters`).
use crate::igmp::counters::QueryKind;
use serde::{Deserialize, Serialize};

/// Why an input was dropped as malformed or hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DropReason {
    /// Shorter than the IPv6 header, its payload length or its Hop-by-Hop header.
    Ipv6Truncated,
    /// IPv6 version or Hop-by-Hop option layout malformed.
    Ipv6Malformed,
    /// A Hop-by-Hop option this implementation does not know and may not skip (RFC 8200 §4.2).
    UnknownOption,
    /// The header after the Hop-by-Hop header is not ICMPv6.
    NotIcmpv6,
    /// Hop limit other than 1 (RFC 3810 §5.1.14, §5.2.13).
    HopLimitNotOne,
    /// No Router Alert option with the MLD value 0 in a Hop-by-Hop header.
    NoRouterAlert,
    /// Source address not link-local (fe80::/10); `::` included.
    BadSource,
    /// MLD message shorter than its type or counts require.
    MldTruncated,
    /// Query of 25 to 27 bytes (RFC 3810 §8.1).
    MldMalformed,
    /// ICMPv6 checksum over the pseudo-header wrong.
    MldChecksum,
    /// An ICMPv6 type that is not MLD.
    UnknownType,
    /// Destination address inconsistent with the message type.
    BadDestination,
    /// Multicast address field not a multicast address (or not `::` for a general query).
    BadGroup,
    /// The frame was addressed to another station's unicast MAC address.
    OtherHost,
    /// The frame was tagged for a VLAN the router has no interface of (no VLAN device for
    /// the tag on the port it arrived on).
    OtherVlan,
}

/// Message kinds, for the received and sent counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// General query.
    GeneralQuery,
    /// Multicast-address-specific query.
    GroupQuery,
    /// Multicast-address-and-source-specific query.
    GroupSourceQuery,
    /// MLDv1 report.
    ReportV1,
    /// MLDv1 done.
    Done,
    /// MLDv2 report.
    ReportV2,
}

impl QueryKind for MessageKind {
    const GENERAL: Self = MessageKind::GeneralQuery;
    const GROUP: Self = MessageKind::GroupQuery;
    const GROUP_SOURCE: Self = MessageKind::GroupSourceQuery;
}

/// Counters of one MLD interface.
pub type Counters = crate::igmp::Counters<DropReason, MessageKind>;
