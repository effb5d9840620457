//! The oldest idle MFEs, eviction's second choice (see [`super::capacity`]), found by scanning
//! the table when eviction needs them rather than kept in an index of every idle entry: after
//! a statistics refresh most entries of a large table may be idle, and such an index cost 34
//! bytes per entry (3.3 MiB at 100 000 entries, README "Memory").
//!
//! A scan keeps the [`BATCH`] oldest idle entries (by epoch, i.e. creation order). They stay
//! the oldest idle entries until one older than the youngest of them becomes idle, which
//! drops them (the next eviction scans again); entries among them that were deleted,
//! re-created or became active since are skipped when their turn comes. So eviction takes the
//! oldest idle entry, exactly as an index would, at the cost of a scan of the table every
//! [`BATCH`] evictions and after each wave of entries turning idle. A table where nothing
//! turned idle since a scan that found nothing more is not scanned again (a spray against a
//! full table of active flows costs no scans).

use std::collections::BinaryHeap;

use super::address::Address;
use super::types::Sg;

/// Idle entries a scan keeps (16 bytes each for IPv4).
pub(crate) const BATCH: usize = 4096;

/// The oldest idle entries as of the last scan, youngest first (the oldest is popped).
#[derive(Debug)]
pub(crate) struct IdleCandidates<A: Address> {
    youngest_first: Vec<(u64, Sg<A>)>,
    /// A scan would find idle entries the candidates do not hold: the last scan left some
    /// out, or an entry became idle since.
    rescan: bool,
}

impl<A: Address> Default for IdleCandidates<A> {
    fn default() -> Self {
        IdleCandidates {
            youngest_first: Vec::new(),
            rescan: false,
        }
    }
}

impl<A: Address> IdleCandidates<A> {
    /// An entry of `epoch` became idle.
    pub(crate) fn became_idle(&mut self, epoch: u64) {
        self.rescan = true;
        if self
            .youngest_first
            .first()
            .is_some_and(|(youngest, _)| epoch < *youngest)
        {
            self.youngest_first = Vec::new();
        }
    }

    /// The oldest idle entry: `is_idle(epoch, sg)` says whether a candidate still is one, and
    /// `scan` lists every idle entry (epoch, key) when the candidates ran out.
    pub(crate) fn oldest<I>(
        &mut self,
        is_idle: impl Fn(u64, Sg<A>) -> bool,
        scan: impl FnOnce() -> I,
    ) -> Option<Sg<A>>
    where
        I: Iterator<Item = (u64, Sg<A>)>,
    {
        if let Some(sg) = self.first_valid(&is_idle) {
            return Some(sg);
        }
        if !self.rescan {
            return None;
        }
        // A max-heap of at most BATCH: the youngest of the oldest is dropped first.
        let mut oldest = BinaryHeap::with_capacity(BATCH + 1);
        let mut left_out = false;
        for candidate in scan() {
            oldest.push(candidate);
            if oldest.len() > BATCH {
                oldest.pop();
                left_out = true;
            }
        }
        let mut youngest_first = oldest.into_sorted_vec();
        youngest_first.reverse();
        self.youngest_first = youngest_first;
        self.rescan = left_out;
        self.first_valid(&is_idle)
    }

    fn first_valid(&mut self, is_idle: &impl Fn(u64, Sg<A>) -> bool) -> Option<Sg<A>> {
        while let Some(&(epoch, sg)) = self.youngest_first.last() {
            if is_idle(epoch, sg) {
                return Some(sg);
            }
            self.youngest_first.pop();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    fn sg(epoch: u64) -> Sg {
        Sg::new(Ipv4Addr::from(epoch as u32), Ipv4Addr::new(239, 1, 1, 1))
    }

    /// The oldest idle entry of `idle` (epoch -> idle), counting the scans.
    fn oldest(
        candidates: &mut IdleCandidates<Ipv4Addr>,
        idle: &BTreeMap<u64, bool>,
        scans: &Cell<u32>,
    ) -> Option<u64> {
        let found = candidates.oldest(
            |epoch, key| key == sg(epoch) && idle.get(&epoch) == Some(&true),
            || {
                scans.set(scans.get() + 1);
                idle.iter().filter(|(_, i)| **i).map(|(e, _)| (*e, sg(*e)))
            },
        );
        found.map(|key| u64::from(u32::from(key.source)))
    }

    #[test]
    fn eviction_takes_the_oldest_idle_entry_across_batches_and_late_idlers() {
        let entries = 2 * BATCH as u64 + 10;
        let mut idle: BTreeMap<u64, bool> = (1..=entries).map(|e| (e, e != 5)).collect();
        let mut candidates = IdleCandidates::default();
        for e in 1..=entries {
            if e != 5 {
                candidates.became_idle(e);
            }
        }
        let scans = Cell::new(0);
        let mut evicted = Vec::new();
        for round in 0..entries {
            if round == 100 {
                // Entry 5, older than every candidate left, turns idle; entry 200 active.
                idle.insert(5, true);
                candidates.became_idle(5);
                idle.insert(200, false);
            }
            let Some(e) = oldest(&mut candidates, &idle, &scans) else {
                break;
            };
            idle.remove(&e);
            evicted.push(e);
        }
        // 100 evicted before entry 5 turned idle: 1 to 101 but 5.
        let expected: Vec<u64> = (1..=101)
            .filter(|e| *e != 5)
            .chain([5])
            .chain((102..=entries).filter(|e| *e != 200))
            .collect();
        let first_difference = evicted.iter().zip(&expected).position(|(a, b)| a != b);
        assert_eq!(first_difference, None, "evicted out of order");
        assert_eq!(evicted.len(), expected.len());
        // The first, the one after entry 5 turned idle, the one when its batch ran out.
        assert_eq!(scans.get(), 3);
        // Only the active entry is left: no scans until an entry turns idle.
        assert_eq!(oldest(&mut candidates, &idle, &scans), None);
        assert_eq!(oldest(&mut candidates, &idle, &scans), None);
        assert_eq!(scans.get(), 3);
    }
}
