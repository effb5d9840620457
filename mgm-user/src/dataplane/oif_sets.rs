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
//! before the broadcast (`SET_BROADCASTS`), every copy starts from that frame, and the other
//! members' programs rewrite theirs. Only an interface whose rules drop nothing is chosen
//! ([`drops_nothing`]); a packet its rules would refuse after all (a change racing the choice)
//! goes to the TC program, which applies every member's rules (`stat::BARE_MEMBER_REFUSED`),
//! so counters and rules stay exact.
//!
//! # The broadcast's MTU
//! The kernel's broadcast skips a member whose device MTU a frame exceeds before any program
//! runs: no drop counted, the copy counted as sent. So each set's `SET_BROADCASTS` element also
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
mod bare;
mod devmaps;

pub use bare::drops_nothing;

use super::{
    ids::IdPool, member_mtus::MemberMtus, oif_direct::DirectRedirects, sys, DataPlaneError,
};
use aya::{
    maps::{Array, ArrayOfMaps, DevMapHash, HashMap as BpfHashMap, Map, MapData, MapError},
    programs::ProgramFd,
};
use mgm_common::{limits, IfaceConfig, SetBroadcast, SetMembers};
use std::collections::{BTreeSet, HashMap, HashSet};

/// Slot of the outer array written only to wait for a grace period.
const BARRIER_SLOT: u32 = limits::OIF_SETS - 1;

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
    /// `SET_BROADCASTS`: set id → its bare member and the smallest MTU of its members.
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
                    broadcasts.set(id, mtus.broadcast(0, &oifs), 0)?;
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
    /// The interfaces of set `id` (sorted; none if it is not in use): the one copy of the
    /// list its entries share.
    pub fn list(&self, id: u32) -> &[u32] {
        self.sets.get(&id).map_or(&[], |set| &set.oifs)
    }
    /// Number of grace periods waited for so far.
    pub fn grace_periods(&self) -> u64 {
        self.grace_periods
    }

    /// Number of sets in use.
    pub fn in_use(&self) -> usize {
        self.sets.len()
    }
}
