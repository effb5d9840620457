//! The built-in protocol `kernel`: the mirrored interfaces and the kernel's routes on them
//! (`daemon::mirror` documents the design). The executor feeds dumps and changes of the kernel's
//! table; each one ends with the mirrored set equal to the selection.
use super::{key_of, RouterCore, RouterIo};
use crate::{
    config::StaticRoute,
    daemon::mirror::{
        mfc::{MfcEntry, MfcEvent},
        select::{diff, Change, KernelTable, MirroredInterfaces, MirroredRoute},
    },
    dataplane::ForwardingBackend,
    mgm::{MemberFlags, Sg},
};
use ipnet::{IpNet, Ipv4Net};
use std::{collections::BTreeMap, net::Ipv4Addr, time::Instant};
use tracing::{debug, info, warn};

/// The mirror's state in the core.
pub(super) struct Mirror {
    /// The kernel's table as last read.
    view: KernelTable,
    /// The entries mirrored now.
    mirrored: BTreeMap<Sg, MirroredRoute>,
    /// The kernel protocol's host route of each mirrored entry, as added.
    routes: BTreeMap<Sg, StaticRoute>,
    /// Selected entries the kernel holds but XDP does not forward, at the last sync.
    kernel_only: usize,
    /// Dumps applied, socket overflows, entries refused by the bound (logged when it grows).
    dumps: u64,
    overflows: u64,
    refused_logged: u64,
}

impl Mirror {
    /// The mirror of kernel table `table`.
    pub(super) fn new(table: u32) -> Self {
        Self {
            view: KernelTable::new(table),
            mirrored: BTreeMap::new(),
            routes: BTreeMap::new(),
            kernel_only: 0,
            dumps: 0,
            overflows: 0,
            refused_logged: 0,
        }
    }

    /// Its counters for `show stats`.
    pub(super) fn counters(&self) -> [(&'static str, u64); 6] {
        [
            ("mirror_kernel_entries_now", self.view.len() as u64),
            ("mirror_entries_now", self.mirrored.len() as u64),
            ("mirror_kernel_only_now", self.kernel_only as u64),
            ("mirror_table_full", self.view.refused()),
            ("mirror_dumps", self.dumps),
            ("mirror_overflows", self.overflows),
        ]
    }
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// A dump of the kernel's table, read at `now`: it replaces the view.
    pub fn mirror_dumped(&mut self, entries: Vec<MfcEntry>, now: Instant) {
        self.advance(now);
        let Some(mirror) = &mut self.mirror else {
            return;
        };
        mirror.dumps += 1;
        mirror.view.replace(entries);
        self.sync_mirror();
    }

    /// A change of the kernel's table.
    pub fn mirror_event(&mut self, event: MfcEvent, now: Instant) {
        self.advance(now);
        let Some(mirror) = &mut self.mirror else {
            return;
        };
        if mirror.view.apply(event) {
            self.sync_mirror();
        }
    }

    /// The subscription overflowed: changes were lost (the executor dumps again).
    pub fn mirror_overflowed(&mut self) {
        if let Some(mirror) = &mut self.mirror {
            mirror.overflows += 1;
            warn!("kernel multicast route changes were lost (socket overflow): dumping again");
        }
    }

    /// Whether the kernel's routes are mirrored (`[mirror]`).
    pub fn mirrors(&self) -> bool {
        self.mirror.is_some()
    }

    /// Whether interface `name` is mirrored.
    pub(super) fn is_mirrored(&self, name: &str) -> bool {
        self.config.mirror.as_ref().is_some_and(|m| m.mirrors(name))
    }

    /// The mirrored interfaces in service, with the TTL threshold XDP applies there.
    fn mirrored_interfaces(&self) -> MirroredInterfaces {
        self.active
            .iter()
            .filter(|(name, _)| self.is_mirrored(name))
            .filter_map(|(name, (ifindex, _))| {
                let threshold = self.config.interface(name)?.ttl_threshold;
                Some((*ifindex, threshold))
            })
            .collect()
    }

    /// Makes the mirrored set equal to the selection from the kernel's table: routes of the
    /// kernel protocol added, changed or removed, then every selected entry given its
    /// memberships and, if it has no MFE, created as a packet miss would create it.
    pub(super) fn sync_mirror(&mut self) {
        let interfaces = self.mirrored_interfaces();
        let Some(mirror) = &mut self.mirror else {
            return;
        };
        let (wanted, kernel_only) = mirror.view.selection(&interfaces);
        mirror.kernel_only = kernel_only;
        let refused = mirror.view.refused();
        if refused > mirror.refused_logged {
            warn!(
                refused = refused - mirror.refused_logged,
                "the kernel holds more multicast routes than the data plane's table: \
                 those beyond it stay with the kernel"
            );
            mirror.refused_logged = refused;
        }
        let dumped = mirror.dumps > 0;
        let changes = diff(&mirror.mirrored, &wanted);
        mirror.mirrored = wanted.clone();
        for change in changes {
            self.apply_mirror_change(change);
        }
        if dumped {
            self.drop_stale_adopted(&interfaces, &wanted);
        }
        let now = self.now();
        for (sg, route) in &wanted {
            self.add_route_memberships(*sg);
            if self.mgm.mfe(*sg).is_none() {
                if let Err(e) = self
                    .mgm
                    .packet_miss(sg.source, sg.group, route.iif, &[], now)
                {
                    debug!(error = %e, source = %sg.source, group = %sg.group, "mirrored entry");
                }
            }
        }
        self.drive();
    }

    /// Entries a previous run left on mirrored interfaces that are not the kernel's routes any
    /// more leave XDP at once (their packets go to the kernel); the others are made again from
    /// the kernel's routes, in place.
    fn drop_stale_adopted(
        &mut self,
        interfaces: &MirroredInterfaces,
        wanted: &BTreeMap<Sg, MirroredRoute>,
    ) {
        let (mirrored, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.adopted)
            .into_iter()
            .partition(|(_, iif)| interfaces.contains_key(iif));
        self.adopted = others;
        for (sg, _) in mirrored
            .into_iter()
            .filter(|(sg, _)| !wanted.contains_key(sg))
        {
            info!(source = %sg.source, group = %sg.group, "an adopted entry is no kernel route any more: removed");
            if let Err(e) = self.backend.delete_mfe(key_of(sg)) {
                warn!(source = %sg.source, group = %sg.group, error = %e, "removing an adopted entry failed");
            }
        }
    }

    fn apply_mirror_change(&mut self, change: Change) {
        let now = self.now();
        let (sg, moved, added) = match change {
            Change::Add(sg, new) => (sg, false, Some(new)),
            Change::Remove(sg, _) => (sg, true, None),
            Change::Modify { sg, old, new } => (sg, old.iif != new.iif, Some(new)),
        };
        debug!(source = %sg.source, group = %sg.group, ?added, "kernel route");
        let new_route = added.as_ref().map(|r| self.host_route(sg, r));
        let (Some(mirror), Some((h, protocol))) = (&mut self.mirror, &mut self.builtins.kernel)
        else {
            return;
        };
        let h = *h;
        // The new route first, so that an unchanged outgoing interface keeps its membership.
        let old_route = match new_route {
            Some(route) => {
                protocol.add_route(route.clone());
                mirror.routes.insert(sg, route)
            }
            None => mirror.routes.remove(&sg),
        };
        let stale = old_route
            .and_then(|route| protocol.remove_route(&route))
            .unwrap_or_default();
        for (msg, ifid) in stale {
            let _ = self
                .mgm
                .delete_membership(h, msg, ifid, MemberFlags::JOIN, now);
        }
        if moved {
            // Another incoming interface, or none: a RIB change for the source.
            self.mgm.route_changed(sg.source, Ipv4Addr::BROADCAST);
        }
    }

    /// The kernel protocol's host route for a mirrored entry.
    fn host_route(&self, sg: Sg, route: &MirroredRoute) -> StaticRoute {
        StaticRoute {
            from: self.name_of(route.iif),
            source: Some(IpNet::from(Ipv4Net::from(sg.source))),
            group: IpNet::from(Ipv4Net::from(sg.group)),
            to: route.oifs.iter().map(|&o| self.name_of(o)).collect(),
        }
    }

    /// Interface `name` entered service as `ifindex` (`in_service`) or left it: the kernel
    /// protocol's view of it, and the mirrored set.
    pub(super) fn mirror_interface(&mut self, name: &str, ifindex: u32, in_service: bool) {
        let now = self.now();
        let Some((h, protocol)) = &mut self.builtins.kernel else {
            return;
        };
        let h = *h;
        let gone = if in_service {
            protocol.set_ifindex(name, Some(ifindex));
            Vec::new()
        } else {
            protocol.set_ifindex(name, None);
            protocol.forget_interface(ifindex)
        };
        for (sg, ifid) in gone {
            let _ = self
                .mgm
                .delete_membership(h, sg, ifid, MemberFlags::JOIN, now);
        }
        if self.is_mirrored(name) {
            info!(interface = %name, in_service, "mirrored interface");
            self.sync_mirror();
        }
    }
}
