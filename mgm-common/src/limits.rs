//! Size limits of the maps.

/// MFE entries of each family (`MFES`, `MFES6`), and the counter slots both share.
pub const MFES: u32 = 131_072;
/// Outgoing-interface sets (slots of the outer `OIF_SETS` array).
pub const OIF_SETS: u32 = 16_384;
/// Interfaces in one outgoing set (`max_entries` of every inner devmap).
pub const SET_IFACES: u32 = 256;
/// Slots of `IFACES`, indexed by ifindex: an interface whose ifindex is this or more
/// cannot be configured (refused with an error; copies to it count as
/// `stat::EGRESS_NO_CONFIG`).
pub const IFACES: u32 = 65_536;
/// Per-(entry, outgoing interface) counters.
pub const OIF_COUNTERS: u32 = 262_144;
/// AF_XDP punt socket slots.
pub const PUNT_SOCKETS: u32 = 1024;
/// Ring buffer bytes for reports.
pub const REPORT_RING_BYTES: u32 = 1 << 20;
/// Ring buffer bytes for the creation alerts of repeated misses (read first).
pub const REPEAT_REPORT_RING_BYTES: u32 = 1 << 16;
/// Slots of the report budget's memory of (S,G)s that missed (a power of two): each
/// (S,G) hashes to one slot and overwrites whatever (S,G) was there, which then counts
/// as new again.
pub const REPORTED_SGS: u32 = 65_536;
/// Buckets of each probe array in front of the hash maps (`MFE_PROBE`, `MFE_PROBE6`; a
/// power of two): [`PROBE_WAYS`](crate::PROBE_WAYS) entries each, twice `MFES` in all.
pub const PROBE_BUCKETS: u32 = 65_536;
