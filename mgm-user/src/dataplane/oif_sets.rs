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
//!
//! # Bare members
//! A devmap entry's egress program costs every copy the kernel's run of it (frame to buffer
//! and back, an indirect call), more than the program's own work. One member of a set may go
//! without it, its *bare member*: the ingress program applies its rules and writes its MAC
//! before the broadcast (`SET_BROADCAST`), every copy starts from that frame, and the other
//! members' programs rewrite theirs. Only an interface whose rules drop nothing is chosen
//! ([`drops_nothing`]); a packet its rules would refuse after all (a change racing the choice)
//! goes to the TC program, which applies every member's rules (`stat::BARE_MEMBER_REFUSED`),
//! so counters and rules stay exact.
//!
//! # The broadcast's MTU
//! The kernel's broadcast skips a member whose device MTU a frame exceeds before any program
//! runs: no drop counted, the copy counted as sent. So each set's `SET_BROADCAST` element also
//! holds the smallest MTU of its members ([`MemberMtus`]); a longer packet goes to the TC
//! program (`stat::BROADCAST_OVER_MTU`), which counts each member's MTU drop. It is rewritten
//! whenever a member's MTU changes ([`OifSets::set_mtu`]), and with the bare member.
//!
//! The kernel runs the program of the first copy queued to an interface in a NAPI poll on
//! every copy queued to it in that poll, whichever devmap entry queued them. So an interface
//! is bare in every set in use listing it or in none ([`OifSets::bare`]), and no set lists two
//! bare interfaces. A new set listing two gives all but one of them their program back
//! everywhere; a set losing its bare member (its rules changed, the interface went away)
//! gets another if one of its members can be bare.
//!
//! The same holds for an entry's single copy to an interface: it carries the interface's one
//! program too, none if the interface is bare or in no set in use, the egress program
//! otherwise ([`DirectRedirects`], kept in step here whenever that changes: a set listing the
//! interface taken in use or retired, the interface made bare or given its program back, and
//! on adoption).
use super::{
    ids::IdPool, member_mtus::MemberMtus, oif_direct::DirectRedirects, sys, DataPlaneError,
};
use aya::{
    maps::{Array, ArrayOfMaps, DevMapHash, HashMap as BpfHashMap, Map, MapData, MapError},
    programs::ProgramFd,
};
use mgm_common::{limits, IfaceConfig, SetBroadcast, SetMembers, IFACE_FLAG_CONFIGURED};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Devmaps created per batch.
const GROW_BATCH: u32 = 64;
/// Slot of the outer array written only to wait for a grace period.
const BARRIER_SLOT: u32 = limits::OIF_SETS - 1;

/// The smallest IPv6 multicast scope the ingress program forwards (smaller ones go to the
/// kernel), so a scope boundary below it drops nothing.
const SMALLEST_FORWARDED_SCOPE: u8 = 3;
/// The smallest MTU a bare member may have: a standard Ethernet link's (larger packets of its
/// sets take the TC program's path, see the module's doc).
const BARE_MIN_MTU: u32 = 1500;

/// Whether interface settings `iface` let every forwarded copy out (no TTL threshold above 1,
/// no scope boundary, an MTU of at least [`BARE_MIN_MTU`] or none): such an interface may be
/// a set's bare member.
pub fn drops_nothing(iface: &IfaceConfig) -> bool {
    iface.flags & IFACE_FLAG_CONFIGURED != 0
        && iface.ttl_threshold <= 1
        && iface.scope_boundary < SMALLEST_FORWARDED_SCOPE
        && (iface.mtu == 0 || iface.mtu >= BARE_MIN_MTU)
}

/// One set in use.
#[derive(Debug)]
struct Set {
    oifs: Vec<u32>,
    users: usize,
    /// Its bare member (0: none).
    bare: u32,
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
    /// `SET_BROADCAST`: set id → its bare member and the smallest MTU of its members.
    broadcasts: Array<MapData, SetBroadcast>,
    /// The members' MTUs.
    mtus: MemberMtus,
    /// Interfaces whose rules drop nothing ([`drops_nothing`]), which may be bare members.
    rule_free: HashSet<u32>,
    /// Interfaces that are the bare member of every set in use listing them.
    bare: BTreeSet<u32>,
    /// The sets in use listing each interface.
    sets_of: HashMap<u32, BTreeSet<u32>>,
    /// Grace periods waited for so far (entry-counter collection included).
    grace_periods: u64,
    /// The program of entries' single copies to each interface.
    direct: DirectRedirects,
}

impl OifSets {
    /// Manages the outer array `outer` and the member lists `members`, taking over the devmaps
    /// an earlier run left in it (pinned maps): `users` tells how many adopted entries use each
    /// set id. Sets nobody uses are retired. Every devmap entry written from now on carries
    /// `egress`, but a set's bare member's (`broadcasts`, see the module's doc). Adopted sets
    /// start without bare members (every entry rewritten with `egress`): the interfaces'
    /// settings, given again, choose them. Their broadcast MTU is their members' smallest in
    /// `ifaces` (`IFACES`, as an earlier run left it) until those settings come. `direct`
    /// (`OIF_DIRECT`) and the program flags of `ifaces` are adopted to match: every member of a
    /// set in use gets the egress program for single copies too.
    pub fn open(
        outer: MapData,
        mut members: BpfHashMap<MapData, u32, SetMembers>,
        egress: ProgramFd,
        mut broadcasts: Array<MapData, SetBroadcast>,
        (direct, ifaces): (DevMapHash<MapData>, Array<MapData, IfaceConfig>),
        users: &HashMap<u32, usize>,
    ) -> Result<Self, DataPlaneError> {
        let duplicate = sys::duplicate(&outer, "duplicating the OIF_SETS descriptor")?;
        let reader: ArrayOfMaps<MapData, DevMapHash<MapData>> =
            Map::ArrayOfMaps(duplicate).try_into()?;
        let mut devmaps = Vec::new();
        for id in 0..BARRIER_SLOT {
            match reader.get(&id, 0) {
                Ok(map) => devmaps.push(map),
                Err(MapError::KeyNotFound) => break,
                Err(e) => return Err(e.into()),
            }
        }
        let mut mtus = MemberMtus::default();
        let mut sets = HashMap::new();
        let mut by_list = HashMap::new();
        let mut retired = HashMap::new();
        for (id, map) in (0u32..).zip(&mut devmaps) {
            let mut oifs = map.keys().collect::<Result<Vec<u32>, _>>()?;
            oifs.sort_unstable();
            match users.get(&id) {
                Some(&count) => {
                    // Program first, then no bare member: no copy ever goes without either.
                    for &oif in &oifs {
                        map.insert(oif, oif, Some(&egress), 0)?;
                        let iface = ifaces.get(&oif, 0).unwrap_or_default();
                        mtus.set(oif, iface.mtu);
                    }
                    let broadcast = SetBroadcast {
                        bare_member: 0,
                        mtu: mtus.limit(&oifs),
                    };
                    broadcasts.set(id, broadcast, 0)?;
                    by_list.entry(oifs.clone()).or_insert(id);
                    sets.insert(
                        id,
                        Set {
                            oifs,
                            users: count,
                            bare: 0,
                        },
                    );
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
        let mut sets_of: HashMap<u32, BTreeSet<u32>> = HashMap::new();
        for (&id, set) in &sets {
            for &oif in &set.oifs {
                sets_of.entry(oif).or_default().insert(id);
            }
        }
        let listed: BTreeSet<u32> = sets_of.keys().copied().collect();
        let direct = DirectRedirects::adopt(direct, ifaces, &egress, &listed)?;
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
            broadcasts,
            mtus,
            rule_free: HashSet::new(),
            bare: BTreeSet::new(),
            sets_of,
            grace_periods: 0,
            direct,
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
        // Two bare interfaces in one set: all but the first get their program back.
        let mut listed_bare = oifs.iter().filter(|oif| self.bare.contains(oif));
        let kept = listed_bare.next().copied();
        let demoted: Vec<u32> = listed_bare.copied().collect();
        let mut orphans = Vec::new();
        let demoted = demoted.into_iter().try_for_each(|oif| {
            orphans.extend(self.demote(oif)?);
            Ok(())
        });
        let bare = match kept {
            Some(oif) => oif,
            None => oifs
                .iter()
                .copied()
                .find(|&oif| self.promotable(oif))
                .unwrap_or(0),
        };
        if let Err(e) = demoted.and_then(|()| self.fill(id, oifs, bare)) {
            self.ids.retire(id);
            // No new set lists them: the sets the demotions left without a bare member get
            // one again (the demoted interfaces can be it once more). The fill's error is the
            // one to report.
            let _ = self.rechoose(&orphans);
            return Err(e);
        }
        self.sets.insert(
            id,
            Set {
                oifs: oifs.to_vec(),
                users: 1,
                bare,
            },
        );
        for &oif in oifs {
            self.sets_of.entry(oif).or_default().insert(id);
        }
        self.by_list.insert(oifs.to_vec(), id);
        let settled = self.settle(
            oifs,
            (bare != 0 && kept.is_none()).then_some(bare),
            &orphans,
        );
        if let Err(e) = settled {
            // The caller gets no set, so the one user it would have been goes; the settling's
            // error is the one to report.
            let _ = self.release(id);
            return Err(e);
        }
        Ok(id)
    }

    /// Completes a new set in use listing `oifs`: makes `promote` (its chosen member, in no
    /// other set with a bare member) bare everywhere, gives sets that lost theirs (`orphans`)
    /// another, and writes its members' single-copy programs.
    fn settle(
        &mut self,
        oifs: &[u32],
        promote: Option<u32>,
        orphans: &[u32],
    ) -> Result<(), DataPlaneError> {
        if let Some(bare) = promote {
            self.promote(bare)?;
        }
        self.rechoose(orphans)?;
        oifs.iter().try_for_each(|&oif| self.sync_direct(oif))
    }

    /// Tells whether the settings of interface `ifindex` drop nothing ([`drops_nothing`]):
    /// an interface that may no longer be bare gets its program back in every set, and those
    /// sets another bare member if they can; one that may now is made bare where no set
    /// listing it has one.
    pub fn set_rule_free(&mut self, ifindex: u32, free: bool) -> Result<(), DataPlaneError> {
        if free {
            if self.rule_free.insert(ifindex) && self.promotable(ifindex) {
                self.promote(ifindex)?;
            }
            return Ok(());
        }
        self.rule_free.remove(&ifindex);
        if self.bare.contains(&ifindex) {
            let orphans = self.demote(ifindex)?;
            self.rechoose(&orphans)?;
        }
        Ok(())
    }

    /// The bare member of set `id` (0: none), as this process wrote it.
    pub fn bare_member(&self, id: u32) -> u32 {
        self.sets.get(&id).map_or(0, |set| set.bare)
    }

    /// Whether interface `ifindex` may become bare: its rules drop nothing, and no set in use
    /// listing it has a bare member.
    fn promotable(&self, ifindex: u32) -> bool {
        self.rule_free.contains(&ifindex)
            && !self.bare.contains(&ifindex)
            && self.sets_of.get(&ifindex).is_none_or(|ids| {
                ids.iter()
                    .all(|id| self.sets.get(id).is_none_or(|set| set.bare == 0))
            })
    }

    /// Makes interface `ifindex` the bare member of every set in use listing it (none of
    /// which has one): the ingress program writes its MAC first, then its devmap entry loses
    /// the program. On an error the sets done are undone.
    fn promote(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        self.bare.insert(ifindex);
        let ids: Vec<u32> = self.sets_with(ifindex);
        for id in ids {
            let written = self.write_broadcast(id, ifindex);
            let written = written.and_then(|()| {
                let map = self.devmap(id)?;
                Ok(map.insert(ifindex, ifindex, None, 0)?)
            });
            if let Err(e) = written {
                // This set's bare member may be written already: it has none; the sets done
                // before get their program back.
                let _ = self.unset_bare(id);
                let _ = self.demote(ifindex);
                return Err(e);
            }
            if let Some(set) = self.sets.get_mut(&id) {
                set.bare = ifindex;
            }
        }
        self.sync_direct(ifindex)
    }

    /// Gives interface `ifindex` its program back in every set in use where it is bare (the
    /// program first, then no bare member); returns those sets. On an error it stays bare in
    /// the sets not done.
    fn demote(&mut self, ifindex: u32) -> Result<Vec<u32>, DataPlaneError> {
        self.bare.remove(&ifindex);
        let ids: Vec<u32> = self
            .sets_with(ifindex)
            .into_iter()
            .filter(|id| self.bare_member(*id) == ifindex)
            .collect();
        for &id in &ids {
            let egress = &self.egress;
            let written = self
                .devmaps
                .get_mut(id as usize)
                .ok_or(DataPlaneError::Missing("outgoing-set devmap"))
                .and_then(|map| Ok(map.insert(ifindex, ifindex, Some(egress), 0)?))
                .and_then(|()| self.unset_bare(id));
            if let Err(e) = written {
                self.bare.insert(ifindex);
                return Err(e);
            }
        }
        self.sync_direct(ifindex)?;
        Ok(ids)
    }

    /// Gives entries' single copies to interface `ifindex` its canonical program (see
    /// [`DirectRedirects`]): the egress program if a set in use lists it and it is not bare,
    /// none otherwise.
    fn sync_direct(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        let listed = self
            .sets_of
            .get(&ifindex)
            .is_some_and(|ids| !ids.is_empty());
        let program = listed && !self.bare.contains(&ifindex);
        self.direct.set(ifindex, program, &self.egress)
    }

    /// As written in the kernel: whether interface `ifindex` has an `OIF_DIRECT` entry with a
    /// program, and whether its `IFACE_FLAG_EGRESS_PROGRAM` is set.
    pub fn read_direct(&self, ifindex: u32) -> Result<(bool, bool), DataPlaneError> {
        self.direct.read(ifindex)
    }

    /// Records that set `id` has no bare member.
    fn unset_bare(&mut self, id: u32) -> Result<(), DataPlaneError> {
        self.write_broadcast(id, 0)?;
        if let Some(set) = self.sets.get_mut(&id) {
            set.bare = 0;
        }
        Ok(())
    }

    /// Writes the `SET_BROADCAST` element of set `id` (in use): bare member `bare` (0: none),
    /// the smallest MTU of its members.
    fn write_broadcast(&mut self, id: u32, bare: u32) -> Result<(), DataPlaneError> {
        let broadcast = SetBroadcast {
            bare_member: bare,
            mtu: self.mtus.limit(self.list(id)),
        };
        Ok(self.broadcasts.set(id, broadcast, 0)?)
    }

    /// Tells the data-plane MTU of interface `ifindex` (0: none): the sets in use listing it
    /// get their members' smallest MTU again if it changed.
    pub fn set_mtu(&mut self, ifindex: u32, mtu: u32) -> Result<(), DataPlaneError> {
        if !self.mtus.set(ifindex, mtu) {
            return Ok(());
        }
        for id in self.sets_with(ifindex) {
            self.write_broadcast(id, self.bare_member(id))?;
        }
        Ok(())
    }

    /// Gives each of sets `ids` without a bare member one, if a member can be.
    fn rechoose(&mut self, ids: &[u32]) -> Result<(), DataPlaneError> {
        for id in ids {
            let Some(set) = self.sets.get(id) else {
                continue;
            };
            if set.bare != 0 {
                continue;
            }
            if let Some(oif) = set.oifs.iter().copied().find(|&oif| self.promotable(oif)) {
                self.promote(oif)?;
            }
        }
        Ok(())
    }

    /// The sets in use listing interface `ifindex`.
    fn sets_with(&self, ifindex: u32) -> Vec<u32> {
        self.sets_of
            .get(&ifindex)
            .map_or_else(Vec::new, |ids| ids.iter().copied().collect())
    }

    /// Drops one user of set `id`; the last one retires it (its members no longer listed in
    /// any set in use lose the egress program of single copies).
    pub fn release(&mut self, id: u32) -> Result<(), DataPlaneError> {
        let Some(set) = self.sets.get_mut(&id) else {
            return Ok(());
        };
        set.users -= 1;
        if set.users > 0 {
            return Ok(());
        }
        let Some(set) = self.sets.remove(&id) else {
            return Ok(());
        };
        if self.by_list.get(&set.oifs) == Some(&id) {
            self.by_list.remove(&set.oifs);
        }
        for oif in &set.oifs {
            if let Some(ids) = self.sets_of.get_mut(oif) {
                ids.remove(&id);
            }
        }
        // Retired before the single-copy programs are written: a failed write must not lose
        // the set's id.
        self.retired.insert(id, set.oifs.clone());
        self.ids.retire(id);
        // Every member is synced; the first error is reported.
        set.oifs
            .iter()
            .map(|&oif| self.sync_direct(oif))
            .fold(Ok(()), Result::and)
    }

    /// Stops sharing the sets that list `ifindex` (the interface is gone: the kernel removed
    /// it from their devmaps, and a new interface may get its index). Their entries keep them
    /// until they change; new lists with that index get new sets. Sets it was the bare member
    /// of get another if they can.
    pub fn forget_interface(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        self.by_list.retain(|oifs, _| !oifs.contains(&ifindex));
        self.rule_free.remove(&ifindex);
        self.mtus.forget(ifindex);
        self.direct.forget(ifindex);
        self.bare.remove(&ifindex);
        let ids = self.sets_of.remove(&ifindex).unwrap_or_default();
        let orphans: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| self.bare_member(id) == ifindex)
            .collect();
        for &id in &orphans {
            self.unset_bare(id)?;
        }
        // The others' MTU limit may rise without it.
        for &id in ids.iter().filter(|id| !orphans.contains(id)) {
            self.write_broadcast(id, self.bare_member(id))?;
        }
        self.rechoose(&orphans)
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

    /// Set `id` as written in the kernel: its bare member (`SET_BROADCAST`, 0: none) and the
    /// members whose devmap entry runs no program, sorted.
    pub fn read_bare(&self, id: u32) -> Result<(u32, Vec<u32>), DataPlaneError> {
        let map = self
            .devmaps
            .get(id as usize)
            .ok_or(DataPlaneError::Missing("outgoing-set devmap"))?;
        let mut without_program = Vec::new();
        for item in map.iter() {
            let (oif, value) = item?;
            if value.prog_id.is_none() {
                without_program.push(oif);
            }
        }
        without_program.sort_unstable();
        Ok((self.broadcasts.get(&id, 0)?.bare_member, without_program))
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

    /// Writes `oifs` into the (empty) devmap of set `id`, `bare` (0: none) without the egress
    /// program.
    fn fill(&mut self, id: u32, oifs: &[u32], bare: u32) -> Result<(), DataPlaneError> {
        // No entry uses the set yet: the order of the writes does not matter.
        let broadcast = SetBroadcast {
            bare_member: bare,
            mtu: self.mtus.limit(oifs),
        };
        self.broadcasts.set(id, broadcast, 0)?;
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
                match map.insert(oif, oif, program, 0) {
                    Ok(()) => Ok(()),
                    Err(e) => Err((done, DataPlaneError::from(e))),
                }
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
