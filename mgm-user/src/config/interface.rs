//! The `[[interface]]` tables: the settings of one interface as parsed, and as mgmd uses them.
use super::IgmpTuning;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// How the XDP program is attached to an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum XdpMode {
    /// Native (driver) mode.
    #[default]
    Driver,
    /// Generic (skb) mode, for NICs without native XDP, bridges and `lo`.
    Generic,
}

/// One interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceConfig {
    /// Interface name.
    pub name: String,
    /// Whether the IGMP router side runs here.
    pub igmp: bool,
    /// IGMP version (2 or 3).
    pub igmp_version: u8,
    /// IGMP bounds and timers (MLD's too).
    pub igmp_tuning: IgmpTuning,
    /// Whether the MLD router side runs here (where the interface has a link-local address).
    pub mld: bool,
    /// MLD version (1 or 2).
    pub mld_version: u8,
    /// TTL threshold for copies sent here.
    pub ttl_threshold: u8,
    /// MTU for copies sent here (0 = the interface's own).
    pub mtu: u32,
    /// XDP attach mode.
    pub xdp_mode: XdpMode,
    /// Which routing protocol owns the interface.
    pub owner: Owner,
}

/// Which routing protocol owns an interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// A built-in protocol: the proxy on its interfaces, `static` on the others.
    #[default]
    Builtin,
    /// Nobody at start (IGMP alone runs there): an external protocol takes it over the API.
    External,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInterface {
    pub(super) name: Spanned<String>,
    #[serde(default = "yes")]
    pub(super) igmp: bool,
    #[serde(default)]
    pub(super) igmp_version: Option<Spanned<u8>>,
    pub(super) igmp_max_groups: Option<Spanned<usize>>,
    pub(super) igmp_max_sources: Option<Spanned<usize>>,
    pub(super) igmp_query_interval_s: Option<Spanned<u32>>,
    pub(super) igmp_query_response_ms: Option<Spanned<u32>>,
    pub(super) igmp_robustness: Option<Spanned<u8>>,
    pub(super) igmp_last_member_interval_ms: Option<Spanned<u32>>,
    #[serde(default = "yes")]
    pub(super) mld: bool,
    #[serde(default)]
    pub(super) mld_version: Option<Spanned<u8>>,
    #[serde(default)]
    pub(super) ttl_threshold: Option<u8>,
    #[serde(default)]
    pub(super) mtu: Option<Spanned<u32>>,
    #[serde(default)]
    pub(super) xdp_mode: XdpMode,
    #[serde(default)]
    pub(super) owner: Owner,
}

fn yes() -> bool {
    true
}

impl InterfaceConfig {
    /// Whether `other` equals this configuration but for what a reload applies in place: the
    /// IGMP and MLD versions, bounds and timers and the data plane's egress settings
    /// (`ttl_threshold`, `mtu`). Any other change takes the interface out of service and back.
    pub fn differs_only_in_place(&self, other: &Self) -> bool {
        let retuned = Self {
            igmp_tuning: other.igmp_tuning.clone(),
            igmp_version: other.igmp_version,
            mld_version: other.mld_version,
            ttl_threshold: other.ttl_threshold,
            mtu: other.mtu,
            ..self.clone()
        };
        retuned == *other
    }
}
