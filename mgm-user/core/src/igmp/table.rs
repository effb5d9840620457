//! The groups of one interface, generic over the address type (IGMP's `Ipv4Addr`, MLD's
//! `Ipv6Addr`): applying a report within the bounds, running a group's due timers before each
//! change, dropping groups that end up empty, and the membership changes and limit notices that
//! result. What differs between the protocols (which groups are tracked, querier election, the
//! query format) stays in their interface modules.
use super::config::Timing;
use super::counters::{Counters, IgnoreReason};
use super::group::{Ctx, DueQuery, Group, Report};
use super::limits::{admit_sources, creates_group, Limit, LimitNotice, Notices};
use super::membership::{diff, MembershipChange, View};
use crate::wire::igmp::RecordType;
use crate::wire::source_list::{QueryFields, RecordRepr};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// What the group table needs to know of an address family's groups.
pub(crate) trait GroupAddr: Copy + Ord {
    /// A group routers do not track because they never forward it.
    fn is_local_group(&self) -> bool;
    /// A group of the SSM range, which takes source-specific requests only (RFC 4604).
    fn is_ssm_group(&self) -> bool;
    /// A source in a record that cannot send multicast traffic.
    fn is_bad_source(&self) -> bool;
    /// A multicast address.
    fn is_multicast(&self) -> bool;
    /// The unspecified address (the group of a general query).
    fn is_unspecified(&self) -> bool;
}

/// The sources of a report's record that can send multicast, the others counted as ignored;
/// `None` (counted) when the record's group is not a multicast address.
pub(crate) fn record_sources<A: GroupAddr, D: Ord, K: Ord>(
    record: &RecordRepr<A>,
    counters: &mut Counters<D, K>,
) -> Option<BTreeSet<A>> {
    let mut sources = BTreeSet::new();
    for s in &record.sources {
        if s.is_bad_source() {
            counters.ignore(IgnoreReason::BadRecordSource);
        } else {
            sources.insert(*s);
        }
    }
    if !record.group.is_multicast() {
        counters.ignore(IgnoreReason::BadRecordGroup);
        return None;
    }
    Some(sources)
}

/// The bounds in force on an interface.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    pub max_groups: usize,
    pub max_sources: usize,
    /// Least time between two notices of one bound (the query interval).
    pub notice_interval: Duration,
}

/// The groups of one interface.
#[derive(Debug, Clone)]
pub(crate) struct GroupTable<A> {
    ifindex: u32,
    groups: BTreeMap<A, Group<A>>,
    /// Source records over all groups (bounded by [`Bounds::max_sources`]).
    source_count: usize,
    notices: Notices,
}

impl<A: GroupAddr> GroupTable<A> {
    pub fn new(ifindex: u32) -> Self {
        GroupTable {
            ifindex,
            groups: BTreeMap::new(),
            source_count: 0,
            notices: Notices::default(),
        }
    }

    /// Runs `f` on a group (created in INCLUDE {} if absent) after running out its due timers
    /// (so that a late tick cannot leave stale state), drops it if it ends up empty and reports
    /// the membership changes.
    fn with_group<R, O: From<MembershipChange<A>>>(
        &mut self,
        group: A,
        ctx: &Ctx,
        out: &mut Vec<O>,
        f: impl FnOnce(&mut Group<A>, &Ctx) -> R,
    ) -> R {
        let entry = self.groups.entry(group).or_insert_with(Group::new);
        let before = entry.view();
        let sources_before = entry.source_count();
        entry.expire(ctx.now);
        let result = f(entry, ctx);
        let after = entry.view();
        self.source_count = self.source_count - sources_before + entry.source_count();
        if entry.is_empty() {
            self.groups.remove(&group);
        }
        out.extend(
            diff(self.ifindex, group, &before, &after)
                .into_iter()
                .map(O::from),
        );
        result
    }

    /// Applies a report within the bounds: reports about untracked groups, any-source requests
    /// for SSM groups and records of unknown types are ignored; a report that would create a
    /// group beyond `max_groups` is refused; the sources new to the group are admitted up to
    /// `max_sources` (see `limits`). Refusals and reports without effect are counted.
    pub fn report<D: Ord, K: Ord, O: From<MembershipChange<A>> + From<LimitNotice>>(
        &mut self,
        group: A,
        report: Report<'_, A>,
        ctx: &Ctx,
        bounds: &Bounds,
        counters: &mut Counters<D, K>,
        out: &mut Vec<O>,
    ) {
        let any_source = matches!(
            report,
            Report::V1
                | Report::V2
                | Report::Leave
                | Report::Record(RecordType::IsExclude | RecordType::ToExclude, _)
        );
        let ignored = if group.is_local_group() {
            Some(IgnoreReason::LocalGroup)
        } else if group.is_ssm_group() && any_source {
            Some(IgnoreReason::SsmAnySource)
        } else if let Report::Record(RecordType::Other(_), _) = report {
            Some(IgnoreReason::UnknownRecordType)
        } else {
            None
        };
        if let Some(reason) = ignored {
            counters.ignore(reason);
            return;
        }
        let existing = self.groups.get(&group);
        if existing.is_none() && self.groups.len() >= bounds.max_groups && creates_group(&report) {
            self.refuse(Limit::Groups, 1, ctx.now, bounds, counters, out);
            return;
        }
        let room = bounds.max_sources.saturating_sub(self.source_count);
        let mut refused = 0;
        let admitted = match report {
            Report::Record(record_type, sources)
                if existing.is_none_or(|g| g.adds_sources(record_type)) =>
            {
                let present = |s: &A| existing.is_some_and(|g| g.has_source(s));
                let (admitted, n) = admit_sources(sources, present, room);
                refused = n;
                Some((record_type, admitted))
            }
            _ => None,
        };
        let report = match &admitted {
            Some((record_type, sources)) => Report::Record(*record_type, sources),
            None => report,
        };
        if refused > 0 {
            self.refuse(Limit::Sources, refused, ctx.now, bounds, counters, out);
        }
        if let Err(reason) = self.with_group(group, ctx, out, |g, ctx| g.report(report, ctx)) {
            counters.ignore(reason);
        }
    }

    /// Counts refusals by a bound and emits the notice for the log when one is due.
    fn refuse<D: Ord, K: Ord, O: From<LimitNotice>>(
        &mut self,
        limit: Limit,
        refused: u64,
        now: Instant,
        bounds: &Bounds,
        counters: &mut Counters<D, K>,
        out: &mut Vec<O>,
    ) {
        counters.ignore_n(limit.reason(), refused);
        let max = match limit {
            Limit::Groups => bounds.max_groups,
            Limit::Sources => bounds.max_sources,
        };
        if let Some(refused) = self
            .notices
            .refused(limit, refused, now, bounds.notice_interval)
        {
            out.push(O::from(LimitNotice {
                ifindex: self.ifindex,
                limit,
                max,
                refused,
            }));
        }
    }

    /// Runs out the timers of every group that is due at `ctx.now`.
    pub fn expire<O: From<MembershipChange<A>>>(&mut self, ctx: &Ctx, out: &mut Vec<O>) {
        let due: Vec<A> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_timeout().is_some_and(|t| t <= ctx.now))
            .map(|(a, _)| *a)
            .collect();
        for group in due {
            self.with_group(group, ctx, out, |_, _| ());
        }
    }

    /// The specific queries due at `now` over all groups, their retransmissions scheduled.
    fn due_queries(&mut self, now: Instant, timing: &Timing) -> Vec<(A, DueQuery<A>)> {
        let mut due = Vec::new();
        for (addr, g) in &mut self.groups {
            due.extend(g.due_queries(now, timing).into_iter().map(|q| (*addr, q)));
        }
        due
    }

    /// The specific queries to send at `now` as (group, sources, suppress), a source list cut
    /// into queries of at most `max_sources`; none unless this router `is_querier` (the
    /// retransmissions are scheduled either way).
    pub fn queries_to_send(
        &mut self,
        now: Instant,
        timing: &Timing,
        is_querier: bool,
        max_sources: usize,
    ) -> Vec<(A, Vec<A>, bool)> {
        let due = self.due_queries(now, timing);
        if !is_querier {
            return Vec::new();
        }
        let mut queries = Vec::new();
        for (group, q) in due {
            for chunk in q.sources.chunks(max_sources) {
                queries.push((group, chunk.to_vec(), q.suppress));
            }
            if q.sources.is_empty() {
                queries.push((group, Vec::new(), q.suppress));
            }
        }
        queries
    }

    /// The timer updates a specific query of another querier asks for (RFC 3376 §6.6.1, RFC
    /// 3810 §7.6.1): unless it is general or has the suppress flag, the timers of the queried
    /// sources, or of the group for a group-specific query, are lowered to `now` + `count` ×
    /// `max_resp`.
    pub fn specific_query_heard(
        &mut self,
        group: A,
        fields: Option<&QueryFields<A>>,
        max_resp: Duration,
        count: u8,
        now: Instant,
    ) {
        if group.is_unspecified() || fields.is_some_and(|q| q.suppress) {
            return;
        }
        let lowered = now + max_resp * u32::from(count);
        if let Some(g) = self.groups.get_mut(&group) {
            match fields.map(|q| q.sources.as_slice()) {
                Some(sources) if !sources.is_empty() => g.lower_source_timers(sources, lowered),
                _ => g.lower_group_timer(lowered),
            }
        }
    }

    /// The groups in address order.
    pub fn iter(&self) -> impl Iterator<Item = (&A, &Group<A>)> {
        self.groups.iter()
    }

    /// The earliest instant at which a group needs attention.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.groups.values().filter_map(Group::next_timeout).min()
    }

    /// Source records over all groups.
    #[cfg(test)]
    pub fn source_count(&self) -> usize {
        self.source_count
    }

    /// Joins for the current state of every group (for re-adds after the protocol is enabled).
    pub fn memberships(&self) -> Vec<MembershipChange<A>> {
        self.groups
            .iter()
            .flat_map(|(addr, g)| diff(self.ifindex, *addr, &View::none(), &g.view()))
            .collect()
    }

    /// Leaves for the current state of every group (the interface goes away).
    pub fn leave_all(&self) -> Vec<MembershipChange<A>> {
        self.groups
            .iter()
            .flat_map(|(addr, g)| diff(self.ifindex, *addr, &g.view(), &View::none()))
            .collect()
    }
}
