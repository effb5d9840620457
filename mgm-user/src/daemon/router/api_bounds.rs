//! What API callers may make the router hold in each family: the external protocols' open
//! group enumerations (each a snapshot of membership keys) and memberships, and the static
//! routes `mgmctl add` adds. A call beyond a bound is refused with `ERROR_CAN_NOT_COMPLETE`
//! (1003), counted per family in the router's counters (`mgmctl show stats`) and logged at
//! most once per [`LOG_INTERVAL`](super::log_pace) for each bound.
use super::{log_pace::LogPace, ExternalFamily, RouterCore, RouterIo};
use crate::{
    api::proto::{ApiFamily, Response},
    config::MAX_STATIC_ROUTES,
    daemon::{api_calls, api_family::split_id},
    dataplane::ForwardingBackend,
    mgm::{win32, EnumHandle, IfId, ProtocolHandle, Sg},
};
use std::time::Instant;
use tracing::warn;

/// Group enumerations one protocol may have open at once in each family's MGM.
pub const MAX_OPEN_ENUMERATIONS: usize = 64;

/// Membership keys the open group enumerations of all protocols may hold in their snapshots
/// together in each family's MGM (8 MiB of IPv4 keys, 32 MiB of IPv6 ones); a start whose
/// snapshot would take the total beyond is refused.
pub const MAX_ENUMERATED_KEYS: usize = 1 << 20;

/// Memberships (JOIN state of one key on one interface, about 500 bytes each) the external
/// protocols may hold together in each family's MGM.
pub const MAX_API_MEMBERSHIPS: usize = 65_536;

/// Refusals at one bound: counted per family, logged at most once per interval.
#[derive(Debug)]
struct Refusals {
    /// `mgmctl show stats` names: IPv4, IPv6.
    names: [&'static str; 2],
    /// The bound, and the log line of a refusal at it.
    limit: usize,
    logged: &'static str,
    counts: [u64; 2],
    log: LogPace,
}

impl Refusals {
    fn new(names: [&'static str; 2], limit: usize, logged: &'static str) -> Self {
        Refusals {
            names,
            limit,
            logged,
            counts: [0; 2],
            log: LogPace::default(),
        }
    }

    /// Counts a refusal to the caller `by` in `family` at `now`, logs it when a line is due,
    /// and answers with `message`.
    fn refuse(&mut self, family: ApiFamily, by: Caller, now: Instant, message: String) -> Response {
        let count = &mut self.counts[family as usize];
        *count += 1;
        if self.log.due(now) {
            warn!(
                caller = %by,
                family = family.name(),
                limit = self.limit,
                refused = *count,
                "{}",
                self.logged
            );
        }
        Response::error(win32::ERROR_CAN_NOT_COMPLETE, message)
    }
}

/// The refusals at the API's bounds, the router's counters of them.
#[derive(Debug)]
pub(super) struct ApiRefusals {
    /// Starts beyond [`MAX_OPEN_ENUMERATIONS`] (named as the MFE tables' `mfe_refused`,
    /// `mfe6_refused` are).
    enumerations: Refusals,
    /// Starts beyond [`MAX_ENUMERATED_KEYS`].
    enumerated_keys: Refusals,
    /// New memberships beyond [`MAX_API_MEMBERSHIPS`].
    memberships: Refusals,
    /// Static routes beyond [`MAX_STATIC_ROUTES`].
    routes: Refusals,
}

impl Default for ApiRefusals {
    fn default() -> Self {
        Self {
            enumerations: Refusals::new(
                ["api_enumerations_refused", "api_enumerations6_refused"],
                MAX_OPEN_ENUMERATIONS,
                "group enumeration refused: the protocol has too many open (end some first)",
            ),
            enumerated_keys: Refusals::new(
                [
                    "api_enumerated_keys_refused",
                    "api_enumerated_keys6_refused",
                ],
                MAX_ENUMERATED_KEYS,
                "group enumeration refused: the open enumerations of all protocols hold as \
                 many keys as they may (end some first)",
            ),
            memberships: Refusals::new(
                ["api_memberships_refused", "api_memberships6_refused"],
                MAX_API_MEMBERSHIPS,
                "membership refused: the external protocols hold as many as they may (delete \
                 some first)",
            ),
            routes: Refusals::new(
                ["static_routes_refused", "static_routes6_refused"],
                MAX_STATIC_ROUTES,
                "static route refused: mgmd keeps as many as it may (remove some first)",
            ),
        }
    }
}

impl ApiRefusals {
    /// The counters, as `mgmctl show stats` names them.
    pub(super) fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        [
            &self.enumerations,
            &self.enumerated_keys,
            &self.memberships,
            &self.routes,
        ]
        .into_iter()
        .flat_map(|r| r.names.into_iter().zip(r.counts))
    }

    /// The refusal of a static route of `family` at [`MAX_STATIC_ROUTES`], at `now`.
    pub(super) fn refuse_route(&mut self, family: ApiFamily, now: Instant) -> Response {
        let message = format!(
            "mgmd keeps {MAX_STATIC_ROUTES} static routes of {} groups already: remove one first",
            family.name()
        );
        self.routes.refuse(family, Caller::RouteAdd, now, message)
    }
}

/// Who was refused, for the log line.
#[derive(Clone, Copy, Debug)]
enum Caller {
    /// An external protocol, by its API handle.
    Protocol(ProtocolHandle),
    /// A static route's add (`mgmctl add`).
    RouteAdd,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Caller::Protocol(h) => write!(f, "protocol {}", h.raw()),
            Caller::RouteAdd => f.write_str("route add"),
        }
    }
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// `MgmGroupEnumerationStart` of the external protocol `h` in the MGM of family `A`,
    /// within [`MAX_OPEN_ENUMERATIONS`] and [`MAX_ENUMERATED_KEYS`].
    pub fn group_enumeration_start_in<A: ExternalFamily>(
        &mut self,
        h: ProtocolHandle,
        enum_type: u32,
    ) -> Response {
        let Some(ha) = A::handle_in(self, h) else {
            return Response::error(win32::ERROR_INVALID_PARAMETER, "register first");
        };
        let now = self.clock;
        let mgm = A::mgm_in(self);
        if mgm.group_enumerations_of(ha) >= MAX_OPEN_ENUMERATIONS {
            let message = format!(
                "{MAX_OPEN_ENUMERATIONS} group enumerations of this protocol are open already; \
                 end one first"
            );
            return self.api_refusals.enumerations.refuse(
                A::FAMILY,
                Caller::Protocol(h),
                now,
                message,
            );
        }
        let started = api_calls::group_enumeration_start(mgm, ha, enum_type);
        let Response::EnumHandle { handle } = started else {
            return started;
        };
        let held = mgm.group_enumeration_keys();
        if held <= MAX_ENUMERATED_KEYS {
            return started;
        }
        // The snapshot is over the bound: it goes again at once.
        let _ = mgm.group_enumeration_end(EnumHandle::from_raw(split_id(handle).1));
        let message = format!(
            "the open group enumerations would hold {held} keys in the {} MGM, over the \
             {MAX_ENUMERATED_KEYS} all protocols may hold together; end one first",
            A::FAMILY.name()
        );
        self.api_refusals
            .enumerated_keys
            .refuse(A::FAMILY, Caller::Protocol(h), now, message)
    }

    /// The refusal of a new JOIN membership of the external protocol `h` on `sg`, `ifid` in
    /// the MGM of family `A` at [`MAX_API_MEMBERSHIPS`]; `None` when there is room, or the
    /// protocol holds it already.
    pub fn membership_refusal<A: ExternalFamily>(
        &mut self,
        h: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
    ) -> Option<Response> {
        if self.external_memberships::<A>() < MAX_API_MEMBERSHIPS
            || self.external_has_membership::<A>(h, sg, ifid)
        {
            return None;
        }
        let message = format!(
            "the external protocols hold {MAX_API_MEMBERSHIPS} memberships in the {} MGM \
             already: delete one first",
            A::FAMILY.name()
        );
        let now = self.clock;
        Some(
            self.api_refusals
                .memberships
                .refuse(A::FAMILY, Caller::Protocol(h), now, message),
        )
    }
}
