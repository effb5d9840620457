//! Every map of the data plane, shared by the ingress and egress programs. Userspace finds them
//! by these names (and pins them under the same names).
use aya_ebpf::{
    bindings::BPF_F_NO_PREALLOC,
    btf_maps::{
        Array, ArrayOfMaps, DevMapHash, HashMap, PerCpuArray, PerCpuHashMap, RingBuf, XskMap,
    },
    macros::btf_map,
};
use mgm_common::{
    config, limits, report_bucket, stat, HeldCounters, IfaceConfig, MfeCounters, MfeValue,
    OifCounterKey, OifCounters, ProbeBucket, RateLimit, Report, ReportedSg, SetBroadcast,
    SetMembers, Sg6Key, SgKey,
};

/// Why frames went where they went, per CPU (indexes: `mgm_common::stat`).
#[btf_map]
pub static STATS: PerCpuArray<u64, { stat::COUNT as usize }> = PerCpuArray::new();

/// The forwarding entries, (S,G) → what to do. Not preallocated, so that a replaced value is
/// freed only after readers are done with it (updates are atomic from a packet's view).
#[btf_map]
pub static MFES: HashMap<
    SgKey,
    MfeValue,
    { limits::MFES as usize },
    { BPF_F_NO_PREALLOC as usize },
> = HashMap::new();

/// The IPv6 forwarding entries, (S,G) → what to do: sized and updated as `MFES`, whose counter
/// slots, outgoing sets and per-interface counters they share.
#[btf_map]
pub static MFES6: HashMap<
    Sg6Key,
    MfeValue,
    { limits::MFES as usize },
    { BPF_F_NO_PREALLOC as usize },
> = HashMap::new();

/// The inlined lookup in front of `MFES` (see [`crate::probe`]): copies of its entries in
/// buckets indexed by `SgKey::probe_bucket`, which userspace rewrites as seqlocks.
#[btf_map]
pub static MFE_PROBE: Array<ProbeBucket<SgKey>, { limits::PROBE_BUCKETS as usize }> = Array::new();

/// The inlined lookup in front of `MFES6`, as `MFE_PROBE` (buckets indexed by
/// `Sg6Key::probe_bucket`).
#[btf_map]
pub static MFE_PROBE6: Array<ProbeBucket<Sg6Key>, { limits::PROBE_BUCKETS as usize }> =
    Array::new();

/// Per-entry counters (of either family), indexed by `MfeValue::stats_slot`.
#[btf_map]
pub static MFE_STATS: PerCpuArray<MfeCounters, { limits::MFES as usize }> = PerCpuArray::new();

/// Per-(entry, outgoing interface) counters; userspace creates each key, egress only updates.
/// Not preallocated: kernel memory for the keys that exist only (preallocated, its 262 144
/// elements took 32 B per CPU each and most of the maps' creation time at start).
#[btf_map]
pub static OIF_STATS: PerCpuHashMap<
    OifCounterKey,
    OifCounters,
    { limits::OIF_COUNTERS as usize },
    { BPF_F_NO_PREALLOC as usize },
> = PerCpuHashMap::new();

/// Per-interface settings, indexed by ifindex: a plain array, so that a copy's lookup is
/// inlined (no hash). Userspace rewrites an interface's element in place: a packet racing a
/// change may see the old value of some fields and the new value of others (a copy or two
/// during a reconfiguration).
#[btf_map]
pub static IFACES: Array<IfaceConfig, { limits::IFACES as usize }> = Array::new();

/// Outgoing-interface sets: slot `MfeValue::oif_set` holds one devmap, keyed by ifindex, whose
/// entries carry the egress program.
#[btf_map]
pub static OIF_SETS: ArrayOfMaps<
    DevMapHash<{ limits::SET_IFACES as usize }>,
    { limits::OIF_SETS as usize },
> = ArrayOfMaps::new();

/// The interfaces whose copies carry the egress program (`IFACE_FLAG_EGRESS_PROGRAM`), keyed by
/// ifindex, each entry with that program: an entry with a single outgoing interface redirects
/// through here, so that its copies get the same program as the sets' copies queued to the
/// same interface in the same NAPI poll (the kernel runs the first one's on all of them).
#[btf_map]
pub static OIF_DIRECT: DevMapHash<{ limits::IFACES as usize }> = DevMapHash::new();

/// The interfaces of each outgoing set in use (key: set id), for the TC program replicating
/// jumbo frames. Not preallocated: an element per set in use (1 KiB each).
#[btf_map]
pub static SET_MEMBERS: HashMap<
    u32,
    SetMembers,
    { limits::OIF_SETS as usize },
    { BPF_F_NO_PREALLOC as usize },
> = HashMap::new();

/// What the ingress program checks of each outgoing set (key: set id) before its broadcast:
/// the smallest MTU of its members, and its bare member, the interface whose devmap entry
/// carries no egress program, whose MAC and rules the ingress program applies (every copy
/// starts from that frame; the other members' programs rewrite theirs). A plain array, so
/// that the lookup is inlined.
#[btf_map]
pub static SET_BROADCASTS: Array<SetBroadcast, { limits::OIF_SETS as usize }> = Array::new();

/// Creation alerts and wrong-interface reports to userspace.
#[btf_map]
pub static REPORTS: RingBuf<Report, { limits::REPORT_RING_BYTES as usize }> = RingBuf::new();

/// Creation alerts of (S,G)s whose earlier miss went unreported (`report_bucket::REPEAT_MISS`):
/// userspace reads them before `REPORTS`, so that they never wait behind a spray's alerts.
#[btf_map]
pub static REPEAT_REPORTS: RingBuf<Report, { limits::REPEAT_REPORT_RING_BYTES as usize }> =
    RingBuf::new();

/// AF_XDP sockets receiving punted misses (slot: `IfaceConfig::punt_slot` + receive queue).
#[btf_map]
pub static PUNT_SOCKETS: XskMap<{ limits::PUNT_SOCKETS as usize }> = XskMap::new();

/// Frames punted to each `PUNT_SOCKETS` slot so far (wrapping), written only by the CPU that
/// serves the slot's receive queue; each punted frame carries its number (`PuntMeta`).
#[btf_map]
pub static PUNTED: Array<u32, { limits::PUNT_SOCKETS as usize }> = Array::new();

/// Per `PUNT_SOCKETS` slot, the number of the last punted frame up to which userspace has sent
/// on or dropped every frame (written by userspace only).
#[btf_map]
pub static PUNTS_HANDLED: Array<u32, { limits::PUNT_SOCKETS as usize }> = Array::new();

/// Per entry (indexed by `MfeValue::stats_slot`), its packets punted in hold mode so far, or
/// `HOLD_TAKEN_OVER` once the fast path took the entry over for good; written by the CPU of
/// the entry's receive queue, and reset by userspace before it puts an entry in hold mode.
#[btf_map]
pub static HOLD_PUNTED: Array<u32, { limits::MFES as usize }> = Array::new();

/// Per entry (indexed by `MfeValue::stats_slot`), the number of its last packet punted in hold
/// mode up to which userspace has sent on every packet of the entry (written by userspace
/// only).
#[btf_map]
pub static HOLD_SENT: Array<u32, { limits::MFES as usize }> = Array::new();

/// Per entry (indexed by `MfeValue::stats_slot`), what mgmd sent on of the packets it held
/// for it (`HeldCounters`): written by userspace only, never read here; pinned so that a
/// restarted mgmd counts them again.
#[btf_map]
pub static HELD_STATS: Array<HeldCounters, { limits::MFES as usize }> = Array::new();

/// Runtime settings (indexes: `mgm_common::config`).
#[btf_map]
pub static CONFIG: Array<u64, { config::COUNT as usize }> = Array::new();

/// Per-CPU token buckets of the reports (indexes: `mgm_common::report_bucket`).
#[btf_map]
pub static REPORT_RATE: PerCpuArray<RateLimit, { report_bucket::COUNT as usize }> =
    PerCpuArray::new();

/// The report budget per (S,G): the last (S,G) that missed in each slot (slot: a hash of the
/// (S,G)) and when it last raised a creation alert. A plain array: a miss costs one lookup and
/// at most one write, however fast a spray of new (S,G)s comes.
#[btf_map]
pub static REPORTED_SGS: Array<ReportedSg, { limits::REPORTED_SGS as usize }> = Array::new();

/// Per-CPU token bucket of the wrong-interface passes of mirrored entries.
#[btf_map]
pub static MIRROR_RATE: PerCpuArray<RateLimit, 1> = PerCpuArray::new();

/// Adds one to a global counter.
#[inline(always)]
pub fn count(index: u32) {
    if let Some(counter) = STATS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot, only this CPU writes it while the program runs.
        unsafe { *counter += 1 };
    }
}
