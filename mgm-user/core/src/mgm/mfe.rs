//! Multicast forwarding entries: the [`Mfe`] record, the table ordered by (group, source) with
//! its expiry index, OIF maintenance under membership and forward-state changes (§6.2),
//! lifetimes (§6.5) and `MgmSetMfe` (§4.16).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;
use std::num::NonZeroU64;
use std::ops::Bound;
use std::time::Duration;

use super::action::Action;
use super::address::Address;
use super::error::MgmError;
use super::expiry::ExpiryQueue;
use super::idle_candidates::IdleCandidates;
use super::oif::{OifSet, RareOifSet};
use super::outbox::Phase;
use super::reports::MfeCounters;
use super::stored_counters::StoredCounters;
use super::types::{IfId, ProtocolHandle, RouteInfo, Sg, Timestamp};
use super::Mgm;

/// Why an MFE exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MfeKind {
    /// Built by §6.4 from RPF and the OIF formula; follows membership changes.
    Normal,
    /// No route to the source, or its RPF interface has no owner: a drop entry on the
    /// arrival interface that membership changes do not touch until it expires.
    NoRoute,
    /// The RPF callback rejected the source (A-10 opt-in): a drop entry like `NoRoute`.
    Rejected,
}

/// One forwarding entry, always for an exact (S,G) with a host source mask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mfe<A: Address = Ipv4Addr> {
    pub(crate) sg: Sg<A>,
    pub(crate) kind: MfeKind,
    pub(crate) iif: IfId<A>,
    pub(crate) iif_protocol: u32,
    pub(crate) upstream: A,
    pub(crate) route: RouteInfo<A>,
    pub(crate) oifs: OifSet<A>,
    pub(crate) fwd_disabled: RareOifSet<A>,
    pub(crate) created: Timestamp,
    pub(crate) timeout_s: u32,
    pub(crate) expires_at: Timestamp,
    pub(crate) counters: StoredCounters<A>,
    /// When the last wrong-interface callback was queued, in milliseconds + 1 (see
    /// [`Mfe::last_wrong_if`]; 8 bytes where an `Option<Timestamp>` takes 16).
    pub(crate) last_wrong_if: Option<NonZeroU64>,
    /// Distinguishes this entry from earlier or later ones with the same key; grows with
    /// creation order, so it also orders entries by age.
    pub(crate) epoch: u64,
    /// The last counter report showed no new packets (a new entry is active until then).
    pub(crate) idle: bool,
}

impl<A: Address> Mfe<A> {
    /// The (S,G) key.
    pub fn sg(&self) -> Sg<A> {
        self.sg
    }
    /// Why it exists.
    pub fn kind(&self) -> MfeKind {
        self.kind
    }
    /// Incoming interface (its next hop is kept though the MIB has no field for it, A-12).
    pub fn iif(&self) -> IfId<A> {
        self.iif
    }
    /// Protocol id of the IIF's owner (`dwInIfProtocol`), 0 if none.
    pub fn iif_protocol(&self) -> u32 {
        self.iif_protocol
    }
    /// Upstream neighbour (`dwUpStrmNgbr`).
    pub fn upstream(&self) -> A {
        self.upstream
    }
    /// The RPF route used.
    pub fn route(&self) -> RouteInfo<A> {
        self.route
    }
    /// The effective outgoing interfaces; empty means negative.
    pub fn oifs(&self) -> &OifSet<A> {
        &self.oifs
    }
    /// Interfaces vetoed by a creation alert or a forward-state delete.
    pub fn forward_disabled(&self) -> OifSet<A> {
        self.fwd_disabled.get()
    }
    /// True when matching packets are dropped.
    pub fn is_negative(&self) -> bool {
        self.oifs.is_empty()
    }
    /// Lifetime in seconds (`ulTimeOut`).
    pub fn timeout_s(&self) -> u32 {
        self.timeout_s
    }
    /// When the entry is deleted.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }
    /// Time since creation (`ulUpTime`).
    pub fn up_time(&self, now: Timestamp) -> Duration {
        now.since(self.created)
    }
    /// Time left before deletion (`ulExpiryTime`).
    pub fn expiry_time(&self, now: Timestamp) -> Duration {
        self.expires_at.since(now)
    }
    /// The last counters the backend reported.
    pub fn counters(&self) -> MfeCounters<A> {
        self.counters.to_counters()
    }
    /// Whether the last counter report showed no new packets.
    pub fn is_idle(&self) -> bool {
        self.idle
    }

    /// When the last wrong-interface callback was queued, if ever.
    pub(crate) fn last_wrong_if(&self) -> Option<Timestamp> {
        self.last_wrong_if
            .map(|ms| Timestamp::from_millis(ms.get() - 1))
    }

    /// Records a wrong-interface callback queued at `now`.
    pub(crate) fn set_last_wrong_if(&mut self, now: Timestamp) {
        self.last_wrong_if = NonZeroU64::new(now.as_millis().saturating_add(1));
    }
}

/// Which eviction index an entry belongs to, if any (see [`super::capacity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Evictable {
    /// Negative (no outgoing interface): evicted first.
    Negative,
    /// Forwarding, but no packets since the last counter report: evicted next.
    Idle,
}

impl Evictable {
    fn of<A: Address>(m: &Mfe<A>) -> Option<Self> {
        if m.is_negative() {
            Some(Evictable::Negative)
        } else if m.idle {
            Some(Evictable::Idle)
        } else {
            None
        }
    }
}

/// The MFEs, hashed by key for the membership hot path, with a (group, source) order for
/// enumeration, the sources of each group for (\*,G) updates, an expiry index, the negative
/// entries oldest first and the oldest idle ones for eviction.
#[derive(Debug)]
pub(crate) struct MfeTable<A: Address> {
    /// Boxed: the table's slack (a hash table is up to half empty after it grows) costs a
    /// pointer per free slot instead of a whole entry.
    map: HashMap<Sg<A>, Box<Mfe<A>>>,
    /// The keys in (group, source) order: also the index of a group's sources.
    order: BTreeSet<Sg<A>>,
    expiry: ExpiryQueue<A>,
    negative: BTreeSet<(u64, Sg<A>)>,
    idle: IdleCandidates<A>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for MfeTable<A> {
    fn default() -> Self {
        MfeTable {
            map: Default::default(),
            order: Default::default(),
            expiry: Default::default(),
            negative: Default::default(),
            idle: Default::default(),
        }
    }
}

impl<A: Address> MfeTable<A> {
    pub(crate) fn get(&self, sg: Sg<A>) -> Option<&Mfe<A>> {
        self.map.get(&sg).map(|m| &**m)
    }

    /// Mutable access; lifetimes change only through [`MfeTable::set_lifetime`], outgoing
    /// lists and activity only through [`MfeTable::update`].
    pub(crate) fn get_mut(&mut self, sg: Sg<A>) -> Option<&mut Mfe<A>> {
        self.map.get_mut(&sg).map(|m| &mut **m)
    }

    /// Applies `f` to MFE `sg` and keeps the eviction indexes in step with its outgoing list
    /// and activity.
    pub(crate) fn update<R>(&mut self, sg: Sg<A>, f: impl FnOnce(&mut Mfe<A>) -> R) -> Option<R> {
        let m = self.map.get_mut(&sg)?;
        let before = Evictable::of(m);
        let result = f(m);
        let (after, epoch) = (Evictable::of(m), m.epoch);
        if before != after {
            self.unindex(before, epoch, sg);
            self.index(after, epoch, sg);
        }
        Some(result)
    }

    fn index(&mut self, class: Option<Evictable>, epoch: u64, sg: Sg<A>) {
        match class {
            Some(Evictable::Negative) => {
                self.negative.insert((epoch, sg));
            }
            Some(Evictable::Idle) => self.idle.became_idle(epoch),
            None => {}
        }
    }

    /// Idle candidates that are no longer are skipped when their turn comes.
    fn unindex(&mut self, class: Option<Evictable>, epoch: u64, sg: Sg<A>) {
        if class == Some(Evictable::Negative) {
            self.negative.remove(&(epoch, sg));
        }
    }

    /// Number of negative MFEs.
    pub(crate) fn negative_len(&self) -> usize {
        self.negative.len()
    }

    /// The oldest MFE of `class`.
    pub(crate) fn oldest(&mut self, class: Evictable) -> Option<Sg<A>> {
        match class {
            Evictable::Negative => self.negative.first().map(|(_, sg)| *sg),
            Evictable::Idle => {
                let map = &self.map;
                let of_class = |m: &Mfe<A>| Evictable::of(m) == Some(Evictable::Idle);
                self.idle.oldest(
                    |epoch, sg| {
                        map.get(&sg)
                            .is_some_and(|m| m.epoch == epoch && of_class(m))
                    },
                    || {
                        map.values()
                            .filter(|m| of_class(m))
                            .map(|m| (m.epoch, m.sg))
                    },
                )
            }
        }
    }

    pub(crate) fn contains(&self, sg: Sg<A>) -> bool {
        self.map.contains_key(&sg)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn insert(&mut self, mfe: Mfe<A>) {
        let sg = mfe.sg;
        self.expiry.push(mfe.expires_at, sg);
        self.index(Evictable::of(&mfe), mfe.epoch, sg);
        match self.map.insert(sg, Box::new(mfe)) {
            Some(old) => {
                self.unindex(Evictable::of(&old), old.epoch, sg);
                self.tidy_expiry();
            }
            None => {
                self.order.insert(sg);
            }
        }
    }

    /// Keeps the expiry queue's top live after a lifetime changed or an entry went.
    fn tidy_expiry(&mut self) {
        let map = &self.map;
        self.expiry.tidy(
            |at, sg| map.get(&sg).is_some_and(|m| m.expires_at == at),
            map.len(),
            || map.values().map(|m| (m.expires_at, m.sg)),
        );
    }

    pub(crate) fn remove(&mut self, sg: Sg<A>) -> Option<Mfe<A>> {
        let old = self.map.remove(&sg)?;
        self.tidy_expiry();
        self.unindex(Evictable::of(&old), old.epoch, sg);
        self.order.remove(&sg);
        Some(*old)
    }

    pub(crate) fn set_lifetime(&mut self, sg: Sg<A>, timeout_s: u32, expires_at: Timestamp) {
        if let Some(m) = self.map.get_mut(&sg) {
            m.timeout_s = timeout_s;
            if m.expires_at != expires_at {
                m.expires_at = expires_at;
                self.expiry.push(expires_at, sg);
                self.tidy_expiry();
            }
        }
    }

    pub(crate) fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.next()
    }

    /// Keys whose lifetime ended at or before `now`, taken from the expiry queue (the caller
    /// deletes them).
    fn take_due(&mut self, now: Timestamp) -> Vec<Sg<A>> {
        let map = &self.map;
        self.expiry.take_due(now, |at, sg| {
            map.get(&sg).is_some_and(|m| m.expires_at == at)
        })
    }

    /// MFEs a membership on `key` covers, in (group, source) order.
    fn covered(&self, key: Sg<A>) -> Vec<Sg<A>> {
        if key.is_wildcard_group() {
            self.order.iter().copied().collect()
        } else if key.is_wildcard_source() {
            let first = Sg::new(A::UNSPECIFIED, key.group);
            let last = Sg::new(A::HOST_MASK, key.group);
            self.order.range(first..=last).copied().collect()
        } else {
            vec![key]
        }
    }

    /// Keys (ordered) of MFEs that reference `ifid` as IIF, OIF or forward-disabled OIF.
    fn referencing(&self, ifid: IfId<A>) -> Vec<Sg<A>> {
        self.iter()
            .filter(|m| m.iif == ifid || m.oifs.contains(ifid) || m.fwd_disabled.contains(ifid))
            .map(|m| m.sg)
            .collect()
    }

    /// Keys (ordered) of MFEs whose source lies in `network/mask`.
    pub(crate) fn with_source_in(&self, network: A, mask: A) -> Vec<Sg<A>> {
        self.order
            .iter()
            .filter(|sg| sg.source_in(network, mask))
            .copied()
            .collect()
    }

    /// All MFEs in (group, source) order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Mfe<A>> {
        self.order.iter().filter_map(|sg| self.get(*sg))
    }

    /// MFEs strictly after `sg` in (group, source) order.
    pub(crate) fn after(&self, sg: Sg<A>) -> impl Iterator<Item = &Mfe<A>> {
        self.order
            .range((Bound::Excluded(sg), Bound::Unbounded))
            .filter_map(|sg| self.get(*sg))
    }
}

impl<A: Address> Mgm<A> {
    /// Applies `edit` to the OIF state of MFE `sg` if it is a [`MfeKind::Normal`] one (drop
    /// entries stay as they are, see [`MfeKind`]); if the effective list changed, queues the
    /// backend update and the M1/M2 alert the transition calls for.
    fn edit_oifs(&mut self, sg: Sg<A>, now: Timestamp, edit: impl FnOnce(&mut Mfe<A>) -> bool) {
        if self.mfes.get(sg).is_none_or(|m| m.kind != MfeKind::Normal) {
            return;
        }
        let edited = self.mfes.update(sg, |m| {
            let was_empty = m.oifs.is_empty();
            edit(m).then(|| (was_empty, m.iif, m.oifs.clone()))
        });
        let Some(Some((was_empty, iif, oifs))) = edited else {
            return;
        };
        let is_empty = oifs.is_empty();
        self.out
            .stage(Phase::Forwarding, Action::UpdateMfe { sg, iif, oifs });
        if was_empty && !is_empty {
            self.alert_mfe_join(sg, iif);
        } else if !was_empty && is_empty {
            self.alert_mfe_prune(sg, now);
        }
    }

    /// A membership on `key` appeared on `ifid`: add `ifid` to every covered MFE (§6.2 step 5).
    pub(crate) fn mfes_gain_interface(&mut self, key: Sg<A>, ifid: IfId<A>, now: Timestamp) {
        for sg in self.mfes.covered(key) {
            self.edit_oifs(sg, now, |m| {
                if m.iif == ifid {
                    return false; // Never forward back out of the IIF.
                }
                if key.is_exact() {
                    m.fwd_disabled.remove(ifid); // An exact JOIN add clears the mark.
                }
                !m.fwd_disabled.contains(ifid) && m.oifs.insert(ifid)
            });
        }
    }

    /// A membership on `key` left `ifid`: drop `ifid` from covered MFEs no membership still
    /// wants it on (§6.2 delete step 4).
    pub(crate) fn mfes_lose_interface(&mut self, key: Sg<A>, ifid: IfId<A>, now: Timestamp) {
        for sg in self.mfes.covered(key) {
            let wanted = self.members.wanted(sg, ifid);
            self.edit_oifs(sg, now, |m| !wanted && m.oifs.remove(ifid));
        }
    }

    /// FORWARD-state add: only the exact (S,G) MFE; clears the mark and adds `ifid`.
    pub(crate) fn forward_add(&mut self, sg: Sg<A>, ifid: IfId<A>, now: Timestamp) {
        self.edit_oifs(sg, now, |m| {
            m.fwd_disabled.remove(ifid);
            m.iif != ifid && m.oifs.insert(ifid)
        });
    }

    /// FORWARD-state delete: marks `ifid` forward-disabled and removes it.
    pub(crate) fn forward_delete(&mut self, sg: Sg<A>, ifid: IfId<A>, now: Timestamp) {
        self.edit_oifs(sg, now, |m| {
            m.fwd_disabled.insert(ifid);
            m.oifs.remove(ifid)
        });
    }

    /// Installs a freshly built MFE if the table has room for it or can make some (see
    /// [`super::capacity`]); false when it refused.
    pub(crate) fn install_mfe(&mut self, mfe: Mfe<A>) -> bool {
        if !self.mfes.contains(mfe.sg) && !self.make_room(mfe.is_negative()) {
            return false;
        }
        let action = Action::InstallMfe {
            sg: mfe.sg,
            iif: mfe.iif,
            oifs: mfe.oifs.clone(),
        };
        self.mfes.insert(mfe);
        self.out.stage(Phase::Forwarding, action);
        true
    }

    /// Deletes an MFE from the table and the backend; no callbacks (§5.10).
    pub(crate) fn delete_mfe(&mut self, sg: Sg<A>) {
        if self.mfes.remove(sg).is_some() {
            self.out.stage(Phase::Forwarding, Action::DeleteMfe { sg });
        }
    }

    /// Deletes every MFE referencing `ifid`.
    pub(crate) fn delete_mfes_referencing(&mut self, ifid: IfId<A>) {
        for sg in self.mfes.referencing(ifid) {
            self.delete_mfe(sg);
        }
    }

    /// Deletes the MFEs whose lifetime is over (§6.5).
    pub(crate) fn expire_mfes(&mut self, now: Timestamp) {
        for sg in self.mfes.take_due(now) {
            self.delete_mfe(sg);
        }
    }

    /// `MgmSetMfe`: sets the upstream neighbour of MFE `sg`; nothing else changes and no
    /// callback fires. Any registered protocol may call it unless
    /// [`Config::strict_set_mfe`](super::Config::strict_set_mfe) limits it to the IIF owner.
    pub fn set_mfe_upstream(
        &mut self,
        h: ProtocolHandle,
        sg: Sg<A>,
        upstream: A,
    ) -> Result<(), MgmError> {
        self.registry.client(h)?;
        let iif = self.mfes.get(sg).ok_or(MgmError::NotFound)?.iif;
        if self.config.strict_set_mfe && self.registry.owner(iif) != Some(h) {
            return Err(MgmError::InvalidParameter);
        }
        if let Some(m) = self.mfes.get_mut(sg) {
            m.upstream = upstream;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// Every entry holds one (README, "Memory"): with one outgoing interface and the counters
    /// mgmd reports, nothing else is allocated for it.
    #[test]
    fn an_ipv4_mfe_is_compact() {
        assert_eq!(size_of::<super::Mfe>(), 152);
    }
}
