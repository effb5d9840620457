//! MLD glue: packets in, queries out, memberships into the IPv6 MGM as local joins and leaves
//! (as IGMP's into the IPv4 one: [`super::igmp_glue`]). MLD runs on the interfaces in service
//! that have `mld = true` and a link-local address, unless the kernel mirror owns them or they
//! are the proxy's upstream; it starts when the address appears (also after the interface came
//! into service) and stops when it goes. It takes the IPv6 MGM's ownership of the interface as
//! IGMP does in the IPv4 one.
use super::{igmp_glue::apply_membership, RouterCore, RouterIo};
use crate::{
    config::InterfaceConfig, daemon::links::Link, dataplane::ForwardingBackend, mgm::IfId, mld,
};
use std::time::Instant;
use tracing::{debug, info, warn};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Counts an MLD frame the receive path dropped (e.g. addressed to another station).
    pub fn mld_dropped(&mut self, ifindex: u32, reason: mld::DropReason) {
        self.v6.mld.count_drop(ifindex, reason);
    }

    /// An IPv6 packet that may carry MLD arrived on `ifindex`.
    pub fn mld_packet(&mut self, ifindex: u32, packet: &[u8], now: Instant) {
        self.advance(now);
        let actions = self.v6.mld.handle_packet(ifindex, packet, now);
        self.mld_actions(actions);
        self.drive();
    }

    pub(super) fn mld_actions(&mut self, actions: Vec<mld::Action>) {
        let now = self.now();
        let handle = self.v6.mld_client.0;
        for action in actions {
            match action {
                mld::Action::Send(t) => self.io.send_mld(t.ifindex, t.dst, &t.packet),
                mld::Action::Membership(change) => {
                    self.v6.mld_client.1.track(&change);
                    if let Err(e) = apply_membership(&mut self.v6.mgm, handle, change, now) {
                        debug!(?change, error = %e, "MLD membership not applied");
                    }
                }
                mld::Action::LimitReached(n) => {
                    let interface = self.name_of(n.ifindex);
                    warn!(%interface, ifindex = n.ifindex, limit = ?n.limit, max = n.max, refused = n.refused,
                        "MLD state bound reached: refused since the last notice");
                }
                mld::Action::QuerierChanged(n) => log_mld_querier(&n),
            }
        }
    }

    /// Starts MLD on `link` with the settings of `cfg` (from its link-local address).
    pub(super) fn enable_mld(&mut self, link: &Link, cfg: &InterfaceConfig) {
        let Some(address) = self.io.link_local_of(link.ifindex) else {
            info!(interface = %link.name, "no link-local IPv6 address: MLD starts when one is added");
            return;
        };
        let now = self.now();
        let ifid = IfId::index(link.ifindex);
        if let Err(e) = self
            .v6
            .mgm
            .take_interface_ownership(self.v6.mld_client.0, ifid, now)
        {
            warn!(interface = %link.name, error = %e, "MLD ownership failed");
            return;
        }
        let config = cfg.igmp_tuning.mld_config(cfg.mld_version);
        match self
            .v6
            .mld
            .add_interface(link.ifindex, address, config, self.clock)
        {
            Ok(actions) => {
                info!(interface = %link.name, %address, version = cfg.mld_version, "MLD started");
                self.mld_actions(actions);
            }
            Err(e) => warn!(interface = %link.name, error = %e, "MLD start failed"),
        }
    }

    /// The IPv6 addresses of `ifindex` changed: MLD starts there once the interface in service
    /// has a link-local address, stops when it has none left, and starts again when the
    /// interface's first link-local address is another one than MLD's (the memberships start
    /// over from the startup queries).
    pub fn ipv6_addresses_changed(&mut self, ifindex: u32, now: Instant) {
        self.advance(now);
        let Some((link, cfg)) = self.in_service(ifindex) else {
            return;
        };
        if !self.runs_mld(&cfg) {
            return;
        }
        let running = self.v6.mld.address(ifindex);
        let current = self.io.link_local_of(ifindex);
        if running == current {
            return;
        }
        if let Some(address) = running {
            info!(interface = %cfg.name, %address, ?current, "MLD's link-local address changed: MLD stopped");
            self.disable_mld(ifindex);
        }
        if current.is_some() {
            self.enable_mld(&link, &cfg);
        }
        self.drive();
    }

    /// Stops MLD on `ifindex` (leaving service): its memberships end, then its ownership.
    pub(super) fn disable_mld(&mut self, ifindex: u32) {
        if let Ok(actions) = self.v6.mld.remove_interface(ifindex) {
            self.mld_actions(actions);
        }
        let now = self.now();
        let _ = self.v6.mgm.release_interface_ownership(
            self.v6.mld_client.0,
            IfId::index(ifindex),
            now,
        );
    }

    /// Applies changed MLD bounds and timers to a running interface, keeping its memberships.
    pub(super) fn retune_mld(&mut self, ifindex: u32, cfg: &InterfaceConfig) {
        let config = cfg.igmp_tuning.mld_config(cfg.mld_version);
        if let Err(e) = self.v6.mld.set_config(ifindex, config, self.clock) {
            debug!(interface = %cfg.name, error = %e, "MLD settings not applied");
        }
    }

    /// The MLD view of `mgmctl show mld` (the MLD snapshot as JSON).
    pub fn mld_snapshot(&self) -> serde_json::Value {
        let mut snapshot = self.v6.mld.snapshot(self.clock);
        for i in &mut snapshot.interfaces {
            i.name = Some(self.name_of(i.ifindex));
        }
        serde_json::to_value(snapshot).unwrap_or_default()
    }
}

/// Logs a change of an interface's MLD querier. An MLDv1 querier under `mld_version = 2` is
/// no misconfiguration: the link runs MLDv1 while one is heard (RFC 3810 §8.3.1).
fn log_mld_querier(n: &mld::QuerierNotice) {
    match n.other {
        Some((querier, version)) if version < n.configured => info!(ifindex = n.ifindex,
            %querier, ?version,
            "MLD querier is another router, an MLDv1 one: the link runs MLDv1 while it is heard"),
        Some((querier, version)) => info!(ifindex = n.ifindex, %querier, ?version,
            "MLD querier is another router (lower address): this router stops its queries"),
        None => info!(
            ifindex = n.ifindex,
            "MLD querier is this router again: the other querier's queries stopped"
        ),
    }
}
