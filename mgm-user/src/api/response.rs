//! What mgmd sends: responses ([`Response`]), callbacks pushed to registered protocols
//! ([`Event`]), and the envelope of every message ([`ServerMessage`]).
#[cfg(doc)]
use super::request::{ApiAnswer, Request};
use super::{
    monitor::MonitorEvent,
    records::ApiRecord,
    rows::{GroupRow, InterfaceRow, MfeShown, ProtocolRow},
    values::{ApiIfEntry, ApiIfId, ApiRoute, ApiSg},
};
use serde::{Deserialize, Serialize};
use std::{collections::BTreeMap, net::IpAddr};

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
        upstream: IpAddr,
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
    /// MLD state (the MLD snapshot as JSON, in the shape of IGMP's).
    Mld {
        /// The snapshot.
        snapshot: serde_json::Value,
    },
    /// Static routes, in smcroute words.
    Routes {
        /// One line per route.
        routes: Vec<String>,
    },
    /// The router's joins: `IFACE SOURCE|* GROUP HOLDERS STATE` per line, HOLDERS `file` (a `[[join]]`),
    /// `join` (`mgmctl join`) and `proxy`, comma-separated, STATE `joined` or `waiting` (a failed
    /// join waiting for a retry, or its interface).
    Joins {
        /// One line per join.
        joins: Vec<String>,
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
