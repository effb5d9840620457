//! The built-in protocol `kernel`: the mirrored interfaces and the kernel's routes on them
//! (`daemon::mirror` documents the design), one instance in each MGM. The executor feeds dumps
//! and changes of the kernel's tables of both families; each one ends with the mirrored set of
//! its family equal to the selection.
use super::{family::Family, RouterCore, RouterIo};
use crate::{
    config::StaticRoute,
    daemon::mirror::{
        mfc::{MfcEntry, MfcEvent},
        select::{diff, Change, KernelTable, MirroredInterfaces, MirroredRoute},
    },
    dataplane::ForwardingBackend,
    mgm::{Address, MemberFlags, Sg},
};
use ipnet::IpNet;
use std::{
    collections::{BTreeMap, HashSet},
    net::{Ipv4Addr, Ipv6Addr},
    time::Instant,
};
use tracing::{debug, info, warn};

/// The mirror's state of one family in the core.
pub(super) struct Mirror<A: Address = Ipv4Addr> {
    /// The kernel's table as last read.
    view: KernelTable<A>,
    /// The entries mirrored now.
    mirrored: BTreeMap<Sg<A>, MirroredRoute>,
    /// The kernel protocol's host route of each mirrored entry, as added.
    routes: BTreeMap<Sg<A>, StaticRoute>,
    /// Selected entries the kernel holds but XDP does not forward, at the last sync.
    kernel_only: usize,
    /// Dumps applied, socket overflows, entries refused by the bound (logged when it grows).
    dumps: u64,
    overflows: u64,
    refused_logged: u64,
    /// The prefix of its counters in `show stats`: `mirror` (IPv4) or `mirror6`.
    name: &'static str,
}

impl<A: Address> Mirror<A> {
    /// The mirror of kernel table `table`, counted under `name`.
    pub(super) fn new(table: u32, name: &'static str) -> Self {
        Self {
            view: KernelTable::new(table),
            mirrored: BTreeMap::new(),
            routes: BTreeMap::new(),
            kernel_only: 0,
            dumps: 0,
            overflows: 0,
            refused_logged: 0,
            name,
        }
    }

    /// Its counters for `show stats`.
    pub(super) fn counters(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        [
            ("kernel_entries_now", self.view.len() as u64),
            ("entries_now", self.mirrored.len() as u64),
            ("kernel_only_now", self.kernel_only as u64),
            ("table_full", self.view.refused()),
            ("dumps", self.dumps),
            ("overflows", self.overflows),
        ]
        .into_iter()
        .map(|(counter, value)| (format!("{}_{counter}", self.name), value))
    }
}

/// Which selected entries a [`RouterCore::sync_mirror`] gives their memberships.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Sync {
    /// Every one: after a dump, or an interface's change, which may have taken memberships
    /// of unchanged routes.
    Whole,
    /// Those whose route changed: after one change of the kernel's table, the others' are
    /// in place (a change costs its own route, not the whole table's).
    Changes,
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// A dump of the kernel's IPv4 table, read at `now`: it replaces the view.
    pub fn mirror_dumped(&mut self, entries: Vec<MfcEntry>, now: Instant) {
        self.mirror_dumped_of(entries, now);
    }

    /// A dump of the kernel's IPv6 table, read at `now`: it replaces the view.
    pub fn mirror_dumped6(&mut self, entries: Vec<MfcEntry<Ipv6Addr>>, now: Instant) {
        self.mirror_dumped_of(entries, now);
    }

    /// A change of the kernel's IPv4 table.
    pub fn mirror_event(&mut self, event: MfcEvent, now: Instant) {
        self.mirror_event_of(event, now);
    }

    /// A change of the kernel's IPv6 table.
    pub fn mirror_event6(&mut self, event: MfcEvent<Ipv6Addr>, now: Instant) {
        self.mirror_event_of(event, now);
    }

    fn mirror_dumped_of<F: Family>(&mut self, entries: Vec<MfcEntry<F>>, now: Instant) {
        self.advance(now);
        let Some(mirror) = F::mirror_parts(self).mirror else {
            return;
        };
        mirror.dumps += 1;
        mirror.view.replace(entries);
        self.sync_mirror::<F>(Sync::Whole);
    }

    fn mirror_event_of<F: Family>(&mut self, event: MfcEvent<F>, now: Instant) {
        self.advance(now);
        let Some(mirror) = F::mirror_parts(self).mirror else {
            return;
        };
        if mirror.view.apply(event) {
            self.sync_mirror::<F>(Sync::Changes);
        }
    }

    /// The subscription overflowed: changes of either family were lost (the executor dumps
    /// both again).
    pub fn mirror_overflowed(&mut self) {
        if let Some(mirror) = &mut self.mirror {
            mirror.overflows += 1;
            warn!("kernel multicast route changes were lost (socket overflow): dumping again");
        }
        if let Some(mirror) = &mut self.v6.mirror {
            mirror.overflows += 1;
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

    /// Makes the mirrored set of family `F` equal to the selection from the kernel's table:
    /// routes of the kernel protocol added, changed or removed, then the entries `sync` says
    /// given their memberships, and every selected entry without an MFE created as a packet
    /// miss would create it.
    pub(super) fn sync_mirror<F: Family>(&mut self, sync: Sync) {
        let interfaces = self.mirrored_interfaces();
        let Some(mirror) = F::mirror_parts(self).mirror else {
            return;
        };
        let (wanted, kernel_only) = mirror.view.selection(&interfaces);
        mirror.kernel_only = kernel_only;
        let refused = mirror.view.refused();
        if refused > mirror.refused_logged {
            warn!(
                refused = refused - mirror.refused_logged,
                table = mirror.name,
                "the kernel holds more multicast routes than the data plane's table: \
                 those beyond it stay with the kernel"
            );
            mirror.refused_logged = refused;
        }
        let dumped = mirror.dumps > 0;
        let changes = diff(&mirror.mirrored, &wanted);
        mirror.mirrored = wanted.clone();
        let changed: HashSet<Sg<F>> = changes.iter().map(Change::sg).collect();
        for change in changes {
            self.apply_mirror_change(change);
        }
        if dumped {
            self.drop_stale_adopted(&interfaces, &wanted);
        }
        let now = self.now();
        for (sg, route) in &wanted {
            if sync == Sync::Whole || changed.contains(sg) {
                self.add_route_memberships(*sg);
            }
            let mgm = F::mgm_mut(self);
            if mgm.mfe(*sg).is_none() {
                if let Err(e) = mgm.packet_miss(sg.source, sg.group, route.iif, &[], now) {
                    debug!(error = %e, source = %sg.source, group = %sg.group, "mirrored entry");
                }
            }
        }
        self.drive();
    }

    /// Entries a previous run left on mirrored interfaces that are not the kernel's routes any
    /// more leave XDP at once (their packets go to the kernel); the others are made again from
    /// the kernel's routes, in place.
    fn drop_stale_adopted<F: Family>(
        &mut self,
        interfaces: &MirroredInterfaces,
        wanted: &BTreeMap<Sg<F>, MirroredRoute>,
    ) {
        let adopted = F::mirror_parts(self).adopted;
        let (mirrored, others): (Vec<_>, Vec<_>) = std::mem::take(adopted)
            .into_iter()
            .partition(|(_, iif)| interfaces.contains_key(iif));
        *F::mirror_parts(self).adopted = others;
        for (sg, _) in mirrored
            .into_iter()
            .filter(|(sg, _)| !wanted.contains_key(sg))
        {
            info!(source = %sg.source, group = %sg.group, "an adopted entry is no kernel route any more: removed");
            if let Err(e) = F::delete(&mut self.backend, F::key(sg)) {
                warn!(source = %sg.source, group = %sg.group, error = %e, "removing an adopted entry failed");
            }
        }
    }

    fn apply_mirror_change<F: Family>(&mut self, change: Change<F>) {
        let now = self.now();
        let (sg, moved, added) = match change {
            Change::Add(sg, new) => (sg, false, Some(new)),
            Change::Remove(sg, _) => (sg, true, None),
            Change::Modify { sg, old, new } => (sg, old.iif != new.iif, Some(new)),
        };
        debug!(source = %sg.source, group = %sg.group, ?added, "kernel route");
        let new_route = added.as_ref().map(|r| self.host_route(sg, r));
        let parts = F::mirror_parts(self);
        let (Some(mirror), Some((h, protocol))) = (parts.mirror, parts.kernel) else {
            return;
        };
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
        if moved {
            // Another incoming interface, or none: a RIB change for this (S,G) alone (A-30 by
            // (S,G): the kernel's routes are per (S,G), so the source's other entries keep
            // their counters and forwarding). First, so that the memberships' removal below
            // has no entry left to rewrite.
            parts.mgm.sg_route_changed(sg);
        }
        for (msg, ifid) in stale {
            let _ = parts
                .mgm
                .delete_membership(*h, msg, ifid, MemberFlags::JOIN, now);
        }
    }

    /// The kernel protocol's host route for a mirrored entry.
    fn host_route<F: Family>(&self, sg: Sg<F>, route: &MirroredRoute) -> StaticRoute {
        StaticRoute {
            from: self.name_of(route.iif),
            source: Some(IpNet::from(sg.source.into())),
            group: IpNet::from(sg.group.into()),
            to: route.oifs.iter().map(|&o| self.name_of(o)).collect(),
        }
    }

    /// Interface `name` entered service as `ifindex` (`in_service`) or left it: the kernel
    /// protocols' view of it, and the mirrored sets.
    pub(super) fn mirror_interface(&mut self, name: &str, ifindex: u32, in_service: bool) {
        self.kernel_interface::<Ipv4Addr>(name, ifindex, in_service);
        self.kernel_interface::<Ipv6Addr>(name, ifindex, in_service);
        if self.is_mirrored(name) {
            info!(interface = %name, in_service, "mirrored interface");
            self.sync_mirror::<Ipv4Addr>(Sync::Whole);
            self.sync_mirror::<Ipv6Addr>(Sync::Whole);
        }
    }

    /// The kernel protocol of family `F` follows interface `name`.
    fn kernel_interface<F: Family>(&mut self, name: &str, ifindex: u32, in_service: bool) {
        let now = self.now();
        let parts = F::mirror_parts(self);
        let Some((h, protocol)) = parts.kernel else {
            return;
        };
        let gone = if in_service {
            protocol.set_ifindex(name, Some(ifindex));
            Vec::new()
        } else {
            protocol.set_ifindex(name, None);
            protocol.forget_interface(ifindex)
        };
        for (sg, ifid) in gone {
            let _ = parts
                .mgm
                .delete_membership(*h, sg, ifid, MemberFlags::JOIN, now);
        }
    }
}
