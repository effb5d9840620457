//! External protocols connected through the API: registration, calls, callbacks as events, and
//! their open questions (each protocol with its own answer deadline).
use super::{EventSink, External, RouterCore, RouterIo};
use crate::{
    api::proto::{ApiAnswer, MonitorEvent, Response},
    daemon::api_events::{self, MonitorHub},
    dataplane::ForwardingBackend,
    mgm::{
        Answer, Callback, CallbackSet, ClientOptions, IfEntry, IfId, Mgm, MgmError, ProtocolHandle,
        QueryId, RpfAnswer, Timestamp,
    },
};
use std::time::{Duration, Instant};
use tracing::{debug, warn};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Registers an external protocol whose callbacks go to `events`, with its per-protocol
    /// `options` (answer deadline, A-10 opt-in).
    pub fn register_external(
        &mut self,
        protocol_id: u32,
        component_id: u32,
        callbacks: CallbackSet,
        options: ClientOptions,
        events: impl EventSink + 'static,
    ) -> Result<ProtocolHandle, MgmError> {
        let h = self.mgm.register(protocol_id, component_id, callbacks)?;
        if let Err(e) = self.mgm.set_client_options(h, options) {
            let _ = self.mgm.deregister(h);
            return Err(e);
        }
        self.externals.insert(
            h,
            External {
                protocol_id,
                component_id,
                callbacks,
                answer_deadline: self.mgm.answer_deadline_of(h),
                missed_answers: 0,
                events: Box::new(events),
            },
        );
        Ok(h)
    }

    /// Deregisters an external protocol in the order of §6.8: every interface it owns is
    /// released first (whatever its state: gone, renumbered, or an (ifindex, next hop) pair),
    /// which removes its memberships there without FALSE prune alerts; then the registration.
    pub fn deregister_external(&mut self, h: ProtocolHandle) {
        if self.externals.remove(&h).is_none() {
            return;
        }
        let now = self.now();
        if let Err(e) = self.mgm.release_all_interfaces(h, now) {
            warn!(error = %e, "releasing an external protocol's interfaces");
        }
        if let Err(e) = self.mgm.deregister(h) {
            warn!(error = %e, "deregistering an external protocol");
        }
        self.forget_questions(|p, _| p == h);
        self.drive();
    }

    /// Runs an MGM call on behalf of an external protocol.
    pub fn external_call(
        &mut self,
        h: ProtocolHandle,
        call: impl FnOnce(&mut Mgm, Timestamp) -> Result<(), MgmError>,
    ) -> Response {
        let now = self.now();
        let result = call(&mut self.mgm, now);
        self.calling = Some(h);
        self.drive();
        self.calling = None;
        match result {
            Ok(()) => Response::Ok,
            Err(e) => Response::error(e.win32_code(), format!("{e} (protocol {})", h.raw())),
        }
    }

    /// Runs `call` on the MGM core (API calls that need no protocol context), then drives.
    pub fn with_mgm<T>(&mut self, call: impl FnOnce(&mut Mgm, Timestamp) -> T) -> T {
        let now = self.now();
        let result = call(&mut self.mgm, now);
        self.drive();
        result
    }

    /// The monitor hub (the API server subscribes monitors to it).
    pub fn monitor(&self) -> &MonitorHub {
        &self.monitor
    }

    /// The MGM core, for read-only API calls.
    pub fn mgm(&self) -> &Mgm {
        &self.mgm
    }

    /// An answer from an external protocol, due within its own deadline. An RPF answer
    /// without a route keeps the route the MGM proposed; its `reject` counts only for a
    /// protocol that opted in to A-10 at registration.
    pub fn external_answer(&mut self, h: ProtocolHandle, answer: ApiAnswer) -> Response {
        let query = match &answer {
            ApiAnswer::Rpf { query, .. }
            | ApiAnswer::CreationAlert { query, .. }
            | ApiAnswer::PruneAlert { query, .. } => *query,
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
        let open = self.questions.get(&query).is_some_and(|&(p, asked)| {
            p == h && self.clock.saturating_duration_since(asked) <= deadline
        });
        if !open {
            return not_open;
        }
        self.questions.remove(&query);
        let shown = answer.clone();
        self.monitor.publish(|| MonitorEvent::Answer {
            protocol,
            component_id,
            answer: shown,
        });
        let answer = match answer {
            ApiAnswer::Rpf {
                iif,
                upstream,
                route,
                reject,
                ..
            } => Answer::Rpf {
                query: QueryId::from_raw(query),
                answer: RpfAnswer {
                    iif: IfId::new(iif.ifindex, iif.next_hop),
                    upstream,
                    route: match route {
                        Some(r) => api_events::route_of(r),
                        None => self
                            .mgm
                            .open_rpf_route(QueryId::from_raw(query))
                            .unwrap_or_default(),
                    },
                    // The MGM decides what a rejection means: a declined no-route offer, or
                    // (with the protocol's A-10 option) a negative entry.
                    reject,
                },
            },
            ApiAnswer::CreationAlert { entries, .. } => Answer::CreationAlert {
                query: QueryId::from_raw(query),
                entries: entries
                    .into_iter()
                    .map(|e| IfEntry {
                        ifid: IfId::new(e.ifid.ifindex, e.ifid.next_hop),
                        igmp: e.igmp,
                        enabled: e.enabled,
                    })
                    .collect(),
            },
            ApiAnswer::PruneAlert { timeout_s, .. } => match self.prune_replies.remove(&query) {
                Some(reply) => Answer::PruneAlert { reply, timeout_s },
                None => return Response::error(1168, "the prune alert's MFE is gone"),
            },
        };
        let now = self.now();
        let result = self.mgm.answer(answer, now);
        self.drive();
        match result {
            Ok(()) => Response::Ok,
            // The core's deadline passed a moment before ours: its default has applied.
            Err(MgmError::NotFound) => not_open,
            Err(e) => Response::error(e.win32_code(), e.to_string()),
        }
    }

    /// Sends a callback to its external protocol as an event (questions are remembered until
    /// answered or late) and shows it in the monitor.
    pub(super) fn deliver_external(&mut self, to: ProtocolHandle, callback: Callback) {
        if !self.externals.contains_key(&to) {
            return;
        }
        let prune_query = match &callback {
            Callback::Rpf(q) => {
                self.questions.insert(q.query.raw(), (to, self.clock));
                None
            }
            Callback::CreationAlert(q) => {
                self.questions.insert(q.query.raw(), (to, self.clock));
                None
            }
            Callback::PruneAlert { reply, .. } => reply.map(|r| {
                self.next_prune_query += 1;
                self.prune_replies.insert(self.next_prune_query, r);
                self.questions
                    .insert(self.next_prune_query, (to, self.clock));
                self.next_prune_query
            }),
            _ => None,
        };
        let Some(external) = self.externals.get(&to) else {
            return;
        };
        let event = api_events::event_of(&callback, prune_query);
        let (protocol, component_id) = (
            self.protocol_name(external.protocol_id),
            external.component_id,
        );
        if !external.events.send(event.clone()) {
            debug!(
                protocol = to.raw(),
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

    /// A callback an in-process protocol handled: shown in the monitor, and the IGMP bracket
    /// of an external protocol's take or release is passed on to it if it asked (§6.7).
    pub(super) fn delivered_builtin(
        &mut self,
        to: ProtocolHandle,
        callback: &Callback,
        answer: Option<&Answer>,
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
        let protocol = self
            .protocol_id_of(to)
            .map(|p| self.protocol_name(p))
            .unwrap_or_default();
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
            .filter_map(|(&query, &(h, asked))| {
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
            warn!(
                protocol_id,
                component_id,
                query,
                deadline_ms,
                missed = external.missed_answers,
                "external protocol missed its answer deadline: the documented default applied"
            );
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
        self.questions.retain(|query, &mut (h, asked)| {
            let keep = !stale(h, asked);
            if !keep {
                prune_replies.remove(query);
            }
            keep
        });
    }
}
