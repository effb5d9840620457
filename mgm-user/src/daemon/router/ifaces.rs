//! Interfaces entering and leaving service as their links come, go and change.
use super::{RouterCore, RouterIo};
use crate::{
    config::{InterfaceConfig, Owner, XdpMode},
    daemon::links::Link,
    dataplane::{ForwardingBackend, IfaceSettings},
    mgm::{IfId, MemberFlags, ProtocolHandle},
};
use std::time::Instant;
use tracing::{debug, info, warn};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// A link appeared, changed or is present at start.
    pub fn link_changed(&mut self, link: Link, now: Instant) {
        self.advance(now);
        let name = link.name.clone();
        self.follow_rename(&link, now);
        let configured = self.config.interface(&name).is_some();
        self.links.insert(name.clone(), link.clone());
        self.host_joins_follow_link(&name);
        if !configured {
            return;
        }
        match self.active.get(&name) {
            Some(&(ifindex, _)) if ifindex == link.ifindex && link.up => {
                self.configure_backend_iface(&link);
            }
            Some(_) => {
                self.take_out_of_service(&name);
                if link.up {
                    self.bring_into_service(&link);
                }
            }
            None if link.up => self.bring_into_service(&link),
            None => {}
        }
        self.drive();
    }

    /// Says, once at start after the links present were read, which configured interfaces
    /// cannot come into service yet: those that do not exist and those that are down or
    /// without carrier (each comes into service when it appears or comes up).
    pub fn log_waiting_interfaces(&self) {
        for cfg in &self.config.interfaces {
            self.log_waiting_interface(&cfg.name);
        }
    }

    /// Says why configured interface `name` cannot come into service yet, if it cannot: it
    /// does not exist, or it is down or without carrier.
    pub(super) fn log_waiting_interface(&self, name: &str) {
        match self.links.get(name) {
            None => warn!(
                interface = %name,
                "no such interface: it comes into service when it appears"
            ),
            Some(link) if !link.up => info!(
                interface = %name,
                "interface down or without carrier: it comes into service when it is up"
            ),
            Some(_) => {}
        }
    }

    /// A known link under another name was renamed: its old name is gone (out of service if
    /// it was in service there; the link itself is followed under its new name).
    fn follow_rename(&mut self, link: &Link, now: Instant) {
        let old = self
            .links
            .iter()
            .find(|(name, l)| l.ifindex == link.ifindex && **name != link.name)
            .map(|(name, _)| name.clone());
        if let Some(old) = old {
            info!(interface = %old, new_name = %link.name, ifindex = link.ifindex, "interface renamed");
            self.link_removed(&old, now);
        }
    }

    /// A link disappeared.
    pub fn link_removed(&mut self, name: &str, now: Instant) {
        self.advance(now);
        self.links.remove(name);
        self.host_joins_follow_link(name);
        if self.active.contains_key(name) {
            self.take_out_of_service(name);
            self.drive();
        }
    }

    /// Whether the router has a link with this ifindex (any link, in service or not).
    pub(super) fn has_link(&self, ifindex: u32) -> bool {
        self.links.values().any(|l| l.ifindex == ifindex)
    }

    /// Writes the data plane's egress settings of `link` from its configuration.
    pub(super) fn configure_backend_iface(&mut self, link: &Link) {
        let Some(cfg) = self.config.interface(&link.name) else {
            return;
        };
        let settings = IfaceSettings {
            mac: link.mac,
            ttl_threshold: cfg.ttl_threshold,
            mtu: egress_mtu(cfg.mtu, link.mtu),
            mirrored: self.is_mirrored(&link.name),
        };
        self.egress.insert(link.ifindex, settings);
        if let Err(e) = self.backend.configure_interface(link.ifindex, settings) {
            warn!(interface = %link.name, error = %e, "configuring the data plane failed");
        }
    }

    /// The built-in protocol that owns interface `name`; `None` when the configuration leaves
    /// it to an external protocol.
    fn owner_of(&self, name: &str) -> Option<ProtocolHandle> {
        if self
            .config
            .interface(name)
            .is_some_and(|i| i.owner == Owner::External)
        {
            return None;
        }
        if let (true, Some((h, _))) = (self.is_mirrored(name), &self.builtins.kernel) {
            return Some(*h);
        }
        Some(match &self.builtins.proxy {
            Some((h, _)) if self.proxy_serves(name) => *h,
            _ => self.builtins.statics.0,
        })
    }

    /// Whether interface `name` is one of the proxy's (upstream or downstream).
    pub(super) fn proxy_serves(&self, name: &str) -> bool {
        self.config
            .proxy
            .as_ref()
            .is_some_and(|p| p.upstream == name || p.downstream.iter().any(|d| d == name))
    }

    /// Whether interface `name` is the proxy's upstream, where the router is a host: neither
    /// IGMP nor MLD run their router side there.
    fn proxy_upstream(&self, name: &str) -> bool {
        self.config
            .proxy
            .as_ref()
            .is_some_and(|p| p.upstream == name)
    }

    /// Whether IGMP and MLD run their router side on interface `name` (when configured).
    pub(super) fn runs_router_side(&self, name: &str) -> bool {
        !self.is_mirrored(name) && !self.proxy_upstream(name)
    }

    /// Whether MLD runs on the interface of `cfg` once it has a link-local address.
    pub(super) fn runs_mld(&self, cfg: &InterfaceConfig) -> bool {
        cfg.mld && self.runs_router_side(&cfg.name)
    }

    /// Gives both proxy instances the current ifindexes of their interfaces in service (an
    /// upstream interface out of service, or no `[proxy]` any more, is 0).
    pub(super) fn follow_proxy_interfaces(&mut self) {
        let in_service = |name: &String| self.active.get(name).map(|a| a.0);
        let (upstream, downstream): (u32, Vec<u32>) = match &self.config.proxy {
            Some(proxy) => (
                in_service(&proxy.upstream).unwrap_or(0),
                proxy.downstream.iter().filter_map(in_service).collect(),
            ),
            None => (0, Vec::new()),
        };
        if let Some((_, p)) = &mut self.builtins.proxy {
            p.set_interfaces(upstream, downstream.iter().copied());
        }
        if let Some((_, p)) = &mut self.v6.proxy {
            p.set_interfaces(upstream, downstream);
        }
    }

    pub(super) fn bring_into_service(&mut self, link: &Link) {
        let Some(cfg) = self.config.interface(&link.name).cloned() else {
            return;
        };
        let generic = cfg.xdp_mode == XdpMode::Generic;
        if let Err(e) = self.io.attach(&link.name, generic) {
            warn!(interface = %link.name, error = %e, "XDP attach failed; the interface is not forwarded");
            return;
        }
        info!(interface = %link.name, ifindex = link.ifindex, mode = ?cfg.xdp_mode, "interface in service");
        self.active
            .insert(link.name.clone(), (link.ifindex, cfg.xdp_mode));
        if self.io.is_veth(&link.name) {
            let reading = self.io.read_veth(&link.name, link.ifindex);
            self.veths.in_service(&link.name, link.ifindex, reading);
        } else if self.io.takes_xdp_redirects(link.ifindex) == Some(false) {
            warn!(
                interface = %link.name,
                "native XDP cannot send into this interface (no XDP transmit: a bridge, a VLAN, \
                 a driver without XDP): copies routed here of packets that arrive on an \
                 interface with xdp_mode = \"driver\" are lost (counted as sent); give the \
                 incoming interfaces xdp_mode = \"generic\""
            );
        }
        self.configure_backend_iface(link);
        self.open_punt_sockets(&link.name, link.ifindex);
        self.builtins
            .statics
            .1
            .set_ifindex(&link.name, Some(link.ifindex));
        let now = self.now();
        let ifid = IfId::index(link.ifindex);
        let owner = self.owner_of(&link.name);
        if let Some(owner) = owner {
            if let Err(e) = self.mgm.take_interface_ownership(owner, ifid, now) {
                warn!(interface = %link.name, error = %e, "taking ownership failed");
            }
        }
        self.service6(&link.name, link.ifindex, owner.is_some(), true);
        // On a mirrored interface the routes' owner runs IGMP (or PIM) itself; on the proxy's
        // upstream the router is a host.
        if cfg.igmp && self.runs_router_side(&link.name) {
            self.enable_igmp(link, &cfg);
        }
        if self.runs_mld(&cfg) {
            self.enable_mld(link, &cfg);
        }
        // Flows already forwarded elsewhere get the interface where a route names it; only
        // after IGMP and MLD took it, which deletes the entries listing it.
        self.apply_routes_to_mfes();
        self.mirror_interface(&link.name, link.ifindex, true);
        self.follow_proxy_interfaces();
    }

    /// The link and configuration of the interface in service under `ifindex`.
    pub(super) fn in_service(&self, ifindex: u32) -> Option<(Link, InterfaceConfig)> {
        let (name, _) = self.active.iter().find(|(_, a)| a.0 == ifindex)?;
        Some((
            self.links.get(name)?.clone(),
            self.config.interface(name)?.clone(),
        ))
    }

    /// Starts IGMP on `link` with the settings of `cfg` (from its first IPv4 address).
    fn enable_igmp(&mut self, link: &Link, cfg: &InterfaceConfig) {
        let Some((addr, prefix)) = self.io.ipv4_of(link.ifindex) else {
            info!(interface = %link.name, "no IPv4 address: IGMP starts when one is added");
            return;
        };
        let now = self.now();
        if let Err(e) =
            self.mgm
                .take_interface_ownership(self.builtins.igmp.0, IfId::index(link.ifindex), now)
        {
            warn!(interface = %link.name, error = %e, "IGMP ownership failed");
            return;
        }
        let igmp_config = cfg.igmp_tuning.router_config(cfg.igmp_version);
        match self
            .igmp
            .add_interface(link.ifindex, addr, prefix, igmp_config, self.clock)
        {
            Ok(actions) => {
                info!(interface = %link.name, address = %addr, prefix, "IGMP started");
                self.igmp_actions(actions);
            }
            Err(e) => warn!(interface = %link.name, error = %e, "IGMP start failed"),
        }
    }

    /// The IPv4 addresses of `ifindex` changed: IGMP starts there once the interface in
    /// service has an address, stops when it has none left, and starts again when the
    /// interface's first address (or its prefix) is another one than IGMP's (the memberships
    /// start over from the startup queries).
    pub fn ipv4_addresses_changed(&mut self, ifindex: u32, now: Instant) {
        self.advance(now);
        let Some((link, cfg)) = self.in_service(ifindex) else {
            return;
        };
        if !(cfg.igmp && self.runs_router_side(&cfg.name)) {
            return;
        }
        let running = self.igmp.subnet(ifindex);
        let current = self.io.ipv4_of(ifindex);
        if running == current {
            return;
        }
        if let Some((address, _)) = running {
            info!(interface = %cfg.name, %address, ?current, "IGMP's IPv4 address changed: IGMP stopped");
            self.disable_igmp(ifindex);
        }
        if current.is_some() {
            self.enable_igmp(&link, &cfg);
        }
        self.drive();
    }

    /// Stops IGMP on `ifindex`, which stays in service: its memberships end, then its
    /// ownership.
    fn disable_igmp(&mut self, ifindex: u32) {
        if let Ok(actions) = self.igmp.remove_interface(ifindex) {
            self.igmp_actions(actions);
        }
        let now = self.now();
        let _ =
            self.mgm
                .release_interface_ownership(self.builtins.igmp.0, IfId::index(ifindex), now);
    }

    /// Applies changed IGMP bounds and timers to a running interface, keeping its memberships.
    pub(super) fn retune_igmp(&mut self, ifindex: u32, cfg: &InterfaceConfig) {
        let config = cfg.igmp_tuning.router_config(cfg.igmp_version);
        match self.igmp.set_config(ifindex, config, self.clock) {
            Ok(()) => {
                info!(interface = %cfg.name, version = cfg.igmp_version, tuning = ?cfg.igmp_tuning, "IGMP settings applied")
            }
            Err(e) => debug!(interface = %cfg.name, error = %e, "IGMP settings not applied"),
        }
    }

    pub(super) fn take_out_of_service(&mut self, name: &str) {
        let Some((ifindex, _)) = self.active.remove(name) else {
            return;
        };
        info!(interface = %name, ifindex, "interface out of service");
        self.veths.out_of_service(name);
        if let Ok(actions) = self.igmp.remove_interface(ifindex) {
            self.igmp_actions(actions);
        }
        self.disable_mld(ifindex);
        let ifid = IfId::index(ifindex);
        let now = self.now();
        // The static memberships go first, so entries forwarding there lose the interface in
        // place; the ownership release below then deletes only entries coming in on it.
        let statics = self.builtins.statics.0;
        for (sg, oif) in self.builtins.statics.1.forget_interface(ifindex) {
            let _ = self
                .mgm
                .delete_membership(statics, sg, oif, MemberFlags::JOIN, now);
        }
        let _ = self
            .mgm
            .release_interface_ownership(self.builtins.igmp.0, ifid, now);
        if let Some(owner) = self.owner_of(name) {
            let _ = self.mgm.release_interface_ownership(owner, ifid, now);
        }
        self.builtins.statics.1.set_ifindex(name, None);
        let owned = self.owner_of(name).is_some();
        self.service6(name, ifindex, owned, false);
        self.mirror_interface(name, ifindex, false);
        // A link that is gone has lost its program already.
        if let Err(e) = self.io.detach(name) {
            debug!(interface = %name, error = %e, "XDP detach");
        }
        // Forgetting the interface stops its punting; its punt sockets go with it (slots,
        // memory, descriptors), and it gets new ones when it comes back, under the same
        // ifindex or a new one.
        let _ = self.backend.remove_interface(ifindex);
        self.io.close_punt(ifindex);
        self.punt_retries.retain(|(i, _)| *i != ifindex);
        self.egress.remove(&ifindex);
        self.follow_proxy_interfaces();
    }
}

/// The MTU the data plane applies to copies sent out of a link of MTU `link_mtu` configured
/// with `configured` (0: the link's own): never above the link's, whose driver would drop
/// larger frames without counting them (a link without a known MTU: the configured one).
fn egress_mtu(configured: u32, link_mtu: u32) -> u32 {
    match (configured, link_mtu) {
        (0, link) => link,
        (configured, 0) => configured,
        (configured, link) => configured.min(link),
    }
}
