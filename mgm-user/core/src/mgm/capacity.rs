//! Bounds on the MFE table, so that a spray of new (S,G) pairs cannot fill it into a lockout.
//!
//! The table holds at most [`Config::max_mfes`](super::Config::max_mfes) entries (set it to
//! the data plane's capacity, so that every entry the core keeps fits into the backend), of
//! which at most [`Config::max_negative_mfes`](super::Config::max_negative_mfes) negative ones.
//! A new entry that does not fit evicts, in this order:
//! 1. the oldest negative entry (no outgoing interface: it only drops packets);
//! 2. the oldest idle forwarding entry (its last counter report showed no new packets);
//! 3. nothing: an active flow's entry is never evicted; the new entry is refused and counted
//!    in [`CapacityCounters::refused`], and its next packet miss tries again.
//!
//! A new negative entry beyond the negative cap evicts the oldest negative one, so an
//! unroutable spray recycles its own share of the table and never touches forwarding entries.
//! Evictions delete the entry like an expiry (§6.5): no callbacks; the next packet of an
//! evicted flow creates it again.

use super::address::Address;
use super::mfe::Evictable;
use super::Mgm;

/// What the capacity bounds did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapacityCounters {
    /// Negative entries deleted to make room.
    pub evicted_negative: u64,
    /// Idle forwarding entries deleted to make room.
    pub evicted_idle: u64,
    /// New entries not created because every entry in the way forwards an active flow.
    pub refused: u64,
}

impl<A: Address> Mgm<A> {
    /// What the capacity bounds did so far.
    pub fn capacity_counters(&self) -> CapacityCounters {
        self.capacity
    }

    /// Number of MFEs, and of negative ones among them.
    pub fn mfe_counts(&self) -> (usize, usize) {
        (self.mfes.len(), self.mfes.negative_len())
    }

    /// Makes room for one more entry (negative or not) by eviction; false if it cannot.
    pub(crate) fn make_room(&mut self, negative: bool) -> bool {
        let negatives_full = negative && self.mfes.negative_len() >= self.config.max_negative_mfes;
        if negatives_full && !self.evict(Evictable::Negative) {
            self.capacity.refused += 1;
            return false;
        }
        while self.mfes.len() >= self.config.max_mfes {
            if !self.evict(Evictable::Negative) && !self.evict(Evictable::Idle) {
                self.capacity.refused += 1;
                return false;
            }
        }
        true
    }

    /// Deletes the oldest entry of `class`, if any.
    fn evict(&mut self, class: Evictable) -> bool {
        let Some(sg) = self.mfes.oldest(class) else {
            return false;
        };
        self.delete_mfe(sg);
        match class {
            Evictable::Negative => self.capacity.evicted_negative += 1,
            Evictable::Idle => self.capacity.evicted_idle += 1,
        }
        true
    }
}
