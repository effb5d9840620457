//! Property test: random sequences of ownership, membership, packet and timer operations are
//! run against `Mgm` and against a brute-force reference model of spec §6 (the OIL formula
//! recomputed from scratch, the W/S/M/local alert rules, A-22 deletions, lifetimes). After
//! every step the results, memberships, MFEs and the emitted callbacks must match. The same
//! model runs over IPv4 and IPv6 addresses.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use mgm_user::mgm::{
    protocol_id, Action, Address, Callback, CallbackSet, Config, IfEntry, IfId, MemberFlags, Mgm,
    MgmClient, MgmError, ProtocolHandle, Sg, StaticRib, Timestamp, MS_IP_IGMP,
};
use proptest::prelude::*;

use super::support::Family;

/// Client index: 0 = P1, 1 = P2, 2 = IGMP (registration order).
type C = usize;
const IGMP: C = 2;
const CLIENTS: C = 3;
/// A fourth protocol, R, that owns nothing and comes and goes (it only hears W alerts).
const LISTENER: C = 3;

/// RPF: S via if1, S2 via if2, S3 unrouted.
fn rpf_if<A: Family>(s: A) -> Option<u32> {
    if s == A::S {
        Some(1)
    } else if s == A::S2 {
        Some(2)
    } else {
        None
    }
}

#[derive(Clone, Debug)]
enum Op<A: Address> {
    Take(C, u32),
    Release(C, u32),
    Add(C, Sg<A>, u32, MemberFlags),
    Delete(C, Sg<A>, u32, MemberFlags),
    Packet(A, A, u32),
    Advance(u64),
    /// Registers R if absent, else deregisters it.
    ToggleListener,
}

fn key<A: Family>() -> impl Strategy<Value = Sg<A>> {
    prop::sample::select(vec![
        Sg::new(A::S, A::G),
        Sg::new(A::S2, A::G),
        Sg::new(A::S3, A::G),
        Sg::new(A::S, A::G2),
        Sg::new(A::S3, A::G2),
        Sg::star_g(A::G),
        Sg::star_g(A::G2),
        Sg::STAR_STAR,
        Sg::new(A::S, A::UNSPECIFIED),
    ])
}

fn flags() -> impl Strategy<Value = MemberFlags> {
    prop::sample::select(vec![
        MemberFlags::JOIN,
        MemberFlags::JOIN,
        MemberFlags::JOIN,
        MemberFlags::FORWARD,
        MemberFlags::JOIN | MemberFlags::FORWARD,
    ])
}

fn op<A: Family>() -> impl Strategy<Value = Op<A>> {
    let c = 0..CLIENTS;
    let i = 1u32..=4;
    prop_oneof![
        2 => (c.clone(), i.clone()).prop_map(|(c, i)| Op::Take(c, i)),
        1 => (c.clone(), i.clone()).prop_map(|(c, i)| Op::Release(c, i)),
        5 => (c.clone(), key(), i.clone(), flags()).prop_map(|(c, k, i, f)| Op::Add(c, k, i, f)),
        3 => (c, key(), i.clone(), flags()).prop_map(|(c, k, i, f)| Op::Delete(c, k, i, f)),
        2 => (prop::sample::select(vec![A::S, A::S2, A::S3]), prop::sample::select(vec![A::G, A::G2]), i)
            .prop_map(|(s, g, i)| Op::Packet(s, g, i)),
        1 => (0u64..1000).prop_map(Op::Advance),
        1 => Just(Op::ToggleListener),
    ]
}

#[derive(Clone, Debug, PartialEq)]
struct MfeModel {
    iif: u32,
    normal: bool,
    fwd_disabled: BTreeSet<u32>,
    /// Interfaces added by FORWARD-state adds, not (yet) justified by a membership.
    forced: BTreeSet<u32>,
    expires_ms: u64,
}

/// The reference model. Events are "client: text" lines, compared as sorted lists.
struct Model<A: Address> {
    owner: BTreeMap<u32, (Option<C>, bool)>,
    members: BTreeMap<(C, Sg<A>, u32), Option<C>>,
    mfes: BTreeMap<Sg<A>, MfeModel>,
    now_ms: u64,
    events: Vec<String>,
    listener: bool,
}

impl<A: Family> Model<A> {
    fn new() -> Self {
        Model {
            owner: BTreeMap::new(),
            members: BTreeMap::new(),
            mfes: BTreeMap::new(),
            now_ms: 0,
            events: Vec::new(),
            listener: false,
        }
    }

    fn ev(&mut self, to: C, text: String) {
        self.events.push(format!("{to}: {text}"));
    }

    fn owner_of(&self, i: u32) -> Option<C> {
        let (rp, igmp) = self.owner.get(&i).copied()?;
        rp.or(igmp.then_some(IGMP))
    }

    fn routing_owner(&self, i: u32) -> Option<C> {
        self.owner.get(&i).and_then(|o| o.0)
    }

    fn present(&self, k: Sg<A>) -> BTreeSet<C> {
        self.members
            .keys()
            .filter(|(_, s, _)| *s == k)
            .map(|(c, _, _)| *c)
            .collect()
    }

    fn holders(&self, k: Sg<A>) -> usize {
        self.members.keys().filter(|(_, s, _)| *s == k).count()
    }

    /// OIF(m) recomputed from scratch (§6.2) plus FORWARD-state additions.
    fn oifs(&self, sg: Sg<A>, m: &MfeModel) -> BTreeSet<u32> {
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

    fn all_oifs(&self) -> BTreeMap<Sg<A>, BTreeSet<u32>> {
        self.mfes
            .iter()
            .map(|(sg, m)| (*sg, self.oifs(*sg, m)))
            .collect()
    }

    /// M1/M2 for every MFE whose list changed emptiness between `before` and now.
    fn m_alerts(&mut self, before: &BTreeMap<Sg<A>, BTreeSet<u32>>) {
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

    fn prune_mfe(&mut self, sg: Sg<A>, iif: u32, owner: Option<C>) {
        let now = self.now_ms;
        if let Some(m) = self.mfes.get_mut(&sg) {
            m.expires_ms = now + 900_000;
        }
        if let Some(o) = owner {
            self.ev(o, format!("prune {sg} if{iif} false"));
        }
    }

    /// Registered clients other than `x`, in registration order.
    fn others(&self, x: C) -> Vec<C> {
        let listener = self.listener.then_some(LISTENER);
        (0..CLIENTS).chain(listener).filter(|c| *c != x).collect()
    }

    fn check_member(&self, c: C, k: Sg<A>, i: u32, f: MemberFlags) -> Result<(), MgmError> {
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

    fn add(&mut self, c: C, k: Sg<A>, i: u32, f: MemberFlags) -> Result<(), MgmError> {
        self.check_member(c, k, i, f)?;
        if f.contains(MemberFlags::JOIN) {
            self.join_add(c, k, i);
        }
        if f.contains(MemberFlags::FORWARD) {
            self.forward(k, i, true);
        }
        Ok(())
    }

    fn join_add(&mut self, c: C, k: Sg<A>, i: u32) {
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

    fn forward(&mut self, k: Sg<A>, i: u32, add: bool) {
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

    fn delete(&mut self, c: C, k: Sg<A>, i: u32, f: MemberFlags) -> Result<(), MgmError> {
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

    fn join_delete(&mut self, c: C, k: Sg<A>, i: u32) {
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

    fn forget(&mut self, i: u32) {
        let oifs = self.all_oifs();
        self.mfes
            .retain(|sg, m| m.iif != i && !oifs[sg].contains(&i) && !m.fwd_disabled.contains(&i));
    }

    fn take(&mut self, c: C, i: u32) -> Result<(), MgmError> {
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

    fn release(&mut self, c: C, i: u32) -> Result<(), MgmError> {
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

    fn set(&mut self, i: u32, rp: Option<C>, igmp: bool) {
        if rp.is_none() && !igmp {
            self.owner.remove(&i);
        } else {
            self.owner.insert(i, (rp, igmp));
        }
    }

    fn packet(&mut self, s: A, g: A, arrival: u32) {
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

    fn advance(&mut self, secs: u64) {
        self.now_ms += secs * 1000;
        let now = self.now_ms;
        self.mfes.retain(|_, m| m.expires_ms > now);
    }
}

/// Normalises a delivered callback to the model's line format.
fn line<A: Address>(to: C, cb: &Callback<A>) -> String {
    let text = match cb {
        Callback::Rpf(q) => format!("rpf {}", q.sg),
        Callback::CreationAlert(q) => {
            let list: Vec<String> = q
                .entries
                .iter()
                .map(|e| format!("if{}{}", e.ifid.ifindex, if e.igmp { "+igmp" } else { "" }))
                .collect();
            format!("creation {} [{}]", q.sg, list.join(" "))
        }
        Callback::PruneAlert {
            sg,
            ifid,
            member_delete,
            ..
        } => format!("prune {sg} if{} {member_delete}", ifid.ifindex),
        Callback::JoinAlert { sg, member_update } => format!("join {sg} {member_update}"),
        Callback::LocalJoin { sg, ifid } => format!("local-join {sg} if{}", ifid.ifindex),
        Callback::LocalLeave { sg, ifid } => format!("local-leave {sg} if{}", ifid.ifindex),
        Callback::DisableIgmp { ifid } => format!("disable if{}", ifid.ifindex),
        Callback::EnableIgmp { ifid } => format!("enable if{}", ifid.ifindex),
        Callback::WrongIf { .. } => "wrong-if".into(),
    };
    format!("{to}: {text}")
}

/// Every client vetoes this interface in creation alerts.
const VETOED: u32 = 4;

struct Vetoer;
impl<A: Address> MgmClient<A> for Vetoer {
    fn creation_alert(&mut self, _sg: Sg<A>, _iif: IfId<A>, entries: &mut [IfEntry<A>]) {
        for e in entries.iter_mut().filter(|e| e.ifid.ifindex == VETOED) {
            e.enabled = false;
        }
    }
}

/// Runs the implementation side: delivers every callback (answered by [`Vetoer`]) and logs it.
fn drain<A: Address>(
    mgm: &mut Mgm<A>,
    handles: &[ProtocolHandle],
    listener: Option<ProtocolHandle>,
    now: Timestamp,
) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(a) = mgm.poll_action() {
        if let Action::Callback { to, callback } = a {
            let idx = match handles.iter().position(|h| *h == to) {
                Some(i) => i,
                None if listener == Some(to) => LISTENER,
                None => panic!("callback to an unregistered client"),
            };
            out.push(line(idx, &callback));
            if let Some(answer) = callback.deliver(&mut Vetoer) {
                mgm.answer(answer, now).expect("open question");
            }
        }
    }
    out
}

fn run<A: Family>(ops: Vec<Op<A>>) -> Result<(), TestCaseError> {
    let mut rib = StaticRib::new();
    rib.insert(A::S, A::BITS, IfId::index(1), A::UNSPECIFIED);
    rib.insert(A::S2, A::BITS, IfId::index(2), A::UNSPECIFIED);
    let mut mgm = Mgm::new(Config::default(), Box::new(rib));
    let handles: Vec<ProtocolHandle> = [protocol_id(1, 0, 1), protocol_id(1, 0, 2), MS_IP_IGMP]
        .into_iter()
        .map(|id| mgm.register(id, 1, CallbackSet::all()).expect("register"))
        .collect();
    let mut model = Model::<A>::new();
    let mut listener: Option<ProtocolHandle> = None;
    let base = Timestamp::from_secs(0);
    for (step, op) in ops.into_iter().enumerate() {
        let now = base + Duration::from_millis(model.now_ms);
        let (got, want) = match op.clone() {
            Op::Take(c, i) => (
                mgm.take_interface_ownership(handles[c], IfId::index(i), now),
                model.take(c, i),
            ),
            Op::Release(c, i) => (
                mgm.release_interface_ownership(handles[c], IfId::index(i), now),
                model.release(c, i),
            ),
            Op::Add(c, k, i, f) => (
                mgm.add_membership(handles[c], k, IfId::index(i), f, now),
                model.add(c, k, i, f),
            ),
            Op::Delete(c, k, i, f) => (
                mgm.delete_membership(handles[c], k, IfId::index(i), f, now),
                model.delete(c, k, i, f),
            ),
            Op::Packet(s, g, i) => {
                model.packet(s, g, i);
                (mgm.packet_miss(s, g, i, &[], now), Ok(()))
            }
            Op::Advance(secs) => {
                model.advance(secs);
                mgm.tick(base + Duration::from_millis(model.now_ms));
                (Ok(()), Ok(()))
            }
            Op::ToggleListener => {
                model.listener = !model.listener;
                let got = match listener.take() {
                    Some(h) => mgm.deregister(h),
                    None => mgm
                        .register(protocol_id(1, 0, 9), 1, CallbackSet::all())
                        .map(|h| listener = Some(h)),
                };
                (got, Ok(()))
            }
        };
        let now = base + Duration::from_millis(model.now_ms);
        prop_assert_eq!(got, want, "step {} {:?}", step, op);
        let mut got_events = drain(&mut mgm, &handles, listener, now);
        let mut want_events = std::mem::take(&mut model.events);
        got_events.sort();
        want_events.sort();
        prop_assert_eq!(got_events, want_events, "events at step {} {:?}", step, op);

        let got_members: BTreeSet<(C, Sg<A>, u32)> = mgm
            .memberships()
            .iter()
            .map(|m| {
                let c = handles.iter().position(|h| *h == m.protocol).unwrap_or(99);
                (c, m.sg, m.ifid.ifindex)
            })
            .collect();
        let want_members: BTreeSet<(C, Sg<A>, u32)> = model.members.keys().copied().collect();
        prop_assert_eq!(got_members, want_members, "memberships at step {}", step);

        let got_mfes: BTreeMap<Sg<A>, (u32, BTreeSet<u32>, u64)> = mgm
            .mfes()
            .map(|m| {
                let oifs = m.oifs().iter().map(|i| i.ifindex).collect();
                (m.sg(), (m.iif().ifindex, oifs, m.expires_at().as_millis()))
            })
            .collect();
        let want_mfes: BTreeMap<Sg<A>, (u32, BTreeSet<u32>, u64)> = model
            .mfes
            .iter()
            .map(|(sg, m)| (*sg, (m.iif, model.oifs(*sg, m), m.expires_ms)))
            .collect();
        prop_assert_eq!(got_mfes, want_mfes, "MFEs at step {} {:?}", step, op);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn oil_formula_and_alert_rules_match_the_reference_model(ops in prop::collection::vec(op::<Ipv4Addr>(), 1..80)) {
        run(ops)?;
    }

    #[test]
    fn oil_formula_and_alert_rules_match_the_reference_model_over_ipv6(ops in prop::collection::vec(op::<Ipv6Addr>(), 1..80)) {
        run(ops)?;
    }
}
