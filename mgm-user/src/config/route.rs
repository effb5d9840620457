//! Static routes with smcroute's semantics: the `[[route]]` tables and `mgmctl add`'s words,
//! with one validation for both.
use super::{InterfaceConfig, Owner};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, net::Ipv4Addr};

/// A static route: packets from `source` to `group` arriving on `from` go out of `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StaticRoute {
    /// Inbound interface.
    pub from: String,
    /// Source host or prefix; `None` = any source.
    pub source: Option<Ipv4Net>,
    /// Group host or prefix.
    pub group: Ipv4Net,
    /// Outbound interfaces (sorted, unique).
    pub to: Vec<String>,
}

/// What is wrong with a static route, and under which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteProblem {
    /// `route.from`, `route.group` or `route.to`.
    pub key: &'static str,
    /// What is wrong, naming what was given.
    pub message: String,
}

impl std::fmt::Display for RouteProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StaticRoute {
    /// The one validation of a route against the configured interfaces, for the
    /// configuration file and for routes added at run time (`mgmctl add`, the API) alike.
    pub fn check(&self, interfaces: &[InterfaceConfig]) -> Result<(), RouteProblem> {
        let problem = |key, message| Err(RouteProblem { key, message });
        let configured = |name: &str| interfaces.iter().find(|i| i.name == name);
        if configured(&self.from).is_none() {
            return problem(
                "route.from",
                format!(
                    "inbound interface {} is not a configured [[interface]]",
                    self.from
                ),
            );
        }
        if !is_multicast(&self.group) {
            return problem(
                "route.group",
                format!("group {} is not inside 224.0.0.0/4", self.group),
            );
        }
        if self.to.is_empty() {
            return problem("route.to", "no outbound interface".into());
        }
        for name in &self.to {
            match configured(name) {
                None => {
                    return problem(
                        "route.to",
                        format!("outbound interface {name} is not a configured [[interface]]"),
                    )
                }
                Some(_) if *name == self.from => {
                    return problem(
                        "route.to",
                        format!("outbound interface {name} is also the inbound interface"),
                    )
                }
                Some(i) if i.owner == Owner::External => {
                    return problem(
                        "route.to",
                        format!(
                            "outbound interface {name} is left to an external protocol \
                             (owner = \"external\")"
                        ),
                    )
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Whether a packet from `source` to `group` arriving on interface `iif` matches.
    pub fn matches(&self, iif: &str, source: Ipv4Addr, group: Ipv4Addr) -> bool {
        self.from == iif
            && self.group.contains(&group)
            && self.source.is_none_or(|s| s.contains(&source))
    }

    /// Parses smcroute-like words: `FROM [SOURCE[/LEN]] GROUP[/LEN] TO...`, where SOURCE may be
    /// `*` for any. Used by `mgmctl add/remove` and the API.
    pub fn parse_words(words: &[String]) -> Result<Self, String> {
        const USAGE: &str = "expected: INBOUND [SOURCE[/LEN]|*] GROUP[/LEN] OUTBOUND...";
        let [from, rest @ ..] = words else {
            return Err(USAGE.into());
        };
        let is_net = |w: &str| parse_net(w).is_ok();
        // SOURCE GROUP when the two words after INBOUND are both addresses (or `*` and one).
        let (source, group, to) = match rest {
            [a, b, to @ ..] if (a == "*" || is_net(a)) && is_net(b) => {
                let source = if a == "*" {
                    None
                } else {
                    Some(parse_net(a).map_err(|m| format!("source: {m}"))?)
                };
                (source, b, to)
            }
            [g, to @ ..] => (None, g, to),
            [] => return Err(format!("missing group; {USAGE}")),
        };
        let group = parse_net(group).map_err(|m| format!("group: {m}"))?;
        if !is_multicast(&group) {
            return Err(format!("group {group} is not inside 224.0.0.0/4"));
        }
        if to.is_empty() {
            return Err(format!("no outbound interface; {USAGE}"));
        }
        let to: BTreeSet<String> = to.iter().cloned().collect();
        Ok(Self {
            from: from.clone(),
            source,
            group,
            to: to.into_iter().collect(),
        })
    }
}

pub(super) fn parse_net(text: &str) -> Result<Ipv4Net, String> {
    if let Ok(net) = text.parse::<Ipv4Net>() {
        return Ok(net.trunc());
    }
    text.parse::<Ipv4Addr>()
        .map(Ipv4Net::from)
        .map_err(|_| format!("{text:?} is not an IPv4 address or prefix"))
}

pub(super) fn is_multicast(net: &Ipv4Net) -> bool {
    net.prefix_len() >= 4 && net.network().is_multicast()
}
