//! Querier state of one interface, generic over the address and version types (IGMP: RFC 3376
//! §6.6.2; MLD: RFC 3810 §7.6.2): the other router that is querier, the robustness and query
//! interval it advertises, and the schedule of this router's general queries (startup, then
//! periodic). Which router wins is the caller's comparison: the lowest address.
use super::config::Timing;
use super::snapshot::{remaining_ms, QuerierSnapshot};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// A change of an interface's querier, for the operator's log: another router took the role
/// (with the version of its queries), or this router has it again because the other one's
/// queries stopped for the Other Querier Present Interval. A querier of an older version than
/// the configured one is a misconfiguration to warn about (RFC 3376 §7.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerierNotice<A = Ipv4Addr, V = super::Version> {
    /// Interface.
    pub ifindex: u32,
    /// The other router now querier and the version of its queries; `None`: this router.
    pub other: Option<(A, V)>,
    /// The version this router is configured with.
    pub configured: V,
}

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

impl<A: Copy + PartialEq, V: Copy + PartialEq> Querier<A, V> {
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
    /// `None` mean "not advertised". Returns the timing now in force and whether the querier
    /// (its address or version) changed.
    pub fn heard(
        &mut self,
        addr: A,
        version: V,
        qrv: u8,
        query_interval: Option<Duration>,
        now: Instant,
        configured: Timing,
    ) -> (Timing, bool) {
        let changed = self
            .other
            .is_none_or(|q| q.addr != addr || q.version != version);
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
        (timing, changed)
    }

    /// Runs the Other Querier Present timer at `now`: whether it ran out, making this router
    /// querier again with a general query due at once.
    pub fn other_expired(&mut self, now: Instant) -> bool {
        let expired = self.other.is_some_and(|q| q.expires <= now);
        if expired {
            self.other = None;
            self.next_general_query = Some(now);
        }
        expired
    }

    /// Runs the general query schedule at `now` (after [`Self::other_expired`]): whether this
    /// router must send a general query now (the next one is then scheduled).
    pub fn general_query_due(
        &mut self,
        now: Instant,
        startup_interval: Duration,
        query_interval: Duration,
    ) -> bool {
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

    /// The notice of the querier now in force on `ifindex`, this router's configured version
    /// being `configured`.
    pub fn notice(&self, ifindex: u32, configured: V) -> QuerierNotice<A, V> {
        QuerierNotice {
            ifindex,
            other: self.other.map(|q| (q.addr, q.version)),
            configured,
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
