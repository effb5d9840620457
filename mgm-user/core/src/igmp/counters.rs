//! Per-interface IGMP counters: messages received and sent, and every drop or ignore by reason.
//! [`Counters`] is generic over the drop reasons and message kinds so that MLD keeps its own.
use super::table::GroupAddr;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why an input was dropped as malformed or hostile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum DropReason {
    /// Shorter than the IPv4 header or its declared lengths.
    Ipv4Truncated,
    /// IPv4 version, header length or options malformed.
    Ipv4Malformed,
    /// IPv4 header checksum wrong.
    Ipv4Checksum,
    /// A fragment (IGMP is never fragmented).
    Fragment,
    /// Not protocol 2.
    NotIgmp,
    /// TTL other than 1.
    TtlNotOne,
    /// IGMP message shorter than its type or counts require.
    IgmpTruncated,
    /// Query of 9 to 11 bytes (RFC 3376 §7.1).
    IgmpMalformed,
    /// IGMP checksum wrong.
    IgmpChecksum,
    /// Unknown IGMP message type.
    UnknownType,
    /// IGMPv3 message without the Router Alert option.
    NoRouterAlert,
    /// Source address not on the interface's subnet (nor 0.0.0.0 for a v3 report).
    BadSource,
    /// Destination address inconsistent with the message type.
    BadDestination,
    /// Group field not a multicast address (or not 0.0.0.0 for a general query).
    BadGroup,
    /// The frame was addressed to another station's unicast MAC address.
    OtherHost,
    /// The frame was tagged for a VLAN the router has no interface of (no VLAN device for
    /// the tag on the port it arrived on).
    OtherVlan,
}

/// Why a valid message, or part of one, had no effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IgnoreReason {
    /// A query this router sent itself.
    OwnQuery,
    /// Report for a link-local group (224.0.0.0/24; MLD: scopes 0 to 2), which routers do not
    /// track.
    LocalGroup,
    /// Any-source request (v1/v2 report or leave, IS_EX, TO_EX) for an SSM group (RFC 4604).
    SsmAnySource,
    /// Group record of an unknown type (RFC 3376 §4.2.12).
    UnknownRecordType,
    /// Group record whose group is not a multicast address.
    BadRecordGroup,
    /// Source address in a record that is not unicast.
    BadRecordSource,
    /// Leave while the group is in IGMPv1 compatibility mode (never for MLD).
    LeaveInV1Mode,
    /// BLOCK record while the group is in v1/v2 compatibility mode.
    BlockInOldMode,
    /// Report or record that would have created a group beyond the interface's `max_groups`.
    GroupLimit,
    /// Source of a record beyond the interface's `max_sources` (counted per source).
    SourceLimit,
}

/// Message kinds, for the received and sent counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MessageKind {
    /// General query.
    GeneralQuery,
    /// Group-specific query.
    GroupQuery,
    /// Group-and-source-specific query.
    GroupSourceQuery,
    /// IGMPv1 report.
    ReportV1,
    /// IGMPv2 report.
    ReportV2,
    /// IGMPv2 leave.
    Leave,
    /// IGMPv3 report.
    ReportV3,
}

/// The query kinds both protocols count alike, and which of them a query is.
pub(crate) trait QueryKind: Sized {
    const GENERAL: Self;
    const GROUP: Self;
    const GROUP_SOURCE: Self;

    /// The kind of a query for `group` (unspecified: general) asking about `sources`.
    fn of_query<A: GroupAddr>(group: A, sources: &[A]) -> Self {
        if group.is_unspecified() {
            Self::GENERAL
        } else if sources.is_empty() {
            Self::GROUP
        } else {
            Self::GROUP_SOURCE
        }
    }
}

impl QueryKind for MessageKind {
    const GENERAL: Self = MessageKind::GeneralQuery;
    const GROUP: Self = MessageKind::GroupQuery;
    const GROUP_SOURCE: Self = MessageKind::GroupSourceQuery;
}

/// Counters of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(
    serialize = "D: Serialize, K: Serialize",
    deserialize = "D: Deserialize<'de> + Ord, K: Deserialize<'de> + Ord"
))]
pub struct Counters<D = DropReason, K = MessageKind> {
    /// Valid messages received, by kind.
    pub received: BTreeMap<K, u64>,
    /// Messages sent, by kind.
    pub sent: BTreeMap<K, u64>,
    /// Inputs dropped, by reason.
    pub dropped: BTreeMap<D, u64>,
    /// Valid inputs (or records) without effect, by reason.
    pub ignored: BTreeMap<IgnoreReason, u64>,
}

impl<D, K> Default for Counters<D, K> {
    fn default() -> Self {
        Counters {
            received: BTreeMap::new(),
            sent: BTreeMap::new(),
            dropped: BTreeMap::new(),
            ignored: BTreeMap::new(),
        }
    }
}

impl<D: Ord, K: Ord> Counters<D, K> {
    pub(crate) fn drop(&mut self, reason: D) {
        *self.dropped.entry(reason).or_default() += 1;
    }

    pub(crate) fn ignore(&mut self, reason: IgnoreReason) {
        self.ignore_n(reason, 1);
    }

    pub(crate) fn ignore_n(&mut self, reason: IgnoreReason, n: u64) {
        *self.ignored.entry(reason).or_default() += n;
    }

    pub(crate) fn received(&mut self, kind: K) {
        *self.received.entry(kind).or_default() += 1;
    }

    pub(crate) fn sent(&mut self, kind: K) {
        *self.sent.entry(kind).or_default() += 1;
    }
}
