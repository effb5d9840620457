//! The IGMP keys of an `[[interface]]`: bounds on the state IGMP keeps there and its timers.
//!
//! ```toml
//! [[interface]]
//! name = "eth0"
//! igmp_max_groups = 1024             # groups tracked; a report for one more is ignored
//! igmp_max_sources = 8192            # source records over all groups; sources beyond are
//!                                    # ignored, the rest of the report is applied
//! igmp_query_interval_s = 125        # general query interval (1..=31744)
//! igmp_query_response_ms = 10000     # max response time of general queries (< the interval)
//! igmp_robustness = 2                # robustness variable (1..=7); also the startup and
//!                                    # last member query counts
//! igmp_last_member_interval_ms = 1000  # group(-and-source)-specific query interval
//! ```
//!
//! Refusals at a bound are counted per interface (`GroupLimit`, `SourceLimit` among the
//! ignored inputs of `mgmctl show igmp`) and logged at most once per query interval. SIGHUP
//! applies changed values to running interfaces without losing memberships.
use super::ConfigError;
use crate::{igmp, mld};
use serde::Serialize;
use std::{ops::Range, time::Duration};
use toml::Spanned;

/// IGMP settings of one interface.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IgmpTuning {
    /// Most groups tracked.
    pub max_groups: usize,
    /// Most source records tracked, over all groups.
    pub max_sources: usize,
    /// General query interval, seconds.
    pub query_interval_s: u32,
    /// Max response time of general queries, milliseconds.
    pub query_response_ms: u32,
    /// Robustness variable.
    pub robustness: u8,
    /// Last member query interval, milliseconds.
    pub last_member_interval_ms: u32,
}

impl Default for IgmpTuning {
    fn default() -> Self {
        Self::from_router_config(&igmp::IfaceConfig::default())
    }
}

impl IgmpTuning {
    fn from_router_config(c: &igmp::IfaceConfig) -> Self {
        let ms = |d: Duration| u32::try_from(d.as_millis()).unwrap_or(u32::MAX);
        IgmpTuning {
            max_groups: c.max_groups,
            max_sources: c.max_sources,
            query_interval_s: u32::try_from(c.query_interval.as_secs()).unwrap_or(u32::MAX),
            query_response_ms: ms(c.query_response_interval),
            robustness: c.robustness,
            last_member_interval_ms: ms(c.last_member_query_interval),
        }
    }

    /// The IGMP router's configuration for an interface running `version` (2 or 3), with the
    /// startup values RFC 3376 §8 derives: a quarter of the query interval, robustness queries.
    pub fn router_config(&self, version: u8) -> igmp::IfaceConfig {
        let query_interval = Duration::from_secs(u64::from(self.query_interval_s));
        igmp::IfaceConfig {
            version: if version == 2 {
                igmp::Version::V2
            } else {
                igmp::Version::V3
            },
            robustness: self.robustness,
            query_interval,
            query_response_interval: Duration::from_millis(u64::from(self.query_response_ms)),
            startup_query_interval: query_interval / 4,
            startup_query_count: self.robustness,
            last_member_query_interval: Duration::from_millis(u64::from(
                self.last_member_interval_ms,
            )),
            last_member_query_count: self.robustness,
            max_groups: self.max_groups,
            max_sources: self.max_sources,
        }
    }
}

impl IgmpTuning {
    /// The MLD router's configuration for an interface running MLD `version` (1 or 2), with
    /// the same bounds and timers as IGMP there (RFC 3810 §9 derives its startup values as
    /// RFC 3376 §8 does).
    pub fn mld_config(&self, version: u8) -> mld::IfaceConfig {
        let igmp = self.router_config(3);
        mld::IfaceConfig {
            version: if version == 1 {
                mld::Version::V1
            } else {
                mld::Version::V2
            },
            robustness: igmp.robustness,
            query_interval: igmp.query_interval,
            query_response_interval: igmp.query_response_interval,
            startup_query_interval: igmp.startup_query_interval,
            startup_query_count: igmp.startup_query_count,
            last_listener_query_interval: igmp.last_member_query_interval,
            last_listener_query_count: igmp.last_member_query_count,
            max_groups: igmp.max_groups,
            max_sources: igmp.max_sources,
        }
    }
}

/// The keys as read, with their spans for errors.
pub(super) struct RawIgmpTuning {
    pub igmp_max_groups: Option<Spanned<usize>>,
    pub igmp_max_sources: Option<Spanned<usize>>,
    pub igmp_query_interval_s: Option<Spanned<u32>>,
    pub igmp_query_response_ms: Option<Spanned<u32>>,
    pub igmp_robustness: Option<Spanned<u8>>,
    pub igmp_last_member_interval_ms: Option<Spanned<u32>>,
}

/// Largest max response time a query of `version` can carry, milliseconds.
fn max_response_ms(version: u8) -> u32 {
    if version == 2 {
        25_500
    } else {
        3_174_400
    }
}

impl RawIgmpTuning {
    /// The settings, each checked against its range; `at` makes an error about a span and key.
    pub(super) fn into_tuning(
        self,
        version: u8,
        at: &impl Fn(Range<usize>, &str, String) -> ConfigError,
    ) -> Result<IgmpTuning, ConfigError> {
        let d = IgmpTuning::default();
        let check = |v: &Option<Spanned<u32>>, key: &str, lo: u32, hi: u32, default: u32| match v {
            None => Ok(default),
            Some(v) if (lo..=hi).contains(v.get_ref()) => Ok(*v.get_ref()),
            Some(v) => Err(at(
                v.span(),
                key,
                format!("{} is not in {lo}..={hi}", v.get_ref()),
            )),
        };
        let at_least_one = |v: &Option<Spanned<usize>>, key: &str, default: usize| match v {
            None => Ok(default),
            Some(v) if *v.get_ref() > 0 => Ok(*v.get_ref()),
            Some(v) => Err(at(v.span(), key, "must be at least 1".into())),
        };
        let robustness = match &self.igmp_robustness {
            None => d.robustness,
            Some(v) if (1..=7).contains(v.get_ref()) => *v.get_ref(),
            Some(v) => {
                return Err(at(
                    v.span(),
                    "interface.igmp_robustness",
                    format!("{} is not in 1..=7", v.get_ref()),
                ))
            }
        };
        let query_interval_s = check(
            &self.igmp_query_interval_s,
            "interface.igmp_query_interval_s",
            1,
            31_744,
            d.query_interval_s,
        )?;
        let max_response = max_response_ms(version);
        let query_response_ms = check(
            &self.igmp_query_response_ms,
            "interface.igmp_query_response_ms",
            100,
            max_response,
            d.query_response_ms,
        )?;
        if u64::from(query_response_ms) >= u64::from(query_interval_s) * 1000 {
            let span = self
                .igmp_query_response_ms
                .as_ref()
                .or(self.igmp_query_interval_s.as_ref())
                .map_or(0..0, Spanned::span);
            return Err(at(
                span,
                "interface.igmp_query_response_ms",
                format!(
                    "{query_response_ms} ms is not below the query interval ({query_interval_s} s)"
                ),
            ));
        }
        Ok(IgmpTuning {
            max_groups: at_least_one(
                &self.igmp_max_groups,
                "interface.igmp_max_groups",
                d.max_groups,
            )?,
            max_sources: at_least_one(
                &self.igmp_max_sources,
                "interface.igmp_max_sources",
                d.max_sources,
            )?,
            query_interval_s,
            query_response_ms,
            robustness,
            last_member_interval_ms: check(
                &self.igmp_last_member_interval_ms,
                "interface.igmp_last_member_interval_ms",
                100,
                max_response,
                d.last_member_interval_ms,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn iface(lines: &str) -> Result<IgmpTuning, ConfigError> {
        let text = format!("[[interface]]\nname = \"eth0\"\n{lines}\n");
        Config::parse(&text, "t").map(|c| c.interfaces[0].igmp_tuning.clone())
    }

    #[test]
    fn keys_are_read_and_defaults_are_rfc_3376() {
        assert_eq!(iface(""), Ok(IgmpTuning::default()));
        let t = iface(
            "igmp_max_groups = 10\nigmp_max_sources = 20\nigmp_query_interval_s = 30\n\
             igmp_query_response_ms = 5000\nigmp_robustness = 3\nigmp_last_member_interval_ms = 500",
        )
        .unwrap();
        let c = t.router_config(3);
        assert_eq!((c.max_groups, c.max_sources), (10, 20));
        assert_eq!(c.query_interval, Duration::from_secs(30));
        assert_eq!(c.query_response_interval, Duration::from_secs(5));
        assert_eq!(c.startup_query_interval, Duration::from_millis(7500));
        assert_eq!((c.robustness, c.startup_query_count), (3, 3));
        assert_eq!(c.last_member_query_count, 3);
        assert_eq!(c.last_member_query_interval, Duration::from_millis(500));
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(
            IgmpTuning::default().router_config(3),
            igmp::IfaceConfig::default()
        );
    }

    #[test]
    fn bad_values_name_their_line_and_key() {
        for (lines, line, key) in [
            ("igmp_max_groups = 0", 3, "interface.igmp_max_groups"),
            ("igmp_max_sources = 0", 3, "interface.igmp_max_sources"),
            ("igmp_max_sources = -1", 3, "interface.igmp_max_sources"),
            ("igmp_robustness = 0", 3, "interface.igmp_robustness"),
            ("igmp_robustness = 8", 3, "interface.igmp_robustness"),
            (
                "igmp_query_interval_s = 0",
                3,
                "interface.igmp_query_interval_s",
            ),
            (
                "igmp_query_interval_s = 40000",
                3,
                "interface.igmp_query_interval_s",
            ),
            (
                "igmp_query_response_ms = 50",
                3,
                "interface.igmp_query_response_ms",
            ),
            (
                "igmp_query_interval_s = 5\nigmp_query_response_ms = 5000",
                4,
                "interface.igmp_query_response_ms",
            ),
            (
                "igmp_last_member_interval_ms = 0",
                3,
                "interface.igmp_last_member_interval_ms",
            ),
            (
                "igmp_version = 2\nigmp_query_response_ms = 30000",
                4,
                "interface.igmp_query_response_ms",
            ),
        ] {
            let e = iface(lines).expect_err(lines);
            assert_eq!((e.line, e.key.as_str()), (line, key), "{lines}: {e}");
        }
    }
}
