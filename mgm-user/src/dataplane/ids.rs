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
    /// A pool of ids `0..capacity`, all unused.
    pub fn new(capacity: u32) -> Self {
        Self {
            capacity,
            next: 0,
            free: Vec::new(),
            retired: Vec::new(),
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
    fn retired_ids_wait_for_a_grace_period() {
        let mut pool = IdPool::new(2);
        assert_eq!(pool.allocate(), Some(0));
        assert_eq!(pool.allocate(), Some(1));
        assert_eq!(pool.allocate(), None);
        pool.retire(0);
        assert_eq!(pool.allocate(), None, "not before the grace period");
        assert_eq!(pool.grace_period_passed(), vec![0]);
        assert_eq!(pool.allocate(), Some(0));
    }
}
