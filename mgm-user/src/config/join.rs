//! `[[join]]`: groups the router joins as a host from its start, as smcroute's `mgroup` lines
//! (IGMP or MLD reports go out of the interface), beside those `mgmctl join` adds at run time.
use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::{net::IpAddr, ops::Range};
use toml::Spanned;

/// `[[join]]` tables a file may hold (each is a socket of mgmd's, as a `mgmctl join` is): a
/// file with more is refused, naming the first one too many.
pub const MAX_FILE_JOINS: usize = 1024;

/// A join of the configuration file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct JoinConfig {
    /// The configured interface it is made on.
    pub interface: String,
    /// The group (IPv4 or IPv6).
    pub group: IpAddr,
    /// For a source-specific join, its source (of the group's family).
    pub source: Option<IpAddr>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawJoin {
    interface: Spanned<String>,
    group: Spanned<String>,
    source: Option<Spanned<String>>,
}

impl RawJoin {
    /// Checks the joins against the configured interface names and [`MAX_FILE_JOINS`].
    pub(super) fn all_into_config(
        raw: Vec<Self>,
        configured: impl Fn(&str) -> bool,
        at: &impl Fn(Range<usize>, &str, String) -> ConfigError,
    ) -> Result<Vec<JoinConfig>, ConfigError> {
        if let Some(extra) = raw.get(MAX_FILE_JOINS) {
            let message = format!("one [[join]] more than the {MAX_FILE_JOINS} a file may hold");
            return Err(at(extra.interface.span(), "join", message));
        }
        raw.into_iter()
            .map(|j| j.into_config(&configured, at))
            .collect()
    }

    /// Checks the join against the configured interface names.
    fn into_config(
        self,
        configured: impl Fn(&str) -> bool,
        at: &impl Fn(Range<usize>, &str, String) -> ConfigError,
    ) -> Result<JoinConfig, ConfigError> {
        let address = |s: &Spanned<String>, key: &str| {
            s.get_ref().parse::<IpAddr>().map_err(|_| {
                at(
                    s.span(),
                    key,
                    format!("{:?} is not an IPv4 or IPv6 address", s.get_ref()),
                )
            })
        };
        if !configured(self.interface.get_ref()) {
            let message = format!(
                "{} is not a configured [[interface]]",
                self.interface.get_ref()
            );
            return Err(at(self.interface.span(), "join.interface", message));
        }
        let group = address(&self.group, "join.group")?;
        if !group.is_multicast() {
            let message = format!("{group} is not a multicast group");
            return Err(at(self.group.span(), "join.group", message));
        }
        let source = match &self.source {
            None => None,
            Some(s) => {
                let source = address(s, "join.source")?;
                if source.is_multicast() || source.is_unspecified() {
                    let message = format!("source {source} is not a unicast address");
                    return Err(at(s.span(), "join.source", message));
                }
                if source.is_ipv4() != group.is_ipv4() {
                    let message = format!(
                        "source {source} and group {group} are of different address families"
                    );
                    return Err(at(s.span(), "join.source", message));
                }
                Some(source)
            }
        };
        Ok(JoinConfig {
            interface: self.interface.into_inner(),
            group,
            source,
        })
    }
}
