//! Outgoing-interface sets: one DEVMAP_HASH per distinct list of outgoing interfaces, shared
//! (refcounted) by every entry with that list, held in the `OIF_SETS` array of maps.
//!
//! Updating the outer array costs an RCU grace period (~9 ms here), so devmaps are created in
//! batches (one batch update of empty slots), never removed from the array, and recycled: a set
//! nobody uses any more is retired, and emptied for reuse only after a grace period, when no
//! packet can still be replicated through it. That wait is a single-element update of a spare
//! slot, the update every kernel makes wait (see `sys`).
//!
//! Each set in use also has its member list in `SET_MEMBERS` (devmaps cannot be read from TC,
//! where jumbo frames are replicated), written with the devmap and removed when it is emptied.
use super::{ids::IdPool, sys, DataPlaneError};
use aya::{
    maps::{ArrayOfMaps, DevMapHash, HashMap as BpfHashMap, Map, MapData, MapError},
    programs::ProgramFd,
};
use mgm_common::{limits, SetMembers};
use std::{collections::HashMap, os::fd::AsFd};

/// Devmaps created per batch.
const GROW_BATCH: u32 = 64;
/// Slot of the outer array written only to wait for a grace period.
const BARRIER_SLOT: u32 = limits::OIF_SETS - 1;

/// One set in use.
#[derive(Debug)]
struct Set {
    oifs: Vec<u32>,
    users: usize,
}

/// The outgoing-interface sets and their devmaps.
pub struct OifSets {
    outer: MapData,
    devmaps: Vec<DevMapHash<MapData>>,
    members: BpfHashMap<MapData, u32, SetMembers>,
    barrier: DevMapHash<MapData>,
    ids: IdPool,
    sets: HashMap<u32, Set>,
    by_list: HashMap<Vec<u32>, u32>,
    /// Retired sets and the interfaces still in their devmap.
    retired: HashMap<u32, Vec<u32>>,
    egress: ProgramFd,
    /// Grace periods waited for so far (entry-counter collection included).
    grace_periods: u64,
}

impl OifSets {
    /// Manages the outer array `outer` and the member lists `members`, taking over the devmaps
    /// an earlier run left in it (pinned maps): `users` tells how many adopted entries use each
    /// set id. Sets nobody uses are retired. Every devmap entry written from now on carries
    /// `egress`.
    pub fn open(
        outer: MapData,
        mut members: BpfHashMap<MapData, u32, SetMembers>,
        egress: ProgramFd,
        users: &HashMap<u32, usize>,
    ) -> Result<Self, DataPlaneError> {
        let duplicate =
            outer
                .fd()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|source| DataPlaneError::Sys {
                    call: "duplicating the OIF_SETS descriptor",
                    source,
                })?;
        let reader: ArrayOfMaps<MapData, DevMapHash<MapData>> =
            Map::ArrayOfMaps(MapData::from_fd(duplicate)?).try_into()?;
        let mut devmaps = Vec::new();
        for id in 0..BARRIER_SLOT {
            match reader.get(&id, 0) {
                Ok(map) => devmaps.push(map),
                Err(MapError::KeyNotFound) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let mut sets = HashMap::new();
        let mut by_list = HashMap::new();
        let mut retired = HashMap::new();
        for (id, map) in (0u32..).zip(&devmaps) {
            let mut oifs = map.keys().collect::<Result<Vec<u32>, _>>()?;
            oifs.sort_unstable();
            match users.get(&id) {
                Some(&count) => {
                    by_list.entry(oifs.clone()).or_insert(id);
                    sets.insert(id, Set { oifs, users: count });
                }
                None if !oifs.is_empty() => {
                    retired.insert(id, oifs);
                }
                None => {}
            }
        }
        if let Some(id) = users.keys().find(|&&id| id as usize >= devmaps.len()) {
            return Err(DataPlaneError::Invalid(format!(
                "an entry points at outgoing set {id}, which does not exist"
            )));
        }
        // Rewritten: pins left by a version without member lists have none.
        for (id, set) in &sets {
            members.insert(id, SetMembers::new(&set.oifs), 0)?;
        }
        let used: Vec<u32> = sets.keys().copied().collect();
        let ids = IdPool::adopt(
            BARRIER_SLOT,
            devmaps.len() as u32,
            &used,
            retired.keys().copied().collect(),
        );
        let oif_sets = Self {
            outer,
            devmaps,
            members,
            barrier: sys::create_devmap_hash(limits::SET_IFACES)?,
            ids,
            sets,
            by_list,
            retired,
            egress,
            grace_periods: 0,
        };
        Ok(oif_sets)
    }

    /// The set holding exactly `oifs` (sorted, without duplicates), shared if it exists,
    /// created otherwise; the caller becomes one of its users.
    pub fn acquire(&mut self, oifs: &[u32]) -> Result<u32, DataPlaneError> {
        if oifs.len() > limits::SET_IFACES as usize {
            return Err(DataPlaneError::Invalid(format!(
                "{} outgoing interfaces (at most {})",
                oifs.len(),
                limits::SET_IFACES
            )));
        }
        if let Some(&id) = self.by_list.get(oifs) {
            if let Some(set) = self.sets.get_mut(&id) {
                set.users += 1;
                return Ok(id);
            }
        }
        let id = self.allocate()?;
        if let Err(e) = self.fill(id, oifs) {
            self.ids.retire(id);
            return Err(e);
        }
        self.sets.insert(
            id,
            Set {
                oifs: oifs.to_vec(),
                users: 1,
            },
        );
        self.by_list.insert(oifs.to_vec(), id);
        Ok(id)
    }

    /// Drops one user of set `id`; the last one retires it.
    pub fn release(&mut self, id: u32) {
        let Some(set) = self.sets.get_mut(&id) else {
            return;
        };
        set.users -= 1;
        if set.users > 0 {
            return;
        }
        if let Some(set) = self.sets.remove(&id) {
            if self.by_list.get(&set.oifs) == Some(&id) {
                self.by_list.remove(&set.oifs);
            }
            self.retired.insert(id, set.oifs);
            self.ids.retire(id);
        }
    }

    /// Stops sharing the sets that list `ifindex` (the interface is gone: the kernel removed
    /// it from their devmaps, and a new interface may get its index). Their entries keep them
    /// until they change; new lists with that index get new sets.
    pub fn forget_interface(&mut self, ifindex: u32) {
        self.by_list.retain(|oifs, _| !oifs.contains(&ifindex));
    }

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

    /// The interfaces of set `id` (sorted; none if it is not in use): the one copy of the
    /// list its entries share.
    pub fn list(&self, id: u32) -> &[u32] {
        self.sets.get(&id).map_or(&[], |set| &set.oifs)
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

    /// Number of grace periods waited for so far.
    pub fn grace_periods(&self) -> u64 {
        self.grace_periods
    }

    /// Number of sets in use.
    pub fn in_use(&self) -> usize {
        self.sets.len()
    }

    /// A set id ready to be filled: recycled, or from a new batch of devmaps.
    fn allocate(&mut self) -> Result<u32, DataPlaneError> {
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
    fn grow(&mut self) -> Result<(), DataPlaneError> {
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
    fn recycle(&mut self) -> Result<(), DataPlaneError> {
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

    /// Writes `oifs` into the (empty) devmap of set `id`.
    fn fill(&mut self, id: u32, oifs: &[u32]) -> Result<(), DataPlaneError> {
        let egress = &self.egress;
        let map = self
            .devmaps
            .get_mut(id as usize)
            .ok_or(DataPlaneError::Missing("outgoing-set devmap"))?;
        let filled = oifs
            .iter()
            .enumerate()
            .try_for_each(|(done, &oif)| match map.insert(oif, oif, Some(egress), 0) {
                Ok(()) => Ok(()),
                Err(e) => Err((done, DataPlaneError::from(e))),
            })
            .and_then(|()| {
                self.members
                    .insert(id, SetMembers::new(oifs), 0)
                    .map_err(|e| (oifs.len(), e.into()))
            });
        if let Err((done, e)) = filled {
            for &undo in &oifs[..done] {
                let _ = map.remove(undo);
            }
            return Err(e);
        }
        Ok(())
    }

    fn devmap(&mut self, id: u32) -> Result<&mut DevMapHash<MapData>, DataPlaneError> {
        self.devmaps
            .get_mut(id as usize)
            .ok_or(DataPlaneError::Missing("outgoing-set devmap"))
    }
}
