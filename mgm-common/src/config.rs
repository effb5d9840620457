//! Settings of the `CONFIG` array (`u64` values), indexed by these constants.

/// Nanoseconds of credit one report costs, per CPU and per report kind (0 = unlimited).
pub const REPORT_INTERVAL_NS: u32 = 0;
/// Reports a CPU may raise back to back before the interval applies.
pub const REPORT_BURST: u32 = 1;
/// Mirrored entries: a sample goes to the kernel once per this many ns per CPU (0 = none).
pub const MIRROR_SAMPLE_NS: u32 = 2;
/// mgmd's last heartbeat (ns, CLOCK_MONOTONIC: the clock of `bpf_ktime_get_ns`, which the
/// data plane reads coarse).
pub const MIRROR_HEARTBEAT_NS: u32 = 3;
/// A heartbeat older than this (ns) sends every packet of a mirrored entry to the kernel.
pub const MIRROR_TIMEOUT_NS: u32 = 4;
/// Nanoseconds of credit one wrong-interface pass of a mirrored entry costs, per CPU.
pub const MIRROR_WRONG_IF_INTERVAL_NS: u32 = 5;
/// Wrong-interface passes a CPU may make back to back before the interval applies.
pub const MIRROR_WRONG_IF_BURST: u32 = 6;
/// Nanoseconds during which an (S,G) that raised a creation alert raises no other (0 = no
/// such wait): its packets are punted or passed as any miss's.
pub const REPORT_REPEAT_NS: u32 = 7;
/// Longest frame (bytes, Ethernet header on) a punt socket's frame holds: longer ones are
/// not punted (`stat::TOO_LONG_TO_PUNT`); 0 = no limit.
pub const PUNT_FRAME_MAX: u32 = 8;
/// 1: the ingress program looks (S,G)s up in the probe arrays before the hash maps; 0:
/// in the hash maps only. Set by userspace when it loads the data plane (1 on x86-64 only,
/// whose loads keep their order, see `mgm-user/docs/design.md`).
pub const PROBE: u32 = 9;
/// Number of settings.
pub const COUNT: u32 = 10;
