//! Router state of one group on one interface (RFC 3376 §6): filter mode, group timer and
//! source timers, the state table of §6.4, timer expiry (§6.3, §6.5), older-version host
//! timers (§7.3.2) and the group(-and-source)-specific queries the querier owes (§6.6.3).
//!
//! The state machine is generic over the address type `A`: MLDv2 (RFC 3810 §7) has the same
//! filter modes, record types, timers and table as IGMPv3, so the MLD router runs IPv6 groups
//! through this code too, with MLDv1 in the role of IGMPv2 (see `crate::mld`).
use super::config::{Timing, Version};
use super::counters::IgnoreReason;
use super::membership::View;
use super::snapshot::{remaining_ms, GroupSnapshot, SourceSnapshot};
use crate::wire::igmp::RecordType;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// Router filter mode of a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterMode {
    /// Only the listed sources are wanted.
    Include,
    /// All sources are wanted except those whose timer has stopped.
    Exclude,
}

/// What an operation on a group needs to know about its interface.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    pub now: Instant,
    pub timing: Timing,
    /// Version the interface is configured for.
    pub version: Version,
    /// Whether this router is the querier on the interface.
    pub querier: bool,
}

/// A report about this group, before compatibility translation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Report<'a, A> {
    V1,
    V2,
    Leave,
    Record(RecordType, &'a BTreeSet<A>),
}

/// A group(-and-source)-specific query that is due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DueQuery<A> {
    /// Empty for a group-specific query.
    pub sources: Vec<A>,
    /// Suppress Router-Side Processing.
    pub suppress: bool,
}

#[derive(Debug, Clone, Default)]
struct Source {
    /// Running source timer, or `None` when stopped (an excluded source in EXCLUDE mode).
    timer: Option<Instant>,
    /// Group-and-source-specific queries still to send for this source.
    retransmit: u8,
}

#[derive(Debug, Clone, Copy)]
struct Retransmit {
    left: u8,
    at: Instant,
}

/// State of one group.
#[derive(Debug, Clone)]
pub(crate) struct Group<A> {
    mode: FilterMode,
    timer: Option<Instant>,
    sources: BTreeMap<A, Source>,
    v1_host: Option<Instant>,
    v2_host: Option<Instant>,
    group_query: Option<Retransmit>,
    source_query_at: Option<Instant>,
}

fn lower(timer: &mut Option<Instant>, to: Instant) {
    if let Some(t) = timer {
        if *t > to {
            *t = to;
        }
    }
}

fn running(timer: Option<Instant>, now: Instant) -> bool {
    timer.is_some_and(|t| t > now)
}

impl<A: Copy + Ord> Group<A> {
    /// A group in INCLUDE mode with no sources (the state of a group that does not exist).
    pub fn new() -> Self {
        Group {
            mode: FilterMode::Include,
            timer: None,
            sources: BTreeMap::new(),
            v1_host: None,
            v2_host: None,
            group_query: None,
            source_query_at: None,
        }
    }

    /// Whether the group holds no state worth keeping (INCLUDE with no sources).
    pub fn is_empty(&self) -> bool {
        self.mode == FilterMode::Include && self.sources.is_empty()
    }

    /// Source records held (forwarded or excluded).
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// Whether a record for `source` is held.
    pub fn has_source(&self, source: &A) -> bool {
        self.sources.contains_key(source)
    }

    /// Whether a record of this type can add source records (a BLOCK in INCLUDE mode cannot).
    pub fn adds_sources(&self, record_type: RecordType) -> bool {
        !(self.mode == FilterMode::Include && record_type == RecordType::Block)
    }

    /// The forwarding meaning of the state.
    pub fn view(&self) -> View<A> {
        match self.mode {
            FilterMode::Include => View::Include(self.sources.keys().copied().collect()),
            FilterMode::Exclude => View::Exclude(
                self.sources
                    .iter()
                    .filter(|(_, s)| s.timer.is_none())
                    .map(|(a, _)| *a)
                    .collect(),
            ),
        }
    }

    /// Group compatibility mode: the oldest version heard recently, capped by the interface's.
    pub fn compat(&self, version: Version, now: Instant) -> Version {
        let heard = if running(self.v1_host, now) {
            Version::V1
        } else if running(self.v2_host, now) {
            Version::V2
        } else {
            Version::V3
        };
        heard.min(version)
    }

    /// Applies a report, translating older-version messages and records as §7.3.2 requires.
    pub fn report(&mut self, report: Report<'_, A>, ctx: &Ctx) -> Result<(), IgnoreReason> {
        let compat = self.compat(ctx.version, ctx.now);
        let host_present = ctx.now + ctx.timing.older_host_present_interval();
        let none = BTreeSet::new();
        let (record_type, sources) = match report {
            Report::V1 => {
                self.v1_host = Some(host_present);
                (RecordType::IsExclude, &none)
            }
            Report::V2 => {
                self.v2_host = Some(host_present);
                (RecordType::IsExclude, &none)
            }
            Report::Leave if compat == Version::V1 => return Err(IgnoreReason::LeaveInV1Mode),
            Report::Leave => (RecordType::ToInclude, &none),
            Report::Record(RecordType::Block, _) if compat < Version::V3 => {
                return Err(IgnoreReason::BlockInOldMode)
            }
            Report::Record(RecordType::ToExclude, _) if compat < Version::V3 => {
                (RecordType::ToExclude, &none)
            }
            Report::Record(RecordType::Other(_), _) => return Err(IgnoreReason::UnknownRecordType),
            Report::Record(record_type, sources) => (record_type, sources),
        };
        self.apply(record_type, sources, ctx);
        Ok(())
    }

    /// The state table of RFC 3376 §6.4.1 and §6.4.2.
    fn apply(&mut self, record_type: RecordType, b: &BTreeSet<A>, ctx: &Ctx) {
        let gmi = ctx.now + ctx.timing.group_membership_interval();
        let present = |g: &Self| -> BTreeSet<A> { g.sources.keys().copied().collect() };
        match (self.mode, record_type) {
            // INCLUDE(A) + IS_IN(B) | ALLOW(B) -> INCLUDE(A+B); (B)=GMI
            // EXCLUDE(X,Y) + IS_IN(A) | ALLOW(A) -> EXCLUDE(X+A,Y-A); (A)=GMI
            (_, RecordType::IsInclude | RecordType::Allow) => self.set_timers(b, gmi),
            // INCLUDE(A) + IS_EX(B) -> EXCLUDE(A*B,B-A); (B-A)=0; Delete (A-B); GT=GMI
            // INCLUDE(A) + TO_EX(B) -> the same, then Send Q(G,A*B)
            (FilterMode::Include, RecordType::IsExclude | RecordType::ToExclude) => {
                let both: BTreeSet<_> = present(self).intersection(b).copied().collect();
                self.sources.retain(|s, _| b.contains(s));
                for s in b {
                    self.sources.entry(*s).or_default();
                }
                self.mode = FilterMode::Exclude;
                self.timer = Some(gmi);
                if record_type == RecordType::ToExclude {
                    self.send_source_query(&both, ctx);
                }
            }
            // INCLUDE(A) + TO_IN(B) -> INCLUDE(A+B); (B)=GMI; Send Q(G,A-B)
            (FilterMode::Include, RecordType::ToInclude) => {
                let a_minus_b: BTreeSet<_> = present(self).difference(b).copied().collect();
                self.set_timers(b, gmi);
                self.send_source_query(&a_minus_b, ctx);
            }
            // INCLUDE(A) + BLOCK(B) -> INCLUDE(A); Send Q(G,A*B)
            (FilterMode::Include, RecordType::Block) => {
                let both: BTreeSet<_> = present(self).intersection(b).copied().collect();
                self.send_source_query(&both, ctx);
            }
            // EXCLUDE(X,Y) + IS_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GMI; Delete (X-A), (Y-A);
            // GT=GMI
            (FilterMode::Exclude, RecordType::IsExclude) => {
                self.sources.retain(|s, _| b.contains(s));
                for s in b {
                    self.sources.entry(*s).or_insert(Source {
                        timer: Some(gmi),
                        retransmit: 0,
                    });
                }
                self.timer = Some(gmi);
            }
            // EXCLUDE(X,Y) + TO_EX(A) -> EXCLUDE(A-Y,Y*A); (A-X-Y)=GT; Delete (X-A), (Y-A);
            // Send Q(G,A-Y); GT=GMI
            (FilterMode::Exclude, RecordType::ToExclude) => {
                self.sources.retain(|s, _| b.contains(s));
                self.add_with_group_timer(b);
                let a_minus_y = self.requested(b);
                self.send_source_query(&a_minus_y, ctx);
                self.timer = Some(gmi);
            }
            // EXCLUDE(X,Y) + TO_IN(A) -> EXCLUDE(X+A,Y-A); (A)=GMI; Send Q(G,X-A); Send Q(G)
            (FilterMode::Exclude, RecordType::ToInclude) => {
                let x_minus_a: BTreeSet<_> = self
                    .sources
                    .iter()
                    .filter(|(s, src)| src.timer.is_some() && !b.contains(s))
                    .map(|(s, _)| *s)
                    .collect();
                self.set_timers(b, gmi);
                self.send_source_query(&x_minus_a, ctx);
                self.send_group_query(ctx);
            }
            // EXCLUDE(X,Y) + BLOCK(A) -> EXCLUDE(X+(A-Y),Y); (A-X-Y)=GT; Send Q(G,A-Y)
            (FilterMode::Exclude, RecordType::Block) => {
                self.add_with_group_timer(b);
                let a_minus_y = self.requested(b);
                self.send_source_query(&a_minus_y, ctx);
            }
            (_, RecordType::Other(_)) => {}
        }
    }

    fn set_timers(&mut self, sources: &BTreeSet<A>, at: Instant) {
        for s in sources {
            self.sources.entry(*s).or_default().timer = Some(at);
        }
    }

    /// Adds the sources not yet present with the group timer's value.
    fn add_with_group_timer(&mut self, sources: &BTreeSet<A>) {
        for s in sources {
            self.sources.entry(*s).or_insert(Source {
                timer: self.timer,
                retransmit: 0,
            });
        }
    }

    /// Those of `sources` whose timers run (in EXCLUDE mode: not excluded).
    fn requested(&self, sources: &BTreeSet<A>) -> BTreeSet<A> {
        sources
            .iter()
            .filter(|s| self.sources.get(s).is_some_and(|src| src.timer.is_some()))
            .copied()
            .collect()
    }

    /// "Send Q(G)" of the state table (§6.6.3.1), for the querier on a v2 or v3 interface.
    fn send_group_query(&mut self, ctx: &Ctx) {
        if !ctx.querier || ctx.version < Version::V2 {
            return;
        }
        lower(
            &mut self.timer,
            ctx.now + ctx.timing.last_member_query_time(),
        );
        self.group_query = Some(Retransmit {
            left: ctx.timing.last_member_query_count,
            at: ctx.now,
        });
    }

    /// "Send Q(G,X)" of the state table (§6.6.3.2), for the querier of a v3 group.
    fn send_source_query(&mut self, sources: &BTreeSet<A>, ctx: &Ctx) {
        if !ctx.querier || self.compat(ctx.version, ctx.now) < Version::V3 || sources.is_empty() {
            return;
        }
        let lmqt = ctx.now + ctx.timing.last_member_query_time();
        for s in sources {
            if let Some(src) = self.sources.get_mut(s) {
                lower(&mut src.timer, lmqt);
                src.retransmit = ctx.timing.last_member_query_count;
            }
        }
        self.source_query_at = Some(ctx.now);
    }

    /// A group-specific query from the querier without the suppress flag (§6.6.1).
    pub fn lower_group_timer(&mut self, to: Instant) {
        if self.mode == FilterMode::Exclude {
            lower(&mut self.timer, to);
        }
    }

    /// A group-and-source-specific query from the querier without the suppress flag (§6.6.1).
    pub fn lower_source_timers(&mut self, sources: &[A], to: Instant) {
        for s in sources {
            if let Some(src) = self.sources.get_mut(s) {
                lower(&mut src.timer, to);
            }
        }
    }

    /// Runs out the timers that are due: sources (§6.3), the group timer (§6.5) and the older
    /// host present timers.
    pub fn expire(&mut self, now: Instant) {
        let due = |t: &Option<Instant>| t.is_some_and(|t| t <= now);
        if due(&self.v1_host) {
            self.v1_host = None;
        }
        if due(&self.v2_host) {
            self.v2_host = None;
        }
        match self.mode {
            FilterMode::Include => self.sources.retain(|_, s| !due(&s.timer)),
            FilterMode::Exclude => {
                for s in self.sources.values_mut() {
                    if due(&s.timer) {
                        s.timer = None;
                    }
                }
                if due(&self.timer) {
                    self.sources.retain(|_, s| s.timer.is_some());
                    self.mode = FilterMode::Include;
                    self.timer = None;
                    self.group_query = None;
                }
            }
        }
    }

    /// The specific queries due at `now`, with their retransmissions scheduled.
    pub fn due_queries(&mut self, now: Instant, timing: &Timing) -> Vec<DueQuery<A>> {
        let lmqt = now + timing.last_member_query_time();
        let mut out = Vec::new();
        if let Some(r) = self.group_query.filter(|r| r.at <= now) {
            out.push(DueQuery {
                sources: Vec::new(),
                suppress: self.timer.is_some_and(|t| t > lmqt),
            });
            let left = r.left.saturating_sub(1);
            self.group_query = (left > 0).then(|| Retransmit {
                left,
                at: now + timing.last_member_query_interval,
            });
        }
        if self.source_query_at.is_some_and(|at| at <= now) {
            let (mut above, mut below) = (Vec::new(), Vec::new());
            let mut more = false;
            for (addr, src) in self.sources.iter_mut().filter(|(_, s)| s.retransmit > 0) {
                src.retransmit -= 1;
                more |= src.retransmit > 0;
                if src.timer.is_some_and(|t| t > lmqt) {
                    above.push(*addr);
                } else {
                    below.push(*addr);
                }
            }
            self.source_query_at = more.then(|| now + timing.last_member_query_interval);
            for (sources, suppress) in [(above, true), (below, false)] {
                if !sources.is_empty() {
                    out.push(DueQuery { sources, suppress });
                }
            }
        }
        out
    }

    /// The earliest instant at which this group needs attention.
    pub fn next_timeout(&self) -> Option<Instant> {
        let group_timer = self.timer.filter(|_| self.mode == FilterMode::Exclude);
        [
            group_timer,
            self.v1_host,
            self.v2_host,
            self.group_query.map(|r| r.at),
            self.source_query_at,
        ]
        .into_iter()
        .chain(self.sources.values().map(|s| s.timer))
        .flatten()
        .min()
    }

    /// Operator view of the group.
    pub fn snapshot(&self, group: A, version: Version, now: Instant) -> GroupSnapshot<A> {
        let ms = |t: Option<Instant>| t.map(|t| remaining_ms(t, now));
        GroupSnapshot {
            group,
            filter_mode: self.mode,
            compat_version: self.compat(version, now),
            group_timer_ms: ms(self.timer),
            v1_host_timer_ms: ms(self.v1_host),
            v2_host_timer_ms: ms(self.v2_host),
            sources: self
                .sources
                .iter()
                .map(|(addr, s)| SourceSnapshot {
                    source: *addr,
                    timer_ms: ms(s.timer),
                    forwarded: s.timer.is_some(),
                })
                .collect(),
        }
    }
}
