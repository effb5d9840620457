//! The MFE maps' values and the per-entry and per-(entry, interface) counters.

/// Value of the MFE map: what to do with a packet of one (S,G).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfeValue {
    /// The only ifindex packets of this entry are accepted from.
    pub iif: u32,
    /// Outgoing-interface set (slot of the `OIF_SETS` array of devmaps); [`NO_OIF_SET`] for a
    /// negative entry, whose packets are dropped, or for one with a single `oif`.
    pub oif_set: u32,
    /// Slot of this entry's counters in `MFE_STATS` (also handed to the egress program).
    pub stats_slot: u32,
    /// [`MFE_FLAG_HOLD`], [`MFE_FLAG_MIRRORED`], or 0.
    pub flags: u32,
    /// The outgoing ifindex when the list has exactly one interface (not the incoming one):
    /// the packet is redirected to it directly, and `oif_set` is [`NO_OIF_SET`]; 0 otherwise.
    pub oif: u32,
}

/// `MfeValue::flags`: the entry exists, but userspace still holds earlier packets of it, so
/// its packets go to the punt socket behind them instead of being forwarded here.
pub const MFE_FLAG_HOLD: u32 = 1;

/// `MfeValue::flags`: the entry mirrors a kernel route (its incoming interface is mirrored):
/// one packet per `MIRROR_SAMPLE_NS` goes to the kernel instead, packets on the wrong interface
/// go to the kernel (rate limited), and all of them do once mgmd's heartbeat is stale.
pub const MFE_FLAG_MIRRORED: u32 = 2;

/// `MfeValue::oif_set` of a negative entry.
pub const NO_OIF_SET: u32 = u32::MAX;

/// Per-CPU counters of one MFE (`MFE_STATS[stats_slot]`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MfeCounters {
    /// Packets accepted on the incoming interface.
    pub packets: u64,
    /// Bytes of those packets (layer 3).
    pub bytes: u64,
    /// Packets that arrived on another interface.
    pub wrong_if: u64,
    /// Packets dropped for TTL (IPv6: hop limit) ≤ 1 (also counted in `packets`, as the kernel
    /// counts them in its entry's, and in `unforwarded`).
    pub ttl_expired: u64,
    /// Packets of `packets` not forwarded here: those dropped for TTL ≤ 1 and, of mirrored
    /// entries, the samples handed to the kernel (named `sampled` before; same place).
    pub unforwarded: u64,
    /// Bytes of those packets (also counted in `bytes`).
    pub unforwarded_bytes: u64,
    /// Mirrored entries: when this CPU last handed a sample to the kernel (ns, monotonic).
    pub last_sample_ns: u64,
}

impl MfeCounters {
    /// (packets, bytes) of `per_cpu` (one entry's values of every CPU) that XDP forwarded:
    /// those accepted less those it did not forward (samples, TTL ≤ 1).
    pub fn forwarded(per_cpu: &[MfeCounters]) -> (u64, u64) {
        per_cpu.iter().fold((0u64, 0u64), |(packets, bytes), c| {
            (
                packets.wrapping_add(c.packets.wrapping_sub(c.unforwarded)),
                bytes.wrapping_add(c.bytes.wrapping_sub(c.unforwarded_bytes)),
            )
        })
    }
}

/// What mgmd sent on of one entry's packets it held while the entry was being created (and
/// refused as arriving on another interface): the part of the entry's counters that the data
/// plane did not count (`HELD_STATS[stats_slot]`, written by userspace only and never read by
/// the programs). Kept in a pinned map so that a restarted mgmd adds it to the entry's counters
/// again, which then never go down across a restart.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldCounters {
    /// Packets sent on (whatever the number of copies).
    pub packets: u32,
    /// Packets refused because they arrived on another interface than the entry's.
    pub wrong_if: u32,
    /// Bytes of the packets sent on (layer 3).
    pub bytes: u64,
}

/// Key of the per-(entry, outgoing interface) counters.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct OifCounterKey {
    /// The entry's `stats_slot`.
    pub stats_slot: u32,
    /// The outgoing ifindex.
    pub ifindex: u32,
}

/// Per-CPU counters of one (entry, outgoing interface). Copies sent are not counted per copy
/// (that would cost every copy a hash lookup): every packet the entry forwarded here (its
/// packets less a mirrored entry's samples, which the kernel forwards) goes to every outgoing
/// interface unless that interface's rules drop it, so the copies sent since the interface
/// joined the entry are the entry's forwarded packets since then minus the interface's drops
/// (see [`OifCounters::sent`]). Userspace writes the entry's forwarded counts at the time the
/// interface joined into CPU 0's value when it creates the key; the egress program only adds
/// drops.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OifCounters {
    /// The entry's forwarded packets when the interface joined it (CPU 0's value; 0 in the
    /// others).
    pub base_packets: u64,
    /// The entry's forwarded bytes when the interface joined it (CPU 0's value; 0 in the
    /// others).
    pub base_bytes: u64,
    /// Copies dropped by the TTL threshold or the MTU.
    pub drops: u64,
    /// Bytes (layer 3) of those copies.
    pub drop_bytes: u64,
}

impl OifCounters {
    /// (packets, bytes) sent out of the interface, from the entry's forwarded totals (all CPUs,
    /// see [`MfeCounters::forwarded`]) and this key's values of every CPU.
    pub fn sent(entry_packets: u64, entry_bytes: u64, per_cpu: &[OifCounters]) -> (u64, u64) {
        let mut total = OifCounters::default();
        for c in per_cpu {
            total.base_packets = total.base_packets.wrapping_add(c.base_packets);
            total.base_bytes = total.base_bytes.wrapping_add(c.base_bytes);
            total.drops = total.drops.wrapping_add(c.drops);
            total.drop_bytes = total.drop_bytes.wrapping_add(c.drop_bytes);
        }
        (
            entry_packets
                .saturating_sub(total.base_packets)
                .saturating_sub(total.drops),
            entry_bytes
                .saturating_sub(total.base_bytes)
                .saturating_sub(total.drop_bytes),
        )
    }
}
