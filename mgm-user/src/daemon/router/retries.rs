//! Retrying with exponential backoff what failed: one list of (key → failed attempts, next
//! attempt) for the backend's writes (`sync.rs`), the punt sockets (`punts.rs`) and the host
//! joins (`host_joins.rs`). The list only schedules: its owner makes the attempts that are
//! [`Retries::due`] and reports each outcome ([`Retries::fail`], [`Retries::succeed`]).
//!
//! It is bounded: at its bound, a key that is not in it yet is refused ([`Retries::fail`]
//! returns `None`, counted in [`Retries::refused`]; its owner logs it) and is not retried;
//! the keys already waiting keep their place. Each owner's bound covers every key it can
//! have at once, so a refusal means that bound was sized wrong.
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// First retry of a failed backend action or host join...
pub(super) const RETRY_FIRST: Duration = Duration::from_millis(100);
/// ...doubling up to this interval.
pub(super) const RETRY_MAX: Duration = Duration::from_secs(30);

/// A failure kept for a retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Retry {
    /// Attempts that failed in a row, this one included.
    pub(super) attempts: u32,
    /// How long until the next attempt.
    pub(super) wait: Duration,
}

/// Keys whose last attempt failed, each with its next attempt.
#[derive(Debug)]
pub(super) struct Retries<K> {
    /// Key → (failed attempts in a row, next attempt).
    pending: BTreeMap<K, (u32, Instant)>,
    first: Duration,
    max: Duration,
    bound: usize,
    failures: u64,
    refused: u64,
}

impl<K: Ord + Clone> Retries<K> {
    /// An empty list whose retries wait `first`, doubling with each failure up to `max`, and
    /// that holds at most `bound` keys.
    pub(super) fn new(first: Duration, max: Duration, bound: usize) -> Self {
        Self {
            pending: BTreeMap::new(),
            first,
            max,
            bound,
            failures: 0,
            refused: 0,
        }
    }

    /// An attempt for `key` failed at `now`: counted, and the next one scheduled (`None`: the
    /// list is full and `key` is not in it, so it is not retried).
    pub(super) fn fail(&mut self, key: K, now: Instant) -> Option<Retry> {
        self.failures += 1;
        let attempts = match self.pending.get(&key) {
            Some((n, _)) => n.saturating_add(1),
            None if self.pending.len() >= self.bound => {
                self.refused += 1;
                return None;
            }
            None => 1,
        };
        let wait = backoff(self.first, attempts, self.max);
        self.pending.insert(key, (attempts, now + wait));
        Some(Retry { attempts, wait })
    }

    /// An attempt for `key` succeeded (or is no longer wanted): it waits no more. Whether it
    /// was waiting.
    pub(super) fn succeed(&mut self, key: &K) -> bool {
        self.pending.remove(key).is_some()
    }

    /// Keeps only the waiting keys `keep` accepts.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        self.pending.retain(|key, _| keep(key));
    }

    /// The keys whose next attempt is due at `now`, in key order.
    pub(super) fn due(&self, now: Instant) -> Vec<K> {
        self.pending
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Whether an attempt for `key` may be made at `now`: it is not waiting, or its wait is
    /// over.
    pub(super) fn may_try(&self, key: &K, now: Instant) -> bool {
        self.pending.get(key).is_none_or(|(_, at)| *at <= now)
    }

    /// When the earliest next attempt is due.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.pending.values().map(|(_, at)| *at).min()
    }

    /// Keys waiting for their next attempt.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    /// Attempts that failed (first ones and retries, refused ones included).
    pub(super) fn failures(&self) -> u64 {
        self.failures
    }

    /// Failures not kept for a retry because the list was full.
    pub(super) fn refused(&self) -> u64 {
        self.refused
    }
}

/// The wait before attempt `attempts` + 1 of something that failed `attempts` times: `first`,
/// doubling with each failure, at most `max`.
fn backoff(first: Duration, attempts: u32, max: Duration) -> Duration {
    first
        .saturating_mul(1 << attempts.min(16).saturating_sub(1))
        .min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_millis(500);

    fn retries(bound: usize) -> Retries<u32> {
        Retries::new(FIRST, MAX, bound)
    }

    #[test]
    fn the_wait_doubles_with_each_failure_up_to_the_maximum() {
        let t0 = Instant::now();
        let mut list = retries(4);
        let waits: Vec<Duration> = (0..5)
            .map(|_| list.fail(7, t0).expect("room").wait)
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(waits, [ms(100), ms(200), ms(400), ms(500), ms(500)]);
        assert_eq!(list.fail(7, t0).map(|r| r.attempts), Some(6));
        assert_eq!(list.failures(), 6);
        assert_eq!(list.len(), 1);
    }

    #[test]
    fn a_key_is_due_once_its_wait_is_over_and_the_deadline_is_the_earliest() {
        let t0 = Instant::now();
        let mut list = retries(4);
        list.fail(1, t0);
        list.fail(2, t0);
        list.fail(2, t0);
        assert_eq!(list.next_deadline(), Some(t0 + FIRST));
        assert_eq!(list.due(t0), Vec::<u32>::new());
        assert!(!list.may_try(&1, t0) && list.may_try(&3, t0));
        assert_eq!(list.due(t0 + FIRST), [1]);
        assert_eq!(list.due(t0 + FIRST * 2), [1, 2]);
        assert!(list.may_try(&2, t0 + FIRST * 2));
    }

    #[test]
    fn success_ends_the_wait_and_starts_the_backoff_over() {
        let t0 = Instant::now();
        let mut list = retries(4);
        list.fail(1, t0);
        list.fail(1, t0);
        assert!(list.succeed(&1));
        assert!(!list.succeed(&1), "no longer waiting");
        assert_eq!(list.next_deadline(), None);
        assert_eq!(list.fail(1, t0).map(|r| r.attempts), Some(1));
    }

    #[test]
    fn at_the_bound_new_keys_are_refused_and_waiting_ones_keep_their_retries() {
        let t0 = Instant::now();
        let mut list = retries(2);
        assert!(list.fail(1, t0).is_some());
        assert!(list.fail(2, t0).is_some());
        assert_eq!(list.fail(3, t0), None, "full");
        assert_eq!((list.refused(), list.failures(), list.len()), (1, 3, 2));
        assert_eq!(list.fail(2, t0).map(|r| r.attempts), Some(2), "still kept");
        list.retain(|key| *key != 1);
        assert!(list.fail(3, t0).is_some(), "room again");
        assert_eq!(list.due(t0 + MAX), [2, 3]);
    }
}
