//! The MGM functions the API offers beyond registration and ownership: group enumeration,
//! the `MgmGetMfe*` family with the caller's buffer size, and `MgmSetMfe`; plus the argument
//! checks the socket adds (membership masks, registration options).
//! Each function takes the MGM core of one family (see [`super::api_family`]) and returns the
//! [`Response`]; `handle()` only dispatches.
use super::{
    api_family::{self, api_id, ApiAddress},
    server::LogThrottle,
};
use crate::{
    api::{
        proto::{ApiFamily, ApiIfId, ApiMasks, ApiSg, Response},
        records::{decode_prefix, to_hex, RecordKind},
    },
    mgm::{
        status_of, win32, ClientOptions, EnumHandle, EnumType, IfId, MemberFlags, Mgm, MgmError,
        ProtocolHandle, Sg, StatsLevel, Timestamp,
    },
};
use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};
use tracing::warn;

/// Largest buffer a buffer call is served with: a larger `buffer_size` is served as this
/// many bytes (a batch then ends with `ERROR_MORE_DATA` and the caller continues), so one
/// answer stays far below the API's frame limit.
pub const MAX_API_BUFFER: u32 = 64 * 1024;

/// Group enumerations one protocol may have open at once in each family's MGM (each holds a
/// snapshot); one more is refused with `ERROR_CAN_NOT_COMPLETE`, counted per family and
/// logged at most once per 10 s (see [`ENUMERATIONS`]).
pub const MAX_OPEN_ENUMERATIONS: usize = 64;

/// Memberships (JOIN state of one key on one interface, about 500 bytes each) the external
/// protocols may hold together in each family's MGM; a new one beyond is refused with
/// `ERROR_CAN_NOT_COMPLETE`, counted per family and logged at most once per 10 s (see
/// [`MEMBERSHIPS`]).
pub const MAX_API_MEMBERSHIPS: usize = 65_536;

/// Refusals of one API bound: counted per family, logged at most once per 10 s.
pub struct Refusals {
    /// `mgmctl show stats` names: IPv4, IPv6.
    names: [&'static str; 2],
    /// The bound, and the log line of a refusal at it.
    limit: usize,
    logged: &'static str,
    counts: [AtomicU64; 2],
    log: LogThrottle,
}

impl Refusals {
    const fn new(names: [&'static str; 2], limit: usize, logged: &'static str) -> Self {
        Refusals {
            names,
            limit,
            logged,
            counts: [AtomicU64::new(0), AtomicU64::new(0)],
            log: LogThrottle::new(),
        }
    }

    /// Counts a refusal to protocol `h` in `family`, and logs it when a log line is due.
    fn refuse(&self, family: ApiFamily, h: ProtocolHandle) {
        let refused = self.counts[family as usize].fetch_add(1, Ordering::Relaxed) + 1;
        if self.log.due() {
            warn!(
                protocol = h.raw(),
                family = family.name(),
                limit = self.limit,
                refused,
                "{}",
                self.logged
            );
        }
    }

    /// The counters, as `mgmctl show stats` names them.
    pub fn counters(&self) -> [(&'static str, u64); 2] {
        [0, 1].map(|i| (self.names[i], self.counts[i].load(Ordering::Relaxed)))
    }
}

/// Group enumeration starts refused at [`MAX_OPEN_ENUMERATIONS`] (named as the MFE tables'
/// `mfe_refused` and `mfe6_refused` are).
pub static ENUMERATIONS: Refusals = Refusals::new(
    ["api_enumerations_refused", "api_enumerations6_refused"],
    MAX_OPEN_ENUMERATIONS,
    "group enumeration refused: too many open (end some first)",
);

/// New memberships refused at [`MAX_API_MEMBERSHIPS`].
pub static MEMBERSHIPS: Refusals = Refusals::new(
    ["api_memberships_refused", "api_memberships6_refused"],
    MAX_API_MEMBERSHIPS,
    "membership refused: the external protocols hold as many as they may (delete some first)",
);

/// The refusal of a new membership of protocol `h` in the MGM of family `A`, at
/// [`MAX_API_MEMBERSHIPS`].
pub fn membership_refused<A: ApiAddress>(h: ProtocolHandle) -> Response {
    MEMBERSHIPS.refuse(A::FAMILY, h);
    Response::error(
        win32::ERROR_CAN_NOT_COMPLETE,
        format!(
            "the external protocols hold {MAX_API_MEMBERSHIPS} memberships in the {} MGM \
             already: delete one first",
            A::FAMILY.name()
        ),
    )
}

/// Bounds of the `answer_deadline_ms` registration option.
pub const ANSWER_DEADLINE_MS: std::ops::RangeInclusive<u32> = 10..=10_000;

/// An error response for an MGM error.
pub fn mgm_error(e: MgmError, what: &str) -> Response {
    Response::error(e.win32_code(), format!("{what}: {e}"))
}

/// The per-protocol options of a registration.
pub fn register_options(
    answer_deadline_ms: Option<u32>,
    rpf_reject: bool,
) -> Result<ClientOptions, Response> {
    let answer_deadline = match answer_deadline_ms {
        Some(ms) if !ANSWER_DEADLINE_MS.contains(&ms) => {
            return Err(Response::error(
                win32::ERROR_INVALID_PARAMETER,
                format!(
                    "answer_deadline_ms {ms} is outside {}..={}",
                    ANSWER_DEADLINE_MS.start(),
                    ANSWER_DEADLINE_MS.end()
                ),
            ))
        }
        Some(ms) => Some(Duration::from_millis(ms.into())),
        None => None,
    };
    Ok(ClientOptions {
        answer_deadline,
        rpf_reject_creates_negative: rpf_reject,
    })
}

/// A membership call's arguments in family `A`; masks are checked per A-05 (the unspecified
/// address with a wildcard, all ones otherwise, in `A`).
pub fn membership_args<A: ApiAddress>(
    sg: ApiSg,
    ifid: ApiIfId,
    flags: u32,
    masks: Option<ApiMasks>,
) -> Result<(Sg<A>, IfId<A>, MemberFlags), Response> {
    let invalid = |what: &str| Response::error(win32::ERROR_INVALID_PARAMETER, what.to_owned());
    let flags = MemberFlags::from_bits(flags)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| invalid("flags must be 1 (JOIN), 2 (FORWARD) or 3"))?;
    let key = api_family::sg::<A>(sg)?;
    let sg = match masks {
        Some(m) => {
            let (source_mask, group_mask) = (
                api_family::addr::<A>(m.source_mask)?,
                api_family::addr::<A>(m.group_mask)?,
            );
            Sg::from_masked(key.source, source_mask, key.group, group_mask).map_err(|_| {
                invalid(&format!(
                    "masks must be {} with a wildcard address and {} otherwise; (S,*) is not a \
                     membership",
                    A::UNSPECIFIED,
                    A::HOST_MASK
                ))
            })?
        }
        None => key,
    };
    if sg.group.is_unspecified() && !sg.source.is_unspecified() {
        return Err(invalid("(S,*) is not a membership: give a group"));
    }
    Ok((sg, api_family::ifid(ifid)?, flags))
}

/// `MgmGroupEnumerationStart`; the handle is given out as [`api_id`] of the family.
pub fn group_enumeration_start<A: ApiAddress>(
    mgm: &mut Mgm<A>,
    h: ProtocolHandle,
    enum_type: u32,
) -> Response {
    let kind = match enum_type {
        0 => EnumType::AnySource,
        1 => EnumType::AllSources,
        other => {
            return Response::error(
                win32::ERROR_INVALID_PARAMETER,
                format!("enum_type {other}: 0 is ANY_SOURCE, 1 ALL_SOURCES"),
            )
        }
    };
    if mgm.group_enumerations_of(h) >= MAX_OPEN_ENUMERATIONS {
        ENUMERATIONS.refuse(A::FAMILY, h);
        return Response::error(
            win32::ERROR_CAN_NOT_COMPLETE,
            format!("{MAX_OPEN_ENUMERATIONS} group enumerations are open already; end one first"),
        );
    }
    match mgm.group_enumeration_start(h, kind) {
        Ok(eh) => Response::EnumHandle {
            handle: api_id(A::FAMILY, eh.raw()),
        },
        Err(e) => mgm_error(e, "group enumeration start"),
    }
}

/// `MgmGroupEnumerationGetNext` (`handle`: the MGM's own, without the family's bit): only the
/// protocol that started the enumeration may use it.
pub fn group_enumeration_get_next<A: ApiAddress>(
    mgm: &mut Mgm<A>,
    h: ProtocolHandle,
    handle: u64,
    buffer_size: u32,
) -> Response {
    let eh = EnumHandle::from_raw(handle);
    if !mgm.group_enumeration_of(eh, h) {
        return buffer_status(win32::ERROR_INVALID_PARAMETER, buffer_size);
    }
    buffer_call::<A>(RecordKind::SourceGroup, buffer_size, |size, buf, n| {
        mgm.group_enumeration_get_next_raw(eh, size, buf, n)
    })
}

/// `MgmGroupEnumerationEnd` (`handle`: the MGM's own).
pub fn group_enumeration_end<A: ApiAddress>(
    mgm: &mut Mgm<A>,
    h: ProtocolHandle,
    handle: u64,
) -> Response {
    let eh = EnumHandle::from_raw(handle);
    if !mgm.group_enumeration_of(eh, h) {
        return mgm_error(MgmError::InvalidParameter, "no such enumeration handle");
    }
    match mgm.group_enumeration_end(eh) {
        Ok(()) => Response::Ok,
        Err(e) => mgm_error(e, "group enumeration end"),
    }
}

/// Which MFE a `MgmGet*Mfe*` request names: one exact (S,G), the first, or those after one.
#[derive(Clone, Copy, Debug)]
pub enum MfeQuery<A: ApiAddress> {
    /// `MgmGetMfe` / `MgmGetMfeStats`.
    One(Sg<A>),
    /// `MgmGetFirstMfe` / `MgmGetFirstMfeStats`.
    First,
    /// `MgmGetNextMfe` / `MgmGetNextMfeStats`.
    After(Sg<A>),
}

/// `MgmGetMfe`, `MgmGetFirstMfe`, `MgmGetNextMfe`; with `stats_flags`, their `Stats` forms.
pub fn get_mfes<A: ApiAddress>(
    mgm: &Mgm<A>,
    query: MfeQuery<A>,
    buffer_size: u32,
    stats_flags: Option<u32>,
    now: Timestamp,
) -> Response {
    let kind = match stats_flags.map(StatsLevel::from_flags) {
        None => RecordKind::Mfe,
        Some(Ok(StatsLevel::Basic)) => RecordKind::Stats,
        Some(Ok(StatsLevel::Extended)) => RecordKind::StatsEx,
        Some(Err(e)) => return buffer_status(e.win32_code(), buffer_size),
    };
    let flags = stats_flags.unwrap_or(0);
    buffer_call::<A>(kind, buffer_size, |size, buf, n| {
        match (query, stats_flags) {
            (MfeQuery::One(sg), None) => single(mgm.get_mfe_raw(sg, size, buf, now), n),
            (MfeQuery::One(sg), Some(_)) => {
                single(mgm.get_mfe_stats_raw(sg, size, buf, flags, now), n)
            }
            (MfeQuery::First, None) => mgm.get_first_mfe_raw(size, buf, n, now),
            (MfeQuery::First, Some(_)) => mgm.get_first_mfe_stats_raw(size, buf, n, flags, now),
            (MfeQuery::After(sg), None) => mgm.get_next_mfe_raw(sg, size, buf, n, now),
            (MfeQuery::After(sg), Some(_)) => {
                mgm.get_next_mfe_stats_raw(sg, size, buf, n, flags, now)
            }
        }
    })
}

/// `MgmSetMfe`: the upstream neighbour of an existing MFE.
pub fn set_mfe<A: ApiAddress>(
    mgm: &mut Mgm<A>,
    h: ProtocolHandle,
    sg: Sg<A>,
    upstream: A,
) -> Response {
    match status_of(&mgm.set_mfe_upstream(h, sg, upstream)) {
        win32::NO_ERROR => Response::Ok,
        code => Response::error(code, format!("set_mfe {sg} refused")),
    }
}

/// A single-entry call's entry count: 1 on success.
fn single(status: u32, n: &mut u32) -> u32 {
    *n = u32::from(status == win32::NO_ERROR);
    status
}

/// Runs a buffer call on a buffer of the caller's size (at most [`MAX_API_BUFFER`]) and
/// answers with its status, size, count, bytes and decoded records of family `A`.
fn buffer_call<A: ApiAddress>(
    kind: RecordKind,
    buffer_size: u32,
    call: impl FnOnce(&mut u32, &mut [u8], &mut u32) -> u32,
) -> Response {
    let mut size = buffer_size;
    let mut buf = vec![0u8; buffer_size.min(MAX_API_BUFFER) as usize];
    let mut n = 0;
    let status = call(&mut size, &mut buf, &mut n);
    let (entries, used) = decode_prefix(kind, A::FAMILY, &buf, n).unwrap_or_default();
    Response::Buffer {
        status,
        buffer_size: size,
        num_entries: n,
        records: to_hex(&buf[..used]),
        entries,
    }
}

/// A buffer call that failed before touching the buffer.
pub fn buffer_status(status: u32, buffer_size: u32) -> Response {
    Response::Buffer {
        status,
        buffer_size,
        num_entries: 0,
        records: String::new(),
        entries: Vec::new(),
    }
}
