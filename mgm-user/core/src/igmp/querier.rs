//! Querier state of one interface, generic over the address and version types (IGMP: RFC 3376
//! §6.6.2; MLD: RFC 3810 §7.6.2): the other router that is querier, the robustness and query
//! interval it advertises, and the schedule of this router's general queries (startup, then
//! periodic). Which router wins is the caller's comparison: the lowest address.
use super::config::Timing;
use super::snapshot::{remaining_ms, QuerierSnapshot};
use std::time::{Duration, Instant};

/// Another router that is querier on the interface.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OtherQuerier<A, V> {
    pub addr: A,
    /// Version of its queries.
    pub version: V,
    /// End of the Other Querier Present timer.
    pub expires: Instant,
    /// Robustness and query interval it advertises (v3 / MLDv2), adopted while it is querier.
    robustness: Option<u8>,
    query_interval: Option<Duration>,
}

/// The querier of one interface: this router unless another one is present.
#[derive(Debug, Clone)]
pub(crate) struct Querier<A, V> {
    other: Option<OtherQuerier<A, V>>,
    next_general_query: Option<Instant>,
    startup_left: u8,
}

impl<A: Copy, V: Copy> Querier<A, V> {
    /// This router as querier, with `startup_count` startup queries, the first one due now.
    pub fn new(startup_count: u8, now: Instant) -> Self {
        Querier {
            other: None,
            next_general_query: Some(now),
            startup_left: startup_count,
        }
    }

    /// Whether this router is querier.
    pub fn is_self(&self) -> bool {
        self.other.is_none()
    }

    /// The configured timing with the other querier's robustness and query interval, if any.
    pub fn timing(&self, mut configured: Timing) -> Timing {
        if let Some(q) = &self.other {
            configured.robustness = q.robustness.unwrap_or(configured.robustness);
            configured.query_interval = q.query_interval.unwrap_or(configured.query_interval);
        }
        configured
    }

    /// A query from a router with a lower address: it is querier for the Other Querier
    /// Present Interval; this router stops its general queries. `qrv` 0 and `query_interval`
    /// `None` mean "not advertised". Returns the timing now in force.
    pub fn heard(
        &mut self,
        addr: A,
        version: V,
        qrv: u8,
        query_interval: Option<Duration>,
        now: Instant,
        configured: Timing,
    ) -> Timing {
        self.other = Some(OtherQuerier {
            addr,
            version,
            expires: now,
            robustness: (qrv != 0).then_some(qrv),
            query_interval,
        });
        let timing = self.timing(configured);
        if let Some(q) = &mut self.other {
            q.expires = now + timing.other_querier_present_interval();
        }
        self.next_general_query = None;
        self.startup_left = 0;
        timing
    }

    /// Runs the Other Querier Present timer and the general query schedule at `now`: whether
    /// this router must send a general query now (the next one is then scheduled).
    pub fn general_query_due(
        &mut self,
        now: Instant,
        startup_interval: Duration,
        query_interval: Duration,
    ) -> bool {
        if self.other.is_some_and(|q| q.expires <= now) {
            self.other = None;
            self.next_general_query = Some(now);
        }
        if self.next_general_query.is_none_or(|t| t > now) {
            return false;
        }
        self.startup_left = self.startup_left.saturating_sub(1);
        let wait = if self.startup_left > 0 {
            startup_interval
        } else {
            query_interval
        };
        self.next_general_query = Some(now + wait);
        true
    }

    /// A new query interval: the next periodic general query is brought forward to `now` +
    /// the interval when that is earlier.
    pub fn set_query_interval(&mut self, query_interval: Duration, now: Instant) {
        let sooner = now + query_interval;
        if let Some(t) = &mut self.next_general_query {
            if self.startup_left == 0 && *t > sooner {
                *t = sooner;
            }
        }
    }

    /// A new query version (RFC 3376 §7.3.1, RFC 3810 §8.3.1: the version is the
    /// operator's): while this router is querier, its startup queries start over, the first
    /// one due `now`, so the hosts' compatibility mode follows the new version at once instead
    /// of after a query interval. Under another querier nothing changes.
    pub fn version_changed(&mut self, startup_count: u8, now: Instant) {
        if self.is_self() {
            self.next_general_query = Some(now);
            self.startup_left = startup_count;
        }
    }

    /// The operator's view at `now`: the other querier, or this router with its address `own`
    /// and the version `own_version` it queries with.
    pub fn snapshot(&self, own: A, own_version: V, now: Instant) -> QuerierSnapshot<A, V> {
        match &self.other {
            Some(q) => QuerierSnapshot {
                address: q.addr,
                is_self: false,
                version: q.version,
                other_querier_timer_ms: Some(remaining_ms(q.expires, now)),
            },
            None => QuerierSnapshot {
                address: own,
                is_self: true,
                version: own_version,
                other_querier_timer_ms: None,
            },
        }
    }

    /// When this router sends its next general query (`None` while not querier).
    pub fn next_general_query(&self) -> Option<Instant> {
        self.next_general_query
    }

    /// Startup queries still to send.
    pub fn startup_left(&self) -> u8 {
        self.startup_left
    }

    /// The earliest instant at which the querier state needs attention.
    pub fn next_timeout(&self) -> Option<Instant> {
        [self.next_general_query, self.other.map(|q| q.expires)]
            .into_iter()
            .flatten()
            .min()
    }
}
