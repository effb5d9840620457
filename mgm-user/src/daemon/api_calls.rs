//! The MGM functions the API offers beyond registration and ownership: group enumeration,
//! the `MgmGetMfe*` family with the caller's buffer size, and `MgmSetMfe`; plus the argument
//! checks the socket adds (membership masks, registration options).
//! Each function takes the MGM core of one family (see [`super::api_family`]) and returns the
//! [`Response`]; `handle()` only dispatches.
use super::api_family::{self, api_id, ApiAddress};
use crate::{
    api::{
        proto::{ApiIfId, ApiMasks, ApiSg, Response},
        records::{decode_prefix, to_hex, RecordKind},
    },
    mgm::{
        status_of, win32, ClientOptions, EnumHandle, EnumType, IfId, MemberFlags, Mgm, MgmError,
        ProtocolHandle, Sg, StatsLevel, Timestamp,
    },
};
use std::time::Duration;

/// Largest buffer a buffer call is served with: a larger `buffer_size` is served as this
/// many bytes (a batch then ends with `ERROR_MORE_DATA` and the caller continues), so one
/// answer stays far below the API's frame limit.
pub const MAX_API_BUFFER: u32 = 64 * 1024;

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

/// A membership call's arguments in family `A`: the group is multicast or the wildcard, the
/// source is not multicast, and masks are checked per A-05 (the unspecified address
/// with a wildcard, all ones otherwise, in `A`).
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
    if !sg.group.is_unspecified() && !sg.group.is_multicast() {
        return Err(invalid(&format!(
            "group {} is neither a multicast group nor the wildcard",
            sg.group
        )));
    }
    if sg.source.is_multicast() {
        return Err(invalid(&format!(
            "source {} is a multicast address, not a sender's",
            sg.source
        )));
    }
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

/// `MgmGroupEnumerationStart`; the handle is given out as [`api_id`] of the family. The
/// router bounds the enumerations open (`RouterCore::group_enumeration_start_in`).
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
