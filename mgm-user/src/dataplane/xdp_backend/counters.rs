//! The entries' counters: a slot of `MFE_STATS` per entry and an `OIF_STATS` element per
//! (entry, outgoing interface), retired on release and reused after an RCU grace period.
use super::XdpBackend;
use crate::dataplane::{allocating::allocating, DataPlaneError};
use aya::maps::PerCpuValues;
use mgm_common::{HeldCounters, MfeCounters, OifCounterKey, OifCounters};

/// Released counter slots and per-interface counters that trigger a grace period (~10 ms) by
/// themselves, so that the counter maps never fill up with garbage.
const GARBAGE_LIMIT: usize = 1024;

impl XdpBackend {
    /// Waits for one RCU grace period (~10 ms) and then makes everything released since the
    /// last call reusable. Call it now and then (the backend also calls it when it runs out).
    pub fn collect(&mut self) -> Result<(), DataPlaneError> {
        self.sets.grace_period()?;
        // Everything retired so far is now unused by the data plane.
        self.slots.grace_period_passed();
        for key in std::mem::take(&mut self.retired_counters) {
            let _ = self.oif_stats.remove(&key);
        }
        Ok(())
    }

    /// Number of RCU grace periods waited for so far (each blocks the caller ~10 ms).
    pub fn grace_periods(&self) -> u64 {
        self.sets.grace_periods()
    }

    /// Whether released objects wait for [`XdpBackend::collect`].
    pub fn has_garbage(&self) -> bool {
        self.sets.has_retired()
            || !self.slots.retired().is_empty()
            || !self.retired_counters.is_empty()
    }

    /// Collects when enough garbage has piled up.
    pub(super) fn collect_if_due(&mut self) -> Result<(), DataPlaneError> {
        if self.slots.retired().len() + self.retired_counters.len() >= GARBAGE_LIMIT {
            self.collect()?;
        }
        Ok(())
    }

    fn zeros<T: Default + Clone + aya::Pod>(&self) -> Result<PerCpuValues<T>, DataPlaneError> {
        PerCpuValues::try_from(vec![T::default(); self.cpus]).map_err(|source| {
            DataPlaneError::Sys {
                call: "per-CPU values",
                source,
            }
        })
    }

    /// A counter slot, zeroed (with the held packets' counters kept in it). Waits for a grace
    /// period only when released slots wait for one: with every slot in use, the failure is
    /// immediate (a full table must not slow the caller down).
    pub(super) fn allocate_slot(&mut self) -> Result<u32, DataPlaneError> {
        let full = DataPlaneError::Full("the entry counters");
        let slot = match self.slots.allocate() {
            Some(slot) => slot,
            None if self.slots.retired().is_empty() => return Err(full),
            None => {
                self.collect()?;
                self.slots.allocate().ok_or(full)?
            }
        };
        let zeros = self.zeros()?;
        self.mfe_stats.set(slot, zeros, 0)?;
        self.held_stats.set(slot, HeldCounters::default(), 0)?;
        Ok(slot)
    }

    /// What the entry counted in `slot` has forwarded so far, packets and bytes.
    pub(super) fn forwarded(&self, slot: u32) -> Result<(u64, u64), DataPlaneError> {
        Ok(MfeCounters::forwarded(&self.mfe_stats.get(&slot, 0)?))
    }

    /// Creates the (entry, interface) counters of `oifs` with `base`, the entry's packets and
    /// bytes so far, as their base (see `OifCounters`).
    pub(super) fn add_counters(
        &mut self,
        slot: u32,
        oifs: &[u32],
        base: (u64, u64),
    ) -> Result<(), DataPlaneError> {
        if oifs.is_empty() {
            return Ok(());
        }
        let mut values = vec![OifCounters::default(); self.cpus];
        (values[0].base_packets, values[0].base_bytes) = base;
        for &ifindex in oifs {
            let key = OifCounterKey {
                stats_slot: slot,
                ifindex,
            };
            self.retired_counters.remove(&key);
            let map = &mut self.oif_stats;
            allocating("OIF_STATS", || {
                let values = PerCpuValues::try_from(values.clone()).map_err(|source| {
                    DataPlaneError::Sys {
                        call: "per-CPU values",
                        source,
                    }
                })?;
                Ok(map.insert(key, values, 0)?)
            })?;
        }
        Ok(())
    }

    pub(super) fn retire_counters(&mut self, slot: u32, oifs: &[u32]) {
        self.retired_counters
            .extend(oifs.iter().map(|&ifindex| OifCounterKey {
                stats_slot: slot,
                ifindex,
            }));
    }
}
