//! SIGHUP: applying a reloaded configuration.
use super::{RouterCore, RouterIo};
use crate::{
    config::{Config, StaticRoute},
    daemon::links::Link,
    dataplane::ForwardingBackend,
};
use std::{collections::BTreeSet, time::Instant};
use tracing::{info, warn};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Applies a reloaded configuration: only what changed is touched.
    pub fn reload(&mut self, mut new: Config, now: Instant) {
        self.advance(now);
        self.keep_start_only_settings(&mut new);
        let old_routes: BTreeSet<StaticRoute> = self
            .builtins
            .statics
            .1
            .routes()
            .chain(self.v6.statics.1.routes())
            .cloned()
            .collect();
        let new_routes: BTreeSet<StaticRoute> = new.routes.iter().cloned().collect();
        // Interfaces leave service under the configuration they entered it with, so that the
        // protocol that took them releases them (an `owner` changed to "external" frees them).
        let old_ifaces = self.config.interfaces.clone();
        for gone in old_ifaces.iter().filter(|o| {
            !new.interfaces
                .iter()
                .any(|n| n == *o || o.differs_only_in_place(n))
        }) {
            self.take_out_of_service(&gone.name);
        }
        let links: Vec<Link> = self.links.values().cloned().collect();
        let mut restarted = Vec::new();
        for link in &links {
            let Some(cfg) = new.interface(&link.name) else {
                continue;
            };
            let changed = old_ifaces
                .iter()
                .find(|o| o.name == link.name)
                .is_none_or(|o| o != cfg && !o.differs_only_in_place(cfg));
            if changed && link.up {
                self.take_out_of_service(&link.name);
                restarted.push(link);
            }
        }
        self.config.interfaces = new.interfaces.clone();
        for link in &links {
            let old = old_ifaces.iter().find(|o| o.name == link.name);
            if let (Some(old), Some(new)) = (old, new.interface(&link.name)) {
                if old != new && old.differs_only_in_place(new) {
                    self.retune_igmp(link.ifindex, new);
                    self.retune_mld(link.ifindex, new);
                    if self.active.contains_key(&link.name) {
                        self.configure_backend_iface(link);
                    }
                }
            }
        }
        for link in restarted {
            self.bring_into_service(link);
        }
        for added in new
            .interfaces
            .iter()
            .filter(|n| !old_ifaces.iter().any(|o| o.name == n.name))
        {
            self.log_waiting_interface(&added.name);
        }
        // Added first: a flow that an edited route keeps feeding never loses its interfaces.
        for route in new_routes.difference(&old_routes) {
            info!(?route, "reload: route added");
            self.insert_route(route.clone());
        }
        for route in old_routes.difference(&new_routes) {
            info!(?route, "reload: route removed");
            self.remove_route(route);
        }
        self.config = new;
        self.sync_file_joins();
        self.follow_proxy_interfaces();
        self.drive();
    }

    /// Keeps in `new` the running values of what mgmd reads only at start (the pins, the
    /// MFE table's lifetime and bounds, the punt UMEM, the metrics listener, the mirror),
    /// with a warning naming each that the reloaded file changes, so that a reload never
    /// ignores one silently.
    fn keep_start_only_settings(&self, new: &mut Config) {
        let running = &self.config;
        let (old, daemon) = (&running.daemon, &new.daemon);
        let changed = [
            ("daemon.bpffs", old.bpffs != daemon.bpffs),
            ("daemon.unpinned", old.unpinned != daemon.unpinned),
            (
                "daemon.mfe_lifetime_s",
                old.mfe_lifetime_s != daemon.mfe_lifetime_s,
            ),
            ("daemon.max_entries", old.max_entries != daemon.max_entries),
            (
                "daemon.max_negative_entries",
                old.max_negative_entries != daemon.max_negative_entries,
            ),
            (
                "daemon.punt_umem_frames",
                old.punt_umem_frames != daemon.punt_umem_frames,
            ),
            (
                "daemon.collect_stale_pins",
                old.collect_stale_pins != daemon.collect_stale_pins,
            ),
            ("[metrics]", running.metrics != new.metrics),
            ("[mirror]", running.mirror != new.mirror),
        ];
        for (key, _) in changed.iter().filter(|(_, changed)| *changed) {
            warn!("reload: {key} changes take effect at the next start; keeping the running value");
        }
        new.daemon.bpffs = old.bpffs.clone();
        new.daemon.unpinned = old.unpinned;
        new.daemon.mfe_lifetime_s = old.mfe_lifetime_s;
        new.daemon.max_entries = old.max_entries;
        new.daemon.max_negative_entries = old.max_negative_entries;
        new.daemon.collect_stale_pins = old.collect_stale_pins;
        new.daemon.punt_umem_frames = old.punt_umem_frames;
        new.metrics = running.metrics.clone();
        new.mirror = running.mirror.clone();
    }
}
