//! Per-interface IGMP configuration (RFC 3376 §8) and the intervals derived from it.
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
        }
    }
}

/// The intervals in force on an interface, from its configuration or, while another router is
/// querier, from the robustness and query interval that querier advertises (RFC 3376 §4.1.6-7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Timing {
    pub robustness: u8,
    pub query_interval: Duration,
    pub query_response_interval: Duration,
    pub last_member_query_interval: Duration,
    pub last_member_query_count: u8,
}

impl Timing {
    /// Timing straight from the configuration.
    pub fn from_config(config: &IfaceConfig) -> Self {
        Timing {
            robustness: config.robustness.max(1),
            query_interval: config.query_interval,
            query_response_interval: config.query_response_interval,
            last_member_query_interval: config.last_member_query_interval,
            last_member_query_count: config.last_member_query_count.max(1),
        }
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

    /// Last Member Query Time: count × interval.
    pub fn last_member_query_time(&self) -> Duration {
        self.last_member_query_interval * u32::from(self.last_member_query_count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3376_defaults() {
        let t = Timing::from_config(&IfaceConfig::default());
        assert_eq!(t.group_membership_interval(), Duration::from_secs(260));
        assert_eq!(t.other_querier_present_interval(), Duration::from_secs(255));
        assert_eq!(t.last_member_query_time(), Duration::from_secs(2));
    }
}
