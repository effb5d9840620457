//! IPv6 in a dual-stack lab ([`super::Stack::Dual`]): the namespace defaults, the addresses of
//! each link, the wait for usable link-local addresses, and per-host MLD settings.
use super::{Host, Lab, LabError, Stack};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

/// How long [`Lab::link_local`] waits for the kernel's link-local address: it bounds a failure
/// only (the address normally appears within a second of the link coming up).
const LINK_LOCAL_BOUND: Duration = Duration::from_secs(15);

/// The link number (third group of 2001:db8:L::/64) of the link between `host` and the router.
fn link_number(host: Host) -> Option<u16> {
    match host {
        Host::Source => Some(0),
        Host::Receiver(n) => Some(u16::from(n)),
        Host::Upstream => Some(0xff),
        Host::Router | Host::PimRouter(_) => None,
    }
}

/// An address of the link `link`'s prefix 2001:db8:L::/64.
fn on_link(link: u16, host_part: u16) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, link, 0, 0, 0, 0, host_part)
}

impl Lab {
    /// The IPv6 address of a host on its link to the router in a dual-stack lab (for the
    /// router: on the source's link); `None` for the routers of the PIM chain, which is IPv4
    /// only.
    pub fn address6_of(host: Host) -> Option<Ipv6Addr> {
        match host {
            Host::Router => Some(on_link(0, 0xfe)),
            other => link_number(other).map(|link| on_link(link, 1)),
        }
    }

    /// The router's IPv6 address on its link to `host` in a dual-stack lab.
    pub fn router_address6_towards(host: Host) -> Option<Ipv6Addr> {
        match host {
            Host::Upstream => Some(on_link(0xff, 2)),
            other => link_number(other).map(|link| on_link(link, 0xfe)),
        }
    }

    /// The sysctls of a dual-stack namespace, set before its links exist so that they inherit
    /// them: IPv6 on, no duplicate address detection, no router advertisements accepted or
    /// solicited; the router forwards IPv6 as it does IPv4.
    pub(super) fn ipv6_defaults(&self, host: Host) -> Result<(), LabError> {
        for scope in ["all", "default"] {
            for (key, value) in [
                ("disable_ipv6", "0"),
                ("accept_dad", "0"),
                ("dad_transmits", "0"),
                ("accept_ra", "0"),
                ("router_solicitations", "0"),
            ] {
                self.sysctl(host, &format!("net.ipv6.conf.{scope}.{key}"), value)?;
            }
        }
        if matches!(host, Host::Router | Host::Upstream) {
            self.sysctl(host, "net.ipv6.conf.all.forwarding", "1")?;
        }
        Ok(())
    }

    /// In a dual-stack lab, the IPv6 addresses of the link between `host_if` of `host` and
    /// `router_if` of the router, and the host's default route through the router.
    pub(super) fn ipv6_link(
        &self,
        host: Host,
        host_if: &str,
        router_if: &str,
    ) -> Result<(), LabError> {
        if self.stack != Stack::Dual {
            return Ok(());
        }
        let (Some(addr), Some(router)) =
            (Self::address6_of(host), Self::router_address6_towards(host))
        else {
            return Ok(());
        };
        self.ip(
            host,
            &[
                "-6",
                "addr",
                "add",
                &format!("{addr}/64"),
                "dev",
                host_if,
                "nodad",
            ],
        )?;
        self.ip(
            Host::Router,
            &[
                "-6",
                "addr",
                "add",
                &format!("{router}/64"),
                "dev",
                router_if,
                "nodad",
            ],
        )?;
        if host != Host::Upstream {
            self.ip(
                host,
                &["-6", "route", "add", "default", "via", &router.to_string()],
            )?;
        }
        Ok(())
    }

    /// In a dual-stack lab, waits until both ends of every link have a usable link-local
    /// address (MLD reports and queries are sent from it).
    pub(super) fn wait_for_link_locals(&self) -> Result<(), LabError> {
        if self.stack != Stack::Dual {
            return Ok(());
        }
        let mut hosts = vec![Host::Source];
        hosts.extend((1..=self.receivers).map(Host::Receiver));
        if self.namespaces.contains(&self.ns(Host::Upstream)) {
            hosts.push(Host::Upstream);
        }
        for host in hosts {
            self.link_local(host, "eth0")?;
            self.link_local(Host::Router, &Self::router_iface(host))?;
        }
        Ok(())
    }

    /// The link-local address of `iface` in `host` once it is usable (not tentative), waiting
    /// for it boundedly.
    pub fn link_local(&self, host: Host, iface: &str) -> Result<Ipv6Addr, LabError> {
        let end = Instant::now() + LINK_LOCAL_BOUND;
        loop {
            let out = self.ip(
                host,
                &["-6", "-o", "addr", "show", "dev", iface, "scope", "link"],
            )?;
            let text = String::from_utf8_lossy(&out.stdout);
            let addr = text
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .and_then(|a| a.parse().ok());
            match addr {
                Some(addr) if !text.contains("tentative") => return Ok(addr),
                _ if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    return Err(LabError::Failed {
                        command: format!("waiting for a link-local address on {iface}"),
                        stderr: format!("none usable within {LINK_LOCAL_BOUND:?}: {text}"),
                    })
                }
            }
        }
    }

    /// Forces the MLD version (1 or 2; 0 lets the kernel choose) that `host` uses on `iface`
    /// (`net.ipv6.conf.<iface>.force_mld_version`).
    pub fn force_mld_version(&self, host: Host, iface: &str, version: u8) -> Result<(), LabError> {
        self.sysctl(
            host,
            &format!("net.ipv6.conf.{iface}.force_mld_version"),
            &version.to_string(),
        )
    }
}
