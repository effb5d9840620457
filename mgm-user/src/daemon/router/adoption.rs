//! The entries a previous run left in the backend: adopted at start (forwarding on untouched),
//! then re-derived through the MGM once `adopt_window_s` is over.
use super::{family::Family, RouterCore, RouterIo};
use crate::{daemon::hold::Hold, dataplane::ForwardingBackend, mgm::Sg};
use std::{
    collections::BTreeSet,
    net::{Ipv4Addr, Ipv6Addr},
};
use tracing::{debug, info, warn};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Whether entries adopted from the previous run wait for their reconciliation.
    pub(super) fn adopting(&self) -> bool {
        !self.adopted.is_empty() || !self.v6.adopted.is_empty()
    }

    /// Re-derives the entries adopted from the previous run as if their first packet arrived
    /// now: the MGM computes each one from today's memberships, routes and protocols, and the
    /// backend replaces it in place (atomically; unchanged lists keep forwarding untouched).
    /// Entries that no longer have receivers become negative and then expire as usual.
    pub(super) fn reconcile_adopted(&mut self) {
        let adopted6 = std::mem::take(&mut self.v6.adopted);
        self.reconcile_adopted6(adopted6);
        let adopted = std::mem::take(&mut self.adopted);
        info!(
            entries = adopted.len(),
            "reconciling adopted entries with the MGM"
        );
        self.rederive(adopted);
    }

    /// Re-derives at once, without waiting for `adopt_window_s`, the adopted entries that use
    /// one of the interfaces `renamed` (ifindexes) while no mgmd ran: the configuration names
    /// interfaces, so what such an entry forwards by the previous run's ifindexes is no longer
    /// what the configuration says (a swap of two names would send each stream to the other
    /// interface for the whole window).
    pub fn reconcile_renamed(&mut self, renamed: &[u32]) {
        if renamed.is_empty() {
            return;
        }
        let touched = using::<Ipv4Addr, B>(&self.backend, renamed);
        let touched6 = using::<Ipv6Addr, B>(&self.backend, renamed);
        let (now4, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.adopted)
            .into_iter()
            .partition(|(sg, _)| touched.contains(sg));
        self.adopted = later;
        let (now6, later6): (Vec<_>, Vec<_>) = std::mem::take(&mut self.v6.adopted)
            .into_iter()
            .partition(|(sg, _)| touched6.contains(sg));
        self.v6.adopted = later6;
        info!(
            entries = now4.len(),
            ipv6_entries = now6.len(),
            "re-deriving the adopted entries of interfaces renamed while no mgmd ran"
        );
        self.reconcile_adopted6(now6);
        self.rederive(now4);
    }

    /// Re-derives the IPv4 entries `adopted` (the previous run's (S,G) and incoming ifindex)
    /// through the MGM.
    fn rederive(&mut self, adopted: Vec<(Sg, u32)>) {
        let now = self.now();
        for (sg, iif) in adopted {
            if self.mgm.mfe(sg).is_some() {
                continue;
            }
            self.add_route_memberships(sg);
            if let Err(e) = self.mgm.packet_miss(sg.source, sg.group, iif, &[], now) {
                debug!(error = %e, source = %sg.source, group = %sg.group, "adopted entry");
            }
        }
        self.drive();
    }
}

/// The (S,G)s of the entries of family `F` in `backend` that use one of the interfaces
/// `ifindexes`, incoming or outgoing.
fn using<F: Family, B: ForwardingBackend>(backend: &B, ifindexes: &[u32]) -> BTreeSet<Sg<F>> {
    F::read_installed(backend)
        .into_iter()
        .filter(|e| ifindexes.contains(&e.iif) || e.oifs.iter().any(|o| ifindexes.contains(o)))
        .map(|e| F::sg(e.sg))
        .collect()
}

/// The entries of family `F` a previous run left in `backend`, (S,G) and incoming ifindex.
/// A previous run stopped while an entry was in hold mode left it punting its packets to
/// sockets nobody reads: adopted entries forward by the fast path at once. What the previous
/// run sent on of their held packets goes to `hold`'s tallies.
pub(super) fn adopt<F: Family, B: ForwardingBackend>(
    backend: &mut B,
    hold: &mut Hold,
) -> Vec<(Sg<F>, u32)> {
    let installed = F::read_installed(backend);
    for entry in &installed {
        let sg = F::sg(entry.sg);
        if let Err(e) = F::release_hold(backend, entry.sg) {
            warn!(source = %sg.source, group = %sg.group, error = %e, "ending an adopted entry's hold mode failed");
        }
        // What the previous run sent on of the entry's held packets, so that its counters
        // go on from where they were.
        match F::take_saved_held(backend, entry.sg) {
            Ok(held) => hold.restore_tally(F::flow(sg), held, &entry.oifs),
            Err(e) => {
                warn!(source = %sg.source, group = %sg.group, error = %e, "reading what an adopted entry's held packets counted failed")
            }
        }
    }
    installed
        .into_iter()
        .map(|e| (F::sg(e.sg), e.iif))
        .collect()
}
