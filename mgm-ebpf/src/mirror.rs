//! Mirrored routing: interfaces and entries whose multicast routes belong to the kernel (an
//! owner such as FRR's pimd or smcroute programs its MFC, mgmd mirrors the resolved (S,G)s).
//!
//! - A miss on a mirrored interface goes to the kernel (its NOCACHE upcall reaches the owner).
//! - A mirrored entry forwards here, except one packet per `MIRROR_SAMPLE_NS` per CPU, which
//!   goes to the kernel (forwarded there on the same interfaces, so still one copy) so that the
//!   owner's keep-alive and expiry see the flow.
//! - A packet of a mirrored entry on another interface goes to the kernel, rate limited, for
//!   PIM asserts and the SPT switch-over.
//! - Fail-safe: mgmd writes a heartbeat every second; once it is older than
//!   `MIRROR_TIMEOUT_NS` (mgmd is gone) every packet of a mirrored entry goes to the kernel,
//!   whose routes may have changed since.
use aya_ebpf::bindings::xdp_action;
use mgm_common::{config, stat, MfeCounters};

use crate::{
    bucket::{self, now},
    maps::{count, CONFIG, MIRROR_RATE},
};

#[inline(always)]
fn setting(index: u32) -> u64 {
    CONFIG.get(index).copied().unwrap_or(0)
}

/// Whether mgmd's heartbeat is older than the timeout at `now` (never written: stale). The
/// coarse clock may lag the heartbeat's (a tick at most): a heartbeat ahead of it is fresh.
#[inline(always)]
fn stale(now: u64) -> bool {
    now.saturating_sub(setting(config::MIRROR_HEARTBEAT_NS)) > setting(config::MIRROR_TIMEOUT_NS)
}

/// For a packet of a mirrored entry on its incoming interface: whether it goes to the kernel
/// (fail-safe, or this CPU's sample is due) instead of being forwarded here. A sample is
/// counted as one of the entry's packets (`bytes` of layer 3).
#[inline(always)]
pub fn to_kernel(counters: Option<*mut MfeCounters>, bytes: u64) -> bool {
    let now = now();
    if stale(now) {
        count(stat::MIRROR_STALE_PASSED);
        return true;
    }
    let interval = setting(config::MIRROR_SAMPLE_NS);
    let Some(counters) = counters else {
        return false;
    };
    // SAFETY: per-CPU slot, only this CPU touches it while the program runs.
    let counters = unsafe { &mut *counters };
    if interval == 0 || now.wrapping_sub(counters.last_sample_ns) < interval {
        return false;
    }
    counters.last_sample_ns = now;
    counters.unforwarded += 1;
    counters.unforwarded_bytes += bytes;
    counters.packets += 1;
    counters.bytes += bytes;
    count(stat::MIRROR_SAMPLED);
    true
}

/// The verdict for a packet of a mirrored entry that arrived on another interface: the
/// kernel's, within the per-CPU pass rate (all of them while the heartbeat is stale).
#[inline(always)]
pub fn wrong_if() -> u32 {
    let now = now();
    if stale(now) {
        count(stat::MIRROR_STALE_PASSED);
        return xdp_action::XDP_PASS;
    }
    let Some(state) = MIRROR_RATE.get_ptr_mut(0) else {
        count(stat::MIRROR_WRONG_IF_LIMITED);
        return xdp_action::XDP_DROP;
    };
    // SAFETY: per-CPU slot, only this CPU touches it while the program runs.
    let state = unsafe { &mut *state };
    let interval = setting(config::MIRROR_WRONG_IF_INTERVAL_NS);
    let burst = setting(config::MIRROR_WRONG_IF_BURST);
    if bucket::take(state, interval, burst, now) {
        count(stat::MIRROR_WRONG_IF_PASSED);
        xdp_action::XDP_PASS
    } else {
        count(stat::MIRROR_WRONG_IF_LIMITED);
        xdp_action::XDP_DROP
    }
}
