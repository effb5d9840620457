//! The entries a previous run left in the backend: adopted at start (forwarding on untouched),
//! then re-derived through the MGM once `adopt_window_s` is over.
use super::{family::Family, RouterCore, RouterIo};
use crate::{dataplane::ForwardingBackend, mgm::Sg};
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
        self.reconcile_adopted6();
        let adopted = std::mem::take(&mut self.adopted);
        info!(
            entries = adopted.len(),
            "reconciling adopted entries with the MGM"
        );
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

/// The entries of family `F` a previous run left in `backend`, (S,G) and incoming ifindex.
/// A previous run stopped while an entry was in hold mode left it punting its packets to
/// sockets nobody reads: adopted entries forward by the fast path at once.
pub(super) fn adopt<F: Family, B: ForwardingBackend>(backend: &mut B) -> Vec<(Sg<F>, u32)> {
    let adopted: Vec<(Sg<F>, u32)> = F::read_installed(backend)
        .into_iter()
        .map(|e| (F::sg(e.sg), e.iif))
        .collect();
    for (sg, _) in &adopted {
        if let Err(e) = F::release_hold(backend, F::key(*sg)) {
            warn!(source = %sg.source, group = %sg.group, error = %e, "ending an adopted entry's hold mode failed");
        }
    }
    adopted
}
