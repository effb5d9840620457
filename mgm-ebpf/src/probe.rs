//! The (S,G) lookup: an inlined probe of a plain array (`MFE_PROBE`, `MFE_PROBE6`) in front of
//! the hash maps, which stay the authority.
//!
//! A hash map lookup is a call into the kernel (jhash and a bucket walk, ~33 ns on the bench
//! VM); an array lookup is inlined by the verifier. Each (S,G) hashes to one bucket
//! ([`ProbeBucket`]) whose ways copy the hash map's entries; userspace rewrites a bucket as a
//! seqlock (`seq` odd, the body, `seq` even, each step one map update, see
//! `mgm-user/src/dataplane/xdp_backend/probe.rs`). The program reads `seq`, the ways and `seq`
//! again with volatile loads, which the compiler keeps in order and x86-64 executes in order
//! (loads are not reordered with older loads); a torn read (odd or changed `seq`) falls back
//! to the hash map (`probe_torn`), and so does an (S,G) not in a bucket some entry could not
//! fit in (`probe_spilled`). Anywhere else "not in the bucket" is a miss. Where loads may be
//! reordered (arm64) userspace leaves `config::PROBE` at 0, and the hash map alone answers.
use aya_ebpf::btf_maps::Array;
use core::ptr::{addr_of, read_volatile};
use mgm_common::{config, stat, MfeValue, ProbeBucket, Sg6Key, SgKey, PROBE_SPILLED, PROBE_WAYS};

use crate::maps::{count, CONFIG, MFES, MFES6, MFE_PROBE, MFE_PROBE6};

/// The entry of `sg`, if it has one.
#[inline(always)]
pub fn find(sg: SgKey) -> Option<MfeValue> {
    if let Some(answer) = probe(&MFE_PROBE, sg.probe_bucket(), |way| {
        // SAFETY: an SgKey is two words, inside the bucket.
        unsafe { read_volatile(way) == sg.source && read_volatile(way.add(1)) == sg.group }
    }) {
        return answer;
    }
    // SAFETY: the value is copied out at once; MFES is not preallocated, so a concurrent update
    // replaces the element instead of rewriting it under us.
    unsafe { MFES.get(sg) }.copied()
}

/// The entry of `sg` (the addresses in the packet), if it has one.
#[inline(always)]
pub fn find6(sg: &Sg6Key) -> Option<MfeValue> {
    let at = sg as *const Sg6Key as *const u32;
    let mut words = [0u32; 8];
    for (i, word) in words.iter_mut().enumerate() {
        // SAFETY: the key is eight words of the packet, in bounds (checked by the caller); read
        // with native loads (see `packet::set_source_mac`), not byte by byte.
        *word = unsafe { *at.add(i) };
    }
    let bucket = Sg6Key::digest_of_words(&words).probe_bucket();
    if let Some(answer) = probe(&MFE_PROBE6, bucket, |way| {
        // SAFETY: a way's key is eight words, inside the bucket.
        (0..8).all(|i| unsafe { read_volatile(way.add(i)) } == words[i])
    }) {
        return answer;
    }
    // SAFETY: as for `find`.
    unsafe { MFES6.get(sg) }.copied()
}

/// The answer of bucket `index` of `buckets`, where `matches` tells a way's key (its first
/// word) from the wanted one: `Some(entry)` or `Some(None)` (a miss) when the bucket knows,
/// `None` when the hash map must answer (counted).
#[inline(always)]
fn probe<K, const N: usize>(
    buckets: &Array<ProbeBucket<K>, N>,
    index: u32,
    matches: impl Fn(*const u32) -> bool,
) -> Option<Option<MfeValue>> {
    if !enabled() {
        return None;
    }
    let bucket = buckets.get_ptr(index)?;
    // SAFETY: a pointer to a whole bucket (the array's lookup checked the index). Every field
    // is read with a volatile load: the compiler keeps volatile accesses in program order (a
    // compiler fence has no BPF instruction to select), the verifier and the JIT too.
    unsafe {
        let seq = read_volatile(addr_of!((*bucket).seq));
        if seq & 1 != 0 {
            count(stat::PROBE_TORN);
            return None;
        }
        let used = read_volatile(addr_of!((*bucket).used));
        let mut found = None;
        for way in 0..PROBE_WAYS {
            let entry = addr_of!((*bucket).ways[way]);
            if used & (1 << way) != 0 && matches(addr_of!((*entry).key) as *const u32) {
                found = Some(read_value(addr_of!((*entry).value)));
                break;
            }
        }
        if read_volatile(addr_of!((*bucket).seq)) != seq {
            count(stat::PROBE_TORN);
            return None;
        }
        if found.is_none() && used & PROBE_SPILLED != 0 {
            count(stat::PROBE_SPILLED);
            return None;
        }
        Some(found)
    }
}

/// Whether userspace turned the probe on (`config::PROBE`).
#[inline(always)]
fn enabled() -> bool {
    CONFIG.get(config::PROBE).is_some_and(|on| *on != 0)
}

/// The entry at `at`, field by field with volatile loads.
///
/// # Safety
/// `at` points at an `MfeValue`.
#[inline(always)]
unsafe fn read_value(at: *const MfeValue) -> MfeValue {
    MfeValue {
        iif: read_volatile(addr_of!((*at).iif)),
        oif_set: read_volatile(addr_of!((*at).oif_set)),
        stats_slot: read_volatile(addr_of!((*at).stats_slot)),
        flags: read_volatile(addr_of!((*at).flags)),
        oif: read_volatile(addr_of!((*at).oif)),
    }
}
