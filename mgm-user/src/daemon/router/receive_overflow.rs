//! IGMP and MLD messages the kernel dropped before mgmd read them, their receive socket's
//! buffer being full (a burst of reports while the main loop was busy): counted
//! (`igmp_receive_overflow`, `mld_receive_overflow` in `show stats`) and logged at most once
//! per [`LOG_INTERVAL`](super::log_pace::LOG_INTERVAL) with the number since the previous line.
//! The hosts report again at the next query (RFC 3376 §8.1: robustness covers lost reports).
use super::{log_pace::LogPace, RouterCore, RouterIo};
use crate::dataplane::ForwardingBackend;
use std::time::Instant;
use tracing::warn;

/// The drops of one receive socket.
#[derive(Debug)]
pub(super) struct ReceiveOverflow {
    /// `igmp` or `mld`.
    protocol: &'static str,
    dropped: u64,
    /// Dropped since the last log line.
    unlogged: u64,
    log: LogPace,
}

impl ReceiveOverflow {
    pub(super) fn new(protocol: &'static str) -> Self {
        Self {
            protocol,
            dropped: 0,
            unlogged: 0,
            log: LogPace::default(),
        }
    }

    fn count(&mut self, dropped: u32, now: Instant) {
        self.dropped += u64::from(dropped);
        self.unlogged += u64::from(dropped);
        if self.log.due(now) {
            warn!(
                protocol = self.protocol,
                dropped = self.unlogged,
                "the kernel dropped messages for mgmd's full receive buffer; hosts report again \
                 at the next query ({}_receive_overflow)",
                self.protocol
            );
            self.unlogged = 0;
        }
    }

    /// The counter for `show stats`.
    pub(super) fn counter(&self) -> (String, u64) {
        (format!("{}_receive_overflow", self.protocol), self.dropped)
    }
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The kernel dropped `dropped` IGMP datagrams for want of receive buffer.
    pub fn igmp_overflowed(&mut self, dropped: u32, now: Instant) {
        self.igmp_overflow.count(dropped, now);
    }

    /// The kernel dropped `dropped` MLD packets for want of receive buffer.
    pub fn mld_overflowed(&mut self, dropped: u32, now: Instant) {
        self.mld_overflow.count(dropped, now);
    }
}
