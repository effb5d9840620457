//! External protocols connected through the API: registration, calls, callbacks as events, and
//! their open questions (each protocol with its own answer deadline).
//!
//! One protocol meets both MGMs (A-57, `docs/design.md` §1): it is registered with the same
//! (protocol id, component id) and callbacks in each, under the IPv4 MGM's handle as the API
//! shows it ([`External::h6`] is its IPv6 one), and hears both MGMs' callbacks on its one
//! connection, the IPv6 ones with IPv6 addresses (see [`crate::daemon::api_family`] for how a
//! request and an answer find their MGM). Interface ownership is in [`super::ownership`].
use super::{EventSink, External, RouterCore, RouterIo, BUILTIN_PROTOCOL_IDS};
use crate::{
    api::proto::{ApiAnswer, ApiCallback, ApiFamily, MonitorEvent, Response},
    daemon::{
        api_events::{self, MonitorHub},
        api_family::{self, api_id, split_id, ApiAddress},
    },
    dataplane::ForwardingBackend,
    mgm::{
        self, Answer, Callback, CallbackSet, ClientOptions, IfId, Mgm, MgmError, ProtocolHandle,
        PruneReply, QueryId, RpfAnswer, Sg, Timestamp,
    },
};
use std::{
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};
use tracing::{debug, warn};

/// A FALSE prune alert's reply token, of the MGM that asked.
#[derive(Clone, Copy, Debug)]
pub enum FamilyPruneReply {
    /// The IPv4 MGM's.
    V4(PruneReply<Ipv4Addr>),
    /// The IPv6 MGM's.
    V6(PruneReply<Ipv6Addr>),
}

/// An address family external protocols reach through the API: its MGM in the router and a
/// protocol's handle there.
pub trait ExternalFamily: ApiAddress {
    /// The family's MGM.
    fn mgm_of<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &Mgm<Self>;
    /// The family's MGM, to change.
    fn mgm_in<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> &mut Mgm<Self>;
    /// The handle in this family's MGM of the external protocol `h` (the API's handle).
    fn handle_in<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        h: ProtocolHandle,
    ) -> Option<ProtocolHandle>;
    /// The API handle of the external protocol whose handle in this family's MGM is `to`.
    fn external_of<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        to: ProtocolHandle,
    ) -> Option<ProtocolHandle>;
    /// The name of the in-process protocol `h` of this family's MGM (for the monitor).
    fn builtin_name<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        h: ProtocolHandle,
    ) -> String;
    /// A prune reply of this family's MGM, kept until answered.
    fn keep(reply: PruneReply<Self>) -> FamilyPruneReply;
    /// The reply kept, if it is of this family.
    fn kept(reply: FamilyPruneReply) -> Option<PruneReply<Self>>;
}

impl ExternalFamily for Ipv4Addr {
    fn mgm_of<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &Mgm<Self> {
        &core.mgm
    }
    fn mgm_in<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> &mut Mgm<Self> {
        &mut core.mgm
    }
    fn handle_in<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        h: ProtocolHandle,
    ) -> Option<ProtocolHandle> {
        core.externals.contains_key(&h).then_some(h)
    }
    fn external_of<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        to: ProtocolHandle,
    ) -> Option<ProtocolHandle> {
        Self::handle_in(core, to)
    }
    fn builtin_name<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        h: ProtocolHandle,
    ) -> String {
        core.protocol_id_of(h)
            .map(|p| core.protocol_name(p))
            .unwrap_or_default()
    }
    fn keep(reply: PruneReply<Self>) -> FamilyPruneReply {
        FamilyPruneReply::V4(reply)
    }
    fn kept(reply: FamilyPruneReply) -> Option<PruneReply<Self>> {
        match reply {
            FamilyPruneReply::V4(r) => Some(r),
            FamilyPruneReply::V6(_) => None,
        }
    }
}

impl ExternalFamily for Ipv6Addr {
    fn mgm_of<B: ForwardingBackend, I: RouterIo>(core: &RouterCore<B, I>) -> &Mgm<Self> {
        &core.v6.mgm
    }
    fn mgm_in<B: ForwardingBackend, I: RouterIo>(core: &mut RouterCore<B, I>) -> &mut Mgm<Self> {
        &mut core.v6.mgm
    }
    fn handle_in<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        h: ProtocolHandle,
    ) -> Option<ProtocolHandle> {
        core.externals.get(&h).map(|e| e.h6)
    }
    fn external_of<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        to: ProtocolHandle,
    ) -> Option<ProtocolHandle> {
        core.externals6.get(&to).copied()
    }
    fn builtin_name<B: ForwardingBackend, I: RouterIo>(
        core: &RouterCore<B, I>,
        h: ProtocolHandle,
    ) -> String {
        core.protocol_name6(h).unwrap_or_default()
    }
    fn keep(reply: PruneReply<Self>) -> FamilyPruneReply {
        FamilyPruneReply::V6(reply)
    }
    fn kept(reply: FamilyPruneReply) -> Option<PruneReply<Self>> {
        match reply {
            FamilyPruneReply::V6(r) => Some(r),
            FamilyPruneReply::V4(_) => None,
        }
    }
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Registers an external protocol whose callbacks go to `events`, with its per-protocol
    /// `options` (answer deadline, A-10 opt-in), in both MGMs; the IPv4 MGM's handle is the
    /// protocol's handle. The ids of mgmd's built-in routing protocols are refused (87): such a
    /// protocol would pass for the built-in one (its entries, tables and A-58's refusals).
    pub fn register_external(
        &mut self,
        protocol_id: u32,
        component_id: u32,
        callbacks: CallbackSet,
        options: ClientOptions,
        events: impl EventSink + 'static,
    ) -> Result<ProtocolHandle, Response> {
        if BUILTIN_PROTOCOL_IDS.contains(&protocol_id) {
            return Err(Response::error(
                mgm::win32::ERROR_INVALID_PARAMETER,
                format!(
                    "protocol id {protocol_id:#x} is mgmd's built-in {} protocol's",
                    self.protocol_name(protocol_id)
                ),
            ));
        }
        let refused = |e: MgmError| Response::error(e.win32_code(), e.to_string());
        let h = self
            .mgm
            .register(protocol_id, component_id, callbacks)
            .map_err(refused)?;
        let h6 = match self.v6.mgm.register(protocol_id, component_id, callbacks) {
            Ok(h6) => h6,
            Err(e) => {
                let _ = self.mgm.deregister(h);
                return Err(refused(e));
            }
        };
        let options_set = self
            .mgm
            .set_client_options(h, options)
            .and_then(|()| self.v6.mgm.set_client_options(h6, options));
        if let Err(e) = options_set {
            let _ = self.mgm.deregister(h);
            let _ = self.v6.mgm.deregister(h6);
            return Err(refused(e));
        }
        self.externals6.insert(h6, h);
        self.externals.insert(
            h,
            External {
                h6,
                protocol_id,
                component_id,
                callbacks,
                answer_deadline: self.mgm.answer_deadline_of(h),
                missed_answers: 0,
                missed_log: Default::default(),
                events: Box::new(events),
            },
        );
        Ok(h)
    }

    /// Deregisters an external protocol from both MGMs in the order of §6.8: every interface
    /// it owns is released first (whatever its state: gone, renumbered, or an (ifindex, next
    /// hop) pair), which removes its memberships there without FALSE prune alerts; then the
    /// registration.
    pub fn deregister_external(&mut self, h: ProtocolHandle) {
        let Some(external) = self.externals.remove(&h) else {
            return;
        };
        self.externals6.remove(&external.h6);
        let now = self.now();
        let released = self
            .mgm
            .release_all_interfaces(h, now)
            .and_then(|()| self.v6.mgm.release_all_interfaces(external.h6, now));
        if let Err(e) = released {
            warn!(error = %e, "releasing an external protocol's interfaces");
        }
        let deregistered = self
            .mgm
            .deregister(h)
            .and_then(|()| self.v6.mgm.deregister(external.h6));
        if let Err(e) = deregistered {
            warn!(error = %e, "deregistering an external protocol");
        }
        self.forget_questions(|p, _| p == h);
        self.drive();
    }

    /// Whether the external protocol `h` owns an interface in either MGM.
    pub fn external_owns_interfaces(&self, h: ProtocolHandle) -> bool {
        let owns6 = self
            .externals
            .get(&h)
            .is_some_and(|e| !self.v6.mgm.owned_interfaces(e.h6).is_empty());
        owns6 || !self.mgm.owned_interfaces(h).is_empty()
    }

    /// Runs an IPv4 MGM call on behalf of an external protocol.
    #[cfg(test)]
    pub fn external_call(
        &mut self,
        h: ProtocolHandle,
        call: impl FnOnce(&mut Mgm, Timestamp) -> Result<(), MgmError>,
    ) -> Response {
        self.external_call_in::<Ipv4Addr>(h, |m, _, now| call(m, now))
    }

    /// Runs a call of the MGM of family `A` on behalf of the external protocol `h` (the call
    /// gets the protocol's handle in that MGM); its callbacks go out before the response.
    pub fn external_call_in<A: ExternalFamily>(
        &mut self,
        h: ProtocolHandle,
        call: impl FnOnce(&mut Mgm<A>, ProtocolHandle, Timestamp) -> Result<(), MgmError>,
    ) -> Response {
        let Some(ha) = A::handle_in(self, h) else {
            return Response::error(87, "register first");
        };
        let now = self.now();
        let result = call(A::mgm_in(self), ha, now);
        self.calling = Some(h);
        self.drive();
        self.calling = None;
        match result {
            Ok(()) => Response::Ok,
            Err(e) => Response::error(e.win32_code(), format!("{e} (protocol {})", h.raw())),
        }
    }

    /// Memberships the external protocols hold together in the MGM of family `A`.
    pub fn external_memberships<A: ExternalFamily>(&self) -> usize {
        let mgm = A::mgm_of(self);
        self.externals
            .keys()
            .filter_map(|&h| A::handle_in(self, h))
            .map(|ha| mgm.memberships_of(ha))
            .sum()
    }

    /// Whether the external protocol `h` holds `sg` on `ifid` in the MGM of family `A`.
    pub fn external_has_membership<A: ExternalFamily>(
        &self,
        h: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
    ) -> bool {
        A::handle_in(self, h).is_some_and(|ha| A::mgm_of(self).has_membership(ha, sg, ifid))
    }

    /// Runs `call` on the MGM of family `A` (API calls that need no protocol context, or
    /// `h`'s handle there when given), then drives.
    pub fn with_mgm_in<A: ExternalFamily, T>(
        &mut self,
        h: Option<ProtocolHandle>,
        call: impl FnOnce(&mut Mgm<A>, Option<ProtocolHandle>, Timestamp) -> T,
    ) -> T {
        let ha = h.and_then(|h| A::handle_in(self, h));
        let now = self.now();
        let result = call(A::mgm_in(self), ha, now);
        self.drive();
        result
    }

    /// The monitor hub (the API server subscribes monitors to it).
    pub fn monitor(&self) -> &MonitorHub {
        &self.monitor
    }

    /// The IPv4 MGM core, for read-only calls.
    #[cfg(test)]
    pub fn mgm(&self) -> &Mgm {
        &self.mgm
    }

    /// An answer from an external protocol, due within its own deadline; its id names the MGM
    /// that asked. An RPF answer without a route keeps the route the MGM proposed; its
    /// `reject` counts only for a protocol that opted in to A-10 at registration.
    pub fn external_answer(&mut self, h: ProtocolHandle, answer: ApiAnswer) -> Response {
        let (query, callback) = match &answer {
            ApiAnswer::Rpf { query, .. } => (*query, ApiCallback::Rpf),
            ApiAnswer::CreationAlert { query, .. } => (*query, ApiCallback::CreationAlert),
            ApiAnswer::PruneAlert { query, .. } => (*query, ApiCallback::PruneAlert),
        };
        let Some(external) = self.externals.get(&h) else {
            return Response::error(87, "not registered");
        };
        let deadline = external.answer_deadline;
        let (protocol, component_id) = (
            self.protocol_name(external.protocol_id),
            external.component_id,
        );
        let not_open = Response::error(
            87,
            format!(
                "no open question with that id for this protocol (answers are due within {deadline:?})"
            ),
        );
        let open = self.questions.get(&query).and_then(|&(p, asked, asking)| {
            (p == h && self.clock.saturating_duration_since(asked) <= deadline).then_some(asking)
        });
        match open {
            None => return not_open,
            // Refused before anything changes: the question stays open for the right answer.
            Some(asking) if asking != callback => {
                return Response::error(
                    87,
                    format!(
                        "query {query} is a question of `{0}`: answer it with \"callback\": \
                         \"{0}\", not \"{1}\"",
                        asking.name(),
                        callback.name()
                    ),
                )
            }
            Some(_) => {}
        }
        if let Some(refusal) = self.unknown_interface_in(&answer, query) {
            return refusal;
        }
        let prune = self.prune_replies.get(&query).copied();
        let answered = match (prune, split_id(query).0) {
            (Some(FamilyPruneReply::V6(_)), _) | (None, ApiFamily::Ipv6) => {
                self.answer_in::<Ipv6Addr>(answer.clone(), prune)
            }
            (Some(FamilyPruneReply::V4(_)), _) | (None, ApiFamily::Ipv4) => {
                self.answer_in::<Ipv4Addr>(answer.clone(), prune)
            }
        };
        let answered = match answered {
            Ok(answered) => answered,
            Err(refusal) => return refusal,
        };
        self.questions.remove(&query);
        self.prune_replies.remove(&query);
        self.monitor.publish(|| MonitorEvent::Answer {
            protocol,
            component_id,
            answer,
        });
        self.drive();
        match answered {
            Ok(()) => Response::Ok,
            // The core's deadline passed a moment before ours: its default has applied.
            Err(MgmError::NotFound) => not_open,
            Err(e) => Response::error(e.win32_code(), e.to_string()),
        }
    }

    /// The refusal (87) of an answer naming an interface the router does not have (an RPF
    /// answer's `iif`, an entry of a creation alert's): the entry it would make could forward
    /// nothing, so it changes nothing and the question `query` stays open for a right answer.
    fn unknown_interface_in(&self, answer: &ApiAnswer, query: u64) -> Option<Response> {
        let named: Vec<u32> = match answer {
            ApiAnswer::Rpf { iif, .. } => vec![iif.ifindex],
            ApiAnswer::CreationAlert { entries, .. } => {
                entries.iter().map(|e| e.ifid.ifindex).collect()
            }
            ApiAnswer::PruneAlert { .. } => Vec::new(),
        };
        let unknown = named.into_iter().find(|&i| !self.has_link(i))?;
        Some(Response::error(
            87,
            format!(
                "ifindex {unknown} is no interface of this router: the answer changes nothing \
                 and query {query} stays open"
            ),
        ))
    }

    /// Feeds `answer` to the MGM of family `A` (`prune`: the kept reply of a prune alert);
    /// an answer whose addresses are of the other family is refused before anything changes.
    fn answer_in<A: ExternalFamily>(
        &mut self,
        answer: ApiAnswer,
        prune: Option<FamilyPruneReply>,
    ) -> Result<Result<(), MgmError>, Response> {
        let answer = match answer {
            ApiAnswer::Rpf {
                query,
                iif,
                upstream,
                route,
                reject,
            } => {
                let query = QueryId::from_raw(split_id(query).1);
                let route = match route {
                    Some(r) => api_family::route(r)?,
                    None => A::mgm_of(self).open_rpf_route(query).unwrap_or_default(),
                };
                Answer::Rpf {
                    query,
                    answer: RpfAnswer {
                        iif: api_family::ifid(iif)?,
                        upstream: api_family::addr(upstream)?,
                        route,
                        // The MGM decides what a rejection means: a declined no-route offer,
                        // or (with the protocol's A-10 option) a negative entry.
                        reject,
                    },
                }
            }
            ApiAnswer::CreationAlert { query, entries } => Answer::CreationAlert {
                query: QueryId::from_raw(split_id(query).1),
                entries: entries
                    .into_iter()
                    .map(api_family::entry)
                    .collect::<Result<_, _>>()?,
            },
            ApiAnswer::PruneAlert { timeout_s, .. } => match prune.and_then(A::kept) {
                Some(reply) => Answer::PruneAlert { reply, timeout_s },
                None => return Err(Response::error(1168, "the prune alert's MFE is gone")),
            },
        };
        let now = self.now();
        Ok(A::mgm_in(self).answer(answer, now))
    }

    /// Sends a callback of the MGM of family `A` to its external protocol (`to`: the
    /// protocol's handle in that MGM) as an event (questions are remembered until answered or
    /// late) and shows it in the monitor.
    pub(super) fn deliver_external<A: ExternalFamily>(
        &mut self,
        to: ProtocolHandle,
        callback: Callback<A>,
    ) {
        let Some(h) = A::external_of(self, to) else {
            return;
        };
        let prune_query = match &callback {
            Callback::Rpf(q) => {
                let query = api_id(A::FAMILY, q.query.raw());
                self.questions
                    .insert(query, (h, self.clock, ApiCallback::Rpf));
                None
            }
            Callback::CreationAlert(q) => {
                let query = api_id(A::FAMILY, q.query.raw());
                self.questions
                    .insert(query, (h, self.clock, ApiCallback::CreationAlert));
                None
            }
            Callback::PruneAlert { reply, .. } => reply.map(|r| {
                self.next_prune_query += 1;
                self.prune_replies.insert(self.next_prune_query, A::keep(r));
                self.questions.insert(
                    self.next_prune_query,
                    (h, self.clock, ApiCallback::PruneAlert),
                );
                self.next_prune_query
            }),
            _ => None,
        };
        let Some(external) = self.externals.get(&h) else {
            return;
        };
        let event = api_events::event_of(&callback, prune_query);
        let (protocol, component_id) = (
            self.protocol_name(external.protocol_id),
            external.component_id,
        );
        if !external.events.send(event.clone()) {
            debug!(
                protocol = h.raw(),
                "event for a protocol whose connection is gone"
            );
        }
        self.monitor.publish(|| MonitorEvent::Callback {
            protocol,
            component_id,
            event,
            answer: None,
        });
    }

    /// A callback the in-process protocol `to` of the MGM of family `A` handled: shown in the
    /// monitor, and the IGMP (or MLD) bracket of an external protocol's take or release is
    /// passed on to it if it asked (§6.7).
    pub(super) fn delivered_builtin<A: ExternalFamily>(
        &mut self,
        to: ProtocolHandle,
        callback: &Callback<A>,
        answer: Option<&Answer<A>>,
    ) {
        if matches!(
            callback,
            Callback::DisableIgmp { .. } | Callback::EnableIgmp { .. }
        ) {
            if let Some(external) = self.calling.and_then(|h| self.externals.get(&h)) {
                if external.callbacks.contains(callback.needs()) {
                    let _ = external.events.send(api_events::event_of(callback, None));
                }
            }
        }
        if !self.monitor.active() {
            return;
        }
        let protocol = A::builtin_name(self, to);
        self.monitor.publish(|| MonitorEvent::Callback {
            protocol,
            component_id: 0,
            event: api_events::event_of(callback, None),
            answer: answer.map(api_events::api_answer),
        });
    }

    /// Forgets the questions whose protocol's deadline passed by `now` (the MGM applied the
    /// default), counting and logging each miss per protocol.
    pub(super) fn expire_questions(&mut self, now: Instant) {
        let late: Vec<(u64, ProtocolHandle, Duration)> = self
            .questions
            .iter()
            .filter_map(|(&query, &(h, asked, _))| {
                let deadline = self.externals.get(&h)?.answer_deadline;
                (now.saturating_duration_since(asked) > deadline).then_some((query, h, deadline))
            })
            .collect();
        for (query, h, deadline) in late {
            self.questions.remove(&query);
            self.prune_replies.remove(&query);
            let Some(external) = self.externals.get_mut(&h) else {
                continue;
            };
            external.missed_answers += 1;
            let (protocol_id, component_id) = (external.protocol_id, external.component_id);
            let deadline_ms = deadline.as_millis() as u64;
            if external.missed_log.due(now) {
                warn!(
                    protocol_id,
                    component_id,
                    query,
                    deadline_ms,
                    missed = external.missed_answers,
                    "external protocol missed its answer deadline: the documented default applied \
                     (logged at most every 10 s; `mgmctl show protocols` counts every miss)"
                );
            }
            let protocol = self.protocol_name(protocol_id);
            self.monitor.publish(|| MonitorEvent::DeadlineMissed {
                protocol,
                component_id,
                query,
                deadline_ms,
            });
        }
    }

    /// Drops the open questions `stale` picks, with their prune replies.
    pub(super) fn forget_questions(&mut self, stale: impl Fn(ProtocolHandle, Instant) -> bool) {
        let prune_replies = &mut self.prune_replies;
        self.questions.retain(|query, &mut (h, asked, _)| {
            let keep = !stale(h, asked);
            if !keep {
                prune_replies.remove(query);
            }
            keep
        });
    }
}
