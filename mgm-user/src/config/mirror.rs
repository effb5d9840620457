//! The `[mirror]` table: mgmd follows the kernel's multicast forwarding caches of both families
//! (programmed by FRR's pimd, smcroute, igmpproxy, a pim6d...) and forwards their resolved
//! (S,G) entries in XDP.
//!
//! ```toml
//! [mirror]
//! enabled = true                     # off when the table is absent or this is false
//! table = 253                        # the kernel's IPv4 multicast routing table (ipmr's default)
//! table6 = 254                       # the kernel's IPv6 one (ip6mr's default)
//! interfaces = ["eth0", "eth1"]      # default: every interface not left to an external protocol
//! sample_interval_s = 5              # one packet per entry goes to the kernel this often (1..=30)
//! heartbeat_timeout_s = 3            # without mgmd for this long, the kernel forwards (2..=60)
//! ```
//! Mirrored interfaces belong to the built-in protocol `kernel`: they run no IGMP router side
//! (the route's owner does), and no `[[route]]` nor the proxy may use them.
use super::{ConfigError, InterfaceConfig, Owner, ProxyConfig, StaticRoute};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use toml::Spanned;

/// The kernel's default multicast routing table (RT_TABLE_DEFAULT, what `ip mroute` shows).
pub const DEFAULT_MROUTE_TABLE: u32 = 253;
/// The kernel's default IPv6 multicast routing table (RT6_TABLE_DFLT: `main`, what `ip -6
/// mroute` shows).
pub const DEFAULT_MROUTE6_TABLE: u32 = 254;
/// Longest sample interval (the data plane's bound, `dataplane::MAX_SAMPLE_INTERVAL`).
const MAX_SAMPLE_INTERVAL_S: u32 = 30;

/// Mirroring of the kernel's multicast routes (`[mirror]`, when enabled).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorConfig {
    /// The kernel's IPv4 multicast routing table followed.
    pub table: u32,
    /// The kernel's IPv6 multicast routing table followed.
    pub table6: u32,
    /// The interfaces whose routes are mirrored (those the kernel routes on).
    pub interfaces: Vec<String>,
    /// Seconds between two packets of an entry handed to the kernel (its owner's keep-alive).
    pub sample_interval_s: u32,
    /// Seconds without mgmd's heartbeat after which the kernel forwards mirrored flows.
    pub heartbeat_timeout_s: u32,
}

impl MirrorConfig {
    /// Whether interface `name` is mirrored.
    pub fn mirrors(&self, name: &str) -> bool {
        self.interfaces.iter().any(|i| i == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMirror {
    enabled: Option<bool>,
    table: Option<Spanned<u32>>,
    table6: Option<Spanned<u32>>,
    interfaces: Option<Spanned<Vec<String>>>,
    sample_interval_s: Option<Spanned<u32>>,
    heartbeat_timeout_s: Option<Spanned<u32>>,
}

/// What the `[mirror]` table is checked against.
pub(super) struct Context<'a> {
    pub interfaces: &'a [InterfaceConfig],
    pub routes: &'a [StaticRoute],
    pub proxy: Option<&'a ProxyConfig>,
}

impl RawMirror {
    pub(super) fn into_config(
        self,
        context: &Context<'_>,
        at: &impl Fn(Range<usize>, &str, String) -> ConfigError,
    ) -> Result<Option<MirrorConfig>, ConfigError> {
        if self.enabled == Some(false) {
            return Ok(None);
        }
        let ranged =
            |value: &Option<Spanned<u32>>, key: &str, bounds: Range<u32>, default| match value {
                None => Ok(default),
                Some(v) if bounds.contains(v.get_ref()) => Ok(*v.get_ref()),
                Some(v) => Err(at(
                    v.span(),
                    key,
                    format!(
                        "{} is outside {}..={}",
                        v.get_ref(),
                        bounds.start,
                        bounds.end - 1
                    ),
                )),
            };
        let table = ranged(
            &self.table,
            "mirror.table",
            1..u32::MAX,
            DEFAULT_MROUTE_TABLE,
        )?;
        let table6 = ranged(
            &self.table6,
            "mirror.table6",
            1..u32::MAX,
            DEFAULT_MROUTE6_TABLE,
        )?;
        let sample_interval_s = ranged(
            &self.sample_interval_s,
            "mirror.sample_interval_s",
            1..MAX_SAMPLE_INTERVAL_S + 1,
            5,
        )?;
        let heartbeat_timeout_s = ranged(
            &self.heartbeat_timeout_s,
            "mirror.heartbeat_timeout_s",
            2..61,
            3,
        )?;
        let interfaces = match &self.interfaces {
            None => context
                .interfaces
                .iter()
                .filter(|i| i.owner == Owner::Builtin)
                .map(|i| i.name.clone())
                .collect(),
            Some(list) => {
                let problem = |message: String| Err(at(list.span(), "mirror.interfaces", message));
                if list.get_ref().is_empty() {
                    return problem("no interface: omit the key to mirror every one".into());
                }
                for name in list.get_ref() {
                    match context.interfaces.iter().find(|i| &i.name == name) {
                        None => {
                            return problem(format!("{name} is not a configured [[interface]]"))
                        }
                        Some(i) if i.owner == Owner::External => {
                            return problem(format!(
                                "{name} is left to an external protocol (owner = \"external\")"
                            ))
                        }
                        Some(_) => {}
                    }
                }
                list.get_ref().clone()
            }
        };
        if let Some(name) = interfaces.iter().find(|name| {
            context
                .routes
                .iter()
                .any(|r| &r.from == *name || r.to.contains(name))
        }) {
            return Err(at(
                self.interfaces.as_ref().map_or(0..0, Spanned::span),
                "mirror.interfaces",
                format!("{name} is mirrored (its routes are the kernel's) and used by a [[route]]"),
            ));
        }
        if let Some(proxy) = context.proxy {
            if let Some(name) = interfaces
                .iter()
                .find(|name| proxy.upstream == **name || proxy.downstream.contains(name))
            {
                return Err(at(
                    self.interfaces.as_ref().map_or(0..0, Spanned::span),
                    "mirror.interfaces",
                    format!("{name} is mirrored (its routes are the kernel's) and used by [proxy]"),
                ));
            }
        }
        Ok(Some(MirrorConfig {
            table,
            table6,
            interfaces,
            sample_interval_s,
            heartbeat_timeout_s,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{tests::error_of, Config};

    const INTERFACES: &str = r#"
[[interface]]
name = "eth0"

[[interface]]
name = "eth1"

[[interface]]
name = "ext0"
owner = "external"
"#;

    fn with(mirror: &str) -> String {
        format!("{INTERFACES}\n[mirror]\n{mirror}\n")
    }

    #[test]
    fn off_by_default_and_defaults_when_enabled() {
        assert_eq!(Config::parse(INTERFACES, "t").expect("valid").mirror, None);
        let off = Config::parse(&with("enabled = false"), "t").expect("valid");
        assert_eq!(off.mirror, None);
        let on = Config::parse(&with("enabled = true"), "t")
            .expect("valid")
            .mirror
            .expect("enabled");
        assert_eq!(
            (
                on.table,
                on.table6,
                on.interfaces,
                on.sample_interval_s,
                on.heartbeat_timeout_s
            ),
            (253, 254, vec!["eth0".into(), "eth1".into()], 5, 3),
            "every built-in interface"
        );
    }

    #[test]
    fn bad_values_name_the_line_and_the_key() {
        for (mirror, key, words) in [
            (
                "sample_interval_s = 31",
                "mirror.sample_interval_s",
                "1..=30",
            ),
            (
                "sample_interval_s = 0",
                "mirror.sample_interval_s",
                "1..=30",
            ),
            (
                "heartbeat_timeout_s = 1",
                "mirror.heartbeat_timeout_s",
                "2..=60",
            ),
            ("table = 0", "mirror.table", "outside"),
            ("interfaces = []", "mirror.interfaces", "no interface"),
            (
                "interfaces = [\"eth9\"]",
                "mirror.interfaces",
                "eth9 is not",
            ),
            ("interfaces = [\"ext0\"]", "mirror.interfaces", "external"),
            ("tabel = 5", "mirror.tabel", "unknown field"),
        ] {
            let e = error_of(&with(mirror));
            assert_eq!(e.key, key, "{mirror}: {e}");
            assert_eq!(e.line, 13, "{mirror}: {e}");
            assert!(e.message.contains(words), "{mirror}: {e}");
        }
    }

    #[test]
    fn mirrored_interfaces_cannot_carry_static_routes_or_the_proxy() {
        let route = format!(
            "{}\n[[route]]\nfrom = \"eth0\"\ngroup = \"239.1.1.1\"\nto = [\"eth1\"]\n",
            with("interfaces = [\"eth1\"]")
        );
        let e = error_of(&route);
        assert_eq!(e.key, "mirror.interfaces");
        assert!(e.message.contains("eth1 is mirrored"), "{e}");
        let proxy = format!(
            "{}\n[proxy]\nupstream = \"eth0\"\ndownstream = [\"eth1\"]\n",
            with("interfaces = [\"eth0\"]")
        );
        assert!(error_of(&proxy).message.contains("used by [proxy]"));
    }
}
