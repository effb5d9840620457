//! The packed MIB record layouts of spec §3 (`MIB_IPMCAST_MFE`, `MIB_IPMCAST_MFE_STATS[_EX]`,
//! `SOURCE_GROUP_ENTRY`): sizes, encoders and the one decoder `MgmSetMfe` needs. Addresses are
//! written as their octets (network order, A-07); other fields are native-endian DWORDs.
//!
//! The IPv6 records are the IPv4 ones with every address field 16 bytes wide instead of
//! 4, in the same order: every field stays 4-byte aligned, and the IPv4 layouts are unchanged.
//! `mgm-user/docs/protocol.md` §6 lists the offsets of both.

use super::address::Address;
use super::mfe::Mfe;
use super::types::{Sg, StatsLevel, Timestamp};
use std::net::Ipv4Addr;

/// Bytes of a record part with `addrs` addresses of family `A` and `words` other DWORDs.
const fn span<A: Address>(addrs: usize, words: usize) -> usize {
    addrs * A::OCTETS + words * 4
}

/// `MIB_IPMCAST_MFE` of family `A` with `n` outgoing interfaces: 6 addresses and 9 DWORDs,
/// then per OIF an address and 3 DWORDs (IPv4: 60 + 16·n, IPv6: 132 + 28·n).
pub const fn mfe_record_size<A: Address>(n: usize) -> usize {
    span::<A>(6, 9) + span::<A>(1, 3) * n
}

/// `MIB_IPMCAST_MFE_STATS` of family `A`: 6 addresses and 10 DWORDs, then per OIF an address
/// and 6 DWORDs (IPv4: 64 + 28·n, IPv6: 136 + 40·n).
pub const fn mfe_stats_record_size<A: Address>(n: usize) -> usize {
    span::<A>(6, 10) + span::<A>(1, 6) * n
}

/// `MIB_IPMCAST_MFE_STATS_EX` of family `A`: `_STATS` with 5 more DWORDs before the OIFs
/// (IPv4: 84 + 28·n, IPv6: 156 + 40·n).
pub const fn mfe_stats_ex_record_size<A: Address>(n: usize) -> usize {
    span::<A>(6, 15) + span::<A>(1, 6) * n
}

/// `SOURCE_GROUP_ENTRY` of family `A`: four addresses (IPv4: 16, IPv6: 64).
pub const fn source_group_entry_size<A: Address>() -> usize {
    span::<A>(4, 0)
}

/// Size of one IPv4 `SOURCE_GROUP_ENTRY`.
pub const SOURCE_GROUP_ENTRY_SIZE: usize = source_group_entry_size::<Ipv4Addr>();

/// `SIZEOF_MIB_MFE(n)` = 60 + 16·n.
pub const fn sizeof_mib_mfe(n: usize) -> usize {
    mfe_record_size::<Ipv4Addr>(n)
}

/// `SIZEOF_MIB_MFE_STATS(n)` = 64 + 28·n.
pub const fn sizeof_mib_mfe_stats(n: usize) -> usize {
    mfe_stats_record_size::<Ipv4Addr>(n)
}

/// `SIZEOF_MIB_MFE_STATS_EX(n)` = 84 + 28·n.
pub const fn sizeof_mib_mfe_stats_ex(n: usize) -> usize {
    mfe_stats_ex_record_size::<Ipv4Addr>(n)
}

/// Which record an MFE is encoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// `MIB_IPMCAST_MFE`.
    Mfe,
    /// `MIB_IPMCAST_MFE_STATS` or `_EX`.
    Stats(StatsLevel),
}

impl Record {
    /// Size of `m` in this format.
    pub(crate) fn size<A: Address>(self, m: &Mfe<A>) -> usize {
        let n = m.oifs().len();
        match self {
            Record::Mfe => mfe_record_size::<A>(n),
            Record::Stats(StatsLevel::Basic) => mfe_stats_record_size::<A>(n),
            Record::Stats(StatsLevel::Extended) => mfe_stats_ex_record_size::<A>(n),
        }
    }

    /// Writes `m` into `out`, which is exactly [`Record::size`] bytes.
    pub(crate) fn encode<A: Address>(self, m: &Mfe<A>, now: Timestamp, out: &mut [u8]) {
        let mut w = Writer { out, at: 0 };
        w.addr(m.sg().group);
        w.addr(m.sg().source);
        w.addr(A::HOST_MASK);
        w.addr(m.upstream());
        w.u32(m.iif().ifindex);
        w.u32(m.iif_protocol());
        w.u32(m.route().protocol);
        w.addr(m.route().network);
        w.addr(m.route().mask);
        let (up, left) = (m.up_time(now), m.expiry_time(now));
        match self {
            Record::Mfe => {
                w.u32(sat(up.as_secs()));
                w.u32(sat(left.as_millis().div_ceil(1000)));
                w.u32(m.timeout_s());
                w.len(m.oifs().len());
                w.u32(0); // fFlags
                w.u32(0); // dwReserved
                for o in m.oifs().iter() {
                    w.u32(o.ifindex);
                    w.addr(o.next_hop);
                    w.u32(0);
                    w.u32(0);
                }
            }
            Record::Stats(level) => {
                let c = m.counters();
                w.u32(sat(up.as_millis() / 10));
                // Rounded up: 0 would mean "not subject to aging".
                w.u32(sat(left.as_millis().div_ceil(10)).max(1));
                w.len(m.oifs().len());
                w.u64(c.in_pkts);
                w.u64(c.in_octets);
                w.u64(c.pkts_different_if);
                w.u64(c.queue_overflow);
                if level == StatsLevel::Extended {
                    w.u64(c.uninit_mfe);
                    w.u64(c.negative_mfe);
                    w.u64(c.in_discards);
                    w.u64(c.in_hdr_errors);
                    w.u64(c.total_out());
                }
                for o in m.oifs().iter() {
                    let oc = c.oif(o);
                    w.u32(o.ifindex);
                    w.addr(o.next_hop);
                    w.u32(0); // dwDialContext
                    w.u64(oc.ttl_too_low);
                    w.u64(oc.frag_needed);
                    w.u64(oc.out_packets);
                    w.u64(oc.out_discards);
                }
            }
        }
    }
}

/// Writes one `SOURCE_GROUP_ENTRY` into `out` of [`source_group_entry_size`] bytes.
pub(crate) fn encode_source_group<A: Address>(sg: Sg<A>, out: &mut [u8]) {
    let mut w = Writer { out, at: 0 };
    w.addr(sg.source);
    w.addr(sg.source_mask());
    w.addr(sg.group);
    w.addr(sg.group_mask());
}

/// Reads (source, group) and `dwUpStrmNgbr` (the record's first, second and fourth fields)
/// from a `MIB_IPMCAST_MFE` of family `A`; `None` if shorter than one without OIFs.
pub(crate) fn decode_mfe_key<A: Address>(buf: &[u8]) -> Option<(Sg<A>, A)> {
    let addr = |field: usize| A::read_octets(buf.get(field * A::OCTETS..)?);
    if buf.len() < mfe_record_size::<A>(0) {
        return None;
    }
    Some((Sg::new(addr(1)?, addr(0)?), addr(3)?))
}

/// A time count (seconds or centiseconds, A-13) saturated to a DWORD. Elapsed times are
/// rounded down, remaining times up.
fn sat(n: impl TryInto<u32>) -> u32 {
    n.try_into().unwrap_or(u32::MAX)
}

/// Sequential field writer over a buffer sized for the record.
struct Writer<'a> {
    out: &'a mut [u8],
    at: usize,
}

impl Writer<'_> {
    fn u32(&mut self, v: u32) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + 4) {
            dst.copy_from_slice(&v.to_ne_bytes());
        }
        self.at += 4;
    }
    /// A 64-bit counter truncated to its low 32 bits, as the MIB records hold them.
    fn u64(&mut self, v: u64) {
        self.u32(v as u32);
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn addr<A: Address>(&mut self, a: A) {
        if let Some(dst) = self.out.get_mut(self.at..) {
            a.write_octets(dst);
        }
        self.at += A::OCTETS;
    }
}
