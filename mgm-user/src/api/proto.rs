//! The messages of the API: requests from clients (operators' tools and external routing
//! protocols), mgmd's responses, and the events it pushes to registered protocols.
//!
//! Addresses are dotted-quad strings in JSON. An external protocol registers, then uses the same
//! calls as a built-in one; mgmd pushes its callbacks as [`ServerMessage::Event`]s. Callbacks
//! with out-parameters (RPF, creation alert, FALSE prune alert) carry a `query` id; the protocol
//! answers with [`Request::Answer`] before its answer deadline (1 s unless the protocol chose
//! another at registration), after which the documented default applies (RPF: the RIB's values;
//! creation alert: forward on every offered interface; prune alert: the default MFE lifetime).
//!
//! The buffer calls of the MGM API (MFE and group enumeration, `MgmGetMfe*`) carry the caller's
//! buffer size and answer with [`Response::Buffer`]: the Win32 status, the entry count, the
//! records in their MIB byte layout (hex) and the same records decoded ([`ApiRecord`]).
//! `mgm-user/docs/protocol.md` documents every message with worked exchanges.
pub use super::monitor::MonitorEvent;
pub use super::records::{
    ApiRecord, MfeHead, MfeRecord, MfeStatsEx, MfeStatsRecord, OifStatsRecord,
};
pub use super::rows::{GroupRow, InterfaceRow, MfeRate, MfeRow, MfeShown, OifRow, ProtocolRow};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, net::Ipv4Addr};

/// An interface as the MGM names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIfId {
    /// Interface index.
    pub ifindex: u32,
    /// Point-to-multipoint next hop, else 0.0.0.0.
    #[serde(default = "unspecified")]
    pub next_hop: Ipv4Addr,
}

fn unspecified() -> Ipv4Addr {
    Ipv4Addr::UNSPECIFIED
}

/// A (source, group) pair; 0.0.0.0 is the wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSg {
    /// Source, 0.0.0.0 for any.
    pub source: Ipv4Addr,
    /// Group, 0.0.0.0 for all.
    pub group: Ipv4Addr,
}

/// One interface entry of a creation alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIfEntry {
    /// The candidate outgoing interface.
    pub ifid: ApiIfId,
    /// IGMP owns or co-owns it.
    pub igmp: bool,
    /// Leave true to forward there, set false to veto.
    pub enabled: bool,
}

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
    /// Static routes.
    ShowRoutes,
    /// Compares the MGM's entries with the forwarding maps (answered by [`Response::Check`]).
    Check,
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
        /// Group.
        group: Ipv4Addr,
        /// Source for a source-specific join.
        source: Option<Ipv4Addr>,
    },
    /// Leaves what [`Request::Join`] joined.
    Leave {
        /// Interface name.
        iface: String,
        /// Group.
        group: Ipv4Addr,
        /// Source for a source-specific join.
        source: Option<Ipv4Addr>,
    },
    /// `MgmRegisterMProtocol`: this connection becomes a routing protocol.
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
    /// `MgmTakeInterfaceOwnership`.
    TakeInterface {
        /// The interface.
        ifid: ApiIfId,
    },
    /// `MgmReleaseInterfaceOwnership`.
    ReleaseInterface {
        /// The interface.
        ifid: ApiIfId,
    },
    /// `MgmGetProtocolOnInterface`.
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
        /// `dwSourceMask` and `dwGroupMask` (A-05: 0.0.0.0 with a wildcard, else
        /// 255.255.255.255); omitted, they are derived from the addresses.
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
        /// `dwSourceMask` and `dwGroupMask` (A-05: 0.0.0.0 with a wildcard, else
        /// 255.255.255.255); omitted, they are derived from the addresses.
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
    },
    /// `MgmGroupEnumerationGetNext`: `SOURCE_GROUP_ENTRY` records in a [`Response::Buffer`].
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
        source: Ipv4Addr,
        /// `dwGroup`.
        group: Ipv4Addr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
    },
    /// `MgmGetFirstMfe`.
    GetFirstMfe {
        /// `*pdwBufferSize`.
        buffer_size: u32,
    },
    /// `MgmGetNextMfe`: MFEs strictly after (source, group).
    GetNextMfe {
        /// `pimmStart->dwSource`.
        source: Ipv4Addr,
        /// `pimmStart->dwGroup`.
        group: Ipv4Addr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
    },
    /// `MgmGetMfeStats` (flags 0/1 `MGM_MFE_STATS_0`, 2 `MGM_MFE_STATS_1`).
    GetMfeStats {
        /// `dwSource`.
        source: Ipv4Addr,
        /// `dwGroup`.
        group: Ipv4Addr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// `dwFlags`.
        flags: u32,
    },
    /// `MgmGetFirstMfeStats`.
    GetFirstMfeStats {
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// `dwFlags`.
        flags: u32,
    },
    /// `MgmGetNextMfeStats`.
    GetNextMfeStats {
        /// `pimmStart->dwSource`.
        source: Ipv4Addr,
        /// `pimmStart->dwGroup`.
        group: Ipv4Addr,
        /// `*pdwBufferSize`.
        buffer_size: u32,
        /// `dwFlags`.
        flags: u32,
    },
    /// `MgmSetMfe`: sets the upstream neighbour of the MFE (source, group).
    SetMfe {
        /// `dwSource`.
        source: Ipv4Addr,
        /// `dwGroup`.
        group: Ipv4Addr,
        /// `dwUpStrmNgbr`.
        upstream: Ipv4Addr,
    },
    /// Streams every callback, answer and MFE change to this connection as
    /// [`ServerMessage::Monitor`] (for people: `mgmctl monitor`).
    Monitor,
}

/// `dwSourceMask` / `dwGroupMask` of a membership call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMasks {
    /// Source mask.
    pub source_mask: Ipv4Addr,
    /// Group mask.
    pub group_mask: Ipv4Addr,
}

/// The route of an RPF decision (`pbRoute`; `dwRouteProtocol/Network/Mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRoute {
    /// `PROTO_IP_*` id of the route's origin.
    pub protocol: u32,
    /// Destination network.
    pub network: Ipv4Addr,
    /// Destination mask.
    pub mask: Ipv4Addr,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Request {
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
            | Request::ShowRoutes
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
        upstream: Ipv4Addr,
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

/// A callback pushed to a registered external protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "callback", rename_all = "snake_case")]
pub enum Event {
    /// RPF question; answer with [`ApiAnswer::Rpf`].
    Rpf {
        /// Answer id.
        query: u64,
        /// The packet's (S,G).
        sg: ApiSg,
        /// The RIB's proposal.
        iif: ApiIfId,
        /// The RIB's upstream neighbour.
        upstream: Ipv4Addr,
        /// The RIB's route.
        route: ApiRoute,
        /// The packet's IP header as the data plane captured it, hex.
        header: String,
        /// The RIB has no route to the source: `iif` is the interface the packet arrived on
        /// (which this protocol owns); answering with `reject: false` claims the flow.
        #[serde(default)]
        reject: bool,
    },
    /// Creation alert; answer with [`ApiAnswer::CreationAlert`].
    CreationAlert {
        /// Answer id.
        query: u64,
        /// The new MFE.
        sg: ApiSg,
        /// Its incoming interface.
        iif: ApiIfId,
        /// This protocol's candidate outgoing interfaces.
        entries: Vec<ApiIfEntry>,
    },
    /// Prune alert; a FALSE one (`query` present) may be answered with the MFE lifetime.
    PruneAlert {
        /// Answer id, for FALSE alerts.
        query: Option<u64>,
        /// What is pruned.
        sg: ApiSg,
        /// The interface.
        ifid: ApiIfId,
        /// bMemberDelete.
        member_delete: bool,
        /// Proposed lifetime.
        timeout_s: u32,
    },
    /// Join alert.
    JoinAlert {
        /// What is joined.
        sg: ApiSg,
        /// bMemberUpdate.
        member_update: bool,
    },
    /// A packet arrived on the wrong interface.
    WrongIf {
        /// Its (S,G).
        sg: ApiSg,
        /// Where it arrived.
        ifid: ApiIfId,
        /// The packet's IP header as the data plane captured it, hex.
        header: String,
    },
    /// IGMP receivers appeared on an interface this protocol owns.
    LocalJoin {
        /// What is joined.
        sg: ApiSg,
        /// The interface.
        ifid: ApiIfId,
    },
    /// IGMP receivers left.
    LocalLeave {
        /// What is left.
        sg: ApiSg,
        /// The interface.
        ifid: ApiIfId,
    },
    /// IGMP stops adding and deleting memberships on an interface whose ownership changes.
    DisableIgmp {
        /// The interface.
        ifid: ApiIfId,
    },
    /// The ownership change is done: IGMP re-adds its memberships there.
    EnableIgmp {
        /// The interface.
        ifid: ApiIfId,
    },
}

/// Any message from mgmd: a response to the last request, a pushed event, or a piece of a
/// response too large for one frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to the client's request.
    Response(Response),
    /// A callback for a registered protocol.
    Event(Event),
    /// A piece of the JSON text of a message over one frame (see [`crate::api`]): the texts of
    /// consecutive parts, up to the one with `last` set, joined, are that message.
    Part {
        /// This piece of the text.
        text: String,
        /// Whether this is the final piece.
        last: bool,
    },
    /// What the MGM did, for a connection that sent [`Request::Monitor`].
    Monitor(MonitorEvent),
}

/// mgmd's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// The request succeeded and returns nothing.
    Ok,
    /// Answer to [`Request::Status`].
    Status {
        /// mgmd's version.
        version: String,
        /// Interfaces the XDP program is attached to.
        interfaces: Vec<String>,
        /// Whether the data plane is pinned (forwarding survives a restart of mgmd).
        #[serde(default)]
        pinned: bool,
        /// The pin directory, as named in the mount namespace whose bpffs holds it.
        #[serde(default)]
        pin_dir: Option<String>,
        /// Where that is: mgmd's own mount namespace, or the one it reached through
        /// `/proc/<pid>/root` (under `ip netns exec`).
        #[serde(default)]
        pinned_in: Option<String>,
    },
    /// Counter name → packets.
    Stats {
        /// The counters.
        counters: BTreeMap<String, u64>,
    },
    /// Managed interfaces.
    Interfaces {
        /// The rows.
        rows: Vec<InterfaceRow>,
    },
    /// Registered protocols.
    Protocols {
        /// The rows.
        rows: Vec<ProtocolRow>,
    },
    /// MFEs.
    Mfes {
        /// The rows, each entry with its rate.
        rows: Vec<MfeShown>,
    },
    /// Memberships.
    Groups {
        /// The rows.
        rows: Vec<GroupRow>,
    },
    /// IGMP state (the IGMP snapshot as JSON).
    Igmp {
        /// The snapshot.
        snapshot: serde_json::Value,
    },
    /// Static routes, in smcroute words.
    Routes {
        /// One line per route.
        routes: Vec<String>,
    },
    /// Answer to [`Request::Check`]: how the MGM's entries and the forwarding maps differ.
    Check {
        /// Entries the MGM holds.
        entries: usize,
        /// One line per difference (`(S, G) missing`, `extra`, or `differs: ...`); empty when
        /// the maps hold exactly the MGM's entries.
        differences: Vec<String>,
    },
    /// Answer to [`Request::Register`].
    Registered {
        /// The protocol handle (only meaningful on this connection).
        handle: u64,
    },
    /// Answer to [`Request::ProtocolOnInterface`].
    Owner {
        /// Protocol id.
        protocol_id: u32,
        /// Component id.
        component_id: u32,
    },
    /// The request failed.
    Error {
        /// The Win32-compatible code where the MGM API defines one (5 access denied, 87 invalid
        /// parameter, 183 already exists, 1003 cannot complete, 1168 not found), else 1003.
        code: u32,
        /// What went wrong.
        message: String,
    },
    /// Answer to [`Request::GroupEnumerationStart`].
    EnumHandle {
        /// The enumeration handle.
        handle: u64,
    },
    /// Answer to a buffer call (`MgmGetMfe*`, `MgmGroupEnumerationGetNext`).
    Buffer {
        /// Win32 status: 0 NO_ERROR, 122 INSUFFICIENT_BUFFER, 234 MORE_DATA, 259
        /// NO_MORE_ITEMS, 1168 NOT_FOUND, 87 INVALID_PARAMETER.
        status: u32,
        /// `*pdwBufferSize` after the call: the size one record needs on 122, else as sent.
        buffer_size: u32,
        /// `*pdwNumEntries`.
        num_entries: u32,
        /// The buffer's bytes as the MIB layout packs them, hex.
        records: String,
        /// The same records, decoded.
        entries: Vec<ApiRecord>,
    },
}

impl Response {
    /// An error response.
    pub fn error(code: u32, message: impl Into<String>) -> Self {
        Response::Error {
            code,
            message: message.into(),
        }
    }
}
