//! The punt path and the hold handover: punted packets are held until their entry exists, and
//! an entry leaves hold mode once its punt path is quiet.
use super::{key_of, RouterCore, RouterIo, HOLD_QUIET};
use crate::{
    daemon::{hold::Hold, links::Link},
    dataplane::ForwardingBackend,
    mgm::Sg,
};
use std::{collections::BTreeMap, time::Instant};
use tracing::warn;

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Opens the punt sockets of an interface entering service and points its misses at them.
    pub(super) fn open_punt_sockets(&mut self, link: &Link) {
        let slots = self
            .io
            .open_punt(&link.name, link.ifindex)
            .and_then(|(first, queues)| {
                self.backend
                    .set_punt_slots(link.ifindex, first, queues)
                    .map_err(|e| {
                        self.io.close_punt(link.ifindex);
                        anyhow::Error::new(e)
                    })
            });
        if let Err(e) = slots {
            warn!(interface = %link.name, error = %e, "no punt sockets: first packets of new flows go to the kernel");
        }
    }

    /// Reads every punted packet: packets of flows whose entry is pending are held, packets
    /// that raced an installed entry are sent on at once.
    pub fn drain_punts(&mut self, now: Instant) {
        self.advance(now);
        let mut frames = Vec::new();
        self.io.recv_punted(&mut frames);
        for frame in frames {
            let flow = Hold::flow_of(&frame);
            if let Some(drain) = flow.and_then(|sg| self.draining.get_mut(&sg)) {
                drain.0 = now;
            }
            let installed = flow
                .filter(|sg| !self.hold.is_waiting(*sg))
                .and_then(|sg| self.mgm.mfe(sg))
                .map(|m| m.oifs().iter().map(|o| o.ifindex).collect::<Vec<u32>>());
            match installed {
                Some(oifs) => self.hold.forward_now(&frame, &oifs, &self.egress),
                None => {
                    self.hold.punted(&frame, now);
                }
            }
        }
        self.hand_over(now);
    }

    /// Ends hold mode for entries whose punt path has gone quiet (every packet punted before
    /// has been sent on) or that reached the time limit.
    fn hand_over(&mut self, now: Instant) {
        let ready: Vec<Sg> = self
            .draining
            .iter()
            .filter(|(_, (last, deadline))| now >= *last + HOLD_QUIET || now >= *deadline)
            .map(|(sg, _)| *sg)
            .collect();
        for sg in ready {
            self.draining.remove(&sg);
            if let Err(e) = self.backend.release_hold(key_of(sg)) {
                warn!(source = %sg.source, group = %sg.group, error = %e, "ending hold mode failed");
            }
        }
    }

    /// Periodic upkeep: punted packets, aged hold queues.
    pub fn housekeeping(&mut self, now: Instant) {
        self.drain_punts(now);
        self.hold.expire(now);
        let deadline = self.answer_deadline;
        self.forget_questions(|_, asked| now.saturating_duration_since(asked) > deadline);
    }

    /// Counters of the hold queues and of the backend's failures, by name.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let value = serde_json::to_value(self.hold.counters()).unwrap_or_default();
        let mut out: BTreeMap<String, u64> = value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (format!("hold_{k}"), v.as_u64().unwrap_or(0)))
            .collect();
        out.insert("hold_queued_now".into(), self.hold.held() as u64);
        out.insert("backend_failures".into(), self.unsynced.failures);
        out.insert("backend_repaired".into(), self.unsynced.repaired);
        out.insert("backend_unsynced_now".into(), self.unsynced.len() as u64);
        out
    }
}
