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
//! mfe_lifetime_s = 900               # lifetime of a forwarding entry (read at start)
//! max_negative_entries = 32768       # drop entries (no receivers, no route) kept at once, at
//!                                    # most 131072 (the data plane's table); the oldest go first
//!
//! [[interface]]
//! name = "eth0"
//! igmp = true                        # run the IGMP router side here
//! igmp_version = 3                   # 2 or 3
//! igmp_max_groups = 1024             # bounds and timers of IGMP here: see config::igmp_tuning
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
//!
//! [metrics]                          # opt-in Prometheus endpoint, GET /metrics
//! listen = "127.0.0.1:9641"          # the default when the table is present
//! max_entries = 1000                 # entries with series of their own
//!
//! [mirror]                           # mirror the kernel's multicast routes: see config::mirror
//! enabled = true
//! ```
//!
//! Every error names the line and the key it is about.
use serde::{Deserialize, Serialize};
use std::{collections::BTreeSet, path::Path};
use toml::Spanned;

mod daemon;
mod igmp_tuning;
mod mirror;
mod route;

use daemon::RawDaemon;
pub use daemon::{DaemonConfig, OnStop};
pub use igmp_tuning::IgmpTuning;
use igmp_tuning::RawIgmpTuning;
pub use mirror::{MirrorConfig, DEFAULT_MROUTE_TABLE};
use route::parse_net;
pub use route::{RouteProblem, StaticRoute};

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
    /// The Prometheus endpoint, if enabled.
    pub metrics: Option<MetricsConfig>,
    /// Mirroring of the kernel's multicast routes, if enabled.
    pub mirror: Option<MirrorConfig>,
}

/// The opt-in Prometheus endpoint (`[metrics]`; read at start only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MetricsConfig {
    /// Address and port of `GET /metrics` (loopback unless chosen otherwise).
    pub listen: std::net::SocketAddr,
    /// Entries with series of their own; the rest only count in the per-interface sums.
    pub max_entries: usize,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 9641)),
            max_entries: 1000,
        }
    }
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
    /// IGMP bounds and timers.
    pub igmp_tuning: IgmpTuning,
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
    #[serde(default)]
    metrics: Option<RawMetrics>,
    #[serde(default)]
    mirror: Option<mirror::RawMirror>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<std::net::SocketAddr>,
    max_entries: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterface {
    name: Spanned<String>,
    #[serde(default = "yes")]
    igmp: bool,
    #[serde(default)]
    igmp_version: Option<Spanned<u8>>,
    igmp_max_groups: Option<Spanned<usize>>,
    igmp_max_sources: Option<Spanned<usize>>,
    igmp_query_interval_s: Option<Spanned<u32>>,
    igmp_query_response_ms: Option<Spanned<u32>>,
    igmp_robustness: Option<Spanned<u8>>,
    igmp_last_member_interval_ms: Option<Spanned<u32>>,
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
        let document = toml::Deserializer::parse(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let key = key_at(text, span.start);
            at(span, &key, syntax_message(&e))
        })?;
        let raw: RawConfig = serde_path_to_error::deserialize(document).map_err(|e| {
            let key = key_of_path(e.path());
            let e = e.into_inner();
            at(
                e.span().unwrap_or(0..0),
                &key,
                e.message().trim_end().to_owned(),
            )
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
            let igmp_tuning = RawIgmpTuning {
                igmp_max_groups: i.igmp_max_groups,
                igmp_max_sources: i.igmp_max_sources,
                igmp_query_interval_s: i.igmp_query_interval_s,
                igmp_query_response_ms: i.igmp_query_response_ms,
                igmp_robustness: i.igmp_robustness,
                igmp_last_member_interval_ms: i.igmp_last_member_interval_ms,
            }
            .into_tuning(igmp_version, &at)?;
            interfaces.push(InterfaceConfig {
                name: name.clone(),
                igmp: i.igmp,
                igmp_version,
                igmp_tuning,
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
            let source = r
                .source
                .as_ref()
                .map(|s| parse_net(s.get_ref()).map_err(|m| at(s.span(), "route.source", m)))
                .transpose()?;
            let group =
                parse_net(r.group.get_ref()).map_err(|m| at(r.group.span(), "route.group", m))?;
            let route = StaticRoute {
                from: r.from.get_ref().clone(),
                source,
                group,
                to: r
                    .to
                    .get_ref()
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            };
            route.check(&interfaces).map_err(|problem| {
                let span = match problem.key {
                    "route.from" => r.from.span(),
                    "route.group" => r.group.span(),
                    _ => r.to.span(),
                };
                at(span, problem.key, problem.message)
            })?;
            routes.push(route);
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
        let metrics = raw.metrics.map(|m| {
            let default = MetricsConfig::default();
            MetricsConfig {
                listen: m.listen.unwrap_or(default.listen),
                max_entries: m.max_entries.unwrap_or(default.max_entries),
            }
        });
        let mirror = match raw.mirror {
            None => None,
            Some(m) => {
                let context = mirror::Context {
                    interfaces: &interfaces,
                    routes: &routes,
                    proxy: proxy.as_ref(),
                };
                m.into_config(&context, &at)?
            }
        };
        Ok(Self {
            daemon,
            interfaces,
            routes,
            proxy,
            metrics,
            mirror,
        })
    }

    /// The configuration of interface `name`.
    pub fn interface(&self, name: &str) -> Option<&InterfaceConfig> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}

/// `interface[2].mtu` → `interface.mtu`: the key as the documentation names it.
fn key_of_path(path: &serde_path_to_error::Path) -> String {
    let key = path
        .iter()
        .filter_map(|segment| match segment {
            // A value read with its span (`Spanned`) is a map inside toml; its private key is
            // not the user's.
            serde_path_to_error::Segment::Map { key } if key.starts_with("$__serde_spanned") => {
                None
            }
            serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join(".");
    if key.is_empty() {
        "(top level)".into()
    } else {
        key
    }
}

fn join_key(table: &str, key: &str) -> String {
    if table == "(top level)" {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    }
}

/// The key a syntax error at `offset` is about, from the text itself: the key of that line
/// (the part before `=`) inside the last table header above it, or the header itself.
fn key_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[line_start..line_end].trim();
    let header = |l: &str| {
        let l = l.trim();
        l.starts_with('[')
            .then(|| l.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
    };
    if let Some(table) = header(line) {
        return table;
    }
    let table = text[..line_start]
        .lines()
        .rev()
        .find_map(header)
        .unwrap_or_else(|| "(top level)".into());
    match line.split_once('=') {
        Some((key, _)) if !key.trim().is_empty() => join_key(&table, key.trim().trim_matches('"')),
        _ => table,
    }
}

/// The parser's description of a syntax error, on one line.
fn syntax_message(e: &toml::de::Error) -> String {
    let message = e.message().trim();
    format!("TOML syntax: {}", message.lines().next().unwrap_or(message))
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
        assert_eq!((e.line, e.key.as_str()), (2, "daemon.bpffs"));
    }

    /// Every kind of error names its key: a wrong type, an unknown value, a value out of
    /// range, an unknown key, and TOML syntax errors.
    #[test]
    fn every_error_names_its_key() {
        let iface = |line: &str| format!("[[interface]]\nname = \"eth0\"\n{line}\n");
        for (text, line, key) in [
            (iface("mtu = \"big\""), 3, "interface.mtu"),
            (iface("xdp_mode = \"native\""), 3, "interface.xdp_mode"),
            (iface("ttl_threshold = 300"), 3, "interface.ttl_threshold"),
            (iface("owner = 7"), 3, "interface.owner"),
            (iface("colour = 1"), 3, "interface.colour"),
            (iface("mtu = \"1500"), 3, "interface.mtu"),
            (iface("igmp = tru"), 3, "interface.igmp"),
            (iface("igmp_version = \"3\""), 3, "interface.igmp_version"),
            (
                "[daemon]\non_stop = \"later\"\n".into(),
                2,
                "daemon.on_stop",
            ),
            (
                "[daemon]\nmax_negative_entries = 131073\n".into(),
                2,
                "daemon.max_negative_entries",
            ),
            ("[daemon\nbpffs = \"/x\"\n".into(), 1, "daemon"),
            ("speed = 3\n".into(), 1, "speed"),
        ] {
            let e = error_of(&text);
            assert_eq!((e.line, e.key.as_str()), (line, key), "{text:?}: {e}");
            assert!(!e.message.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn negative_entries_are_capped_within_the_data_plane() {
        let c = Config::parse("[daemon]\nmax_negative_entries = 100\n", "t").expect("valid");
        assert_eq!(c.daemon.max_negative_entries, 100);
        let e = error_of("[daemon]\nmax_negative_entries = 131073\n");
        assert!(e.message.contains("at most 131072"), "{e}");
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
        // Messages name what was typed: here the group, not the source.
        let e = StaticRoute::parse_words(&words("up0 10.0.0.1 10.1.1.1 rcv1")).unwrap_err();
        assert_eq!(e, "group 10.1.1.1/32 is not inside 224.0.0.0/4");
    }

    /// The configuration and `mgmctl add` share one validation.
    #[test]
    fn run_time_routes_get_the_configurations_validation() {
        let c = Config::parse(GOOD, "t").expect("valid");
        let words = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let check = |s: &str| {
            StaticRoute::parse_words(&words(s))
                .expect("parses")
                .check(&c.interfaces)
                .map_err(|p| p.to_string())
        };
        assert_eq!(check("eth0 10.0.0.1 239.8.8.11 eth1"), Ok(()));
        assert_eq!(
            check("eth0 10.0.0.1 239.8.8.11 nosuch"),
            Err("outbound interface nosuch is not a configured [[interface]]".into())
        );
        assert_eq!(
            check("eth0 239.8.8.12 eth0"),
            Err("outbound interface eth0 is also the inbound interface".into())
        );
        assert_eq!(
            check("eth9 239.8.8.12 eth0"),
            Err("inbound interface eth9 is not a configured [[interface]]".into())
        );
    }
}
