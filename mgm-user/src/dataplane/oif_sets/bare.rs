//! Which member of each set goes without the egress program, its bare member (see the
//! parent module's doc), and the `SET_BROADCASTS` element that tells the ingress program.

use super::OifSets;
use crate::dataplane::DataPlaneError;
use mgm_common::{IfaceConfig, IFACE_FLAG_CONFIGURED};

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

impl OifSets {
    /// Completes a new set in use listing `oifs`: makes `promote` (its chosen member, in no
    /// other set with a bare member) bare everywhere, gives sets that lost theirs (`orphans`)
    /// another, and writes its members' single-copy programs.
    pub(super) fn settle(
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
    pub(super) fn promotable(&self, ifindex: u32) -> bool {
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
    pub(super) fn promote(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
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
    pub(super) fn demote(&mut self, ifindex: u32) -> Result<Vec<u32>, DataPlaneError> {
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
    pub(super) fn sync_direct(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
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
    pub(super) fn unset_bare(&mut self, id: u32) -> Result<(), DataPlaneError> {
        self.write_broadcast(id, 0)?;
        if let Some(set) = self.sets.get_mut(&id) {
            set.bare = 0;
        }
        Ok(())
    }

    /// Writes the `SET_BROADCASTS` element of set `id` (in use): bare member `bare` (0: none),
    /// the smallest MTU of its members.
    pub(super) fn write_broadcast(&mut self, id: u32, bare: u32) -> Result<(), DataPlaneError> {
        let broadcast = self.mtus.broadcast(bare, self.list(id));
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
    pub(super) fn rechoose(&mut self, ids: &[u32]) -> Result<(), DataPlaneError> {
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
    pub(super) fn sets_with(&self, ifindex: u32) -> Vec<u32> {
        self.sets_of
            .get(&ifindex)
            .map_or_else(Vec::new, |ids| ids.iter().copied().collect())
    }

    /// Set `id` as written in the kernel: its bare member (`SET_BROADCASTS`, 0: none) and the
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
}
