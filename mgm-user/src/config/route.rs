//! Static routes with smcroute's semantics: the `[[route]]` tables and `mgmctl add`'s words,
//! with one validation for both.
use super::{InterfaceConfig, Owner};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, net::IpAddr};

/// Static routes mgmd keeps per address family (a route's group decides its family): a
/// configuration with more is refused, and `mgmctl add` of one more is refused with 1003,
/// counted (`static_routes_refused`, `static_routes6_refused`) and logged at most once per 10 s.
/// Each new flow's first packet is matched against the routes of its family one by one.
pub const MAX_STATIC_ROUTES: usize = 4096;

/// A static route: packets from `source` to `group` arriving on `from` go out of `to`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StaticRoute {
    /// Inbound interface.
    pub from: String,
    /// Source host or prefix (IPv4 or IPv6, the group's family); `None` = any source.
    pub source: Option<IpNet>,
    /// Group host or prefix: inside 224.0.0.0/4, or inside ff00::/8 with a routed scope
    /// (see [`group_problem`]).
    pub group: IpNet,
    /// Outbound interfaces (sorted, unique).
    pub to: Vec<String>,
}

/// What is wrong with a static route, and under which key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteProblem {
    /// `route.from`, `route.source`, `route.group` or `route.to`.
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
        if let Some(message) = group_problem(&self.group) {
            return problem("route.group", message);
        }
        if let Some(message) = self.source.and_then(|s| family_problem(&s, &self.group)) {
            return problem("route.source", message);
        }
        if let Some(source) = self.source.filter(|s| s.network().is_multicast()) {
            return problem(
                "route.source",
                format!("source {source} is a multicast address: a source is a host or network that sends"),
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
    pub fn matches(&self, iif: &str, source: impl Into<IpAddr>, group: impl Into<IpAddr>) -> bool {
        let (source, group) = (source.into(), group.into());
        self.from == iif
            && self.group.contains(&group)
            && self.source.is_none_or(|s| s.contains(&source))
    }

    /// Parses smcroute-like words: `FROM [SOURCE[/LEN]] GROUP[/LEN] TO...`, where SOURCE may be
    /// `*` (or the unspecified address) for any; which word is which follows from their shapes
    /// ([`RouteWords::split`]). Used by `mgmctl add/remove` and the API.
    pub fn parse_words(words: &[String]) -> Result<Self, String> {
        const USAGE: &str = "expected: INBOUND [SOURCE[/LEN]|*] GROUP[/LEN] OUTBOUND...";
        let RouteWords {
            from,
            source,
            group,
            to,
        } = RouteWords::split(words).ok_or(USAGE)?;
        let source = match source {
            None | Some("*") => None,
            Some(word) => parse_source(word).map_err(|m| format!("source: {m}"))?,
        };
        let group = group.ok_or_else(|| format!("missing group; {USAGE}"))?;
        let group = parse_net(group).map_err(|m| format!("group: {m}"))?;
        if let Some(message) = group_problem(&group) {
            return Err(message);
        }
        if let Some(message) = source.and_then(|s| family_problem(&s, &group)) {
            return Err(message);
        }
        if to.is_empty() {
            return Err(format!("no outbound interface; {USAGE}"));
        }
        let to: BTreeSet<String> = to.iter().cloned().collect();
        Ok(Self {
            from: from.to_owned(),
            source,
            group,
            to: to.into_iter().collect(),
        })
    }
}

/// A route's words split by smcroute's grammar, `FROM [SOURCE] GROUP TO...`.
struct RouteWords<'a> {
    from: &'a str,
    source: Option<&'a str>,
    group: Option<&'a str>,
    to: &'a [String],
}

impl<'a> RouteWords<'a> {
    /// Splits `words` (`None` if there are none) by their shapes, not by whether they parse, so
    /// that an error names the word that is wrong: the word after FROM is SOURCE if it can only
    /// be one ([`only_a_source`]) or if the next word is written as an address
    /// ([`written_as_address`]), not as an interface name; else it is GROUP.
    fn split(words: &'a [String]) -> Option<Self> {
        let [from, rest @ ..] = words else {
            return None;
        };
        let source_given = rest.first().is_some_and(|w| only_a_source(w))
            || rest.get(1).is_some_and(|w| written_as_address(w));
        let (source, rest) = match rest {
            [source, rest @ ..] if source_given => (Some(source.as_str()), rest),
            _ => (None, rest),
        };
        let (group, to) = match rest {
            [group, to @ ..] => (Some(group.as_str()), to),
            [] => (None, rest),
        };
        Some(Self {
            from,
            source,
            group,
            to,
        })
    }
}

/// Whether `word` can only be a route's source: `*`, or an address or prefix that is not
/// multicast, which no group is.
fn only_a_source(word: &str) -> bool {
    word == "*" || parse_net(word).is_ok_and(|net| !net.network().is_multicast())
}

/// Whether `word` is written as an address or prefix rather than an interface name: it parses
/// as one, or it has a `/` or `:`, which Linux allows in no interface name.
fn written_as_address(word: &str) -> bool {
    parse_net(word).is_ok() || word.contains(['/', ':'])
}

/// What `mgmctl add` or `remove` of `words` does that the user likely did not mean, though it
/// is accepted: a prefix with bits beyond its length ([`host_bits_problem`]), an outbound
/// interface named twice ([`repeated_problem`]).
pub fn word_warnings(words: &[String]) -> Vec<String> {
    let prefixes = words.iter().filter_map(|w| host_bits_problem(w));
    let outbound = RouteWords::split(words).map_or(&[][..], |w| w.to);
    prefixes.chain(repeated_problem(outbound)).collect()
}

/// The names listed more than once in `names` (an outbound list), and what that does.
pub(super) fn repeated_problem<S: AsRef<str>>(names: &[S]) -> Option<String> {
    let mut seen = BTreeSet::new();
    let repeated: BTreeSet<&str> = names
        .iter()
        .map(AsRef::as_ref)
        .filter(|name| !seen.insert(*name))
        .collect();
    (!repeated.is_empty()).then(|| {
        let names: Vec<&str> = repeated.into_iter().collect();
        format!(
            "{} named more than once: the route sends one copy out of each interface",
            names.join(", ")
        )
    })
}

pub(super) fn parse_net(text: &str) -> Result<IpNet, String> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("{text:?} is not an IPv4 or IPv6 address or prefix"))
}

/// What a prefix written with bits set beyond its length (`10.1.0.2/8`) is read as, and why
/// that is likely not meant; `None` for an address or a prefix written as its network.
pub(super) fn host_bits_problem(text: &str) -> Option<String> {
    let net = text.parse::<IpNet>().ok()?;
    (net != net.trunc()).then(|| {
        format!(
            "{text} has bits set beyond its /{} prefix: it is read as {}, not the host {}",
            net.prefix_len(),
            net.trunc(),
            net.addr()
        )
    })
}

/// Parses a route's source: a host or prefix, where the unspecified address (`0.0.0.0`, `::`,
/// with any length) means any source, as with smcroute and the API's wildcard, not a host that
/// never sends.
pub(super) fn parse_source(text: &str) -> Result<Option<IpNet>, String> {
    parse_net(text).map(|net| (!net.network().is_unspecified()).then_some(net))
}

/// Lowest IPv6 multicast scope routed (RFC 7346): 1 (interface-local) and 2 (link-local)
/// never leave their link.
const MIN_ROUTED_SCOPE6: u8 = 3;

/// What is wrong with `group` as a route's group, if anything: an IPv4 group lies inside
/// 224.0.0.0/4 and not wholly inside the link-local 224.0.0.0/24; an IPv6 group inside
/// ff00::/8 with a prefix long enough to fix its scope (/16) and a scope of at least 3
/// (admin-local).
pub(super) fn group_problem(group: &IpNet) -> Option<String> {
    match group {
        IpNet::V4(net) if net.prefix_len() >= 24 && net.network().octets()[..3] == [224, 0, 0] => {
            Some(format!(
                "group {group} is inside 224.0.0.0/24 (link-local), which is never routed"
            ))
        }
        IpNet::V4(net) if net.prefix_len() >= 4 && net.network().is_multicast() => None,
        IpNet::V4(_) => Some(format!("group {group} is not inside 224.0.0.0/4")),
        IpNet::V6(net) if !net.network().is_multicast() => {
            Some(format!("group {group} is not inside ff00::/8"))
        }
        IpNet::V6(net) if net.prefix_len() < 16 => Some(format!(
            "group {group} spans several scopes: give at least 16 bits (e.g. ff0e::/16)"
        )),
        IpNet::V6(net) => {
            let scope = net.network().octets()[1] & 0x0f;
            (scope < MIN_ROUTED_SCOPE6).then(|| {
                format!(
                    "group {group} has scope {scope} (interface- or link-local), which is never \
                     routed: the scope must be {MIN_ROUTED_SCOPE6} or more"
                )
            })
        }
    }
}

/// A source of the other family than the group's.
fn family_problem(source: &IpNet, group: &IpNet) -> Option<String> {
    (source.network().is_ipv4() != group.network().is_ipv4())
        .then(|| format!("source {source} and group {group} are of different address families"))
}
