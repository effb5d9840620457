//! The messages of the API.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A request from a client to mgmd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// The daemon's version and attached interfaces.
    Status,
    /// The data plane's global counters.
    Stats,
}

/// mgmd's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// Answer to [`Request::Status`].
    Status {
        /// mgmd's version.
        version: String,
        /// Interfaces the XDP program is attached to.
        interfaces: Vec<String>,
    },
    /// Answer to [`Request::Stats`]: counter name → packets.
    Stats {
        /// The counters.
        counters: BTreeMap<String, u64>,
    },
    /// The request failed.
    Error {
        /// The Win32-compatible code where the MGM API defines one, else 0.
        code: u32,
        /// What went wrong.
        message: String,
    },
}
