//! External protocols connected through the API: registration, calls, callbacks as events, and
//! their open questions.
use super::{EventSink, External, RouterCore, RouterIo};
use crate::{
    api::proto::{ApiAnswer, ApiIfEntry, ApiIfId, ApiSg, Event, Response},
    dataplane::ForwardingBackend,
    mgm::{
        Answer, Callback, CallbackSet, IfEntry, IfId, MemberFlags, Mgm, MgmError, ProtocolHandle,
        QueryId, RpfAnswer, Sg, Timestamp,
    },
};
use std::time::Instant;
use tracing::{debug, warn};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Registers an external protocol whose callbacks go to `events`.
    pub fn register_external(
        &mut self,
        protocol_id: u32,
        component_id: u32,
        callbacks: CallbackSet,
        events: impl EventSink + 'static,
    ) -> Result<ProtocolHandle, MgmError> {
        let h = self.mgm.register(protocol_id, component_id, callbacks)?;
        self.externals.insert(
            h,
            External {
                protocol_id,
                component_id,
                events: Box::new(events),
            },
        );
        Ok(h)
    }

    /// Deregisters an external protocol, releasing its interfaces and memberships first.
    pub fn deregister_external(&mut self, h: ProtocolHandle) {
        if self.externals.remove(&h).is_none() {
            return;
        }
        let now = self.now();
        for m in self
            .mgm
            .memberships()
            .into_iter()
            .filter(|m| m.protocol == h)
        {
            let _ = self
                .mgm
                .delete_membership(h, m.sg, m.ifid, MemberFlags::JOIN, now);
        }
        let owned: Vec<u32> = self.active.values().map(|a| a.0).collect();
        for ifindex in owned {
            let _ = self
                .mgm
                .release_interface_ownership(h, IfId::index(ifindex), now);
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
        self.drive();
        match result {
            Ok(()) => Response::Ok,
            Err(e) => Response::error(e.win32_code(), format!("{e} (protocol {})", h.raw())),
        }
    }

    /// The MGM core, for read-only API calls.
    pub fn mgm(&self) -> &Mgm {
        &self.mgm
    }

    /// An answer from an external protocol.
    pub fn external_answer(&mut self, h: ProtocolHandle, answer: ApiAnswer) -> Response {
        let query = match &answer {
            ApiAnswer::Rpf { query, .. }
            | ApiAnswer::CreationAlert { query, .. }
            | ApiAnswer::PruneAlert { query, .. } => *query,
        };
        let not_open = Response::error(
            87,
            format!(
                "no open question with that id for this protocol (answers are due within {:?})",
                self.answer_deadline
            ),
        );
        let open = self.questions.get(&query).is_some_and(|&(p, asked)| {
            p == h && self.clock.saturating_duration_since(asked) <= self.answer_deadline
        });
        if !open {
            return not_open;
        }
        self.questions.remove(&query);
        let answer = match answer {
            ApiAnswer::Rpf {
                iif,
                upstream,
                reject,
                ..
            } => Answer::Rpf {
                query: QueryId::from_raw(query),
                answer: RpfAnswer {
                    iif: IfId::new(iif.ifindex, iif.next_hop),
                    upstream,
                    route: Default::default(),
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

    pub(super) fn deliver_external(&mut self, to: ProtocolHandle, callback: Callback) {
        let Some(external) = self.externals.get(&to) else {
            return;
        };
        let event = match callback {
            Callback::Rpf(q) => {
                self.questions.insert(q.query.raw(), (to, self.clock));
                Event::Rpf {
                    query: q.query.raw(),
                    sg: api_sg(q.sg),
                    iif: api_ifid(q.proposal.iif),
                    upstream: q.proposal.upstream,
                    reject: q.proposal.reject,
                }
            }
            Callback::CreationAlert(q) => {
                self.questions.insert(q.query.raw(), (to, self.clock));
                Event::CreationAlert {
                    query: q.query.raw(),
                    sg: api_sg(q.sg),
                    iif: api_ifid(q.iif),
                    entries: q.entries.iter().map(api_entry).collect(),
                }
            }
            Callback::PruneAlert {
                sg,
                ifid,
                member_delete,
                timeout_s,
                reply,
            } => {
                let query = reply.map(|r| {
                    self.next_prune_query += 1;
                    self.prune_replies.insert(self.next_prune_query, r);
                    self.questions
                        .insert(self.next_prune_query, (to, self.clock));
                    self.next_prune_query
                });
                Event::PruneAlert {
                    query,
                    sg: api_sg(sg),
                    ifid: api_ifid(ifid),
                    member_delete,
                    timeout_s,
                }
            }
            Callback::JoinAlert { sg, member_update } => Event::JoinAlert {
                sg: api_sg(sg),
                member_update,
            },
            Callback::WrongIf {
                source,
                group,
                ifid,
                ..
            } => Event::WrongIf {
                sg: ApiSg { source, group },
                ifid: api_ifid(ifid),
            },
            Callback::LocalJoin { sg, ifid } => Event::LocalJoin {
                sg: api_sg(sg),
                ifid: api_ifid(ifid),
            },
            Callback::LocalLeave { sg, ifid } => Event::LocalLeave {
                sg: api_sg(sg),
                ifid: api_ifid(ifid),
            },
            Callback::DisableIgmp { .. } | Callback::EnableIgmp { .. } => return,
        };
        if !external.events.send(event) {
            debug!(
                protocol = to.raw(),
                "event for a protocol whose connection is gone"
            );
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

fn api_sg(sg: Sg) -> ApiSg {
    ApiSg {
        source: sg.source,
        group: sg.group,
    }
}

fn api_ifid(ifid: IfId) -> ApiIfId {
    ApiIfId {
        ifindex: ifid.ifindex,
        next_hop: ifid.next_hop,
    }
}

fn api_entry(e: &IfEntry) -> ApiIfEntry {
    ApiIfEntry {
        ifid: api_ifid(e.ifid),
        igmp: e.igmp,
        enabled: e.enabled,
    }
}
