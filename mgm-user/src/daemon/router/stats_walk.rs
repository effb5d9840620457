//! Reading every entry's counters from the backend into the MGM (lifetime refresh on
//! activity, `show mfe`'s rates, the veth watch), whole or in bounded slices.
//!
//! A read costs a few map lookups per entry: at 100 000 entries a whole refresh held mgmd's
//! main loop for 2.8 s (debug build), during which no creation alert, punt or request was
//! answered. The periodic refresh therefore walks the entries in slices of at most
//! [`SLICE_ENTRIES`] ([`RouterCore::stats_walk_step`]), IPv4 then IPv6 in (group, source)
//! order, and the loop does other work between two slices. An entry created behind the walk's
//! position is read by the next walk; one removed meanwhile is simply not met.
use super::{family::Family, ExternalFamily, RouterCore, RouterIo};
use crate::{
    daemon::api_calls::MfeQuery,
    dataplane::{ForwardingBackend, MfeStats},
    mgm::{self, mfe_stats_record_size, Address, IfId, Sg, Timestamp},
};
use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

/// Entries whose counters one slice of the periodic walk reads at most.
pub const SLICE_ENTRIES: usize = 256;

/// A walk over every entry's counters in progress (from the first entry when new).
#[derive(Default)]
pub struct StatsWalk {
    /// The last IPv4 entry read (`None`: none yet).
    after4: Option<Sg<Ipv4Addr>>,
    /// Whether every IPv4 entry has been read.
    v4_done: bool,
    /// The last IPv6 entry read.
    after6: Option<Sg<Ipv6Addr>>,
    /// Copies the fast path redirected so far, per interface, for the veth watch.
    redirected: HashMap<u32, u64>,
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Reads the counters of every entry at once (`show mfe`).
    pub fn refresh_stats(&mut self, now: Instant) {
        let mut walk = StatsWalk::default();
        while !self.stats_walk_step(&mut walk, now, usize::MAX) {}
    }

    /// Reads the counters of at most `budget` more entries of `walk`; true once it has read
    /// every entry (the veth watch has then had the sums, and the walk counts as a refresh).
    pub fn stats_walk_step(&mut self, walk: &mut StatsWalk, now: Instant, budget: usize) -> bool {
        self.advance(now);
        let now = self.now();
        let mut left = budget;
        if !walk.v4_done {
            let (after, read) = self.read_counters(walk.after4, left, &mut walk.redirected, now);
            walk.after4 = after;
            walk.v4_done = read < left;
            left -= read;
        }
        if walk.v4_done && left > 0 {
            let (after, read) = self.read_counters(walk.after6, left, &mut walk.redirected, now);
            walk.after6 = after;
            left -= read;
        }
        // A slice that ends on the last entry exactly finds that out at the next step.
        let done = left > 0;
        if done {
            self.stats_refreshes += 1;
            let io = &self.io;
            self.veths.refresh(&walk.redirected, |name, ifindex| {
                io.read_veth(name, ifindex)
            });
        }
        self.drive();
        done
    }

    /// A slice of a periodic walk held the daemon's main loop for `took`; the longest is kept
    /// (`stats_refresh_longest_us`).
    pub fn stats_refresh_took(&mut self, took: Duration) {
        self.stats_refresh_longest = self.stats_refresh_longest.max(took);
    }

    /// Reads the counters of at most `budget` entries of family `F` after `after` (from the
    /// first when `None`) into the MGM; returns the last entry read (`after` if none) and how
    /// many were read.
    fn read_counters<F: Family>(
        &mut self,
        after: Option<Sg<F>>,
        budget: usize,
        redirected: &mut HashMap<u32, u64>,
        now: Timestamp,
    ) -> (Option<Sg<F>>, usize) {
        let mgm = F::mgm(self);
        let sgs: Vec<Sg<F>> = match after {
            None => mgm.mfes().map(|m| m.sg()).take(budget).collect(),
            Some(sg) => mgm.mfes_after(sg).map(|m| m.sg()).take(budget).collect(),
        };
        for &sg in &sgs {
            self.read_entry(sg, redirected, now);
        }
        (sgs.last().copied().or(after), sgs.len())
    }

    /// Reads the counters of the entry for `sg` into the MGM (nothing if the backend has none).
    fn read_entry<F: Family>(
        &mut self,
        sg: Sg<F>,
        redirected: &mut HashMap<u32, u64>,
        now: Timestamp,
    ) {
        let Ok(mut stats) = F::stats(&self.backend, F::key(sg)) else {
            return;
        };
        count_redirected(&stats, redirected);
        self.hold.add_to_stats(F::flow(sg), &mut stats);
        let _ = F::mgm_mut(self).report_stats(sg, counters_of(&stats), now);
    }

    /// Reads into the MGM of family `A` the counters an MFE statistics answer can show: the
    /// entry `query` names, or as many entries from where it starts as `bytes` of records can
    /// hold (a record is at least one without outgoing interfaces). A call thus costs what
    /// its answer holds, never a read of the whole table, which held the main loop 2.8 s at
    /// 100 000 entries (debug build).
    pub fn refresh_answer_stats<A: ExternalFamily>(
        &mut self,
        query: MfeQuery<A>,
        bytes: u32,
        now: Instant,
    ) {
        self.advance(now);
        let now = self.now();
        let most = bytes as usize / mfe_stats_record_size::<A>(0) + 1;
        let mgm = A::mgm_of(self);
        let sgs: Vec<Sg<A>> = match query {
            MfeQuery::One(sg) => vec![sg],
            MfeQuery::First => mgm.mfes().map(|m| m.sg()).take(most).collect(),
            MfeQuery::After(sg) => mgm.mfes_after(sg).map(|m| m.sg()).take(most).collect(),
        };
        let mut redirected = HashMap::new();
        for sg in sgs {
            match (sg.source.into(), sg.group.into()) {
                (IpAddr::V4(s), IpAddr::V4(g)) => {
                    self.read_entry(Sg::new(s, g), &mut redirected, now)
                }
                (IpAddr::V6(s), IpAddr::V6(g)) => {
                    self.read_entry(Sg::new(s, g), &mut redirected, now)
                }
                _ => {}
            }
        }
        self.drive();
    }
}

/// Adds the copies of an entry to the counts per outgoing interface.
fn count_redirected(stats: &MfeStats, redirected: &mut HashMap<u32, u64>) {
    for (ifindex, s) in &stats.oifs {
        *redirected.entry(*ifindex).or_default() += s.packets;
    }
}

/// An entry's counters as the MGM takes them.
fn counters_of<A: Address>(stats: &MfeStats) -> mgm::MfeCounters<A> {
    mgm::MfeCounters {
        in_pkts: stats.packets,
        in_octets: stats.bytes,
        pkts_different_if: stats.wrong_if,
        in_hdr_errors: stats.ttl_expired,
        oifs: stats
            .oifs
            .iter()
            .map(|(i, s)| mgm::OifCounters {
                out_packets: s.packets,
                // TTL threshold, MTU and scope boundary drops in one count: the fast path does
                // not tell them apart, so `ulTtlTooLow` and `ulFragNeeded` stay 0.
                out_discards: s.drops,
                ..mgm::OifCounters::new(IfId::index(*i))
            })
            .collect(),
        ..Default::default()
    }
}
