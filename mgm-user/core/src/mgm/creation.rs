//! Packet-driven MFE creation (spec §6.4): RPF through the RIB and the RPF owner's callback,
//! creation alerts grouped per owning protocol with per-interface veto, negative MFEs (A-32,
//! A-10), and the pending state that lets questions be answered now or later.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use super::action::{Action, Callback, CreationQuestion, IfEntry, RpfAnswer, RpfQuestion};
use super::address::Address;
use super::error::MgmError;
use super::mfe::{Mfe, MfeKind};
use super::oif::OifSet;
use super::outbox::Phase;
use super::types::{IfId, ProtocolHandle, QueryId, RouteInfo, Sg, Timestamp};
use super::Mgm;

/// A creation waiting for answers.
#[derive(Debug)]
struct Pending<A: Address> {
    /// Where the first packet arrived.
    arrival: IfId<A>,
    /// The RIB had no route: the RPF question went to the arrival interface's owner, and a
    /// rejecting (or missing) answer makes a no-route negative entry.
    no_route: bool,
    /// The RIB proposal, replaced by the RPF answer.
    rpf: RpfAnswer<A>,
    /// The protocol asked the RPF question, if any (its A-10 option applies).
    rpf_owner: Option<ProtocolHandle>,
    /// The open RPF question, if still unanswered.
    rpf_query: Option<QueryId>,
    /// Open creation alerts and the interfaces each offered.
    questions: BTreeMap<QueryId, Vec<IfId<A>>>,
    /// Every interface offered so far.
    offered: OifSet<A>,
    /// Interfaces a protocol set `bIsEnabled = FALSE` on.
    vetoed: OifSet<A>,
    /// When open questions take their defaults.
    deadline: Timestamp,
}

impl<A: Address> Pending<A> {
    fn involves(&self, ifid: IfId<A>) -> bool {
        self.arrival == ifid || self.rpf.iif == ifid || self.offered.contains(ifid)
    }

    fn query_ids(&self) -> impl Iterator<Item = QueryId> + '_ {
        self.rpf_query
            .into_iter()
            .chain(self.questions.keys().copied())
    }
}

/// Creations in progress, by key, with their question ids and deadlines.
#[derive(Debug)]
pub(crate) struct PendingTable<A: Address> {
    by_sg: HashMap<Sg<A>, Pending<A>>,
    queries: HashMap<QueryId, Sg<A>>,
    deadlines: BTreeSet<(Timestamp, Sg<A>)>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for PendingTable<A> {
    fn default() -> Self {
        PendingTable {
            by_sg: Default::default(),
            queries: Default::default(),
            deadlines: Default::default(),
        }
    }
}

impl<A: Address> PendingTable<A> {
    pub(crate) fn next_deadline(&self) -> Option<Timestamp> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    fn put(&mut self, sg: Sg<A>, p: Pending<A>) {
        for q in p.query_ids() {
            self.queries.insert(q, sg);
        }
        self.deadlines.insert((p.deadline, sg));
        self.by_sg.insert(sg, p);
    }

    fn take(&mut self, sg: Sg<A>) -> Option<Pending<A>> {
        let p = self.by_sg.remove(&sg)?;
        self.deadlines.remove(&(p.deadline, sg));
        for q in p.query_ids() {
            self.queries.remove(&q);
        }
        Some(p)
    }

    fn due(&self, now: Timestamp) -> Vec<Sg<A>> {
        self.deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, sg)| *sg)
            .collect()
    }
}

impl<A: Address> Mgm<A> {
    /// A packet for `source → group` arrived on `arrival_ifindex` and matched no entry (the
    /// creation path of §6.4; next hop 0 since the data plane cannot tell P2MP neighbours
    /// apart). Ignored while an MFE or a creation already exists for the pair.
    /// `InvalidParameter` for a wildcard source or group.
    pub fn packet_miss(
        &mut self,
        source: A,
        group: A,
        arrival_ifindex: u32,
        header: &[u8],
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let sg = Sg::new(source, group);
        if !sg.is_exact() {
            return Err(MgmError::InvalidParameter);
        }
        if self.mfes.contains(sg) || self.pending.by_sg.contains_key(&sg) {
            return Ok(());
        }
        let arrival = IfId::index(arrival_ifindex);
        let Some((proposal, owner, no_route)) = self.rpf_proposal(source, arrival) else {
            self.install_negative(sg, arrival, MfeKind::NoRoute, now);
            self.out.commit();
            return Ok(());
        };
        let mut p = Pending {
            arrival,
            no_route,
            rpf: proposal,
            rpf_owner: Some(owner),
            rpf_query: None,
            questions: BTreeMap::new(),
            offered: OifSet::new(),
            vetoed: OifSet::new(),
            deadline: now + self.answer_deadline_of(owner),
        };
        let q = QueryId(self.serial());
        let cb = Callback::Rpf(RpfQuestion {
            query: q,
            sg,
            proposal,
            header: header.to_vec(),
        });
        if self.registry.accepts(owner, &cb) {
            p.rpf_query = Some(q);
            self.send(Phase::Question, owner, cb);
            self.pending.put(sg, p);
        } else {
            self.after_rpf(sg, p, now);
        }
        self.out.commit();
        Ok(())
    }

    /// The RIB's route in the open RPF question `query` (what an answer keeps unless it names
    /// another route).
    pub fn open_rpf_route(&self, query: QueryId) -> Option<RouteInfo<A>> {
        let p = self.pending.by_sg.get(self.pending.queries.get(&query)?)?;
        (p.rpf_query == Some(query)).then_some(p.rpf.route)
    }

    /// The RPF proposal for a packet from `source` that arrived on `arrival`, the protocol to
    /// ask, and whether the RIB had no route. The RIB's route when its interface has an owner;
    /// otherwise, with [`Config::rpf_ask_arrival_owner`](super::Config::rpf_ask_arrival_owner),
    /// the arrival interface with `reject` set, for its owner to claim; otherwise `None` (a
    /// no-route negative entry).
    fn rpf_proposal(
        &self,
        source: A,
        arrival: IfId<A>,
    ) -> Option<(RpfAnswer<A>, ProtocolHandle, bool)> {
        let routed = self
            .rpf
            .lookup(source)
            .and_then(|r| Some((r, self.registry.owner(r.iif)?)));
        if let Some((route, owner)) = routed {
            let proposal = RpfAnswer {
                iif: route.iif,
                upstream: route.upstream,
                route: route.route,
                reject: false,
            };
            return Some((proposal, owner, false));
        }
        if !self.config.rpf_ask_arrival_owner {
            return None;
        }
        let owner = self.registry.owner(arrival)?;
        let proposal = RpfAnswer {
            iif: arrival,
            upstream: A::UNSPECIFIED,
            route: RouteInfo::default(),
            reject: true,
        };
        Some((proposal, owner, true))
    }

    /// Whether a creation for `sg` is waiting for answers.
    pub fn is_resolving(&self, sg: Sg<A>) -> bool {
        self.pending.by_sg.contains_key(&sg)
    }

    /// Completes the RPF question `query`.
    pub(crate) fn answer_rpf(
        &mut self,
        query: QueryId,
        answer: RpfAnswer<A>,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let sg = *self.pending.queries.get(&query).ok_or(MgmError::NotFound)?;
        let mut p = self.pending.take(sg).ok_or(MgmError::NotFound)?;
        if p.rpf_query != Some(query) {
            self.pending.put(sg, p);
            return Err(MgmError::NotFound);
        }
        p.rpf_query = None;
        p.rpf = answer;
        self.after_rpf(sg, p, now);
        Ok(())
    }

    /// Completes the creation alert `query`: entries set disabled are vetoed, the rest forward.
    pub(crate) fn answer_creation(
        &mut self,
        query: QueryId,
        entries: &[IfEntry<A>],
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let sg = *self.pending.queries.get(&query).ok_or(MgmError::NotFound)?;
        let mut p = self.pending.take(sg).ok_or(MgmError::NotFound)?;
        let Some(offered) = p.questions.remove(&query) else {
            self.pending.put(sg, p);
            return Err(MgmError::NotFound);
        };
        for e in entries
            .iter()
            .filter(|e| !e.enabled && offered.contains(&e.ifid))
        {
            p.vetoed.insert(e.ifid);
        }
        if p.questions.is_empty() {
            self.finish_creation(sg, p, now);
        } else {
            self.pending.put(sg, p);
        }
        Ok(())
    }

    /// Questions past their deadline take their defaults.
    pub(crate) fn expire_questions(&mut self, now: Timestamp) {
        for sg in self.pending.due(now) {
            if let Some(mut p) = self.pending.take(sg) {
                if p.rpf_query.take().is_some() {
                    self.after_rpf(sg, p, now);
                } else {
                    self.finish_creation(sg, p, now);
                }
            }
        }
    }

    /// Abandons creations whose arrival, RPF or offered interfaces include `ifid`.
    pub(crate) fn cancel_creations_involving(&mut self, ifid: IfId<A>) {
        let hit: Vec<Sg<A>> = self
            .pending
            .by_sg
            .iter()
            .filter(|(_, p)| p.involves(ifid))
            .map(|(sg, _)| *sg)
            .collect();
        self.cancel_creations(hit);
    }

    /// Abandons the creations of `keys`.
    pub(crate) fn cancel_creations(&mut self, mut keys: Vec<Sg<A>>) {
        keys.sort_unstable();
        for sg in keys {
            if self.pending.take(sg).is_some() {
                self.out
                    .stage(Phase::Forwarding, Action::CreationCancelled { sg });
            }
        }
    }

    /// Keys of creations in progress whose source lies in `network/mask`.
    pub(crate) fn pending_with_source_in(&self, network: A, mask: A) -> Vec<Sg<A>> {
        self.pending
            .by_sg
            .keys()
            .filter(|sg| sg.source_in(network, mask))
            .copied()
            .collect()
    }

    /// After RPF: reject, no-owner, or ask each owning protocol about its interfaces.
    fn after_rpf(&mut self, sg: Sg<A>, mut p: Pending<A>, now: Timestamp) {
        if p.rpf.reject && p.no_route {
            return self.install_negative(sg, p.arrival, MfeKind::NoRoute, now);
        }
        let reject_opted = self.config.rpf_reject_creates_negative
            || p.rpf_owner.is_some_and(|o| {
                self.registry
                    .clients
                    .get(&o)
                    .is_some_and(|c| c.options.rpf_reject_creates_negative)
            });
        if p.rpf.reject && reject_opted {
            return self.install_negative(sg, p.rpf.iif, MfeKind::Rejected, now);
        }
        if self.registry.owner(p.rpf.iif).is_none() {
            return self.install_negative(sg, p.arrival, MfeKind::NoRoute, now);
        }
        let mut by_owner: BTreeMap<ProtocolHandle, Vec<IfEntry<A>>> = BTreeMap::new();
        let mut wait = std::time::Duration::ZERO;
        for ifid in self.candidates(sg, p.rpf.iif).iter() {
            if let Some(owner) = self.registry.owner(ifid) {
                by_owner.entry(owner).or_default().push(IfEntry {
                    ifid,
                    igmp: self.registry.igmp_on(ifid),
                    enabled: true,
                });
            }
        }
        for (owner, entries) in by_owner {
            let query = QueryId(self.serial());
            let offered: Vec<IfId<A>> = entries.iter().map(|e| e.ifid).collect();
            let cb = Callback::CreationAlert(CreationQuestion {
                query,
                sg,
                iif: p.rpf.iif,
                entries,
            });
            if self.registry.accepts(owner, &cb) {
                for i in &offered {
                    p.offered.insert(*i);
                }
                p.questions.insert(query, offered);
                wait = wait.max(self.answer_deadline_of(owner));
                self.send(Phase::Question, owner, cb);
            }
        }
        if p.questions.is_empty() {
            self.finish_creation(sg, p, now);
        } else {
            p.deadline = now + wait;
            self.pending.put(sg, p);
        }
    }

    /// `OIF(m)` of §6.2 for a new MFE with IIF `iif`, before vetoes.
    fn candidates(&self, sg: Sg<A>, iif: IfId<A>) -> OifSet<A> {
        let mut set = self.members.interfaces_covering(sg);
        set.remove(iif);
        set
    }

    /// Builds and installs the MFE once every question is answered; M3 if it is negative.
    fn finish_creation(&mut self, sg: Sg<A>, p: Pending<A>, now: Timestamp) {
        let mut oifs = self.candidates(sg, p.rpf.iif);
        for v in p.vetoed.iter() {
            oifs.remove(v);
        }
        let negative = oifs.is_empty();
        let mfe = self.new_mfe(
            sg,
            MfeKind::Normal,
            p.rpf.iif,
            now,
            self.config.mfe_timeout_s,
        );
        let installed = self.install_mfe(Mfe {
            upstream: p.rpf.upstream,
            route: p.rpf.route,
            oifs,
            fwd_disabled: p.vetoed.into(),
            ..mfe
        });
        if installed && negative {
            self.alert_mfe_prune(sg, now);
        }
    }

    /// Installs a drop entry on `iif` with the negative lifetime; no callbacks.
    fn install_negative(&mut self, sg: Sg<A>, iif: IfId<A>, kind: MfeKind, now: Timestamp) {
        let mfe = self.new_mfe(sg, kind, iif, now, self.config.negative_timeout_s);
        self.install_mfe(mfe);
    }

    /// An MFE with empty lists and a lifetime starting now.
    fn new_mfe(
        &mut self,
        sg: Sg<A>,
        kind: MfeKind,
        iif: IfId<A>,
        now: Timestamp,
        timeout_s: u32,
    ) -> Mfe<A> {
        Mfe {
            sg,
            kind,
            iif,
            iif_protocol: self.registry.owner_protocol_id(iif),
            upstream: A::UNSPECIFIED,
            route: RouteInfo::default(),
            oifs: OifSet::new(),
            fwd_disabled: Default::default(),
            created: now,
            timeout_s,
            expires_at: now + Duration::from_secs(timeout_s.into()),
            counters: Default::default(),
            last_wrong_if: None,
            epoch: self.serial(),
            idle: false,
        }
    }
}
