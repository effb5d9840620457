//! When MFEs expire: a min-heap of (expiry, key), 16 bytes an entry for IPv4 in one vector
//! (an ordered set spent 34 in its nodes; README, "Memory"). A lifetime that changes pushes
//! the new expiry and leaves the old one in the heap, stale, as does a deleted entry; stale
//! items are dropped when they reach the top, and the heap is rebuilt from the table once
//! they outnumber the live ones. So the top is always a live expiry (the earliest), and
//! entries come due in (expiry, key) order, each once.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::address::Address;
use super::types::{Sg, Timestamp};

#[derive(Debug)]
pub(crate) struct ExpiryQueue<A: Address> {
    heap: BinaryHeap<Reverse<(Timestamp, Sg<A>)>>,
}

impl<A: Address> Default for ExpiryQueue<A> {
    fn default() -> Self {
        ExpiryQueue {
            heap: BinaryHeap::new(),
        }
    }
}

impl<A: Address> ExpiryQueue<A> {
    /// `sg` expires at `at` (an earlier expiry of it becomes stale).
    pub(crate) fn push(&mut self, at: Timestamp, sg: Sg<A>) {
        self.heap.push(Reverse((at, sg)));
    }

    /// Drops stale items from the top (`is_live(at, sg)`: whether `sg` still expires at
    /// `at`), and rebuilds the heap from `live` (every entry's expiry, for `live_len`
    /// entries) when stale items outnumber live ones. Call after each change.
    pub(crate) fn tidy<I>(
        &mut self,
        is_live: impl Fn(Timestamp, Sg<A>) -> bool,
        live_len: usize,
        live: impl FnOnce() -> I,
    ) where
        I: Iterator<Item = (Timestamp, Sg<A>)>,
    {
        if self.heap.len() > 2 * live_len + 1024 {
            let mut items: Vec<_> = live().map(Reverse).collect();
            items.shrink_to_fit();
            self.heap = BinaryHeap::from(items);
        }
        while let Some(Reverse((at, sg))) = self.heap.peek() {
            if is_live(*at, *sg) {
                break;
            }
            self.heap.pop();
        }
    }

    /// The earliest expiry, if any (live after [`ExpiryQueue::tidy`]).
    pub(crate) fn next(&self) -> Option<Timestamp> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the entries due at `now` (live ones, each once), in (expiry, key) order.
    pub(crate) fn take_due(
        &mut self,
        now: Timestamp,
        is_live: impl Fn(Timestamp, Sg<A>) -> bool,
    ) -> Vec<Sg<A>> {
        let mut due: Vec<Sg<A>> = Vec::new();
        while let Some(Reverse((at, sg))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            if is_live(at, sg) && due.last() != Some(&sg) {
                due.push(sg);
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    fn sg(n: u8) -> Sg {
        Sg::new(Ipv4Addr::new(10, 0, 0, n), Ipv4Addr::new(239, 1, 1, 1))
    }

    #[test]
    fn changed_and_deleted_lifetimes_leave_only_live_expiries() {
        let mut expiries: BTreeMap<Sg, Timestamp> = BTreeMap::new();
        let mut queue = ExpiryQueue::default();
        let mut set = |queue: &mut ExpiryQueue<Ipv4Addr>, key: Sg, at: Option<u64>| {
            match at {
                Some(at) => {
                    expiries.insert(key, Timestamp::from_millis(at));
                    queue.push(Timestamp::from_millis(at), key);
                }
                None => {
                    expiries.remove(&key);
                }
            }
            let live = expiries.clone();
            queue.tidy(
                |at, key| live.get(&key) == Some(&at),
                live.len(),
                || live.clone().into_iter().map(|(k, t)| (t, k)),
            );
            live
        };
        set(&mut queue, sg(1), Some(100));
        set(&mut queue, sg(2), Some(50));
        set(&mut queue, sg(3), Some(70));
        // 2 lives longer, 3 goes back and forth (a duplicate of a live expiry), 1 is deleted.
        set(&mut queue, sg(2), Some(300));
        set(&mut queue, sg(3), Some(200));
        set(&mut queue, sg(3), Some(70));
        let live = set(&mut queue, sg(1), None);
        assert_eq!(queue.next(), Some(Timestamp::from_millis(70)));
        let is_live = |at, key| live.get(&key) == Some(&at);
        assert_eq!(
            queue.take_due(Timestamp::from_millis(299), is_live),
            [sg(3)]
        );
        assert_eq!(
            queue.take_due(Timestamp::from_millis(1000), is_live),
            [sg(2)]
        );
        assert_eq!(queue.next(), None);
    }
}
