//! A per-CPU token bucket: `burst` events back to back, then one per `interval` nanoseconds;
//! and the clock the buckets, the report budget and the mirror's heartbeat run on.
use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use mgm_common::RateLimit;

/// CLOCK_MONOTONIC_COARSE, in ns: a tick's resolution (1–4 ms) is plenty for rates of a
/// thousand reports a second and for intervals of 100 ms and more, and a read costs a fraction
/// of the precise clock's (a miss reads it every time).
#[inline(always)]
pub fn now() -> u64 {
    // SAFETY: helper without preconditions.
    unsafe { bpf_ktime_get_coarse_ns() }
}

/// Largest interval honoured (about 18 minutes).
pub const MAX_INTERVAL_NS: u64 = 1 << 40;
/// Largest burst honoured.
const MAX_BURST: u64 = 1 << 16;

/// Takes one event's credit from `state` at time `now` (ns); `interval` 0 means unlimited.
#[inline(always)]
pub fn take(state: &mut RateLimit, interval: u64, burst: u64, now: u64) -> bool {
    let interval = interval.min(MAX_INTERVAL_NS);
    if interval == 0 {
        return true;
    }
    // Both factors are clamped, so the product fits (no 128-bit multiply in BPF).
    let cap = interval * burst.clamp(1, MAX_BURST);
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
