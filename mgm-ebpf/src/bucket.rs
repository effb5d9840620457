//! A per-CPU token bucket: `burst` events back to back, then one per `interval` nanoseconds.
use mgm_common::RateLimit;

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
