//! The punt path and the hold handover: punted packets are held until their entry exists, and
//! an entry leaves hold mode once its punt path is quiet.
use super::{family::Family, ports::Punted, retries::Retries, RouterCore, RouterIo, HOLD_QUIET};
use crate::{
    daemon::hold::{self, Flow, Hold},
    dataplane::ForwardingBackend,
    mgm::Sg,
};
use mgm_common::HeldCounters;
use std::{
    collections::{BTreeMap, HashSet, VecDeque},
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};
use tracing::warn;

/// First retry of opening an interface's punt sockets (the kernel releases the sockets of an
/// interface that left service a moment later, and refuses new ones on its queues meanwhile)...
const PUNT_RETRY_FIRST: Duration = Duration::from_millis(20);
/// ...doubling up to this interval, for as long as the interface stays in service.
const PUNT_RETRY_MAX: Duration = Duration::from_secs(5);

/// Frames one drain sends on between two reads of the punt rings: the rings only have to
/// hold what arrives while this many are sent, and a flow that comes faster than the punt path
/// sends waits in memory, in order, rather than overflowing its rings (a new flow's first
/// burst, punted until its entry is in place and then while the entry is in hold mode).
const REREAD_EVERY: usize = 64;

/// Frames one drain deals with at most: the router's other work waits for the drain (10 to
/// 20 ms for 1024 frames sent on with two copies each, on a two-core VM). What it read beyond
/// waits for the next drain, which is due at once.
pub(super) const DRAIN_MAX: usize = 1024;

/// Frames read from the rings and waiting to be dealt with, from which a drain does not read
/// the rings again (what comes meanwhile waits in the rings): the memory a flow faster than
/// the punt path may take, at most this plus one read of the rings, 2 KiB a frame at most.
const BACKLOG_MAX: usize = 16384;

/// Whether an entry in hold mode whose last packet was punted at `last` has been quiet for
/// [`HOLD_QUIET`] at `now`.
fn quiet(last: Instant, now: Instant) -> bool {
    now >= last + HOLD_QUIET
}

/// Interfaces in service whose punt sockets could not be opened yet, (ifindex, name): at most
/// one per interface in service.
pub(super) type PuntRetries = Retries<(u32, String)>;

/// The punt retries of a new core: one per interface the data plane serves at most.
pub(super) fn punt_retries() -> PuntRetries {
    Retries::new(
        PUNT_RETRY_FIRST,
        PUNT_RETRY_MAX,
        mgm_common::limits::IFACES as usize,
    )
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Opens the punt sockets of an interface entering service and points its misses at them;
    /// on failure, tries again later.
    pub(super) fn open_punt_sockets(&mut self, name: &str, ifindex: u32) {
        let slots = self
            .io
            .open_punt(name, ifindex)
            .and_then(|(first, queues)| {
                self.backend
                    .set_punt_slots(ifindex, first, queues)
                    .map_err(|e| {
                        self.io.close_punt(ifindex);
                        anyhow::Error::new(e)
                    })
            });
        let key = (ifindex, name.to_owned());
        let Err(e) = slots else {
            self.punt_retries.succeed(&key);
            return;
        };
        match self.punt_retries.fail(key, self.clock) {
            Some(retry) => warn!(
                interface = %name, error = %e, attempts = retry.attempts,
                retry_in_ms = retry.wait.as_millis() as u64,
                "no punt sockets: first packets of new flows go to the kernel until they open"
            ),
            None => warn!(
                interface = %name, error = %e,
                "no punt sockets, and the retry list is full: first packets of new flows go to \
                 the kernel until the interface comes back into service (punt_retries_refused)"
            ),
        }
    }

    /// Tries again to open the punt sockets that are due.
    pub(super) fn retry_punt_sockets(&mut self) {
        for (ifindex, name) in self.punt_retries.due(self.clock) {
            self.open_punt_sockets(&name, ifindex);
        }
    }

    /// Reads every punted packet: packets of flows whose entry is pending are held, packets
    /// that raced an installed entry are sent on at once. The rings are read again after every
    /// [`REREAD_EVERY`] frames sent on while fewer than [`BACKLOG_MAX`] wait; after
    /// [`DRAIN_MAX`] frames, what is left waits for the next drain ([`RouterCore::next_timer`]
    /// asks for it at once).
    pub fn drain_punts(&mut self, now: Instant) {
        self.advance(now);
        let mut frames = std::mem::take(&mut self.punt_backlog);
        self.read_punts(&mut frames);
        let mut sent_since_read = 0;
        for _ in 0..DRAIN_MAX {
            let Some(punted) = frames.pop_front() else {
                break;
            };
            sent_since_read += usize::from(self.punted_frame(punted, now));
            if sent_since_read == REREAD_EVERY {
                sent_since_read = 0;
                // The data plane may hand a flow over as soon as what it punted has left.
                self.sync_punt_marks();
                self.read_punts(&mut frames);
            }
        }
        self.punt_backlog = frames;
        self.sync_punt_marks();
        self.hand_over(now);
    }

    /// Appends what the punt rings hold to `frames`, unless [`BACKLOG_MAX`] frames wait there.
    fn read_punts(&mut self, frames: &mut VecDeque<Punted>) {
        if frames.len() < BACKLOG_MAX {
            let mut read = Vec::new();
            self.io.recv_punted(&mut read);
            frames.extend(read);
        }
    }

    /// One punted frame: held if its flow's entry is pending, sent on if it exists (true).
    fn punted_frame(
        &mut self,
        Punted {
            arrival,
            tag,
            frame,
        }: Punted,
        now: Instant,
    ) -> bool {
        let flow = Hold::flow_of(&frame);
        let installed = flow.and_then(|flow| {
            let entry = match flow {
                Flow::V4(sg) => self.punted_route(sg, now),
                Flow::V6(sg) => self.punted_route(sg, now),
            };
            entry
                .filter(|_| !self.hold.is_waiting(flow))
                .map(|(iif, oifs)| (flow, iif, oifs))
        });
        let Some((sg, iif, oifs)) = installed else {
            self.hold.punted(&frame, arrival, tag, now);
            return false;
        };
        let route = hold::Route {
            iif,
            oifs: &oifs,
            egress: &hold::EgressRules {
                settings: &self.egress,
                backend: &self.backend,
            },
        };
        self.hold
            .forward_now(sg, &frame, (arrival, tag), route, &mut self.io);
        true
    }

    /// A packet of `sg` was punted at `now` (an entry in hold mode stays in it a while
    /// longer): the MGM's entry for it, incoming and outgoing ifindexes.
    fn punted_route<F: Family>(&mut self, sg: Sg<F>, now: Instant) -> Option<(u32, Vec<u32>)> {
        if let Some(drain) = F::side(self).draining.get_mut(&sg) {
            drain.0 = now;
        }
        self.wanted(sg)
    }

    /// Hands the data plane the punt marks that moved: how far each punt socket's frames have
    /// been sent on or dropped, and how far each entry in hold mode's punted packets have been
    /// sent on (either lets the fast path take an entry over).
    pub(super) fn sync_punt_marks(&mut self) {
        for (slot, mark) in self.hold.punts_moved() {
            self.io.set_punts_handled(slot, mark);
        }
        for (flow, sent) in self.hold.held_sent_moved() {
            // A mark not written (the entry is gone) only leaves the takeover to the next mark
            // or to the end of hold mode.
            let _ = match flow {
                Flow::V4(sg) => self.held_sent_of(sg, sent),
                Flow::V6(sg) => self.held_sent_of(sg, sent),
            };
        }
        for (flow, held) in self.hold.tallies_moved() {
            let saved = match flow {
                Flow::V4(sg) => self.save_held_of(sg, held),
                Flow::V6(sg) => self.save_held_of(sg, held),
            };
            if saved.is_err() {
                // Not in the backend yet (a packet sent on between the MGM's decision and the
                // install) or the write failed: the next pass tries again, until the entry is
                // written or its tally dropped with it.
                self.hold.tally_unsaved(flow);
            }
        }
    }

    /// Tells the backend that the first `sent` packets of `sg` punted in hold mode were sent.
    fn held_sent_of<F: Family>(&mut self, sg: Sg<F>, sent: u32) -> Result<(), B::Error> {
        F::held_sent(&mut self.backend, F::key(sg), sent)
    }

    /// Keeps with the entry of `sg` what was sent on of its held packets (`held`).
    fn save_held_of<F: Family>(&mut self, sg: Sg<F>, held: HeldCounters) -> Result<(), B::Error> {
        F::save_held(&mut self.backend, F::key(sg), held)
    }

    /// Ends hold mode for entries whose punt path has gone quiet (every packet punted before
    /// has been sent on, none waits in the drain's backlog) or that reached the time limit.
    fn hand_over(&mut self, now: Instant) {
        let any_quiet = self
            .draining
            .values()
            .chain(self.v6.draining.values())
            .any(|&(last, _)| quiet(last, now));
        let waiting: HashSet<Flow> = match any_quiet && !self.punt_backlog.is_empty() {
            true => self
                .punt_backlog
                .iter()
                .filter_map(|punted| Hold::flow_of(&punted.frame))
                .collect(),
            false => HashSet::new(),
        };
        self.hand_over_of::<Ipv4Addr>(now, &waiting);
        self.hand_over_of::<Ipv6Addr>(now, &waiting);
    }

    /// [`RouterCore::hand_over`] for the entries of family `F`; `waiting`: the flows with
    /// frames in the backlog.
    fn hand_over_of<F: Family>(&mut self, now: Instant, waiting: &HashSet<Flow>) {
        let draining = F::side(self).draining;
        let ready: Vec<Sg<F>> = draining
            .iter()
            .filter(|(sg, (last, deadline))| {
                (quiet(*last, now) && !waiting.contains(&F::flow(**sg))) || now >= *deadline
            })
            .map(|(sg, _)| *sg)
            .collect();
        for sg in &ready {
            draining.remove(sg);
        }
        for sg in ready {
            if let Err(e) = F::release_hold(&mut self.backend, F::key(sg)) {
                warn!(source = %sg.source, group = %sg.group, error = %e, "ending hold mode failed");
            }
        }
    }

    /// Periodic upkeep: punted packets, aged hold queues.
    pub fn housekeeping(&mut self, now: Instant) {
        self.drain_punts(now);
        self.hold.expire(now);
        self.sync_punt_marks();
        self.expire_questions(now);
    }

    /// Counters of the hold queues, of the MFE table's bounds and of the backend's failures,
    /// by name.
    pub fn counters(&self) -> BTreeMap<String, u64> {
        let value = serde_json::to_value(self.hold.counters()).unwrap_or_default();
        let mut out: BTreeMap<String, u64> = value
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (format!("hold_{k}"), v.as_u64().unwrap_or(0)))
            .collect();
        out.insert("hold_queued_now".into(), self.hold.held() as u64);
        let (v4, v6) = (&self.unsynced, &self.v6.unsynced);
        let (r4, r6) = (&v4.retries, &v6.retries);
        out.insert("backend_failures".into(), r4.failures() + r6.failures());
        out.insert("backend_repaired".into(), v4.repaired + v6.repaired);
        out.insert("backend_unsynced_now".into(), (r4.len() + r6.len()) as u64);
        out.insert(
            "backend_retries_refused".into(),
            r4.refused() + r6.refused(),
        );
        out.insert("stats_refreshes".into(), self.stats_refreshes);
        out.extend([self.igmp_overflow.counter(), self.mld_overflow.counter()]);
        out.insert(
            "stats_refresh_longest_us".into(),
            self.stats_refresh_longest.as_micros() as u64,
        );
        // The MFE table's bounds, each family's table on its own: IPv4 (`mfes_*`, `mfe_*`) and
        // IPv6 (`mfes6_*`, `mfe6_*`), each holding `daemon.max_entries` at most.
        out.insert(
            "mfes_capacity_now".into(),
            u64::from(self.config.daemon.max_entries),
        );
        let tables = [
            ("", self.mgm.mfe_counts(), self.mgm.capacity_counters()),
            (
                "6",
                self.v6.mgm.mfe_counts(),
                self.v6.mgm.capacity_counters(),
            ),
        ];
        for (family, (mfes, negative), capacity) in tables {
            out.insert(format!("mfes{family}_now"), mfes as u64);
            out.insert(format!("mfes{family}_negative_now"), negative as u64);
            out.insert(
                format!("mfe{family}_evicted_negative"),
                capacity.evicted_negative,
            );
            out.insert(format!("mfe{family}_evicted_idle"), capacity.evicted_idle);
            out.insert(format!("mfe{family}_refused"), capacity.refused);
        }
        out.insert("punt_open_failures".into(), self.punt_retries.failures());
        out.insert("punt_waiting_now".into(), self.punt_retries.len() as u64);
        out.insert("punt_retries_refused".into(), self.punt_retries.refused());
        out.insert("host_join_failures".into(), self.host_joins.failures());
        out.insert("host_joins_refused".into(), self.host_joins.refused());
        out.extend(
            self.api_refusals
                .counters()
                .map(|(name, n)| (name.to_owned(), n)),
        );
        out.insert(
            "host_join_retries_refused".into(),
            self.host_joins.retries_refused(),
        );
        out.insert(
            "proxy_join_recomputes".into(),
            self.host_joins.proxy_recomputes,
        );
        out.insert(
            "host_joins_waiting_now".into(),
            self.host_joins.waiting() as u64,
        );
        if let Some(mirror) = &self.mirror {
            out.extend(mirror.counters());
        }
        if let Some(mirror) = &self.v6.mirror {
            out.extend(mirror.counters());
        }
        out
    }
}
