//! Group memberships (spec §4.6, §4.7, §6.2): the table, JOIN-state add/delete with their
//! alerts, and the LocalJoin/LocalLeave rules for IGMP.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::action::Callback;
use super::address::Address;
use super::error::MgmError;
use super::oif::OifSet;
use super::outbox::Phase;
use super::types::{IfId, MemberFlags, ProtocolHandle, Sg, Timestamp};
use super::Mgm;

/// One membership: `protocol` has receivers for `sg` on `ifid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Membership<A: Address = Ipv4Addr> {
    /// The key: (S,G), (\*,G) or (\*,\*).
    pub sg: Sg<A>,
    /// Where the receivers are.
    pub ifid: IfId<A>,
    /// The client that added it (attribution by caller, A-41).
    pub protocol: ProtocolHandle,
}

/// A client's membership on one interface.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Holder {
    pub(crate) client: ProtocolHandle,
    /// For IGMP memberships: the routing-protocol owner already sent LocalJoin.
    pub(crate) reported_to: Option<ProtocolHandle>,
}

/// Everything known about one membership key.
#[derive(Debug)]
struct KeyState<A: Address> {
    /// Clients holding the key on at least one interface, by handle, with their counts.
    presence: Vec<(ProtocolHandle, u32)>,
    /// Holders per interface.
    by_if: HashMap<IfId<A>, Vec<Holder>>,
    /// Total holders across interfaces.
    holders: usize,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for KeyState<A> {
    fn default() -> Self {
        KeyState {
            presence: Default::default(),
            by_if: Default::default(),
            holders: Default::default(),
        }
    }
}

/// The membership table, indexed by key. A (client, interface) index would cost every add
/// and delete a lookup; the only queries by interface come with ownership changes, which
/// scan instead (as MFE deletion on ownership change does).
#[derive(Debug)]
pub(crate) struct MembershipTable<A: Address> {
    keys: HashMap<Sg<A>, KeyState<A>>,
    /// Memberships (key, interface) each client holds.
    per_client: HashMap<ProtocolHandle, usize>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for MembershipTable<A> {
    fn default() -> Self {
        MembershipTable {
            keys: Default::default(),
            per_client: Default::default(),
        }
    }
}

impl<A: Address> MembershipTable<A> {
    pub(crate) fn contains(&self, c: ProtocolHandle, sg: Sg<A>, ifid: IfId<A>) -> bool {
        self.keys
            .get(&sg)
            .and_then(|k| k.by_if.get(&ifid))
            .is_some_and(|hs| hs.iter().any(|h| h.client == c))
    }

    pub(crate) fn holder_mut(
        &mut self,
        c: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
    ) -> Option<&mut Holder> {
        self.keys
            .get_mut(&sg)?
            .by_if
            .get_mut(&ifid)?
            .iter_mut()
            .find(|h| h.client == c)
    }

    /// Clients holding `sg` anywhere, by handle (`present(G)` of §6.1).
    pub(crate) fn present(&self, sg: Sg<A>) -> Vec<ProtocolHandle> {
        self.keys
            .get(&sg)
            .map(|k| k.presence.iter().map(|(c, _)| *c).collect())
            .unwrap_or_default()
    }

    /// Number of (client, interface) holders of `sg`.
    pub(crate) fn holders(&self, sg: Sg<A>) -> usize {
        self.keys.get(&sg).map_or(0, |k| k.holders)
    }

    /// Memberships (key, interface) client `c` holds.
    pub(crate) fn of_client(&self, c: ProtocolHandle) -> usize {
        self.per_client.get(&c).copied().unwrap_or(0)
    }

    /// Inserts a membership known to be absent.
    pub(crate) fn insert(&mut self, holder: Holder, sg: Sg<A>, ifid: IfId<A>) {
        let key = self.keys.entry(sg).or_default();
        key.by_if.entry(ifid).or_default().push(holder);
        key.holders += 1;
        *self.per_client.entry(holder.client).or_default() += 1;
        match key
            .presence
            .binary_search_by_key(&holder.client, |(c, _)| *c)
        {
            Ok(i) => key.presence[i].1 += 1,
            Err(i) => key.presence.insert(i, (holder.client, 1)),
        }
    }

    /// Removes a membership, returning it.
    pub(crate) fn remove(&mut self, c: ProtocolHandle, sg: Sg<A>, ifid: IfId<A>) -> Option<Holder> {
        let key = self.keys.get_mut(&sg)?;
        let list = key.by_if.get_mut(&ifid)?;
        let at = list.iter().position(|h| h.client == c)?;
        let holder = list.swap_remove(at);
        if list.is_empty() {
            key.by_if.remove(&ifid);
        }
        key.holders -= 1;
        if let Some(n) = self.per_client.get_mut(&c) {
            *n -= 1;
            if *n == 0 {
                self.per_client.remove(&c);
            }
        }
        if let Ok(i) = key.presence.binary_search_by_key(&c, |(c, _)| *c) {
            key.presence[i].1 -= 1;
            if key.presence[i].1 == 0 {
                key.presence.remove(i);
            }
        }
        if key.holders == 0 {
            self.keys.remove(&sg);
        }
        Some(holder)
    }

    /// The three keys whose memberships cover an MFE: (S,G), (\*,G), (\*,\*).
    fn covering_keys(mfe: Sg<A>) -> [Sg<A>; 3] {
        [mfe, Sg::star_g(mfe.group), Sg::STAR_STAR]
    }

    /// Whether any membership covering `mfe` exists on `ifid`.
    pub(crate) fn wanted(&self, mfe: Sg<A>, ifid: IfId<A>) -> bool {
        Self::covering_keys(mfe).iter().any(|k| {
            self.keys
                .get(k)
                .is_some_and(|s| s.by_if.contains_key(&ifid))
        })
    }

    /// Every interface with a membership covering `mfe` (the union of §6.2's formula).
    pub(crate) fn interfaces_covering(&self, mfe: Sg<A>) -> OifSet<A> {
        Self::covering_keys(mfe)
            .iter()
            .filter_map(|k| self.keys.get(k))
            .flat_map(|s| s.by_if.keys().copied())
            .collect()
    }

    /// The keys `c` holds on `ifid`, in (group, source) order (a scan of every key).
    pub(crate) fn of_client_on(&self, c: ProtocolHandle, ifid: IfId<A>) -> Vec<Sg<A>> {
        let mut keys: Vec<Sg<A>> = self
            .keys
            .iter()
            .filter(|(_, k)| {
                k.by_if
                    .get(&ifid)
                    .is_some_and(|hs| hs.iter().any(|h| h.client == c))
            })
            .map(|(sg, _)| *sg)
            .collect();
        keys.sort_unstable();
        keys
    }

    /// Every membership key in use.
    pub(crate) fn keys(&self) -> impl Iterator<Item = Sg<A>> + '_ {
        self.keys.keys().copied()
    }

    /// Every membership, unordered.
    fn iter(&self) -> impl Iterator<Item = Membership<A>> + '_ {
        self.keys.iter().flat_map(|(sg, k)| {
            k.by_if.iter().flat_map(move |(ifid, hs)| {
                hs.iter().map(move |h| Membership {
                    sg: *sg,
                    ifid: *ifid,
                    protocol: h.client,
                })
            })
        })
    }
}

impl<A: Address> Mgm<A> {
    /// `MgmAddGroupMembershipEntry`. JOIN adds membership state and updates every covered
    /// MFE (with W/S alerts, LocalJoin for IGMP on a co-owned interface, M1); FORWARD adds
    /// `ifid` to the exact (S,G) MFE only. A duplicate JOIN add is a silent no-op except
    /// for the IGMP re-add of A-56. Errors: bad handle, no flag or bad shape →
    /// `InvalidParameter`; unknown interface → `NotFound`; interface not the caller's →
    /// `InvalidParameter`; IGMP inside a Disable…Enable window → `CanNotComplete`.
    pub fn add_membership(
        &mut self,
        h: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
        flags: MemberFlags,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        self.check_member_call(h, sg, ifid, flags)?;
        if flags.contains(MemberFlags::JOIN) {
            self.join_add(h, sg, ifid, now);
        }
        if flags.contains(MemberFlags::FORWARD) {
            self.forward_add(sg, ifid, now);
        }
        self.out.commit();
        Ok(())
    }

    /// `MgmDeleteGroupMembershipEntry`, the mirror of [`Mgm::add_membership`]. A JOIN delete of
    /// a membership that does not exist is `NotFound`; FORWARD removes `ifid` from the
    /// exact (S,G) MFE and marks it forward-disabled.
    pub fn delete_membership(
        &mut self,
        h: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
        flags: MemberFlags,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        self.check_member_call(h, sg, ifid, flags)?;
        if flags.contains(MemberFlags::JOIN) {
            if !self.members.contains(h, sg, ifid) {
                return Err(MgmError::NotFound);
            }
            self.join_delete(h, sg, ifid, now);
        }
        if flags.contains(MemberFlags::FORWARD) {
            self.forward_delete(sg, ifid, now);
        }
        self.out.commit();
        Ok(())
    }

    /// Whether `h` holds `sg` on `ifid`.
    pub fn has_membership(&self, h: ProtocolHandle, sg: Sg<A>, ifid: IfId<A>) -> bool {
        self.members.contains(h, sg, ifid)
    }

    /// How many memberships (key, interface) `h` holds.
    pub fn memberships_of(&self, h: ProtocolHandle) -> usize {
        self.members.of_client(h)
    }

    /// Every membership, ordered by key, interface, protocol.
    pub fn memberships(&self) -> Vec<Membership<A>> {
        let mut all: Vec<Membership<A>> = self.members.iter().collect();
        all.sort_unstable();
        all
    }

    /// The validation shared by add and delete.
    fn check_member_call(
        &self,
        h: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
        flags: MemberFlags,
    ) -> Result<(), MgmError> {
        let client = self.registry.client(h)?;
        if !flags.intersects(MemberFlags::JOIN | MemberFlags::FORWARD)
            || !sg.is_valid_membership()
            || !ifid.is_valid()
        {
            return Err(MgmError::InvalidParameter);
        }
        let state = self
            .registry
            .interfaces
            .get(&ifid)
            .ok_or(MgmError::NotFound)?;
        let owns = if client.is_igmp {
            state.igmp
        } else {
            state.owner == Some(h)
        };
        if !owns {
            return Err(MgmError::InvalidParameter);
        }
        if client.is_igmp && self.out.igmp_disabled(ifid) {
            return Err(MgmError::CanNotComplete);
        }
        Ok(())
    }

    /// JOIN-state add of §6.2, after validation.
    pub(crate) fn join_add(&mut self, c: ProtocolHandle, sg: Sg<A>, ifid: IfId<A>, now: Timestamp) {
        let igmp_owner = if self.registry.is_igmp(c) {
            self.registry.routing_owner(ifid)
        } else {
            None
        };
        if let Some(holder) = self.members.holder_mut(c, sg, ifid) {
            // an IGMP membership the current owner has not heard of yet.
            if let Some(p) = igmp_owner.filter(|p| holder.reported_to != Some(*p)) {
                holder.reported_to = Some(p);
                self.send(Phase::Local, p, Callback::LocalJoin { sg, ifid });
            }
            return;
        }
        let present_before = self.members.present(sg);
        let holders_before = self.members.holders(sg);
        let holder = Holder {
            client: c,
            reported_to: igmp_owner,
        };
        self.members.insert(holder, sg, ifid);
        self.alert_membership_join(c, sg, &present_before, holders_before);
        if let Some(p) = igmp_owner {
            self.send(Phase::Local, p, Callback::LocalJoin { sg, ifid });
        }
        self.mfes_gain_interface(sg, ifid, now);
    }

    /// JOIN-state delete of §6.2 for a membership known to exist.
    pub(crate) fn join_delete(
        &mut self,
        c: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
        now: Timestamp,
    ) {
        let Some(holder) = self.members.remove(c, sg, ifid) else {
            return;
        };
        let present_after = self.members.present(sg);
        let still_present = present_after.contains(&c);
        let holders_after = self.members.holders(sg);
        self.alert_membership_prune(c, sg, ifid, still_present, &present_after, holders_after);
        if self.registry.is_igmp(c) {
            if let Some(p) = self.registry.routing_owner(ifid) {
                if holder.reported_to == Some(p) {
                    self.send(Phase::Local, p, Callback::LocalLeave { sg, ifid });
                }
            }
        }
        self.mfes_lose_interface(sg, ifid, now);
    }

    /// Forgets which owner IGMP's memberships on `ifid` were reported to (A-56, Take).
    pub(crate) fn mark_igmp_unreported(&mut self, igmp: ProtocolHandle, ifid: IfId<A>) {
        for sg in self.members.of_client_on(igmp, ifid) {
            if let Some(h) = self.members.holder_mut(igmp, sg, ifid) {
                h.reported_to = None;
            }
        }
    }

    /// Removes every membership `c` holds on `ifid` through the JOIN delete path.
    pub(crate) fn remove_memberships_on(
        &mut self,
        c: ProtocolHandle,
        ifid: IfId<A>,
        now: Timestamp,
    ) {
        for sg in self.members.of_client_on(c, ifid) {
            self.join_delete(c, sg, ifid, now);
        }
    }
}
