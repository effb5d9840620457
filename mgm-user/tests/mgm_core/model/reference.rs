//! The brute-force reference model of spec §6: the OIL formula recomputed from scratch, the
//! W/S/M/local alert rules, A-22 deletions and lifetimes.
use super::*;

#[derive(Clone, Debug, PartialEq)]
pub(super) struct MfeModel {
    pub(super) iif: u32,
    pub(super) normal: bool,
    pub(super) fwd_disabled: BTreeSet<u32>,
    /// Interfaces added by FORWARD-state adds, not (yet) justified by a membership.
    pub(super) forced: BTreeSet<u32>,
    pub(super) expires_ms: u64,
}

/// The reference model. Events are "client: text" lines, compared as sorted lists.
pub(super) struct Model<A: Address> {
    pub(super) owner: BTreeMap<u32, (Option<C>, bool)>,
    pub(super) members: BTreeMap<(C, Sg<A>, u32), Option<C>>,
    pub(super) mfes: BTreeMap<Sg<A>, MfeModel>,
    pub(super) now_ms: u64,
    pub(super) events: Vec<String>,
    pub(super) listener: bool,
}

impl<A: Family> Model<A> {
    pub(super) fn new() -> Self {
        Model {
            owner: BTreeMap::new(),
            members: BTreeMap::new(),
            mfes: BTreeMap::new(),
            now_ms: 0,
            events: Vec::new(),
            listener: false,
        }
    }

    pub(super) fn ev(&mut self, to: C, text: String) {
        self.events.push(format!("{to}: {text}"));
    }

    pub(super) fn owner_of(&self, i: u32) -> Option<C> {
        let (rp, igmp) = self.owner.get(&i).copied()?;
        rp.or(igmp.then_some(IGMP))
    }

    pub(super) fn routing_owner(&self, i: u32) -> Option<C> {
        self.owner.get(&i).and_then(|o| o.0)
    }

    pub(super) fn present(&self, k: Sg<A>) -> BTreeSet<C> {
        self.members
            .keys()
            .filter(|(_, s, _)| *s == k)
            .map(|(c, _, _)| *c)
            .collect()
    }

    pub(super) fn holders(&self, k: Sg<A>) -> usize {
        self.members.keys().filter(|(_, s, _)| *s == k).count()
    }

    /// OIF(m) recomputed from scratch (§6.2) plus FORWARD-state additions.
    pub(super) fn oifs(&self, sg: Sg<A>, m: &MfeModel) -> BTreeSet<u32> {
        if !m.normal {
            return BTreeSet::new();
        }
        self.members
            .keys()
            .filter(|(_, k, _)| k.covers(sg))
            .map(|(_, _, i)| *i)
            .chain(m.forced.iter().copied())
            .filter(|i| *i != m.iif && !m.fwd_disabled.contains(i))
            .collect()
    }

    pub(super) fn all_oifs(&self) -> BTreeMap<Sg<A>, BTreeSet<u32>> {
        self.mfes
            .iter()
            .map(|(sg, m)| (*sg, self.oifs(*sg, m)))
            .collect()
    }

    /// M1/M2 for every MFE whose list changed emptiness between `before` and now.
    pub(super) fn m_alerts(&mut self, before: &BTreeMap<Sg<A>, BTreeSet<u32>>) {
        let after = self.all_oifs();
        for (sg, now) in &after {
            let Some(was) = before.get(sg) else { continue };
            let m = &self.mfes[sg];
            let (iif, owner) = (m.iif, self.owner_of(m.iif));
            if was.is_empty() && !now.is_empty() {
                if let Some(o) = owner {
                    self.ev(o, format!("join {sg} false"));
                }
            } else if !was.is_empty() && now.is_empty() {
                self.prune_mfe(*sg, iif, owner);
            }
        }
    }

    pub(super) fn prune_mfe(&mut self, sg: Sg<A>, iif: u32, owner: Option<C>) {
        let now = self.now_ms;
        if let Some(m) = self.mfes.get_mut(&sg) {
            m.expires_ms = now + 900_000;
        }
        if let Some(o) = owner {
            self.ev(o, format!("prune {sg} if{iif} false"));
        }
    }

    /// Registered clients other than `x`, in registration order.
    pub(super) fn others(&self, x: C) -> Vec<C> {
        let listener = self.listener.then_some(LISTENER);
        (0..CLIENTS).chain(listener).filter(|c| *c != x).collect()
    }

    pub(super) fn check_member(
        &self,
        c: C,
        k: Sg<A>,
        i: u32,
        f: MemberFlags,
    ) -> Result<(), MgmError> {
        if f.is_empty() || !k.is_valid_membership() {
            return Err(MgmError::InvalidParameter);
        }
        let (rp, igmp) = *self.owner.get(&i).ok_or(MgmError::NotFound)?;
        let owns = if c == IGMP { igmp } else { rp == Some(c) };
        if owns {
            Ok(())
        } else {
            Err(MgmError::InvalidParameter)
        }
    }

    pub(super) fn add(&mut self, c: C, k: Sg<A>, i: u32, f: MemberFlags) -> Result<(), MgmError> {
        self.check_member(c, k, i, f)?;
        if f.contains(MemberFlags::JOIN) {
            self.join_add(c, k, i);
        }
        if f.contains(MemberFlags::FORWARD) {
            self.forward(k, i, true);
        }
        Ok(())
    }

    pub(super) fn join_add(&mut self, c: C, k: Sg<A>, i: u32) {
        let local = if c == IGMP {
            self.routing_owner(i)
        } else {
            None
        };
        if let Some(reported) = self.members.get(&(c, k, i)).copied() {
            if let Some(p) = local.filter(|p| reported != Some(*p)) {
                self.members.insert((c, k, i), Some(p));
                self.ev(p, format!("local-join {k} if{i}"));
            }
            return;
        }
        let before = self.all_oifs();
        let present = self.present(k);
        let holders = self.holders(k);
        self.members.insert((c, k, i), local);
        if k.is_wildcard_source() {
            if !present.contains(&c) {
                match present.len() {
                    0 => self
                        .others(c)
                        .into_iter()
                        .for_each(|o| self.ev(o, format!("join {k} true"))),
                    1 => {
                        let y = *present.iter().next().unwrap();
                        self.ev(y, format!("join {k} true"));
                    }
                    _ => {}
                }
            }
        } else if holders == 0 {
            if let Some(o) = rpf_if(k.source).and_then(|r| self.owner_of(r)) {
                if o != c {
                    self.ev(o, format!("join {k} true"));
                }
            }
        }
        if let Some(p) = local {
            self.ev(p, format!("local-join {k} if{i}"));
        }
        if k.is_exact() {
            if let Some(m) = self.mfes.get_mut(&k) {
                if m.normal && m.iif != i {
                    m.fwd_disabled.remove(&i);
                }
            }
        }
        self.m_alerts(&before);
    }

    pub(super) fn forward(&mut self, k: Sg<A>, i: u32, add: bool) {
        let before = self.all_oifs();
        let Some(m) = self.mfes.get_mut(&k).filter(|m| m.normal) else {
            return;
        };
        if add {
            m.fwd_disabled.remove(&i);
            m.forced.insert(i);
        } else {
            m.fwd_disabled.insert(i);
            m.forced.remove(&i);
        }
        self.m_alerts(&before);
    }

    pub(super) fn delete(
        &mut self,
        c: C,
        k: Sg<A>,
        i: u32,
        f: MemberFlags,
    ) -> Result<(), MgmError> {
        self.check_member(c, k, i, f)?;
        if f.contains(MemberFlags::JOIN) {
            if !self.members.contains_key(&(c, k, i)) {
                return Err(MgmError::NotFound);
            }
            self.join_delete(c, k, i);
        }
        if f.contains(MemberFlags::FORWARD) {
            self.forward(k, i, false);
        }
        Ok(())
    }

    pub(super) fn join_delete(&mut self, c: C, k: Sg<A>, i: u32) {
        let before = self.all_oifs();
        let reported = self.members.remove(&(c, k, i)).flatten();
        let present = self.present(k);
        if k.is_wildcard_source() {
            if !present.contains(&c) {
                match present.len() {
                    0 => self
                        .others(c)
                        .into_iter()
                        .for_each(|o| self.ev(o, format!("prune {k} if{i} true"))),
                    1 => {
                        let y = *present.iter().next().unwrap();
                        self.ev(y, format!("prune {k} if{i} true"));
                    }
                    _ => {}
                }
            }
        } else if self.holders(k) == 0 {
            if let Some(o) = rpf_if(k.source).and_then(|r| self.owner_of(r)) {
                if o != c {
                    self.ev(o, format!("prune {k} if{i} true"));
                }
            }
        }
        if c == IGMP {
            if let Some(p) = self.routing_owner(i).filter(|p| reported == Some(*p)) {
                self.ev(p, format!("local-leave {k} if{i}"));
            }
        }
        for (sg, m) in self.mfes.iter_mut() {
            if m.normal && k.covers(*sg) {
                m.forced.remove(&i);
            }
        }
        self.m_alerts(&before);
    }

    pub(super) fn forget(&mut self, i: u32) {
        let oifs = self.all_oifs();
        self.mfes
            .retain(|sg, m| m.iif != i && !oifs[sg].contains(&i) && !m.fwd_disabled.contains(&i));
    }

    pub(super) fn take(&mut self, c: C, i: u32) -> Result<(), MgmError> {
        let (rp, igmp) = self.owner.get(&i).copied().unwrap_or((None, false));
        if (c == IGMP && igmp) || (c != IGMP && rp.is_some()) {
            return Err(MgmError::AlreadyExists);
        }
        let bracket = c != IGMP && igmp;
        if bracket {
            self.ev(IGMP, format!("disable if{i}"));
        }
        let entry = self.owner.entry(i).or_insert((None, false));
        if c == IGMP {
            entry.1 = true;
        } else {
            entry.0 = Some(c);
        }
        self.forget(i);
        if bracket {
            for ((m, _, mi), reported) in self.members.iter_mut() {
                if *m == IGMP && *mi == i {
                    *reported = None;
                }
            }
            self.ev(IGMP, format!("enable if{i}"));
        }
        Ok(())
    }

    pub(super) fn release(&mut self, c: C, i: u32) -> Result<(), MgmError> {
        let (rp, igmp) = *self.owner.get(&i).ok_or(MgmError::InvalidParameter)?;
        let owns = if c == IGMP { igmp } else { rp == Some(c) };
        if !owns {
            return Err(MgmError::InvalidParameter);
        }
        let mine: Vec<Sg<A>> = self
            .members
            .keys()
            .filter(|(m, _, mi)| *m == c && *mi == i)
            .map(|(_, k, _)| *k)
            .collect();
        if c == IGMP {
            mine.into_iter().for_each(|k| self.join_delete(c, k, i));
            self.set(i, rp, false);
            self.forget(i);
        } else {
            if igmp {
                self.ev(IGMP, format!("disable if{i}"));
            }
            self.forget(i);
            mine.into_iter().for_each(|k| self.join_delete(c, k, i));
            self.set(i, None, igmp);
            if igmp {
                self.ev(IGMP, format!("enable if{i}"));
            }
        }
        Ok(())
    }

    pub(super) fn set(&mut self, i: u32, rp: Option<C>, igmp: bool) {
        if rp.is_none() && !igmp {
            self.owner.remove(&i);
        } else {
            self.owner.insert(i, (rp, igmp));
        }
    }

    pub(super) fn packet(&mut self, s: A, g: A, arrival: u32) {
        let sg = Sg::new(s, g);
        if self.mfes.contains_key(&sg) {
            return;
        }
        let now = self.now_ms;
        let rpf = rpf_if(s).and_then(|r| self.owner_of(r).map(|o| (r, o)));
        let Some((iif, owner)) = rpf else {
            let m = MfeModel {
                iif: arrival,
                normal: false,
                fwd_disabled: BTreeSet::new(),
                forced: BTreeSet::new(),
                expires_ms: now + 60_000,
            };
            self.mfes.insert(sg, m);
            return;
        };
        self.ev(owner, format!("rpf {sg}"));
        let m = MfeModel {
            iif,
            normal: true,
            fwd_disabled: BTreeSet::new(),
            forced: BTreeSet::new(),
            expires_ms: now + 900_000,
        };
        let oifs = self.oifs(sg, &m);
        let mut by_owner: BTreeMap<C, Vec<String>> = BTreeMap::new();
        for i in &oifs {
            let o = self
                .owner_of(*i)
                .expect("memberships live on owned interfaces");
            let igmp = self.owner.get(i).is_some_and(|x| x.1);
            by_owner
                .entry(o)
                .or_default()
                .push(format!("if{i}{}", if igmp { "+igmp" } else { "" }));
        }
        for (o, list) in by_owner {
            self.ev(o, format!("creation {sg} [{}]", list.join(" ")));
        }
        let mut m = m;
        if oifs.contains(&VETOED) {
            m.fwd_disabled.insert(VETOED);
        }
        let negative = self.oifs(sg, &m).is_empty();
        self.mfes.insert(sg, m);
        if negative {
            self.prune_mfe(sg, iif, Some(owner));
        }
    }

    pub(super) fn advance(&mut self, secs: u64) {
        self.now_ms += secs * 1000;
        let now = self.now_ms;
        self.mfes.retain(|_, m| m.expires_ms > now);
    }
}
