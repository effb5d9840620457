//! The XDP data plane seen from userspace: loading and pinning the eBPF object, the forwarding
//! backend that keeps its maps in step with the MGM core's entries, and its reports.
//!
//! # Maps (names as pinned, types from `mgm_common`)
//! | map | kind | key → value |
//! |---|---|---|
//! | `MFES` | hash, not preallocated | `SgKey` → `MfeValue { iif, oif_set, stats_slot, flags, oif }` |
//! | `MFES6` | hash, not preallocated | `Sg6Key` → `MfeValue` (IPv6 entries, `XdpBackend::install_mfe6` and the other `*6` methods) |
//! | `OIF_SETS` | array of maps | set id → DEVMAP_HASH (ifindex → ifindex + egress program, none for the set's bare member) |
//! | `SET_MEMBERS` | hash, not preallocated | set id → `SetMembers` (for the TC program replicating jumbo frames) |
//! | `SET_BROADCASTS` | array | set id → `SetBroadcast { bare_member, mtu, mtu_member, mtu_without_member }`: the ifindex whose devmap entry runs no program (0: none) and the smallest MTU of the members (longer packets go to the TC program) |
//! | `OIF_DIRECT` | DEVMAP_HASH | ifindex → ifindex + egress program, for the interfaces whose copies carry it (`IFACE_FLAG_EGRESS_PROGRAM`): entries' single copies to them go through here |
//! | `MFE_STATS` | per-CPU array | stats slot → `MfeCounters` (slots shared by both families) |
//! | `OIF_STATS` | per-CPU hash, not preallocated | `OifCounterKey { stats_slot, ifindex }` → `OifCounters` (base at join, drops; copies sent are derived) |
//! | `IFACES` | array (ifindexes below `limits::IFACES`) | ifindex → `IfaceConfig` (MAC, TTL threshold, MTU, punt slots, IPv6 scope boundary, flags: configured, mirrored, single copies with the egress program) |
//! | `PUNT_SOCKETS` | XSKMAP | punt slot + receive queue → AF_XDP socket |
//! | `PUNTED`, `PUNTS_HANDLED` | arrays | punt slot → frames punted there (XDP), how far userspace has dealt with them |
//! | `HOLD_PUNTED`, `HOLD_SENT` | arrays | stats slot → the entry's packets punted in hold mode (XDP; `HOLD_TAKEN_OVER` once the fast path took it over), how far userspace has sent them on |
//! | `HELD_STATS` | array | stats slot → what userspace sent on of the entry's held packets (`HeldCounters`; userspace only, read back by the next mgmd for the entry's counters) |
//! | `REPORTS` | ring buffer | `Report` records (misses, wrong interface; both families) |
//! | `REPEAT_REPORTS` | ring buffer | `Report` records of repeated misses, read before `REPORTS` |
//! | `CONFIG`, `REPORT_RATE` | array, per-CPU array | report rate limit and its token buckets; mirror settings and heartbeat |
//! | `MIRROR_RATE` | per-CPU array | token bucket of mirrored entries' wrong-interface passes |
//! | `REPORTED_SGS` | array | hash of an (S,G) → `ReportedSg` (the (S,G), its last creation alert) |
//! | `STATS` | per-CPU array | `mgm_common::stat` counter → packets |
//!
//! An entry with one outgoing interface (other than its incoming one) names it in
//! `MfeValue::oif` and is redirected to it directly, the ingress program applying that
//! interface's rules itself; an entry with more uses an outgoing set, whose devmap entries
//! carry the egress program. Moving between the two is one `MFES` update, like any change.
//!
//! An interface configured as mirrored (its routes belong to the kernel, see
//! `crate::daemon::mirror`) marks every entry arriving on it `MFE_FLAG_MIRRORED`: samples,
//! wrong-interface passes and the heartbeat fail-safe of `mgm-ebpf/src/mirror.rs` apply to it
//! ([`XdpBackend::set_mirror_timing`], [`XdpBackend::mirror_heartbeat`]).
//!
//! # Pinning
//! [`DataPlane::load_pinned`] pins every map above as `<dir>/<NAME>`, the programs as
//! `<dir>/prog_ingress` and `<dir>/prog_egress`, and each attachment as a bpf_link
//! `<dir>/links/<interface>` ([`DEFAULT_PIN_DIR`] is `/sys/fs/bpf/mgm`). Forwarding goes on
//! while no daemon runs; the next [`XdpBackend::new`] adopts what it finds. A change of a map's
//! layout between versions needs the directory removed first, or the map a new name
//! ([`map_name::REPLACED`]); the global counter array alone may grow, its values carried over
//! ([`grown_counters`]). The directories must be the process's user's alone ([`pin_dir`]),
//! and while the process runs it holds every link by its own descriptor as well, so a removed
//! pin does not stop forwarding. Where the bpffs is found
//! when the configured path is not one (under `ip netns exec`): [`bpffs`]. The directories of
//! namespaces that are gone are removed by [`stale_pins`].
mod allocating;
mod backend;
mod bench_object;
pub mod bpffs;
mod grown_counters;
mod ids;
mod loader;
mod member_mtus;
mod oif_direct;
mod oif_sets;
pub mod pin_dir;
mod punt;
mod reports;
pub mod stale_pins;
mod sys;
mod xdp_backend;
mod xsk;

pub use backend::{ForwardingBackend, IfaceSettings, InstalledMfe, MfeStats, OifStats};
pub use bench_object::BENCH_OBJECT;
pub use loader::{
    map_name, DataPlane, DataPlaneError, GlobalStats, DEFAULT_PIN_DIR, ENTRY_CAPACITIES,
};
pub use punt::{
    IfaceSockets, PuntSockets, SharedSockets, DEFAULT_UMEM_FRAMES, MAX_UMEM_FRAMES,
    MIN_FRAMES_PER_QUEUE,
};
pub use reports::{AsyncReportReader, DataPlaneReport, ReportReader};
pub use xdp_backend::{monotonic_ns, XdpBackend, MAX_SAMPLE_INTERVAL};
pub use xsk::{XskConfig, XskSocket};
