//! The packed MIB record layouts of spec §3 (`MIB_IPMCAST_MFE`, `MIB_IPMCAST_MFE_STATS[_EX]`,
//! `SOURCE_GROUP_ENTRY`): sizes, encoders and the one decoder `MgmSetMfe` needs. Addresses are
//! written as their four octets (network order, A-07); other fields are native-endian DWORDs.

use super::mfe::Mfe;
use super::types::{Sg, StatsLevel, Timestamp};
use std::net::Ipv4Addr;

/// `SIZEOF_BASIC_MIB_MFE`.
const MFE_BASE: usize = 60;
/// `MIB_IPMCAST_OIF` (XP layout).
const OIF: usize = 16;
/// `MIB_IPMCAST_MFE_STATS` up to its OIF array.
const STATS_BASE: usize = 64;
/// `MIB_IPMCAST_MFE_STATS_EX` up to its OIF array.
const STATS_EX_BASE: usize = 84;
/// `MIB_IPMCAST_OIF_STATS` (LH layout).
const OIF_STATS: usize = 28;

/// Size of one `SOURCE_GROUP_ENTRY`.
pub const SOURCE_GROUP_ENTRY_SIZE: usize = 16;

/// `SIZEOF_MIB_MFE(n)` = 60 + 16·n.
pub const fn sizeof_mib_mfe(n: usize) -> usize {
    MFE_BASE + OIF * n
}

/// `SIZEOF_MIB_MFE_STATS(n)` = 64 + 28·n.
pub const fn sizeof_mib_mfe_stats(n: usize) -> usize {
    STATS_BASE + OIF_STATS * n
}

/// `SIZEOF_MIB_MFE_STATS_EX(n)` = 84 + 28·n.
pub const fn sizeof_mib_mfe_stats_ex(n: usize) -> usize {
    STATS_EX_BASE + OIF_STATS * n
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
    pub(crate) fn size(self, m: &Mfe) -> usize {
        let n = m.oifs().len();
        match self {
            Record::Mfe => sizeof_mib_mfe(n),
            Record::Stats(StatsLevel::Basic) => sizeof_mib_mfe_stats(n),
            Record::Stats(StatsLevel::Extended) => sizeof_mib_mfe_stats_ex(n),
        }
    }

    /// Writes `m` into `out`, which is exactly [`Record::size`] bytes.
    pub(crate) fn encode(self, m: &Mfe, now: Timestamp, out: &mut [u8]) {
        let mut w = Writer { out, at: 0 };
        w.addr(m.sg().group);
        w.addr(m.sg().source);
        w.addr(Ipv4Addr::BROADCAST);
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
                    w.u64(c.total_out_packets);
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

/// Writes one `SOURCE_GROUP_ENTRY` into a 16-byte `out`.
pub(crate) fn encode_source_group(sg: Sg, out: &mut [u8]) {
    let mut w = Writer { out, at: 0 };
    w.addr(sg.source);
    w.addr(sg.source_mask());
    w.addr(sg.group);
    w.addr(sg.group_mask());
}

/// Reads (source, group) and `dwUpStrmNgbr` from a `MIB_IPMCAST_MFE`; `None` if too short.
pub(crate) fn decode_mfe_key(buf: &[u8]) -> Option<(Sg, Ipv4Addr)> {
    let addr = |at: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    if buf.len() < MFE_BASE {
        return None;
    }
    Some((Sg::new(addr(4)?, addr(0)?), addr(12)?))
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
    fn bytes(&mut self, b: [u8; 4]) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + 4) {
            dst.copy_from_slice(&b);
        }
        self.at += 4;
    }
    fn u32(&mut self, v: u32) {
        self.bytes(v.to_ne_bytes());
    }
    /// A 64-bit counter truncated to its low 32 bits, as the MIB records hold them.
    fn u64(&mut self, v: u64) {
        self.u32(v as u32);
    }
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn addr(&mut self, a: Ipv4Addr) {
        self.bytes(a.octets());
    }
}
