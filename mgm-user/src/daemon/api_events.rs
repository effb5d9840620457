//! The MGM's callbacks and answers in API form ([`Event`], [`ApiAnswer`]), and the event
//! monitor hub: every callback, answer and MFE change is published to the connections that
//! asked for [`Request::Monitor`](crate::api::proto::Request::Monitor). The hub is a bounded
//! broadcast: publishing never waits, and a monitor that falls behind more than
//! [`MONITOR_BACKLOG`] events loses the oldest and is told how many (`lagged`). A registered
//! protocol's own events wait in its [`ConnectionEvents`], bounded: one beyond disconnects it.
use super::{
    api_family::{api_entry, api_id, api_ifid, api_route, api_sg, ApiAddress},
    router::EventSink,
};
use crate::{
    api::{
        proto::{ApiAnswer, ApiSg, Event, MonitorEvent, MonitorSg},
        records::to_hex,
    },
    mgm::{Action, Address, Answer, Callback, Sg},
};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::{
    broadcast,
    mpsc::{self, error::TrySendError},
    Notify,
};

/// Events of one connection the router may have queued before the connection's task takes
/// them (it moves them on to the client's queue); one more disconnects the client.
pub const MAX_PENDING_EVENTS: usize = 1024;

/// Where the router queues the events of one connection's protocol: at most
/// [`MAX_PENDING_EVENTS`]; the event beyond is not queued, and [`Self::overflowed`] wakes the
/// connection's task, which disconnects the client (and so deregisters the protocol).
#[derive(Clone)]
pub struct ConnectionEvents {
    queue: mpsc::Sender<Event>,
    overflow: Arc<Notify>,
}

impl ConnectionEvents {
    /// A connection's event queue, and its receiving end.
    pub fn new() -> (Self, mpsc::Receiver<Event>) {
        let (queue, received) = mpsc::channel(MAX_PENDING_EVENTS);
        let overflow = Arc::new(Notify::new());
        (Self { queue, overflow }, received)
    }

    /// Completes once an event found the queue full.
    pub async fn overflowed(&self) {
        self.overflow.notified().await;
    }
}

impl EventSink for ConnectionEvents {
    fn send(&self, event: Event) -> bool {
        match self.queue.try_send(event) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.overflow.notify_one();
                false
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }
}

/// Events a monitor may fall behind by before it loses some.
pub const MONITOR_BACKLOG: usize = 4096;

/// The sending side of the monitor stream. Events travel behind an `Arc`: the channel keeps
/// [`MONITOR_BACKLOG`] slots from the start, each the size of what it carries.
#[derive(Clone)]
pub struct MonitorHub(broadcast::Sender<Arc<MonitorEvent>>);

impl Default for MonitorHub {
    fn default() -> Self {
        Self(broadcast::channel(MONITOR_BACKLOG).0)
    }
}

impl MonitorHub {
    /// Whether anyone listens (events are built only then).
    pub fn active(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Publishes `event` to every monitor; never blocks.
    pub fn publish(&self, event: impl FnOnce() -> MonitorEvent) {
        if self.active() {
            let _ = self.0.send(Arc::new(event()));
        }
    }

    /// A new monitor's stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<MonitorEvent>> {
        self.0.subscribe()
    }

    /// The MFE change an action makes, if it is one.
    pub fn publish_action<A: Address + Into<IpAddr>>(&self, action: &Action<A>) {
        let (change, sg, iif, oifs) = match action {
            Action::InstallMfe { sg, iif, oifs } => ("created", sg, iif.ifindex, oifs),
            Action::UpdateMfe { sg, iif, oifs } => ("changed", sg, iif.ifindex, oifs),
            Action::DeleteMfe { sg } => {
                return self.publish(|| MonitorEvent::Mfe {
                    change: "deleted".into(),
                    sg: monitor_sg(*sg),
                    iif: 0,
                    oifs: Vec::new(),
                })
            }
            _ => return,
        };
        self.publish(|| MonitorEvent::Mfe {
            change: change.into(),
            sg: monitor_sg(*sg),
            iif,
            oifs: oifs.iter().map(|o| o.ifindex).collect(),
        });
    }
}

/// The event of `callback` from the MGM of family `A`; `prune_query` is the answer id of a
/// FALSE prune alert (the other questions carry their own, which the API gives out with the
/// family's [`api_id`]).
pub fn event_of<A: ApiAddress>(callback: &Callback<A>, prune_query: Option<u64>) -> Event {
    match callback {
        Callback::Rpf(q) => Event::Rpf {
            query: api_id(A::FAMILY, q.query.raw()),
            sg: api_sg(q.sg),
            iif: api_ifid(q.proposal.iif),
            upstream: q.proposal.upstream.into(),
            route: api_route(q.proposal.route),
            header: to_hex(&q.header),
            reject: q.proposal.reject,
        },
        Callback::CreationAlert(q) => Event::CreationAlert {
            query: api_id(A::FAMILY, q.query.raw()),
            sg: api_sg(q.sg),
            iif: api_ifid(q.iif),
            entries: q.entries.iter().map(api_entry).collect(),
        },
        Callback::PruneAlert {
            sg,
            ifid,
            member_delete,
            timeout_s,
            ..
        } => Event::PruneAlert {
            query: prune_query,
            sg: api_sg(*sg),
            ifid: api_ifid(*ifid),
            member_delete: *member_delete,
            timeout_s: *timeout_s,
        },
        Callback::JoinAlert { sg, member_update } => Event::JoinAlert {
            sg: api_sg(*sg),
            member_update: *member_update,
        },
        Callback::WrongIf {
            source,
            group,
            ifid,
            header,
        } => Event::WrongIf {
            sg: ApiSg::new(*source, *group),
            ifid: api_ifid(*ifid),
            header: to_hex(header),
        },
        Callback::LocalJoin { sg, ifid } => Event::LocalJoin {
            sg: api_sg(*sg),
            ifid: api_ifid(*ifid),
        },
        Callback::LocalLeave { sg, ifid } => Event::LocalLeave {
            sg: api_sg(*sg),
            ifid: api_ifid(*ifid),
        },
        Callback::DisableIgmp { ifid } => Event::DisableIgmp {
            ifid: api_ifid(*ifid),
        },
        Callback::EnableIgmp { ifid } => Event::EnableIgmp {
            ifid: api_ifid(*ifid),
        },
    }
}

/// The API form of an in-process protocol's answer (for the monitor).
pub fn api_answer<A: ApiAddress>(answer: &Answer<A>) -> ApiAnswer {
    match answer {
        Answer::Rpf { query, answer } => ApiAnswer::Rpf {
            query: api_id(A::FAMILY, query.raw()),
            iif: api_ifid(answer.iif),
            upstream: answer.upstream.into(),
            route: Some(api_route(answer.route)),
            reject: answer.reject,
        },
        Answer::CreationAlert { query, entries } => ApiAnswer::CreationAlert {
            query: api_id(A::FAMILY, query.raw()),
            entries: entries.iter().map(api_entry).collect(),
        },
        Answer::PruneAlert { timeout_s, .. } => ApiAnswer::PruneAlert {
            query: 0,
            timeout_s: *timeout_s,
        },
    }
}

/// The monitor's form of an (S,G) of either family.
fn monitor_sg<A: Address + Into<IpAddr>>(sg: Sg<A>) -> MonitorSg {
    MonitorSg {
        source: sg.source.into(),
        group: sg.group.into(),
    }
}
