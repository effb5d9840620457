//! Per-interface MLD configuration (RFC 3810 §9) and the timing the group state machine uses.
use crate::igmp::config::{Settings, Timing, DEFAULT_MAX_GROUPS, DEFAULT_MAX_SOURCES};
use crate::igmp::Version as IgmpVersion;
use crate::wire::mld::MAX_RESP_LIMIT_MS;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// MLD version an interface runs as querier (and the highest group compatibility mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Version {
    /// RFC 2710.
    V1,
    /// RFC 3810.
    V2,
}

impl Version {
    /// The IGMP version whose role this one plays in the shared group state machine: MLDv1
    /// behaves as IGMPv2 and MLDv2 as IGMPv3 (RFC 3810 §8).
    pub(super) fn as_igmp(self) -> IgmpVersion {
        match self {
            Version::V1 => IgmpVersion::V2,
            Version::V2 => IgmpVersion::V3,
        }
    }

    /// The inverse of [`Self::as_igmp`] (IGMPv1 cannot occur for MLD groups).
    pub(super) fn from_igmp(version: IgmpVersion) -> Self {
        match version {
            IgmpVersion::V3 => Version::V2,
            IgmpVersion::V1 | IgmpVersion::V2 => Version::V1,
        }
    }
}

/// Configuration of one interface; every field is settable per interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceConfig {
    /// Version of the queries this router sends.
    pub version: Version,
    /// Robustness Variable (at least 1; 2 by default).
    pub robustness: u8,
    /// Interval between general queries sent by the querier.
    pub query_interval: Duration,
    /// Maximum response delay advertised in general queries.
    pub query_response_interval: Duration,
    /// Interval between the general queries sent at startup.
    pub startup_query_interval: Duration,
    /// Number of general queries sent at startup.
    pub startup_query_count: u8,
    /// Maximum response delay of multicast-address(-and-source)-specific queries, and their
    /// spacing.
    pub last_listener_query_interval: Duration,
    /// Number of specific queries sent for one event.
    pub last_listener_query_count: u8,
    /// Most groups tracked on the interface; a report that would create another is ignored.
    pub max_groups: usize,
    /// Most source records tracked on the interface, over all its groups; sources beyond it
    /// in a report are ignored and the rest of the report is applied.
    pub max_sources: usize,
}

impl Default for IfaceConfig {
    /// The defaults of RFC 3810 §9: robustness 2, query interval 125 s, response 10 s, startup
    /// queries a quarter of the query interval apart, last listener query interval 1 s.
    fn default() -> Self {
        IfaceConfig {
            version: Version::V2,
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            startup_query_interval: Duration::from_millis(125_000 / 4),
            startup_query_count: 2,
            last_listener_query_interval: Duration::from_secs(1),
            last_listener_query_count: 2,
            max_groups: DEFAULT_MAX_GROUPS,
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

/// Longest Maximum Response Delay of an MLDv1 query (a 16-bit count of milliseconds).
const V1_MAX_RESP_MS: u128 = u16::MAX as u128;
/// Longest query interval an MLDv2 QQIC can carry, in seconds.
const V2_MAX_QQI_SECS: u64 = 31_744;

impl IfaceConfig {
    /// Checks the configuration against RFC 3810 §9 and what the query format can carry.
    pub fn validate(&self) -> Result<(), &'static str> {
        let max_resp = match self.version {
            Version::V1 => V1_MAX_RESP_MS,
            Version::V2 => u128::from(MAX_RESP_LIMIT_MS),
        };
        let qqi_too_long =
            self.version == Version::V2 && self.query_interval.as_secs() > V2_MAX_QQI_SECS;
        self.settings().validate(
            |d| d.as_millis() <= max_resp,
            qqi_too_long.then_some("the query interval is too long for MLDv2 (31744 s at most)"),
            "the last listener query interval and count must be non-zero",
        )
    }

    /// The timing of the shared state machine, straight from this configuration.
    pub(super) fn timing(&self) -> Timing {
        self.settings().timing()
    }

    fn settings(&self) -> Settings {
        Settings {
            robustness: self.robustness,
            query_interval: self.query_interval,
            query_response_interval: self.query_response_interval,
            startup_query_interval: self.startup_query_interval,
            startup_query_count: self.startup_query_count,
            last_query_interval: self.last_listener_query_interval,
            last_query_count: self.last_listener_query_count,
            max_groups: self.max_groups,
            max_sources: self.max_sources,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let ok = IfaceConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        let bad = [
            IfaceConfig {
                robustness: 0,
                ..ok.clone()
            },
            IfaceConfig {
                query_response_interval: ok.query_interval,
                ..ok.clone()
            },
            IfaceConfig {
                version: Version::V1,
                query_response_interval: Duration::from_secs(66),
                ..ok.clone()
            },
            IfaceConfig {
                query_interval: Duration::from_secs(40_000),
                ..ok.clone()
            },
            IfaceConfig {
                last_listener_query_count: 0,
                ..ok.clone()
            },
            IfaceConfig {
                startup_query_interval: Duration::ZERO,
                ..ok.clone()
            },
            IfaceConfig {
                max_sources: 0,
                ..ok.clone()
            },
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        let v1_long = IfaceConfig {
            version: Version::V1,
            query_interval: Duration::from_secs(40_000),
            ..ok
        };
        assert_eq!(v1_long.validate(), Ok(()));
    }

    #[test]
    fn rfc3810_defaults() {
        let t = IfaceConfig::default().timing();
        // Multicast Address Listening Interval (§9.4) and Other Querier Present Timeout (§9.5).
        assert_eq!(t.group_membership_interval(), Duration::from_secs(260));
        assert_eq!(t.other_querier_present_interval(), Duration::from_secs(255));
        assert_eq!(t.last_member_query_time(), Duration::from_secs(2));
    }
}
