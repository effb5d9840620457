//! The rows of the tables mgmd answers `mgmctl show` with (interfaces, protocols, forwarding
//! entries with their rates, memberships), re-exported by [`proto`](super::proto).
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// One managed interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceRow {
    /// Name.
    pub name: String,
    /// Current ifindex (0 while absent).
    pub ifindex: u32,
    /// Up with carrier.
    pub up: bool,
    /// XDP attach mode, if attached.
    pub xdp: Option<String>,
    /// IGMP runs here (configured, and started from an IPv4 address).
    pub igmp: bool,
    /// MLD runs here (configured, and started from a link-local address).
    #[serde(default)]
    pub mld: bool,
    /// Owning routing protocol.
    pub owner: String,
}

/// One registered protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRow {
    /// Name (built-in) or "external".
    pub name: String,
    /// Protocol id.
    pub protocol_id: u32,
    /// Component id.
    pub component_id: u32,
    /// Interfaces owned (without next hop) in the IPv4 or the IPv6 MGM; IGMP's row holds
    /// MLD's (which owns under IGMP's id).
    pub interfaces: Vec<String>,
    /// External protocols: answers that missed the protocol's deadline (the default applied).
    #[serde(default)]
    pub missed_answers: u64,
}

/// One outgoing interface of an MFE with its counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OifRow {
    /// Interface name.
    pub iface: String,
    /// Copies sent.
    pub packets: u64,
    /// Bytes sent.
    pub bytes: u64,
    /// Copies dropped (TTL threshold, MTU).
    pub drops: u64,
}

/// One MFE.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeRow {
    /// Source (IPv4 or IPv6; in JSON, the address as text).
    pub source: IpAddr,
    /// Group, of the source's family.
    pub group: IpAddr,
    /// Incoming interface.
    pub iif: String,
    /// The protocol owning the incoming interface when the entry was made: `static`,
    /// `proxy`, `kernel` (mirrored from the kernel's routes), `external:0x…`; `adopted` for an
    /// entry of the previous run not re-derived yet; empty from an older mgmd.
    #[serde(default)]
    pub origin: String,
    /// Outgoing interfaces (empty: negative entry).
    pub oifs: Vec<OifRow>,
    /// Packets accepted.
    pub packets: u64,
    /// Bytes accepted.
    pub bytes: u64,
    /// Packets on the wrong interface.
    pub wrong_if: u64,
    /// Seconds since creation.
    pub age_s: u64,
    /// Seconds to expiry.
    pub expires_s: u64,
}

/// An MFE's rate over the interval between mgmd's previous sample of its counters and this
/// one (see `daemon::mfe_rates`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeRate {
    /// Packets accepted in the interval.
    pub packets: u64,
    /// Bytes accepted in the interval.
    pub bytes: u64,
    /// The interval, milliseconds.
    pub interval_ms: u64,
    /// Packets per second (rounded).
    pub pps: u64,
    /// Bits per second (rounded).
    pub bps: u64,
}

impl MfeRate {
    /// The rate of `packets` and `bytes` over `interval_ms` (at least 1).
    pub fn over(packets: u64, bytes: u64, interval_ms: u64) -> Self {
        let interval_ms = interval_ms.max(1);
        let per_second =
            |n: u128| ((n * 1000 + u128::from(interval_ms) / 2) / u128::from(interval_ms)) as u64;
        Self {
            packets,
            bytes,
            interval_ms,
            pps: per_second(u128::from(packets)),
            bps: per_second(u128::from(bytes) * 8),
        }
    }
}

/// One row of `show mfe`: the entry, and its rate when mgmd has an earlier sample of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeShown {
    /// The entry and its counters.
    #[serde(flatten)]
    pub entry: MfeRow,
    /// Its rate over the last interval (`None`: no earlier sample yet).
    #[serde(default)]
    pub rate: Option<MfeRate>,
}

/// One membership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRow {
    /// Source (0.0.0.0 or :: = any).
    pub source: IpAddr,
    /// Group (0.0.0.0 = all).
    pub group: IpAddr,
    /// Interface.
    pub iface: String,
    /// Protocol holding it.
    pub protocol: String,
    /// MGM flags: `MGM_JOIN_STATE_FLAG` (1) for every membership, plus
    /// `MGM_FORWARD_STATE_FLAG` (2) unless the FORWARD state of this (S,G) on the interface was
    /// deleted (its entry has the interface forward-disabled).
    pub flags: u32,
    /// Filter mode: `exclude` for an any-source membership (every source but `excluded`),
    /// `include` for a source-specific one.
    #[serde(default)]
    pub mode: String,
    /// The sources an IGMPv3 or MLDv2 EXCLUDE-mode (\*,G) membership does not forward.
    #[serde(default)]
    pub excluded: Vec<IpAddr>,
}
