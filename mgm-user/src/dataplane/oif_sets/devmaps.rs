//! The sets' devmaps: created in batches into the outer array, filled, and emptied for reuse
//! after a grace period.

use super::{OifSets, BARRIER_SLOT};
use crate::dataplane::{allocating::allocating, sys, DataPlaneError};
use aya::maps::{DevMapHash, MapData};
use mgm_common::{limits, SetMembers};

/// Devmaps created per batch.
const GROW_BATCH: u32 = 64;

impl OifSets {
    /// Whether sets wait for a grace period before reuse.
    pub fn has_retired(&self) -> bool {
        !self.retired.is_empty()
    }

    /// Waits for an RCU grace period (one outer-map update), then empties the retired sets for
    /// reuse.
    pub fn grace_period(&mut self) -> Result<(), DataPlaneError> {
        self.grace_periods += 1;
        sys::update_outer_and_wait(&self.outer, BARRIER_SLOT, &self.barrier)?;
        self.recycle()
    }

    /// Creates the first batch of sets now, so that the first entry does not wait for the
    /// outer-map update's RCU grace period (~10 ms) on the creation path.
    pub fn reserve(&mut self) -> Result<(), DataPlaneError> {
        if self.devmaps.is_empty() {
            self.grow()?;
        }
        Ok(())
    }

    /// The interfaces in the devmap of set `id`, sorted, read from the map itself.
    pub fn read_list(&self, id: u32) -> Result<Vec<u32>, DataPlaneError> {
        let map = self
            .devmaps
            .get(id as usize)
            .ok_or(DataPlaneError::Missing("outgoing-set devmap"))?;
        let mut oifs = map.keys().collect::<Result<Vec<u32>, _>>()?;
        oifs.sort_unstable();
        Ok(oifs)
    }

    /// A set id ready to be filled: recycled, or from a new batch of devmaps.
    pub(super) fn allocate(&mut self) -> Result<u32, DataPlaneError> {
        let exhausted = !self.ids.has_free() && self.ids.watermark() as usize == self.devmaps.len();
        // Only retired sets are worth a grace period: with every set in use, fail at once.
        if exhausted {
            if self.has_retired() {
                self.grace_period()?;
            } else if self.ids.has_fresh() {
                self.grow()?;
            }
        }
        self.ids
            .allocate()
            .ok_or(DataPlaneError::Full("the outgoing-interface sets"))
    }

    /// Creates a batch of empty devmaps and stores them in the outer array in one update.
    pub(super) fn grow(&mut self) -> Result<(), DataPlaneError> {
        let first = self.devmaps.len() as u32;
        let count = GROW_BATCH.min(BARRIER_SLOT - first);
        let fresh = (0..count)
            .map(|_| sys::create_devmap_hash(limits::SET_IFACES))
            .collect::<Result<Vec<_>, _>>()?;
        let keys: Vec<u32> = (first..first + count).collect();
        let refs: Vec<&DevMapHash<MapData>> = fresh.iter().collect();
        sys::update_outer_batch(&self.outer, &keys, &refs)?;
        self.devmaps.extend(fresh);
        Ok(())
    }

    /// Empties every retired set (a grace period has passed) and frees its id.
    pub(super) fn recycle(&mut self) -> Result<(), DataPlaneError> {
        for id in self.ids.grace_period_passed() {
            let oifs = self.retired.remove(&id).unwrap_or_default();
            // Absent is fine, as below.
            let _ = self.members.remove(&id);
            let map = self.devmap(id)?;
            for oif in oifs {
                // Absent keys are fine: a failed fill may have stopped early.
                let _ = map.remove(oif);
            }
        }
        Ok(())
    }

    /// Writes `oifs` into the (empty) devmap of set `id`, `bare` (0: none) without the egress
    /// program.
    pub(super) fn fill(&mut self, id: u32, oifs: &[u32], bare: u32) -> Result<(), DataPlaneError> {
        // No entry uses the set yet: the order of the writes does not matter.
        self.broadcasts
            .set(id, self.mtus.broadcast(bare, oifs), 0)?;
        let egress = &self.egress;
        let map = self
            .devmaps
            .get_mut(id as usize)
            .ok_or(DataPlaneError::Missing("outgoing-set devmap"))?;
        let filled = oifs
            .iter()
            .enumerate()
            .try_for_each(|(done, &oif)| {
                let program = (oif != bare).then_some(egress);
                allocating("outgoing-set devmap", || {
                    Ok(map.insert(oif, oif, program, 0)?)
                })
                .map_err(|e| (done, e))
            })
            .and_then(|()| {
                let members = &mut self.members;
                allocating("SET_MEMBERS", || {
                    Ok(members.insert(id, SetMembers::new(oifs), 0)?)
                })
                .map_err(|e| (oifs.len(), e))
            });
        if let Err((done, e)) = filled {
            for &undo in &oifs[..done] {
                let _ = map.remove(undo);
            }
            return Err(e);
        }
        Ok(())
    }

    pub(super) fn devmap(&mut self, id: u32) -> Result<&mut DevMapHash<MapData>, DataPlaneError> {
        self.devmaps
            .get_mut(id as usize)
            .ok_or(DataPlaneError::Missing("outgoing-set devmap"))
    }
}
