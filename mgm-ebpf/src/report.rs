//! Rate-limited reports to userspace through the `REPORTS` and `REPEAT_REPORTS` ring buffers.
//!
//! Creation alerts have a budget per (S,G) as well as per CPU, so that a spray of random (S,G)s
//! cannot keep a real flow's alert out: an (S,G) reported less than `REPORT_REPEAT_NS` ago is
//! not reported again, and an (S,G) whose last miss found the CPU's bucket empty draws on a
//! bucket of its own (`report_bucket::REPEAT_MISS`), which one packet per (S,G) never
//! touches, and is raised in a ring of its own (`REPEAT_REPORTS`) that userspace reads first.
//! `REPORTED_SGS` (`limits::REPORTED_SGS` slots, one (S,G) each, chosen by hash)
//! remembers both; an (S,G) overwritten in its slot by another counts as new again.
use core::ptr::addr_of_mut;
use mgm_common::{
    config, report_bucket, report_kind, stat, ReportedSg, SgKey, REPORT_HEADER_BYTES,
};

use crate::{
    bucket,
    maps::{count, CONFIG, REPEAT_REPORTS, REPORTED_SGS, REPORTS, REPORT_RATE},
    packet::ptr_at,
};

/// Sends a report of `kind` for the packet whose IP header starts at `offset`, unless its
/// budget (per CPU, and per (S,G) for creation alerts) is spent. `sg` is the packet's (S,G),
/// or for IPv6 its digest (`Sg6Key::digest`), which stands for it in the budget and the record.
#[inline(always)]
pub fn raise(kind: u32, ifindex: u32, sg: SgKey, start: usize, end: usize, offset: usize) {
    let now = bucket::now();
    let is_miss = kind == report_kind::MISS || kind == report_kind::MISS6;
    let admitted = if is_miss {
        admit_miss(sg, now)
    } else {
        admit(report_bucket::WRONG_IF, now, stat::REPORT_RATE_LIMITED).then_some(Ring::First)
    };
    let reserved = match admitted {
        None => return,
        Some(Ring::First) => REPORTS.reserve(0),
        Some(Ring::Repeat) => REPEAT_REPORTS.reserve(0),
    };
    let Some(mut entry) = reserved else {
        count(stat::REPORT_RING_FULL);
        return;
    };
    // Written in place (a record built on the stack would cost every inlined caller its size).
    let report = entry.as_mut_ptr();
    // SAFETY: the reserved record is ours until submitted; fields written through raw
    // pointers, without references to uninitialised memory.
    unsafe {
        addr_of_mut!((*report).kind).write(kind);
        addr_of_mut!((*report).ifindex).write(ifindex);
        addr_of_mut!((*report).sg).write(sg);
        addr_of_mut!((*report).reserved).write(0);
    }
    // The packet from its IP header on, as much as it has up to the limit (`header_len` says
    // how much; the bytes after it are not read).
    let mut header_len = 0;
    while header_len < REPORT_HEADER_BYTES {
        let Some(byte) = ptr_at::<u8>(start, end, offset + header_len) else {
            break;
        };
        // SAFETY: in bounds (checked by ptr_at); `header_len` is inside the record's array.
        unsafe { addr_of_mut!((*report).header[header_len]).write(*byte) };
        header_len += 1;
    }
    // SAFETY: as above.
    unsafe { addr_of_mut!((*report).header_len).write(header_len as u32) };
    entry.submit(0);
    if is_miss {
        remember(sg, now);
        count(stat::REPORT_MISS);
    } else {
        count(stat::REPORT_WRONG_IF);
    }
}

/// The ring a report goes to.
enum Ring {
    /// `REPORTS`.
    First,
    /// `REPEAT_REPORTS`, read first.
    Repeat,
}

/// The ring a miss of `sg` may raise a creation alert in now, if any; counts the refusal if
/// none.
#[inline(always)]
fn admit_miss(sg: SgKey, now: u64) -> Option<Ring> {
    let reported = match REPORTED_SGS.get(ReportedSg::slot(sg)) {
        Some(seen) if seen.sg == sg => seen.reported_ns,
        _ => {
            if admit(report_bucket::MISS, now, stat::REPORT_RATE_LIMITED) {
                return Some(Ring::First);
            }
            // Remembered as seen: its next miss draws on the bucket of repeated misses.
            remember(sg, 0);
            return None;
        }
    };
    let repeat = setting(config::REPORT_REPEAT_NS, 0).min(bucket::MAX_INTERVAL_NS);
    if reported != 0 && now.wrapping_sub(reported) < repeat {
        count(stat::REPORT_RECENTLY_SENT);
        return None;
    }
    admit(
        report_bucket::REPEAT_MISS,
        now,
        stat::REPORT_REPEAT_RATE_LIMITED,
    )
    .then_some(Ring::Repeat)
}

/// Records that `sg` missed, and when it was last reported (0: not yet).
#[inline(always)]
fn remember(sg: SgKey, reported_ns: u64) {
    if let Some(slot) = REPORTED_SGS.get_ptr_mut(ReportedSg::slot(sg)) {
        // SAFETY: an array slot; a write racing another CPU's can only leave a slot that
        // matches neither (S,G), which then counts as new.
        unsafe { *slot = ReportedSg { sg, reported_ns } };
    }
}

/// The setting at `index` of `CONFIG`, or `default`.
#[inline(always)]
fn setting(index: u32, default: u64) -> u64 {
    CONFIG.get(index).copied().unwrap_or(default)
}

/// Token bucket per CPU and `bucket` ([`bucket::take`]): `REPORT_BURST` reports back to back,
/// then one per `REPORT_INTERVAL_NS`. Counts `refused` when it is empty.
#[inline(always)]
fn admit(bucket: u32, now: u64, refused: u32) -> bool {
    let interval = setting(config::REPORT_INTERVAL_NS, 0);
    if interval == 0 {
        return true;
    }
    let Some(state) = REPORT_RATE.get_ptr_mut(bucket) else {
        count(refused);
        return false;
    };
    // SAFETY: per-CPU slot, only this CPU touches it while the program runs.
    let state = unsafe { &mut *state };
    if bucket::take(state, interval, setting(config::REPORT_BURST, 1), now) {
        true
    } else {
        count(refused);
        false
    }
}
