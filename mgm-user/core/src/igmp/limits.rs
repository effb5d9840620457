//! The per-interface bounds on IGMP state (`max_groups`, `max_sources`): what a report may
//! add, and the rate-limited notices of refusals for the operator's log.
//!
//! At the bound: a report or record that would create a group beyond `max_groups` is ignored
//! (leaves and records that create nothing still pass); the sources of a record that are new
//! to its group are admitted in address order while the interface holds fewer than
//! `max_sources` source records, the others are ignored and the rest of the record is applied.
//! This holds for EXCLUDE-mode source lists too: an excluded source beyond the bound is not
//! tracked, so it is forwarded like any other. State already held is kept when a reload lowers
//! a bound; the bound applies to what comes next.
use super::counters::IgnoreReason;
use super::group::Report;
use crate::wire::igmp::RecordType;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Which bound refused state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Limit {
    /// `max_groups`.
    Groups,
    /// `max_sources`.
    Sources,
}

impl Limit {
    /// The ignore counter the refusals are counted under.
    pub(crate) fn reason(self) -> IgnoreReason {
        match self {
            Limit::Groups => IgnoreReason::GroupLimit,
            Limit::Sources => IgnoreReason::SourceLimit,
        }
    }
}

/// Refusals by a bound, for the log: the first one at once, then at most one notice per query
/// interval per interface and bound, carrying the refusals since the previous notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LimitNotice {
    /// Interface.
    pub ifindex: u32,
    /// The bound.
    pub limit: Limit,
    /// Its configured value.
    pub max: usize,
    /// Groups (for [`Limit::Groups`]) or sources refused since the previous notice.
    pub refused: u64,
}

/// Rate limiting of [`LimitNotice`]s on one interface.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notices {
    pending: BTreeMap<Limit, (u64, Option<Instant>)>,
}

impl Notices {
    /// Records `refused` refusals at `now`; returns how many to report now, if a notice is due.
    pub fn refused(
        &mut self,
        limit: Limit,
        refused: u64,
        now: Instant,
        interval: Duration,
    ) -> Option<u64> {
        let (count, next) = self.pending.entry(limit).or_default();
        *count += refused;
        if next.is_some_and(|t| t > now) {
            return None;
        }
        *next = Some(now + interval);
        Some(std::mem::take(count))
    }
}

/// Whether `report` about a group that does not exist would create it.
pub(crate) fn creates_group<A>(report: &Report<'_, A>) -> bool {
    match report {
        Report::V1 | Report::V2 => true,
        Report::Leave => false,
        Report::Record(RecordType::IsExclude | RecordType::ToExclude, _) => true,
        Report::Record(RecordType::IsInclude | RecordType::Allow | RecordType::ToInclude, s) => {
            !s.is_empty()
        }
        Report::Record(RecordType::Block | RecordType::Other(_), _) => false,
    }
}

/// The sources of a record that may be applied: those already in the group, and new ones in
/// address order up to `room`; with the number refused.
pub(crate) fn admit_sources<'a, A: Copy + Ord>(
    sources: &'a BTreeSet<A>,
    present: impl Fn(&A) -> bool,
    room: usize,
) -> (Cow<'a, BTreeSet<A>>, u64) {
    let new = sources.iter().filter(|s| !present(s)).count();
    if new <= room {
        return (Cow::Borrowed(sources), 0);
    }
    let mut admitted_new = 0;
    let kept = sources
        .iter()
        .filter(|s| {
            let keep = present(s) || admitted_new < room;
            if !present(s) && keep {
                admitted_new += 1;
            }
            keep
        })
        .copied()
        .collect();
    (Cow::Owned(kept), (new - room) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn a(x: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 0, 2, x)
    }

    #[test]
    fn sources_admitted_up_to_the_room_keeping_present_ones() {
        let record: BTreeSet<_> = [1, 2, 3, 4, 5].map(a).into();
        let present = |s: &Ipv4Addr| *s == a(4);
        let (kept, refused) = admit_sources(&record, present, 2);
        assert_eq!(*kept, [1, 2, 4].map(a).into());
        assert_eq!(refused, 2);
        let (kept, refused) = admit_sources(&record, present, 4);
        assert!(matches!(kept, Cow::Borrowed(_)));
        assert_eq!(refused, 0);
    }

    #[test]
    fn notices_once_per_interval_with_the_refusals_since() {
        let t0 = Instant::now();
        let qi = Duration::from_secs(125);
        let mut n = Notices::default();
        assert_eq!(n.refused(Limit::Sources, 3, t0, qi), Some(3));
        assert_eq!(n.refused(Limit::Sources, 5, t0 + qi / 2, qi), None);
        assert_eq!(n.refused(Limit::Groups, 1, t0 + qi / 2, qi), Some(1));
        assert_eq!(n.refused(Limit::Sources, 1, t0 + qi, qi), Some(6));
    }
}
