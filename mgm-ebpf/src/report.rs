//! Rate-limited reports to userspace through the `REPORTS` ring buffer.
use aya_ebpf::helpers::bpf_ktime_get_ns;
use mgm_common::{config, report_kind, stat, Report, SgKey, REPORT_HEADER_BYTES};

use crate::{
    maps::{count, CONFIG, REPORTS, REPORT_RATE},
    packet::ptr_at,
};

/// Sends a report of `kind` for the packet whose IPv4 header starts at `offset`, unless this
/// CPU's token bucket for that kind is empty.
#[inline(always)]
pub fn raise(kind: u32, ifindex: u32, sg: SgKey, start: usize, end: usize, offset: usize) {
    if !allowed(kind) {
        count(stat::REPORT_RATE_LIMITED);
        return;
    }
    let Some(mut entry) = REPORTS.reserve(0) else {
        count(stat::REPORT_RING_FULL);
        return;
    };
    // The packet from its IPv4 header on, as much as it has up to the limit.
    let mut header = [0u8; REPORT_HEADER_BYTES];
    let mut header_len = 0;
    while header_len < REPORT_HEADER_BYTES {
        let Some(byte) = ptr_at::<u8>(start, end, offset + header_len) else {
            break;
        };
        // SAFETY: in bounds (checked by ptr_at).
        header[header_len] = unsafe { *byte };
        header_len += 1;
    }
    entry.write(Report {
        kind,
        ifindex,
        sg,
        header_len: header_len as u32,
        reserved: 0,
        header,
    });
    entry.submit(0);
    count(if kind == report_kind::MISS {
        stat::REPORT_MISS
    } else {
        stat::REPORT_WRONG_IF
    });
}

/// Largest interval honoured (about 18 minutes).
const MAX_INTERVAL_NS: u64 = 1 << 40;
/// Largest burst honoured.
const MAX_BURST: u64 = 1 << 16;

/// Token bucket per CPU and kind: `REPORT_BURST` reports back to back, then one per
/// `REPORT_INTERVAL_NS`.
#[inline(always)]
fn allowed(kind: u32) -> bool {
    let interval = CONFIG
        .get(config::REPORT_INTERVAL_NS)
        .copied()
        .unwrap_or(0)
        .min(MAX_INTERVAL_NS);
    if interval == 0 {
        return true;
    }
    let burst = CONFIG
        .get(config::REPORT_BURST)
        .copied()
        .unwrap_or(1)
        .clamp(1, MAX_BURST);
    let Some(state) = REPORT_RATE.get_ptr_mut(kind.wrapping_sub(1)) else {
        return false;
    };
    // SAFETY: per-CPU slot, only this CPU touches it while the program runs.
    let state = unsafe { &mut *state };
    // SAFETY: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    // Both factors are clamped, so the product fits (no 128-bit multiply in BPF).
    let cap = interval * burst;
    let credit = state
        .credit_ns
        .saturating_add(now.wrapping_sub(state.last_ns))
        .min(cap);
    state.last_ns = now;
    if credit >= interval {
        state.credit_ns = credit - interval;
        true
    } else {
        state.credit_ns = credit;
        false
    }
}
