//! Per-interface IGMP configuration (RFC 3376 §8) and the intervals derived from it.
use crate::wire::igmp::encode_code;
use crate::wire::source_list::QueryFields;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// IGMP version an interface runs as querier (and the highest group compatibility mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Version {
    /// RFC 1112.
    V1,
    /// RFC 2236.
    V2,
    /// RFC 3376.
    V3,
}

/// Configuration of one interface; every field is settable per interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IfaceConfig {
    /// Version of the queries this router sends.
    pub version: Version,
    /// Robustness Variable: expected packet loss tolerance (at least 1; 2 by default).
    pub robustness: u8,
    /// Interval between general queries sent by the querier.
    pub query_interval: Duration,
    /// Max response time advertised in general queries.
    pub query_response_interval: Duration,
    /// Interval between the general queries sent at startup.
    pub startup_query_interval: Duration,
    /// Number of general queries sent at startup.
    pub startup_query_count: u8,
    /// Max response time of group(-and-source)-specific queries, and their spacing.
    pub last_member_query_interval: Duration,
    /// Number of group(-and-source)-specific queries sent for one event.
    pub last_member_query_count: u8,
    /// Most groups tracked on the interface; a report that would create another is ignored.
    pub max_groups: usize,
    /// Most source records tracked on the interface, over all its groups; sources beyond it
    /// in a report are ignored and the rest of the report is applied.
    pub max_sources: usize,
}

impl Default for IfaceConfig {
    /// The defaults of RFC 3376 §8: robustness 2, query interval 125 s, response 10 s,
    /// last member query interval 1 s.
    fn default() -> Self {
        IfaceConfig {
            version: Version::V3,
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            startup_query_interval: Duration::from_millis(125_000 / 4),
            startup_query_count: 2,
            last_member_query_interval: Duration::from_secs(1),
            last_member_query_count: 2,
            max_groups: DEFAULT_MAX_GROUPS,
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

/// Default of [`IfaceConfig::max_groups`].
pub const DEFAULT_MAX_GROUPS: usize = 1024;
/// Default of [`IfaceConfig::max_sources`].
pub const DEFAULT_MAX_SOURCES: usize = 8192;

/// Largest Max Resp Code of a v3 query, in tenths of a second (RFC 3376 §4.1.1).
const V3_MAX_RESP_TENTHS: u128 = 31_744;
/// Largest Max Response Time of a v2 query, in tenths of a second.
const V2_MAX_RESP_TENTHS: u128 = 255;
/// Largest query interval a v3 QQIC can carry, in seconds.
const V3_MAX_QQI_SECS: u64 = 31_744;

impl IfaceConfig {
    /// Checks the configuration against RFC 3376 §8 and what the query format can carry.
    pub fn validate(&self) -> Result<(), &'static str> {
        let max_resp = match self.version {
            Version::V3 => V3_MAX_RESP_TENTHS,
            Version::V2 => V2_MAX_RESP_TENTHS,
            Version::V1 => u128::MAX,
        };
        let qqi_too_long =
            self.version == Version::V3 && self.query_interval.as_secs() > V3_MAX_QQI_SECS;
        self.settings().validate(
            |d| d.as_millis() / 100 <= max_resp,
            qqi_too_long.then_some("the query interval is too long for IGMPv3 (31744 s at most)"),
            "the last member query interval and count must be non-zero",
        )
    }

    fn settings(&self) -> Settings {
        Settings {
            robustness: self.robustness,
            query_interval: self.query_interval,
            query_response_interval: self.query_response_interval,
            startup_query_interval: self.startup_query_interval,
            startup_query_count: self.startup_query_count,
            last_query_interval: self.last_member_query_interval,
            last_query_count: self.last_member_query_count,
            max_groups: self.max_groups,
            max_sources: self.max_sources,
        }
    }
}

/// The settings IGMP and MLD configure alike, as configured: their checks and the timing
/// derived from them are one code for both protocols.
pub(crate) struct Settings {
    pub robustness: u8,
    pub query_interval: Duration,
    pub query_response_interval: Duration,
    pub startup_query_interval: Duration,
    pub startup_query_count: u8,
    /// Last member (IGMP) or listener (MLD) query interval.
    pub last_query_interval: Duration,
    /// Last member (IGMP) or listener (MLD) query count.
    pub last_query_count: u8,
    pub max_groups: usize,
    pub max_sources: usize,
}

impl Settings {
    /// Checks the settings in a fixed order, the protocol's own checks among them: whether a
    /// response interval `fits` the query version, `qqi_too_long` when the query interval is
    /// too long for it, and the protocol's message for a zero last query interval or count.
    pub fn validate(
        &self,
        fits: impl Fn(Duration) -> bool,
        qqi_too_long: Option<&'static str>,
        last_query_zero: &'static str,
    ) -> Result<(), &'static str> {
        if self.robustness == 0 {
            return Err("robustness must be at least 1");
        }
        if self.query_response_interval.is_zero()
            || self.query_response_interval >= self.query_interval
        {
            return Err(
                "the query response interval must be non-zero and below the query interval",
            );
        }
        if !fits(self.query_response_interval) || !fits(self.last_query_interval) {
            return Err("a response interval is too long for the query version");
        }
        if let Some(error) = qqi_too_long {
            return Err(error);
        }
        if self.last_query_interval.is_zero() || self.last_query_count == 0 {
            return Err(last_query_zero);
        }
        if self.startup_query_count > 1 && self.startup_query_interval.is_zero() {
            return Err("the startup query interval must be non-zero");
        }
        if self.max_groups == 0 || self.max_sources == 0 {
            return Err("the group and source limits must be at least 1");
        }
        Ok(())
    }

    /// The timing straight from the settings (robustness and count at least 1).
    pub fn timing(&self) -> Timing {
        Timing {
            robustness: self.robustness.max(1),
            query_interval: self.query_interval,
            query_response_interval: self.query_response_interval,
            last_member_query_interval: self.last_query_interval,
            last_member_query_count: self.last_query_count.max(1),
        }
    }
}

/// The intervals in force on an interface, from its configuration or, while another router is
/// querier, from the robustness and query interval that querier advertises (RFC 3376 §4.1.6-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timing {
    pub robustness: u8,
    pub query_interval: Duration,
    pub query_response_interval: Duration,
    pub last_member_query_interval: Duration,
    pub last_member_query_count: u8,
}

impl Timing {
    /// Timing straight from the configuration.
    pub fn from_config(config: &IfaceConfig) -> Self {
        config.settings().timing()
    }

    /// Group Membership Interval: robustness × query interval + query response interval.
    pub fn group_membership_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval
    }

    /// Other Querier Present Interval: robustness × query interval + half the response interval.
    pub fn other_querier_present_interval(&self) -> Duration {
        self.query_interval * u32::from(self.robustness) + self.query_response_interval / 2
    }

    /// Older Version Host Present Interval (equal to the group membership interval).
    pub fn older_host_present_interval(&self) -> Duration {
        self.group_membership_interval()
    }

    /// Max response time of this router's queries: the query response interval for a general
    /// query, the last member query interval for a specific one.
    pub fn max_response(&self, general: bool) -> Duration {
        if general {
            self.query_response_interval
        } else {
            self.last_member_query_interval
        }
    }

    /// The IGMPv3 (MLDv2) fields of this router's queries: the robustness as QRV (0 when over
    /// 7) and the query interval as QQIC.
    pub fn query_fields<A>(&self, suppress: bool, sources: Vec<A>) -> QueryFields<A> {
        QueryFields {
            suppress,
            qrv: if self.robustness <= 7 {
                self.robustness
            } else {
                0
            },
            qqic: encode_code(u32::try_from(self.query_interval.as_secs()).unwrap_or(u32::MAX)),
            sources,
        }
    }

    /// Last Member Query Time: count × interval.
    pub fn last_member_query_time(&self) -> Duration {
        self.last_member_query_interval * u32::from(self.last_member_query_count)
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
                query_response_interval: Duration::ZERO,
                ..ok.clone()
            },
            IfaceConfig {
                version: Version::V2,
                query_response_interval: Duration::from_secs(26),
                ..ok.clone()
            },
            IfaceConfig {
                query_interval: Duration::from_secs(40_000),
                ..ok.clone()
            },
            IfaceConfig {
                last_member_query_count: 0,
                ..ok.clone()
            },
            IfaceConfig {
                last_member_query_interval: Duration::ZERO,
                ..ok.clone()
            },
            IfaceConfig {
                startup_query_interval: Duration::ZERO,
                ..ok.clone()
            },
            IfaceConfig {
                max_groups: 0,
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
            query_response_interval: Duration::from_secs(100),
            ..ok
        };
        assert_eq!(v1_long.validate(), Ok(()));
    }

    #[test]
    fn rfc3376_defaults() {
        let t = Timing::from_config(&IfaceConfig::default());
        assert_eq!(t.group_membership_interval(), Duration::from_secs(260));
        assert_eq!(t.other_querier_present_interval(), Duration::from_secs(255));
        assert_eq!(t.last_member_query_time(), Duration::from_secs(2));
    }
}
