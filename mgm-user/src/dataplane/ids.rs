//! Allocation of small integer ids (outgoing-set slots, counter slots) whose release must wait
//! for an RCU grace period: a packet still in flight may use a released id until then.

/// Ids `0..capacity`: handed out lowest-unused-first, released ids reusable after a grace
/// period has passed.
#[derive(Debug)]
pub struct IdPool {
    capacity: u32,
    next: u32,
    free: Vec<u32>,
    retired: Vec<u32>,
}

impl IdPool {
    /// A pool of ids `0..capacity` of which those below `watermark` were handed out before
    /// (by an earlier run): `used` are in use, `retired` wait for a grace period, the rest of
    /// them are free.
    pub fn adopt(capacity: u32, watermark: u32, used: &[u32], retired: Vec<u32>) -> Self {
        let next = watermark.min(capacity);
        let mut taken = vec![false; next as usize];
        for &id in used.iter().chain(&retired) {
            if let Some(slot) = taken.get_mut(id as usize) {
                *slot = true;
            }
        }
        let free = (0..next).filter(|&id| !taken[id as usize]).collect();
        Self {
            capacity,
            next,
            free,
            retired,
        }
    }

    /// An unused id: a recycled one first, else a never-used one; `None` when every id is in
    /// use or waiting for a grace period.
    pub fn allocate(&mut self) -> Option<u32> {
        if let Some(id) = self.free.pop() {
            return Some(id);
        }
        (self.next < self.capacity).then(|| {
            self.next += 1;
            self.next - 1
        })
    }

    /// Ids handed out so far (used, free or retired): `0..watermark`.
    pub fn watermark(&self) -> u32 {
        self.next
    }

    /// Whether a released id is ready for reuse.
    pub fn has_free(&self) -> bool {
        !self.free.is_empty()
    }

    /// Whether never-used ids are left.
    pub fn has_fresh(&self) -> bool {
        self.next < self.capacity
    }

    /// Releases `id`; it becomes reusable after the next grace period.
    pub fn retire(&mut self, id: u32) {
        self.retired.push(id);
    }

    /// Ids released and waiting for a grace period.
    pub fn retired(&self) -> &[u32] {
        &self.retired
    }

    /// Called once a grace period has passed since every current retirement: they become
    /// free. Returns them, for the caller to reset what they index.
    pub fn grace_period_passed(&mut self) -> Vec<u32> {
        let ids = std::mem::take(&mut self.retired);
        self.free.extend_from_slice(&ids);
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::IdPool;

    #[test]
    fn adopted_pools_hand_out_the_gaps_first() {
        let mut pool = IdPool::adopt(8, 4, &[0, 2], vec![3]);
        assert_eq!(pool.allocate(), Some(1));
        assert_eq!(pool.allocate(), Some(4));
        assert_eq!(pool.grace_period_passed(), vec![3]);
        assert_eq!(pool.allocate(), Some(3));
    }

    #[test]
    fn retired_ids_wait_for_a_grace_period() {
        let mut pool = IdPool::adopt(2, 0, &[], Vec::new());
        assert_eq!(pool.allocate(), Some(0));
        assert_eq!(pool.allocate(), Some(1));
        assert_eq!(pool.allocate(), None);
        pool.retire(0);
        assert_eq!(pool.allocate(), None, "not before the grace period");
        assert_eq!(pool.grace_period_passed(), vec![0]);
        assert_eq!(pool.allocate(), Some(0));
    }
}
