//! What waits to be written to clients, counted in bytes of JSON text: a connection's next
//! request is read only while less than [`CONNECTION_BACKLOG`] waits for it, and an answer over
//! a frame is queued only while all connections' waiting bytes stay within [`ANSWER_BACKLOG`]
//! (else it is refused with an error). A client that does not read thus stalls only itself,
//! and mgmd holds at most one answer over a frame per connection, and [`ANSWER_BACKLOG`] of
//! them in all.
use super::Shared;
use crate::api::MAX_FRAME;
use std::sync::{
    atomic::{AtomicUsize, Ordering::Relaxed},
    Arc,
};
use tokio::sync::Notify;

/// Bytes waiting for one client above which its next request waits until they drain.
pub const CONNECTION_BACKLOG: usize = 1 << 20;
/// Bytes waiting for all clients beyond which an answer over a frame is refused.
pub const ANSWER_BACKLOG: usize = 64 << 20;

/// The bytes waiting to be written to one connection.
pub(super) struct Backlog {
    waiting: AtomicUsize,
    drained: Notify,
    shared: Arc<Shared>,
}

/// A message's text waiting for the writer: its bytes count in its connection's backlog and in
/// all connections' until it is sent or dropped.
pub(super) struct Outgoing {
    text: String,
    backlog: Arc<Backlog>,
}

/// An answer over a frame refused because [`ANSWER_BACKLOG`] bytes would wait for clients.
pub(super) struct Refused {
    /// The answer's length (`None`: refused before it was made, see [`room_for_a_table`]).
    pub(super) len: Option<usize>,
    /// The bytes waiting for all clients when it was refused.
    pub(super) waiting: usize,
}

impl Backlog {
    pub(super) fn new(shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Self {
            waiting: AtomicUsize::new(0),
            drained: Notify::new(),
            shared,
        })
    }

    /// Queues `text` whatever waits already (events, monitor messages, answers within a frame:
    /// the count of messages and the paused reading bound these).
    pub(super) fn hold(self: &Arc<Self>, text: String) -> Outgoing {
        self.shared.waiting.fetch_add(text.len(), Relaxed);
        self.queue(text)
    }

    /// Queues an answer's `text`, unless it is over a frame and would take the bytes waiting
    /// for all clients over [`ANSWER_BACKLOG`].
    pub(super) fn admit(self: &Arc<Self>, text: String) -> Result<Outgoing, Refused> {
        let len = text.len();
        if len <= MAX_FRAME {
            return Ok(self.hold(text));
        }
        self.shared
            .waiting
            .fetch_update(Relaxed, Relaxed, |waiting| {
                (waiting + len <= ANSWER_BACKLOG).then_some(waiting + len)
            })
            .map(|_| self.queue(text))
            .map_err(|waiting| Refused {
                len: Some(len),
                waiting,
            })
    }

    fn queue(self: &Arc<Self>, text: String) -> Outgoing {
        self.waiting.fetch_add(text.len(), Relaxed);
        Outgoing {
            text,
            backlog: self.clone(),
        }
    }

    /// Whether the connection's next request waits until its backlog drains.
    pub(super) fn full(&self) -> bool {
        self.waiting.load(Relaxed) >= CONNECTION_BACKLOG
    }

    /// Returns after a message of the connection's was sent or dropped since the last call.
    pub(super) async fn drained(&self) {
        self.drained.notified().await;
    }
}

/// Whether an answer over a frame could be queued now: else a request for one of mgmd's tables
/// is refused before its answer is made, which would cost the router its making to be refused
/// (`Err` as [`Backlog::admit`] refuses).
pub(super) fn room_for_a_table(shared: &Shared) -> Result<(), Refused> {
    let waiting = shared.waiting.load(Relaxed);
    if waiting + MAX_FRAME < ANSWER_BACKLOG {
        Ok(())
    } else {
        Err(Refused { len: None, waiting })
    }
}

impl Outgoing {
    pub(super) fn text(&self) -> &str {
        &self.text
    }
}

impl Drop for Outgoing {
    fn drop(&mut self) {
        let len = self.text.len();
        self.backlog.shared.waiting.fetch_sub(len, Relaxed);
        self.backlog.waiting.fetch_sub(len, Relaxed);
        self.backlog.drained.notify_one();
    }
}
