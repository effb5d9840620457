//! Requests to mgmd ([`Request`]), the callbacks a protocol registers for ([`ApiCallback`]),
//! and a protocol's answers to the callbacks that ask ([`ApiAnswer`]).
#[cfg(doc)]
use super::response::{Event, Response, ServerMessage};
use super::values::{ApiFamily, ApiIfEntry, ApiIfId, ApiMasks, ApiRoute, ApiSg};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// A callback an external protocol can ask for when it registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiCallback {
    /// RPF questions ([`Event::Rpf`]).
    Rpf,
    /// Creation alerts ([`Event::CreationAlert`]).
    CreationAlert,
    /// Prune alerts ([`Event::PruneAlert`]).
    PruneAlert,
    /// Join alerts ([`Event::JoinAlert`]).
    JoinAlert,
    /// Packets on the wrong interface ([`Event::WrongIf`]).
    WrongIf,
    /// IGMP receivers appearing ([`Event::LocalJoin`]).
    LocalJoin,
    /// IGMP receivers leaving ([`Event::LocalLeave`]).
    LocalLeave,
    /// IGMP is frozen on an interface this protocol is taking or releasing
    /// ([`Event::DisableIgmp`]).
    DisableIgmp,
    /// IGMP runs again there and re-adds its memberships ([`Event::EnableIgmp`]).
    EnableIgmp,
}

impl ApiCallback {
    /// Every callback.
    pub const ALL: [ApiCallback; 9] = [
        ApiCallback::Rpf,
        ApiCallback::CreationAlert,
        ApiCallback::PruneAlert,
        ApiCallback::JoinAlert,
        ApiCallback::WrongIf,
        ApiCallback::LocalJoin,
        ApiCallback::LocalLeave,
        ApiCallback::DisableIgmp,
        ApiCallback::EnableIgmp,
    ];

    /// The name used in [`Request::Register`].
    pub fn name(self) -> &'static str {
        match self {
            ApiCallback::Rpf => "rpf",
            ApiCallback::CreationAlert => "creation_alert",
            ApiCallback::PruneAlert => "prune_alert",
            ApiCallback::JoinAlert => "join_alert",
            ApiCallback::WrongIf => "wrong_if",
            ApiCallback::LocalJoin => "local_join",
            ApiCallback::LocalLeave => "local_leave",
            ApiCallback::DisableIgmp => "disable_igmp",
            ApiCallback::EnableIgmp => "enable_igmp",
        }
    }

    /// The callback named `name`, as in [`Request::Register`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A request to mgmd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Version and attached interfaces.
    Status,
    /// Data-plane counters.
    Stats,
    /// Interfaces mgmd manages.
    ShowInterfaces,
    /// Registered protocols.
    ShowProtocols,
    /// MFEs with counters.
    ShowMfe,
    /// Memberships by group.
    ShowGroups,
    /// IGMP state per interface.
    ShowIgmp,
    /// MLD state per interface (answered by [`Response::Mld`]).
    ShowMld,
    /// Static routes.
    ShowRoutes,
    /// The router's own joins (`join`'s and the proxy's upstream ones), answered by
    /// [`Response::Joins`].
    ShowJoins,
    /// Compares the MGM's entries with the forwarding maps (answered by [`Response::Check`]).
    Check,
    /// Re-reads the configuration file and applies only the difference, as SIGHUP does;
    /// answered `ok`, or an error naming the line and the key (the running one is kept).
    Reload,
    /// Adds a static route (smcroute words: `INBOUND [SOURCE] GROUP OUTBOUND...`).
    AddRoute {
        /// The words.
        words: Vec<String>,
    },
    /// Removes a static route (same words as when added).
    RemoveRoute {
        /// The words.
        words: Vec<String>,
    },
    /// The router itself joins a group on an interface, as a host (like `smcroutectl join`).
    Join {
        /// Interface name.
        iface: String,
        /// Group (IPv4 or IPv6).
        group: IpAddr,
        /// Source for a source-specific join (of the group's family).
        source: Option<IpAddr>,
    },
    /// Leaves what [`Request::Join`] joined.
    Leave {
        /// Interface name.
        iface: String,
        /// Group (IPv4 or IPv6).
        group: IpAddr,
        /// Source for a source-specific join (of the group's family).
        source: Option<IpAddr>,
    },
    /// `MgmRegisterMProtocol`: this connection becomes a routing protocol (in both MGMs).
    Register {
        /// Protocol id.
        protocol_id: u32,
        /// Component id.
        component_id: u32,
        /// Callbacks the protocol wants, by [`ApiCallback::name`] (rpf, creation_alert,
        /// prune_alert, join_alert, wrong_if, local_join, local_leave, disable_igmp,
        /// enable_igmp).
        callbacks: Vec<String>,
        /// How long mgmd waits for this protocol's answers, in ms (10..=10000; default 1000).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer_deadline_ms: Option<u32>,
        /// A-10 opt-in: an RPF answer with `reject` makes the MFE negative (default: ignored).
        #[serde(default, skip_serializing_if = "is_false")]
        rpf_reject: bool,
    },
    /// `MgmDeRegisterMProtocol`.
    Deregister,
    /// `MgmTakeInterfaceOwnership`: in both MGMs (no next hop) or the next hop's family's.
    TakeInterface {
        /// The interface.
        ifid: ApiIfId,
    },
    /// `MgmReleaseInterfaceOwnership`: in every MGM where the caller owns it.
    ReleaseInterface {
        /// The interface.
        ifid: ApiIfId,
    },
    /// `MgmGetProtocolOnInterface`, in the MGM of the next hop's family (default IPv4).
    ProtocolOnInterface {
        /// The interface.
        ifid: ApiIfId,
    },
    /// `MgmAddGroupMembershipEntry` (flags: 1 JOIN, 2 FORWARD).
    AddMembership {
        /// (S,G); wildcards allowed.
        sg: ApiSg,
        /// The interface.
        ifid: ApiIfId,
        /// MGM_JOIN_STATE_FLAG / MGM_FORWARD_STATE_FLAG.
        flags: u32,
        /// `dwSourceMask` and `dwGroupMask` (A-05: the unspecified address with a wildcard,
        /// else all ones, in the addresses' family); omitted, they are derived from them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        masks: Option<ApiMasks>,
    },
    /// `MgmDeleteGroupMembershipEntry`.
    DeleteMembership {
        /// (S,G); wildcards allowed.
        sg: ApiSg,
        /// The interface.
        ifid: ApiIfId,
        /// MGM_JOIN_STATE_FLAG / MGM_FORWARD_STATE_FLAG.
        flags: u32,
        /// `dwSourceMask` and `dwGroupMask` (A-05: the unspecified address with a wildcard,
        /// else all ones, in the addresses' family); omitted, they are derived from them.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        masks: Option<ApiMasks>,
    },
    /// Answers a callback with out-parameters.
    Answer(ApiAnswer),
    /// `MgmGroupEnumerationStart` (0 ANY_SOURCE, 1 ALL_SOURCES); answers
    /// [`Response::EnumHandle`].
    GroupEnumerationStart {
        /// `MGM_ENUM_TYPES`.
        enum_type: u32,
        /// The MGM whose memberships are enumerated: `ipv4` (the default) or `ipv6`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmGroupEnumerationGetNext`: `SOURCE_GROUP_ENTRY` records in a [`Response::Buffer`],
    /// of the MGM whose handle it is.
    GroupEnumerationGetNext {
        /// From [`Response::EnumHandle`].
        handle: u64,
        /// `*pdwBufferSize`.
        buffer_size: u32,
    },
    /// `MgmGroupEnumerationEnd`.
    GroupEnumerationEnd {
        /// From [`Response::EnumHandle`].
        handle: u64,
    },
    /// `MgmGetMfe`: one `MIB_IPMCAST_MFE` in a [`Response::Buffer`].
    GetMfe {
        /// `dwSource`.
        source: IpAddr,
        /// `dwGroup`.
        group: IpAddr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmGetFirstMfe`.
    GetFirstMfe {
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmGetNextMfe`: MFEs strictly after (source, group).
    GetNextMfe {
        /// `pimmStart->dwSource`.
        source: IpAddr,
        /// `pimmStart->dwGroup`.
        group: IpAddr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmGetMfeStats` (flags 0/1 `MGM_MFE_STATS_0`, 2 `MGM_MFE_STATS_1`).
    GetMfeStats {
        /// `dwSource`.
        source: IpAddr,
        /// `dwGroup`.
        group: IpAddr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// `dwFlags`.
        flags: u32,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmGetFirstMfeStats`.
    GetFirstMfeStats {
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// `dwFlags`.
        flags: u32,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmGetNextMfeStats`.
    GetNextMfeStats {
        /// `pimmStart->dwSource`.
        source: IpAddr,
        /// `pimmStart->dwGroup`.
        group: IpAddr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// `dwFlags`.
        flags: u32,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// `MgmSetMfe`: sets the upstream neighbour of the MFE (source, group).
    SetMfe {
        /// `dwSource`.
        source: IpAddr,
        /// `dwGroup`.
        group: IpAddr,
        /// `dwUpStrmNgbr`.
        upstream: IpAddr,
        /// The MGM: `ipv4` (the default) or `ipv6`; with addresses, theirs (another is 87).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        family: Option<ApiFamily>,
    },
    /// Streams every callback, answer and MFE change to this connection as
    /// [`ServerMessage::Monitor`] (for people: `mgmctl monitor`).
    Monitor,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Request {
    /// Whether the request asks for one of mgmd's tables, whose answer grows with it (over a
    /// frame for large ones).
    pub fn lists_a_table(&self) -> bool {
        matches!(
            self,
            Request::ShowMfe
                | Request::ShowGroups
                | Request::ShowIgmp
                | Request::ShowMld
                | Request::Check
        )
    }

    /// Whether the request only reads state (`show`): read-only API access suffices. Every
    /// other request changes state and needs control access.
    pub fn is_read_only(&self) -> bool {
        match self {
            Request::Status
            | Request::Stats
            | Request::ShowInterfaces
            | Request::ShowProtocols
            | Request::ShowMfe
            | Request::ShowGroups
            | Request::ShowIgmp
            | Request::ShowMld
            | Request::ShowRoutes
            | Request::ShowJoins
            | Request::Check
            | Request::ProtocolOnInterface { .. }
            | Request::GetMfe { .. }
            | Request::GetFirstMfe { .. }
            | Request::GetNextMfe { .. }
            | Request::GetMfeStats { .. }
            | Request::GetFirstMfeStats { .. }
            | Request::GetNextMfeStats { .. }
            | Request::Monitor => true,
            Request::AddRoute { .. }
            | Request::RemoveRoute { .. }
            | Request::Reload
            | Request::Join { .. }
            | Request::Leave { .. }
            | Request::Register { .. }
            | Request::Deregister
            | Request::TakeInterface { .. }
            | Request::ReleaseInterface { .. }
            | Request::AddMembership { .. }
            | Request::DeleteMembership { .. }
            | Request::Answer(_)
            | Request::GroupEnumerationStart { .. }
            | Request::GroupEnumerationGetNext { .. }
            | Request::GroupEnumerationEnd { .. }
            | Request::SetMfe { .. } => false,
        }
    }
}

/// The out-parameters of a callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "callback", rename_all = "snake_case")]
pub enum ApiAnswer {
    /// RPF: the incoming interface, upstream neighbour and route; or a rejection.
    Rpf {
        /// From the event.
        query: u64,
        /// Incoming interface.
        iif: ApiIfId,
        /// Upstream neighbour.
        upstream: IpAddr,
        /// The route the protocol used; omitted, the RIB's route stays.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        route: Option<ApiRoute>,
        /// Declines the flow. For a no-route offer (the event's `reject`) it makes the short
        /// no-route negative entry; for a RIB proposal it is the callback's non-zero return,
        /// honoured only with the `rpf_reject` registration option, which makes the MFE
        /// negative.
        #[serde(default, skip_serializing_if = "is_false")]
        reject: bool,
    },
    /// Creation alert: the entries with their decision.
    CreationAlert {
        /// From the event.
        query: u64,
        /// The entries.
        entries: Vec<ApiIfEntry>,
    },
    /// FALSE prune alert: the MFE's lifetime in seconds.
    PruneAlert {
        /// From the event.
        query: u64,
        /// Lifetime.
        timeout_s: u32,
    },
}
