//! Keeping the backend in step with the MGM: a backend action that fails leaves the entry
//! marked unsynced (counted, logged); it is retried with exponential backoff until the backend
//! holds what the MGM holds, and [`RouterCore::check`] compares the two in full.
//!
//! The XDP backend leaves an entry whose change failed as it was (the map and its bookkeeping
//! agree), and an entry whose creation failed absent: a retry installs the MGM's current entry,
//! or deletes one the MGM no longer has. At most one retry is pending per (S,G), so the list is
//! bounded by the number of entries of the MGM and of the backend together.
use super::{key_of, sg_of, RouterCore, RouterIo};
use crate::{dataplane::ForwardingBackend, mgm::Sg};
use std::{
    collections::{BTreeMap, BTreeSet},
    time::{Duration, Instant},
};
use tracing::{info, warn};

/// First retry of a failed backend action...
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// ...doubling up to this interval.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Entries whose backend action failed, and the counters of failures and repairs.
#[derive(Debug, Default)]
pub(super) struct Unsynced {
    /// (S,G) → (failed attempts, next retry).
    pending: BTreeMap<Sg, (u32, Instant)>,
    /// Backend actions that failed (first attempts and retries).
    pub(super) failures: u64,
    /// Entries a retry brought back in step.
    pub(super) repaired: u64,
}

impl Unsynced {
    /// When the next retry is due.
    pub(super) fn next_retry(&self) -> Option<Instant> {
        self.pending.values().map(|(_, at)| *at).min()
    }

    /// Entries waiting for a retry.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
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
    /// The MGM's entry for `sg` as the backend should hold it.
    fn wanted(&self, sg: Sg) -> Option<Forwarding> {
        self.mgm.mfe(sg).map(|m| {
            let mut oifs: Vec<u32> = m.oifs().iter().map(|o| o.ifindex).collect();
            oifs.sort_unstable();
            oifs.dedup();
            (m.iif().ifindex, oifs)
        })
    }

    /// The backend took the action for `sg`.
    pub(super) fn synced(&mut self, sg: Sg) {
        self.unsynced.pending.remove(&sg);
    }

    /// A backend action for `sg` failed: counted, logged, and retried later.
    pub(super) fn backend_failed(&mut self, sg: Sg, what: &str, error: &dyn std::error::Error) {
        self.unsynced.failures += 1;
        let attempts = self.unsynced.pending.get(&sg).map_or(0, |(n, _)| *n) + 1;
        let backoff = RETRY_FIRST
            .saturating_mul(1 << attempts.min(16).saturating_sub(1))
            .min(RETRY_MAX);
        warn!(
            source = %sg.source, group = %sg.group, attempts, error = %error,
            retry_in_ms = backoff.as_millis() as u64,
            "data plane {what} failed: the entry is not as the MGM has it; retrying"
        );
        self.unsynced
            .pending
            .insert(sg, (attempts, self.clock + backoff));
    }

    /// Deletes the backend's entry for `sg` if the MGM neither has it nor is creating it: an
    /// adopted entry whose re-creation was abandoned must not go on forwarding.
    pub(super) fn forget_unknown(&mut self, sg: Sg) {
        let key = key_of(sg);
        let unknown = self.mgm.mfe(sg).is_none() && !self.mgm.is_resolving(sg);
        if !unknown || self.backend.installed(key).is_none() {
            return;
        }
        info!(source = %sg.source, group = %sg.group, "removing an entry the MGM does not have");
        match self.backend.delete_mfe(key) {
            Ok(()) => self.synced(sg),
            Err(e) => self.backend_failed(sg, "delete", &e),
        }
    }

    /// The data plane reported a miss of `sg`: if the MGM has the entry but the forwarding path
    /// does not (it was lost from the map), the entry is written again. A miss reported just
    /// before the entry was installed finds it in place and changes nothing.
    pub(super) fn restore_if_lost(&mut self, sg: Sg) {
        let Some((iif, oifs)) = self.wanted(sg) else {
            return;
        };
        let key = key_of(sg);
        if self.backend.holds(key).unwrap_or(true) {
            return;
        }
        match self.backend.install_mfe(key, iif, &oifs) {
            Ok(()) => {
                self.unsynced.repaired += 1;
                warn!(source = %sg.source, group = %sg.group, "data plane had lost the entry: restored");
                self.synced(sg);
            }
            Err(e) => self.backend_failed(sg, "install", &e),
        }
    }

    /// Retries the due entries: installs the MGM's entry, or deletes one it no longer has.
    pub(super) fn retry_unsynced(&mut self) {
        let due: Vec<Sg> = self
            .unsynced
            .pending
            .iter()
            .filter(|(_, (_, at))| *at <= self.clock)
            .map(|(sg, _)| *sg)
            .collect();
        for sg in due {
            let key = key_of(sg);
            let have = self.backend.installed(key).map(|e| (e.iif, e.oifs));
            let want = self.wanted(sg);
            let result = match &want {
                _ if have == want => Ok(()),
                Some((iif, oifs)) => self.backend.install_mfe(key, *iif, oifs),
                None => self.backend.delete_mfe(key),
            };
            match result {
                Ok(()) => {
                    self.unsynced.repaired += 1;
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

    /// Compares every entry of the MGM with what the forwarding path holds (read back from
    /// it): missing, extra (except adopted entries not yet reconciled) and different ones.
    pub fn check(&self) -> Result<CheckReport, B::Error> {
        let held: BTreeMap<Sg, Forwarding> = self
            .backend
            .read_back()?
            .into_iter()
            .map(|e| (sg_of(e.sg), (e.iif, e.oifs)))
            .collect();
        let adopted: BTreeSet<Sg> = self.adopted.iter().map(|(sg, _)| *sg).collect();
        let mine: Vec<Sg> = self.mgm.mfes().map(|m| m.sg()).collect();
        let mut differences = Vec::new();
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
        for sg in held.keys() {
            if !mine.contains(sg) && !adopted.contains(sg) {
                differences.push(format!("{} extra", self.describe(*sg)));
            }
        }
        Ok(CheckReport {
            entries: mine.len(),
            differences,
        })
    }

    fn describe(&self, sg: Sg) -> String {
        format!("({}, {})", sg.source, sg.group)
    }

    fn forwarding(&self, (iif, oifs): &Forwarding) -> String {
        let oifs: Vec<String> = oifs.iter().map(|o| self.name_of(*o)).collect();
        format!("in {} out [{}]", self.name_of(*iif), oifs.join(" "))
    }
}
