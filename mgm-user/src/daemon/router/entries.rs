//! The backend side of the entry life cycle, written once for both families: an entry the
//! MGM wrote goes to the backend behind the packets held for it, in hold mode when new; one
//! it deleted or whose creation it cancelled leaves the backend and the hold queues.
use super::{family::Family, RouterCore, RouterIo, HOLD_MAX};
use crate::{daemon::hold, dataplane::ForwardingBackend, mgm::Sg};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The MGM installed or changed its entry for `sg` (of either family): the packets held
    /// for it leave, then the backend takes it.
    ///
    /// The held packets go first so that a new flow's first packet does not wait for the map
    /// writes of the install. The flow stays in order all the same: until the install, its
    /// packets miss and are punted behind the held ones, and the new entry starts in hold mode,
    /// so the data plane forwards the flow itself only once every packet punted before has
    /// been sent on (the punt marks, handed over last). Between the send and the install the
    /// I/O learns that held packets left ([`RouterIo::held_sent`]): the creation thread lets
    /// the receivers they woke run first.
    pub(super) fn entry_written<F: Family>(&mut self, sg: Sg<F>, iif: u32, oifs: &[u32]) {
        // What was punted so far joins the queue first (a negative entry sends nothing, so a
        // spray of them costs no reads of the punt rings here).
        if !oifs.is_empty() {
            let now = self.clock;
            self.drain_punts(now);
        }
        let route = hold::Route {
            iif,
            oifs,
            egress: &hold::EgressRules {
                settings: &self.egress,
                backend: &self.backend,
            },
        };
        let held = self.hold.is_waiting(F::flow(sg));
        self.hold.release(F::flow(sg), route, &mut self.io);
        if held && !oifs.is_empty() {
            self.io.held_sent();
        }
        self.write_entry(sg, iif, oifs);
        self.sync_punt_marks();
    }

    /// The MGM deleted its entry for `sg`: what is held for it is dropped, and the backend
    /// deletes it.
    pub(super) fn entry_deleted<F: Family>(&mut self, sg: Sg<F>) {
        self.hold.discard(F::flow(sg));
        self.sync_punt_marks();
        self.delete_entry(sg);
    }

    /// The MGM abandoned the creation of `sg`.
    pub(super) fn creation_cancelled<F: Family>(&mut self, sg: Sg<F>) {
        self.hold.discard(F::flow(sg));
        self.sync_punt_marks();
        self.forget_unknown(sg);
    }

    /// Writes the MGM's entry for `sg` of either family into the backend.
    ///
    /// Packets of the flow already punted leave before the fast path takes over: a new entry
    /// starts in hold mode whether or not its punted packets have been read yet (some may
    /// still sit in the punt ring, e.g. when the report was read first). The data plane
    /// forwards its packets itself as soon as every packet punted before on their receive
    /// queue has been sent on (the punt marks, see `hold`), and the mode ends once its punt
    /// path is quiet.
    pub(super) fn write_entry<F: Family>(&mut self, sg: Sg<F>, iif: u32, oifs: &[u32]) {
        let key = F::key(sg);
        // An update of an entry the backend failed to take installs it.
        let result = if F::installed(&self.backend, key).is_some() {
            F::update(&mut self.backend, key, iif, oifs)
        } else {
            self.install_holding(sg, iif, oifs)
        };
        match result {
            Ok(()) => self.synced(sg),
            Err(e) => self.backend_failed(sg, "install", &e),
        }
    }

    /// Installs the entry for `sg` in hold mode when it forwards anywhere, and starts its
    /// handover (see [`RouterCore::write_entry`]): for a new entry, and for one the data plane
    /// lost, whose packets were punted meanwhile.
    pub(super) fn install_holding<F: Family>(
        &mut self,
        sg: Sg<F>,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), B::Error> {
        let key = F::key(sg);
        let holding = !oifs.is_empty();
        if holding {
            F::hold_on_create(&mut self.backend, key);
        }
        F::install(&mut self.backend, key, iif, oifs)?;
        if holding {
            let clock = self.clock;
            F::side(self).draining.insert(sg, (clock, clock + HOLD_MAX));
        }
        Ok(())
    }

    /// Deletes the backend's entry for `sg` of either family.
    pub(super) fn delete_entry<F: Family>(&mut self, sg: Sg<F>) {
        F::side(self).draining.remove(&sg);
        let key = F::key(sg);
        // Nothing to delete when the backend never took the entry.
        if F::installed(&self.backend, key).is_none() {
            self.synced(sg);
            return;
        }
        match F::delete(&mut self.backend, key) {
            Ok(()) => self.synced(sg),
            Err(e) => self.backend_failed(sg, "delete", &e),
        }
    }
}
