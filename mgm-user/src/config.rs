//! mgmd's configuration file (TOML): interfaces, static routes, the IGMP proxy, the API.
//!
//! ```toml
//! [daemon]
//! bpffs = "/sys/fs/bpf/mgm"          # maps, programs and links are pinned under
//!                                    # <bpffs>/net-<network namespace inode>
//! api_socket = "/run/mgm/mgmd.sock"
//! api_group = "mgm"                  # the socket's group (name or gid); default root's
//! api_mode = "0660"                  # the socket's mode (octal)
//! api_allow_uids = [1000]            # control access (show, add/remove, join, register)
//! api_allow_gids = []                #   ... by primary or supplementary group
//! api_read_uids = []                 # read-only access (show)
//! api_read_gids = []
//! api_max_connections = 64           # open API connections; more are refused and counted
//! on_stop = "detach"                 # detach: SIGTERM stops forwarding and clears the pins;
//!                                    # keep: forwarding goes on from the pinned maps (upgrades)
//! adopt_window_s = 12                # after a restart, how long entries left by the previous
//!                                    # run keep forwarding before they are re-derived
//!
//! [[interface]]
//! name = "eth0"
//! igmp = true                        # run the IGMP router side here
//! igmp_version = 3                   # 2 or 3
//! ttl_threshold = 1                  # copies with a lower TTL are not sent here
//! mtu = 1500                         # 0 = the interface's own
//! xdp_mode = "driver"                # driver | generic
//! owner = "builtin"                  # builtin (static or proxy) | external (left to a
//!                                    # protocol that takes it through the API)
//!
//! [[route]]                          # static, smcroute's semantics
//! from = "eth0"                      # inbound interface
//! source = "10.0.0.0/24"             # optional: host or prefix; omitted = any source
//! group = "239.1.0.0/16"             # host or prefix inside 224.0.0.0/4
//! to = ["eth1", "eth2"]              # outbound interfaces
//!
//! [proxy]                            # IGMP proxy (RFC 4605)
//! upstream = "wan0"
//! downstream = ["lan0", "lan1"]
//! ```
//!
//! Every error names the line and the key it is about.
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, net::Ipv4Addr, path::Path};
use toml::Spanned;

mod daemon;

use daemon::RawDaemon;
pub use daemon::{DaemonConfig, OnStop};

/// A configuration error, with the line (1-based) and key it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}:{line}: {key}: {message}")]
pub struct ConfigError {
    /// The file, or `<config>` for text.
    pub path: String,
    /// The line the error is on (0 when the file could not be read).
    pub line: usize,
    /// The key the error is about.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Daemon-wide settings.
    pub daemon: DaemonConfig,
    /// Interfaces mgm runs on.
    pub interfaces: Vec<InterfaceConfig>,
    /// Static routes.
    pub routes: Vec<StaticRoute>,
    /// The IGMP proxy, if configured.
    pub proxy: Option<ProxyConfig>,
}

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

impl StaticRoute {
    /// Whether a packet from `source` to `group` arriving on interface `iif` matches.
    pub fn matches(&self, iif: &str, source: Ipv4Addr, group: Ipv4Addr) -> bool {
        self.from == iif
            && self.group.contains(&group)
            && self.source.is_none_or(|s| s.contains(&source))
    }

    /// Parses smcroute-like words: `FROM [SOURCE[/LEN]] GROUP[/LEN] TO...`, where SOURCE may be
    /// `*` for any. Used by `mgmctl add/remove` and the API.
    pub fn parse_words(words: &[String]) -> Result<Self, String> {
        let [from, rest @ ..] = words else {
            return Err("expected: INBOUND [SOURCE] GROUP OUTBOUND...".into());
        };
        let (source, group, to) = match rest {
            [a, b, to @ ..] if parse_net(b).is_ok_and(|n| is_multicast(&n)) => {
                let source = if a == "*" { None } else { Some(parse_net(a)?) };
                (source, parse_net(b)?, to)
            }
            [g, to @ ..] => (None, parse_net(g)?, to),
            [] => return Err("missing group".into()),
        };
        if !is_multicast(&group) {
            return Err(format!("{group} is not inside 224.0.0.0/4"));
        }
        if to.is_empty() {
            return Err("no outbound interface".into());
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

/// The IGMP proxy (RFC 4605).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProxyConfig {
    /// The interface towards the upstream router, where mgm acts as a host.
    pub upstream: String,
    /// Interfaces towards receivers, where mgm runs the IGMP router side.
    pub downstream: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    daemon: Option<RawDaemon>,
    #[serde(default)]
    interface: Vec<RawInterface>,
    #[serde(default)]
    route: Vec<RawRoute>,
    #[serde(default)]
    proxy: Option<RawProxy>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    #[serde(default = "yes")]
    igmp: bool,
    #[serde(default)]
    igmp_version: Option<Spanned<u8>>,
    #[serde(default)]
    ttl_threshold: Option<u8>,
    #[serde(default)]
    mtu: Option<u32>,
    #[serde(default)]
    xdp_mode: XdpMode,
    #[serde(default)]
    owner: Owner,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    from: Spanned<String>,
    source: Option<Spanned<String>>,
    group: Spanned<String>,
    to: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProxy {
    upstream: Spanned<String>,
    downstream: Spanned<Vec<String>>,
}

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            path: name.clone(),
            line: 0,
            key: "-".into(),
            message: e.to_string(),
        })?;
        Self::parse(&text, &name)
    }

    /// Parses and validates configuration text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let at = |span: std::ops::Range<usize>, key: &str, message: String| ConfigError {
            path: origin.to_owned(),
            line: line_of(text, span.start),
            key: key.to_owned(),
            message,
        };
        let raw: RawConfig = toml::from_str(text).map_err(|e| {
            let key = e.message().split('`').nth(1).unwrap_or("-").to_owned();
            at(e.span().unwrap_or(0..0), &key, e.message().to_owned())
        })?;
        let daemon = match raw.daemon {
            None => DaemonConfig::default(),
            Some(d) => d.into_config(&at)?,
        };
        let mut names = BTreeSet::new();
        let mut interfaces = Vec::new();
        for i in raw.interface {
            let name = i.name.get_ref();
            if name.is_empty() || name.len() > 15 {
                return Err(at(
                    i.name.span(),
                    "interface.name",
                    "must be 1 to 15 characters".into(),
                ));
            }
            if !names.insert(name.clone()) {
                return Err(at(
                    i.name.span(),
                    "interface.name",
                    format!("{name} is listed twice"),
                ));
            }
            let igmp_version = match i.igmp_version {
                None => 3,
                Some(v) if matches!(*v.get_ref(), 2 | 3) => *v.get_ref(),
                Some(v) => {
                    return Err(at(
                        v.span(),
                        "interface.igmp_version",
                        format!("{} is not 2 or 3", v.get_ref()),
                    ))
                }
            };
            interfaces.push(InterfaceConfig {
                name: name.clone(),
                igmp: i.igmp,
                igmp_version,
                ttl_threshold: i.ttl_threshold.unwrap_or(1),
                mtu: i.mtu.unwrap_or(0),
                xdp_mode: i.xdp_mode,
                owner: i.owner,
            });
        }
        let known = |s: &Spanned<String>, key: &str| {
            if names.contains(s.get_ref()) {
                Ok(())
            } else {
                Err(at(
                    s.span(),
                    key,
                    format!("{} is not a configured [[interface]]", s.get_ref()),
                ))
            }
        };
        let external = |name: &str| {
            interfaces
                .iter()
                .any(|i: &InterfaceConfig| i.name == name && i.owner == Owner::External)
        };
        let mut routes = Vec::new();
        for r in raw.route {
            known(&r.from, "route.from")?;
            let source = r
                .source
                .as_ref()
                .map(|s| parse_net(s.get_ref()).map_err(|m| at(s.span(), "route.source", m)))
                .transpose()?;
            let group =
                parse_net(r.group.get_ref()).map_err(|m| at(r.group.span(), "route.group", m))?;
            if !is_multicast(&group) {
                return Err(at(
                    r.group.span(),
                    "route.group",
                    format!("{group} is not inside 224.0.0.0/4"),
                ));
            }
            if r.to.get_ref().is_empty() {
                return Err(at(r.to.span(), "route.to", "no outbound interface".into()));
            }
            let mut to = BTreeSet::new();
            for o in r.to.get_ref() {
                if !names.contains(o) {
                    return Err(at(
                        r.to.span(),
                        "route.to",
                        format!("{o} is not a configured [[interface]]"),
                    ));
                }
                if o == r.from.get_ref() {
                    return Err(at(
                        r.to.span(),
                        "route.to",
                        format!("{o} is also the inbound interface"),
                    ));
                }
                if external(o) {
                    return Err(at(
                        r.to.span(),
                        "route.to",
                        format!("{o} is left to an external protocol (owner = \"external\")"),
                    ));
                }
                to.insert(o.clone());
            }
            routes.push(StaticRoute {
                from: r.from.get_ref().clone(),
                source,
                group,
                to: to.into_iter().collect(),
            });
        }
        let proxy = match raw.proxy {
            None => None,
            Some(p) => {
                known(&p.upstream, "proxy.upstream")?;
                if external(p.upstream.get_ref()) {
                    return Err(at(
                        p.upstream.span(),
                        "proxy.upstream",
                        "the proxy cannot use an interface left to an external protocol".into(),
                    ));
                }
                for d in p.downstream.get_ref() {
                    if !names.contains(d) || d == p.upstream.get_ref() || external(d) {
                        return Err(at(
                            p.downstream.span(),
                            "proxy.downstream",
                            format!(
                                "{d} must be a configured [[interface]] other than the upstream, \
                                 not left to an external protocol"
                            ),
                        ));
                    }
                }
                Some(ProxyConfig {
                    upstream: p.upstream.get_ref().clone(),
                    downstream: p.downstream.get_ref().clone(),
                })
            }
        };
        Ok(Self {
            daemon,
            interfaces,
            routes,
            proxy,
        })
    }

    /// The configuration of interface `name`.
    pub fn interface(&self, name: &str) -> Option<&InterfaceConfig> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

fn parse_net(text: &str) -> Result<Ipv4Net, String> {
    if let Ok(net) = text.parse::<Ipv4Net>() {
        return Ok(net.trunc());
    }
    text.parse::<Ipv4Addr>()
        .map(Ipv4Net::from)
        .map_err(|_| format!("{text:?} is not an IPv4 address or prefix"))
}

fn is_multicast(net: &Ipv4Net) -> bool {
    net.prefix_len() >= 4 && net.network().is_multicast()
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset)
        .map_or(1, |t| t.matches('\n').count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[daemon]
api_socket = "/tmp/x.sock"

[[interface]]
name = "eth0"

[[interface]]
name = "eth1"
igmp_version = 2
ttl_threshold = 4

[[interface]]
name = "eth2"

[[route]]
from = "eth0"
group = "239.1.0.0/16"
to = ["eth2", "eth1", "eth2"]

[[route]]
from = "eth0"
source = "10.0.0.1"
group = "232.1.1.1"
to = ["eth1"]
"#;

    #[test]
    fn a_valid_config_is_read_with_defaults() {
        let c = Config::parse(GOOD, "t").expect("valid");
        assert_eq!(c.daemon.api_socket, "/tmp/x.sock");
        assert_eq!(c.daemon.bpffs, "/sys/fs/bpf/mgm");
        assert_eq!(c.interfaces.len(), 3);
        assert_eq!(
            c.interface("eth1")
                .map(|i| (i.igmp_version, i.ttl_threshold)),
            Some((2, 4))
        );
        assert_eq!(c.routes[0].to, vec!["eth1".to_owned(), "eth2".to_owned()]);
        assert!(c.routes[0].matches(
            "eth0",
            "1.2.3.4".parse().unwrap(),
            "239.1.200.1".parse().unwrap()
        ));
        assert!(!c.routes[0].matches(
            "eth0",
            "1.2.3.4".parse().unwrap(),
            "239.2.0.1".parse().unwrap()
        ));
        assert!(c.routes[1].matches(
            "eth0",
            "10.0.0.1".parse().unwrap(),
            "232.1.1.1".parse().unwrap()
        ));
        assert!(!c.routes[1].matches(
            "eth0",
            "10.0.0.2".parse().unwrap(),
            "232.1.1.1".parse().unwrap()
        ));
    }

    pub(super) fn error_of(text: &str) -> ConfigError {
        Config::parse(text, "t").expect_err("must be refused")
    }

    #[test]
    fn errors_name_the_line_and_the_key() {
        let e = error_of("[[interface]]\nname = \"eth0\"\nigmp_version = 4\n");
        assert_eq!((e.line, e.key.as_str()), (3, "interface.igmp_version"));
        let e = error_of("[[interface]]\nname = \"eth0\"\n[[route]]\nfrom = \"eth0\"\ngroup = \"10.1.1.1\"\nto = [\"eth0\"]\n");
        assert_eq!((e.line, e.key.as_str()), (5, "route.group"));
        let e = error_of("[[interface]]\nname = \"eth0\"\n[[route]]\nfrom = \"eth9\"\ngroup = \"239.1.1.1\"\nto = [\"eth0\"]\n");
        assert_eq!((e.line, e.key.as_str()), (4, "route.from"));
        let e = error_of("[[interface]]\nname = \"eth0\"\ncolour = 1\n");
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("colour"), "{e}");
        let e = error_of("[[interface]]\nname = \"eth0\"\n\n[[interface]]\nname = \"eth0\"\n");
        assert_eq!((e.line, e.key.as_str()), (5, "interface.name"));
        let e = error_of("[[interface]]\nname = \"eth0\"\nowner = \"pim\"\n");
        assert_eq!(e.line, 3);
        let e = error_of("[[interface]]\nname = \"eth0\"\n[[interface]]\nname = \"eth1\"\nowner = \"external\"\n[[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.1\"\nto = [\"eth1\"]\n");
        assert_eq!((e.line, e.key.as_str()), (9, "route.to"));
        let e = error_of("[daemon]\nbpffs = 3\n");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn smcroute_like_words_parse() {
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let r = StaticRoute::parse_words(&words("eth0 10.0.0.1 239.1.1.1 eth1 eth2")).unwrap();
        assert_eq!(r.source, Some("10.0.0.1/32".parse().unwrap()));
        let r = StaticRoute::parse_words(&words("eth0 239.1.0.0/16 eth1")).unwrap();
        assert_eq!((r.source, r.group), (None, "239.1.0.0/16".parse().unwrap()));
        let r = StaticRoute::parse_words(&words("eth0 * 239.1.1.1 eth1")).unwrap();
        assert_eq!(r.source, None);
        assert!(StaticRoute::parse_words(&words("eth0 10.0.0.1 eth1")).is_err());
        assert!(StaticRoute::parse_words(&words("eth0 239.1.1.1")).is_err());
    }
}
