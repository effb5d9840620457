//! mgmd's configuration file (TOML): interfaces, static routes, the IGMP proxy, the API.
//!
//! ```toml
//! [daemon]
//! bpffs = "/sys/fs/bpf/mgm"          # maps, programs and links are pinned under
//!                                    # <bpffs>/net-<network namespace cookie>
//! unpinned = false                   # true: run without pins when no bpffs can hold them
//!                                    # (else mgmd refuses to start; see dataplane::bpffs)
//! collect_stale_pins = true          # remove the pin directories of network namespaces that
//!                                    # are gone (dataplane::stale_pins)
//! api_socket = "/run/mgm/mgmd.sock"  # default: one per network namespace (api::default_socket)
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
//! max_entries = 131072               # forwarding entries of each family, 256 to 131072: sizes
//!                                    # the per-CPU counters (56 B per entry per CPU; at start)
//! max_negative_entries = 32768       # drop entries (no receivers, no route) kept at once, at
//!                                    # most max_entries (a quarter by default); oldest go first
//! realtime_priority = 50             # SCHED_FIFO priority (1-99) of mgmd's threads, so entry
//!                                    # creation keeps up under CPU load; default: normal
//!
//! [[interface]]
//! name = "eth0"
//! igmp = true                        # run the IGMP router side here
//! igmp_version = 3                   # 2 or 3
//! igmp_max_groups = 1024             # bounds and timers of IGMP here: see config::igmp_tuning
//!                                    # (MLD runs with the same ones)
//! mld = true                         # run the MLD router side here (needs a link-local address)
//! mld_version = 2                    # 1 or 2
//! ttl_threshold = 1                  # copies with a lower TTL are not sent here
//! mtu = 1500                         # 0 = the interface's own; never above it
//! xdp_mode = "driver"                # driver | generic
//! owner = "builtin"                  # builtin (static or proxy) | external (left to a
//!                                    # protocol that takes it through the API)
//!
//! [[route]]                          # static, smcroute's semantics
//! from = "eth0"                      # inbound interface
//! source = "10.0.0.0/24"             # optional: host or prefix; omitted or 0.0.0.0 = any source
//! group = "239.1.0.0/16"             # host or prefix inside 224.0.0.0/4
//! to = ["eth1", "eth2"]              # outbound interfaces
//!
//! [proxy]                            # IGMP/MLD proxy (RFC 4605), both families
//! upstream = "wan0"
//! downstream = ["lan0", "lan1"]
//!
//! [[join]]                           # the router joins as a host (smcroute's mgroup)
//! interface = "wan0"                 # a configured interface
//! group = "239.2.2.2"                # IPv4 or IPv6
//! source = "10.0.0.1"                # optional: a source-specific join
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
use std::{
    collections::{btree_map::Entry, BTreeMap, BTreeSet},
    path::Path,
};
use toml::Spanned;
use tracing::warn;

mod daemon;
mod igmp_tuning;
mod interface;
mod join;
mod locate;
mod mirror;
mod route;
#[cfg(test)]
mod tests;

use daemon::RawDaemon;
pub use daemon::{DaemonConfig, OnStop, SOCKET_PATH_MAX};
pub use igmp_tuning::IgmpTuning;
use igmp_tuning::RawIgmpTuning;
use interface::RawInterface;
pub use interface::{InterfaceConfig, Owner, XdpMode};
pub use join::JoinConfig;
use locate::{key_at, key_of_path, line_of, syntax_message};
pub use mirror::{MirrorConfig, DEFAULT_MROUTE_TABLE};
use route::{host_bits_problem, parse_net, parse_source, repeated_problem};
pub use route::{word_warnings, RouteProblem, StaticRoute, MAX_STATIC_ROUTES};

/// The smallest `interface.mtu` accepted (but 0, the interface's own): IPv4's minimum (RFC 791).
const MIN_MTU: u32 = 68;

/// A configuration error, with the line (1-based) and key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// `FILE:LINE: KEY: MESSAGE`, or `FILE: MESSAGE` for a file that could not be read.
impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ConfigError {
            path,
            line,
            key,
            message,
        } = self;
        match line {
            0 => write!(f, "{path}: {message}"),
            _ => write!(f, "{path}:{line}: {key}: {message}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Something a configuration file says that is accepted but likely not meant (a repeated
/// `[[route]]`), in the shape of an error: file, line, key and what it is. mgmd logs each
/// as a warning when it reads the file, at start and at each reload.
pub type ConfigWarning = ConfigError;

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
    /// Groups the router joins as a host (`[[join]]`).
    pub joins: Vec<JoinConfig>,
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
    join: Vec<join::RawJoin>,
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

    /// Parses and validates configuration text; `origin` names it in errors. What it accepts
    /// but warns about ([`Config::parse_with_warnings`]) is logged.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let (config, warnings) = Self::parse_with_warnings(text, origin)?;
        for w in &warnings {
            warn!("{w}");
        }
        Ok(config)
    }

    /// [`Config::parse`], with what is accepted but likely not meant returned beside the
    /// configuration instead of logged.
    pub fn parse_with_warnings(
        text: &str,
        origin: &str,
    ) -> Result<(Self, Vec<ConfigWarning>), ConfigError> {
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
            if name == "."
                || name == ".."
                || name.contains(['/', ':'])
                || name.contains(char::is_whitespace)
            {
                return Err(at(
                    i.name.span(),
                    "interface.name",
                    format!("{name:?} is no interface name (the kernel refuses \".\", \"..\", '/', ':' and white space)"),
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
            let mld_version = match i.mld_version {
                None => 2,
                Some(v) if matches!(*v.get_ref(), 1 | 2) => *v.get_ref(),
                Some(v) => {
                    return Err(at(
                        v.span(),
                        "interface.mld_version",
                        format!("{} is not 1 or 2", v.get_ref()),
                    ))
                }
            };
            let mtu = match i.mtu {
                None => 0,
                Some(v) if *v.get_ref() == 0 || *v.get_ref() >= MIN_MTU => *v.get_ref(),
                Some(v) => {
                    return Err(at(
                        v.span(),
                        "interface.mtu",
                        format!("{} is below {MIN_MTU}, the smallest IPv4 MTU", v.get_ref()),
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
                mld: i.mld,
                mld_version,
                ttl_threshold: i.ttl_threshold.unwrap_or(1),
                mtu,
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
        let mut warnings = Vec::new();
        // Each route's first line, to name it when a later table repeats it.
        let mut first_lines = BTreeMap::new();
        // IPv6, IPv4.
        let mut routes_per_family = [0usize; 2];
        for r in raw.route {
            let source = r
                .source
                .as_ref()
                .map(|s| parse_source(s.get_ref()).map_err(|m| at(s.span(), "route.source", m)))
                .transpose()?
                .flatten();
            let group =
                parse_net(r.group.get_ref()).map_err(|m| at(r.group.span(), "route.group", m))?;
            let prefixes = [
                (r.source.as_ref(), "route.source"),
                (Some(&r.group), "route.group"),
            ];
            for (text, key) in prefixes.into_iter().filter_map(|(t, k)| Some((t?, k))) {
                if let Some(message) = host_bits_problem(text.get_ref()) {
                    warnings.push(at(text.span(), key, message));
                }
            }
            if let Some(message) = repeated_problem(r.to.get_ref()) {
                warnings.push(at(r.to.span(), "route.to", message));
            }
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
                    "route.source" => r.source.as_ref().map_or(r.group.span(), |s| s.span()),
                    "route.group" => r.group.span(),
                    _ => r.to.span(),
                };
                at(span, problem.key, problem.message)
            })?;
            let start = [r.from.span(), r.group.span(), r.to.span()]
                .into_iter()
                .chain(r.source.as_ref().map(|s| s.span()))
                .min_by_key(|span| span.start)
                .unwrap_or_default();
            match first_lines.entry(route.clone()) {
                Entry::Occupied(first) => warnings.push(at(
                    start,
                    "route",
                    format!(
                        "repeats the [[route]] at line {}: the two count as one route (`mgmctl \
                         add` of it would be refused, it exists already)",
                        first.get()
                    ),
                )),
                Entry::Vacant(v) => {
                    let ipv4 = route.group.network().is_ipv4();
                    let of_family = &mut routes_per_family[usize::from(ipv4)];
                    *of_family += 1;
                    if *of_family > MAX_STATIC_ROUTES {
                        return Err(at(
                            start,
                            "route",
                            format!(
                                "one [[route]] of {} groups more than the {MAX_STATIC_ROUTES} \
                                 mgmd keeps per address family",
                                if ipv4 { "IPv4" } else { "IPv6" }
                            ),
                        ));
                    }
                    v.insert(line_of(text, start.start));
                    routes.push(route);
                }
            }
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
        let joins = join::RawJoin::all_into_config(raw.join, |name| names.contains(name), &at)?;
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
        let config = Self {
            daemon,
            interfaces,
            routes,
            proxy,
            joins,
            metrics,
            mirror,
        };
        Ok((config, warnings))
    }

    /// The configuration of interface `name`.
    pub fn interface(&self, name: &str) -> Option<&InterfaceConfig> {
        self.interfaces.iter().find(|i| i.name == name)
    }
}
