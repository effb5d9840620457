//! The messages of the API: requests from clients (operators' tools and external routing
//! protocols), mgmd's responses, and the events it pushes to registered protocols.
//!
//! Addresses are strings in JSON, of either family: an IPv6 one reaches the IPv6 MGM. An external
//! protocol registers, then uses the same calls as a built-in one; mgmd pushes its callbacks as
//! [`ServerMessage::Event`]s. Callbacks with out-parameters (RPF, creation alert, FALSE prune
//! alert) carry a `query` id; the protocol answers with [`Request::Answer`] before its answer
//! deadline (1 s unless the protocol chose another at registration), after which the documented
//! default applies (RPF: the RIB's values; creation alert: forward on every offered interface;
//! prune alert: the default MFE lifetime).
//!
//! The buffer calls of the MGM API (MFE and group enumeration, `MgmGetMfe*`) carry the caller's
//! buffer size and answer with [`Response::Buffer`]: the Win32 status, the entry count, the
//! records in their MIB byte layout (hex) and the same records decoded ([`ApiRecord`]).
//! `mgm-user/docs/protocol.md` documents every message with worked exchanges.
//!
//! The types live by concern: [`values`](super::values), [`request`](super::request),
//! [`response`](super::response); this module gathers them under one path.
pub use super::monitor::{MonitorEvent, MonitorSg};
pub use super::records::{
    ApiRecord, MfeHead, MfeRecord, MfeStatsEx, MfeStatsRecord, OifStatsRecord,
};
pub use super::request::{ApiAnswer, ApiCallback, Request};
pub use super::response::{Event, Response, ServerMessage};
pub use super::rows::{GroupRow, InterfaceRow, MfeRate, MfeRow, MfeShown, OifRow, ProtocolRow};
pub use super::values::{ApiFamily, ApiIfEntry, ApiIfId, ApiMasks, ApiRoute, ApiSg};
