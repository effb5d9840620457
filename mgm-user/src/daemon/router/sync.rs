//! Keeping the backend in step with the MGM: a backend action that fails leaves the entry
//! marked unsynced (counted, logged); it is retried with exponential backoff until the backend
//! holds what the MGM holds, and [`RouterCore::check`] compares the two in full.
//!
//! The XDP backend leaves an entry whose change failed as it was (the map and its bookkeeping
//! agree), and an entry whose creation failed absent: a retry installs the MGM's current entry,
//! or deletes one the MGM no longer has. At most one retry is pending per (S,G), so the list is
//! bounded by the number of entries of the MGM and of the backend together (its bound, see
//! [`super::retries`]).
use super::{
    family::Family,
    forwarded,
    retries::{Retries, RETRY_FIRST, RETRY_MAX},
    RouterCore, RouterIo,
};
use crate::{
    dataplane::ForwardingBackend,
    mgm::{Address, Sg},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{Ipv4Addr, Ipv6Addr},
    time::Instant,
};
use tracing::{info, warn};

/// At most one retry waits per (S,G) the MGM or the backend has: the backend holds at most
/// `limits::MFES` entries of a family, and the MGM as many.
const UNSYNCED_BOUND: usize = 2 * mgm_common::limits::MFES as usize;

/// Entries of one family whose backend action failed, and the count of repairs.
#[derive(Debug)]
pub(super) struct Unsynced<A: Address = Ipv4Addr> {
    /// The entries waiting for a retry; its failures are the backend actions that failed
    /// (first attempts and retries).
    pub(super) retries: Retries<Sg<A>>,
    /// Entries a retry brought back in step.
    pub(super) repaired: u64,
}

impl<A: Address> Default for Unsynced<A> {
    fn default() -> Self {
        Self {
            retries: Retries::new(RETRY_FIRST, RETRY_MAX, UNSYNCED_BOUND),
            repaired: 0,
        }
    }
}

/// How the MGM's entries and the forwarding path's differ.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Entries compared (the MGM's).
    pub entries: usize,
    /// Differences, one line each: `(S,G) missing`, `(S,G) extra`, `(S,G) differs: ...`.
    pub differences: Vec<String>,
}

/// An entry for comparison: incoming ifindex and sorted outgoing ifindexes.
type Forwarding = (u32, Vec<u32>);

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The MGM's entry for `sg` as the backend should hold it: its incoming ifindex and where
    /// it sends copies ([`forwarded`]).
    pub(super) fn wanted<F: Family>(&self, sg: Sg<F>) -> Option<Forwarding> {
        F::mgm(self).mfe(sg).map(|m| {
            let iif = m.iif().ifindex;
            (iif, forwarded(iif, m.oifs().iter().map(|o| o.ifindex)))
        })
    }

    /// The backend took the action for `sg`.
    pub(super) fn synced<F: Family>(&mut self, sg: Sg<F>) {
        F::side(self).unsynced.retries.succeed(&sg);
    }

    /// A backend action for `sg` failed: counted, logged, and retried later.
    pub(super) fn backend_failed<F: Family>(
        &mut self,
        sg: Sg<F>,
        what: &str,
        error: &dyn std::error::Error,
    ) {
        let clock = self.clock;
        let retries = &mut F::side(self).unsynced.retries;
        match retries.fail(sg, clock) {
            Some(retry) => warn!(
                source = %sg.source, group = %sg.group, attempts = retry.attempts, error = %error,
                retry_in_ms = retry.wait.as_millis() as u64,
                "data plane {what} failed: the entry is not as the MGM has it; retrying"
            ),
            None => warn!(
                source = %sg.source, group = %sg.group, error = %error,
                waiting = retries.len(),
                "data plane {what} failed: the entry is not as the MGM has it, and the retry \
                 list is full: not retried (backend_retries_refused)"
            ),
        }
    }

    /// Deletes the backend's entry for `sg` if the MGM neither has it nor is creating it: an
    /// adopted entry whose re-creation was abandoned must not go on forwarding.
    pub(super) fn forget_unknown<F: Family>(&mut self, sg: Sg<F>) {
        let key = F::key(sg);
        let mgm = F::mgm(self);
        let unknown = mgm.mfe(sg).is_none() && !mgm.is_resolving(sg);
        if !unknown || F::installed(&self.backend, key).is_none() {
            return;
        }
        info!(source = %sg.source, group = %sg.group, "removing an entry the MGM does not have");
        match F::delete(&mut self.backend, key) {
            Ok(()) => self.synced(sg),
            Err(e) => self.backend_failed(sg, "delete", &e),
        }
    }

    /// The data plane reported a miss of `sg`: if the MGM has the entry but the forwarding path
    /// does not (it was lost from the map), the entry is written again, in hold mode, so that
    /// the packets punted meanwhile leave before the fast path forwards the next ones. A miss
    /// reported just before the entry was installed finds it in place and changes nothing.
    /// An entry whose install failed and waits for its retry is left to that retry: every
    /// packet of its flow misses meanwhile, and an attempt (and a warning) per miss would
    /// undo the backoff.
    pub(super) fn restore_if_lost<F: Family>(&mut self, sg: Sg<F>) {
        let clock = self.clock;
        if !F::side(self).unsynced.retries.may_try(&sg, clock) {
            return;
        }
        let Some((iif, oifs)) = self.wanted(sg) else {
            return;
        };
        if F::holds(&self.backend, F::key(sg)).unwrap_or(true) {
            return;
        }
        match self.install_holding(sg, iif, &oifs) {
            Ok(()) => {
                F::side(self).unsynced.repaired += 1;
                warn!(source = %sg.source, group = %sg.group, "data plane had lost the entry: restored");
                self.synced(sg);
            }
            Err(e) => self.backend_failed(sg, "install", &e),
        }
    }

    /// Retries the due entries of both families.
    pub(super) fn retry_unsynced(&mut self) {
        self.retry_unsynced_of::<Ipv4Addr>();
        self.retry_unsynced_of::<Ipv6Addr>();
    }

    /// When the next retry of either family is due.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        [
            self.unsynced.retries.next_deadline(),
            self.v6.unsynced.retries.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Retries the due entries of family `F`: installs the MGM's entry, or deletes one it no
    /// longer has.
    fn retry_unsynced_of<F: Family>(&mut self) {
        let clock = self.clock;
        for sg in F::side(self).unsynced.retries.due(clock) {
            let key = F::key(sg);
            let have = F::installed(&self.backend, key).map(|e| (e.iif, e.oifs));
            let want = self.wanted(sg);
            let result = match &want {
                _ if have == want => Ok(()),
                Some((iif, oifs)) => F::install(&mut self.backend, key, *iif, oifs),
                None => F::delete(&mut self.backend, key),
            };
            match result {
                Ok(()) => {
                    F::side(self).unsynced.repaired += 1;
                    info!(source = %sg.source, group = %sg.group, "data plane entry repaired");
                    self.synced(sg);
                }
                Err(e) => {
                    let what = if want.is_some() { "install" } else { "delete" };
                    self.backend_failed(sg, what, &e);
                }
            }
        }
    }

    /// Compares every entry of the MGMs with what the forwarding path holds (read back from
    /// it): missing, extra (except adopted entries not yet reconciled) and different ones.
    pub fn check(&self) -> Result<CheckReport, B::Error> {
        let adopted: BTreeSet<Sg> = self.adopted.iter().map(|(sg, _)| *sg).collect();
        let mut report = CheckReport::default();
        self.check_of::<Ipv4Addr>(&adopted, &mut report)?;
        let adopted6: BTreeSet<Sg<Ipv6Addr>> = self.v6.adopted.iter().map(|(sg, _)| *sg).collect();
        self.check_of::<Ipv6Addr>(&adopted6, &mut report)?;
        Ok(report)
    }

    /// [`RouterCore::check`] for the entries of family `F`.
    fn check_of<F: Family>(
        &self,
        adopted: &BTreeSet<Sg<F>>,
        report: &mut CheckReport,
    ) -> Result<(), B::Error> {
        let held: BTreeMap<Sg<F>, Forwarding> = F::read_back(&self.backend)?
            .into_iter()
            .map(|e| (F::sg(e.sg), (e.iif, e.oifs)))
            .collect();
        let mine: Vec<Sg<F>> = F::mgm(self).mfes().map(|m| m.sg()).collect();
        let differences = &mut report.differences;
        for sg in &mine {
            let want = self.wanted(*sg);
            match (held.get(sg), want) {
                (None, _) => differences.push(format!("{} missing", self.describe(*sg))),
                (Some(have), Some(want)) if *have != want => differences.push(format!(
                    "{} differs: MGM {} data plane {}",
                    self.describe(*sg),
                    self.forwarding(&want),
                    self.forwarding(have)
                )),
                _ => {}
            }
        }
        let mgm = F::mgm(self);
        for sg in held.keys() {
            if mgm.mfe(*sg).is_none() && !adopted.contains(sg) {
                differences.push(format!("{} extra", self.describe(*sg)));
            }
        }
        report.entries += mine.len();
        Ok(())
    }

    fn describe<A: Address>(&self, sg: Sg<A>) -> String {
        format!("({}, {})", sg.source, sg.group)
    }

    fn forwarding(&self, (iif, oifs): &Forwarding) -> String {
        let oifs: Vec<String> = oifs.iter().map(|o| self.name_of(*o)).collect();
        format!("in {} out [{}]", self.name_of(*iif), oifs.join(" "))
    }
}
