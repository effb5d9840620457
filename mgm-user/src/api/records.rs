//! The records of [`Response::Buffer`](super::proto::Response::Buffer): the MIB byte layouts
//! of spec §3 (`SOURCE_GROUP_ENTRY`, `MIB_IPMCAST_MFE`, `MIB_IPMCAST_MFE_STATS[_EX]`) decoded
//! into JSON-friendly structs, and the hex text that carries the bytes. Addresses are their
//! octets in network order (4 for IPv4; 16 in the IPv6 records, which are the IPv4 ones with
//! wider address fields, `docs/protocol.md` §6); every other field is a 32-bit integer in the
//! host's byte order (little-endian on x86-64 and arm64), as the C structures hold them.
use super::proto::{ApiFamily, ApiIfId};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One record of a [`Response::Buffer`](super::proto::Response::Buffer), decoded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub enum ApiRecord {
    /// `SOURCE_GROUP_ENTRY`.
    SourceGroup {
        /// `dwSourceAddr`.
        source: IpAddr,
        /// `dwSourceMask`.
        source_mask: IpAddr,
        /// `dwGroupAddr`.
        group: IpAddr,
        /// `dwGroupMask`.
        group_mask: IpAddr,
    },
    /// `MIB_IPMCAST_MFE`.
    Mfe(MfeRecord),
    /// `MIB_IPMCAST_MFE_STATS` or, with `extended`, `MIB_IPMCAST_MFE_STATS_EX`.
    MfeStats(MfeStatsRecord),
}

/// The fields `MIB_IPMCAST_MFE` and its statistics records share (offsets 0-32; IPv6 0-104).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeHead {
    /// `dwGroup`.
    pub group: IpAddr,
    /// `dwSource`.
    pub source: IpAddr,
    /// `dwSrcMask`.
    pub source_mask: IpAddr,
    /// `dwUpStrmNgbr`.
    pub upstream: IpAddr,
    /// `dwInIfIndex`.
    pub in_ifindex: u32,
    /// `dwInIfProtocol`.
    pub in_protocol: u32,
    /// `dwRouteProtocol`.
    pub route_protocol: u32,
    /// `dwRouteNetwork`.
    pub route_network: IpAddr,
    /// `dwRouteMask`.
    pub route_mask: IpAddr,
}

/// `MIB_IPMCAST_MFE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeRecord {
    /// Offsets 0-32 (IPv6 0-104).
    #[serde(flatten)]
    pub head: MfeHead,
    /// `ulUpTime`, seconds.
    pub up_time_s: u32,
    /// `ulExpiryTime`, seconds.
    pub expiry_time_s: u32,
    /// `ulTimeOut`, seconds.
    pub timeout_s: u32,
    /// `rgmioOutInfo`: (ifindex, next hop).
    pub oifs: Vec<ApiIfId>,
}

/// `MIB_IPMCAST_MFE_STATS[_EX]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeStatsRecord {
    /// Offsets 0-32 (IPv6 0-104).
    #[serde(flatten)]
    pub head: MfeHead,
    /// `ulUpTime`, hundredths of a second.
    pub up_time_cs: u32,
    /// `ulExpiryTime`, hundredths of a second (0: not aging).
    pub expiry_time_cs: u32,
    /// `ulInPkts`.
    pub in_pkts: u32,
    /// `ulInOctets`.
    pub in_octets: u32,
    /// `ulPktsDifferentIf`.
    pub pkts_different_if: u32,
    /// `ulQueueOverflow`.
    pub queue_overflow: u32,
    /// The `_EX` fields (`MGM_MFE_STATS_1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extended: Option<MfeStatsEx>,
    /// `rgmiosOutStats`.
    pub oifs: Vec<OifStatsRecord>,
}

/// The fields `MIB_IPMCAST_MFE_STATS_EX` adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfeStatsEx {
    /// `ulUninitMfe`.
    pub uninit_mfe: u32,
    /// `ulNegativeMfe`.
    pub negative_mfe: u32,
    /// `ulInDiscards`.
    pub in_discards: u32,
    /// `ulInHdrErrors`.
    pub in_hdr_errors: u32,
    /// `ulTotalOutPackets`.
    pub total_out_packets: u32,
}

/// `MIB_IPMCAST_OIF_STATS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OifStatsRecord {
    /// `dwOutIfIndex`.
    pub ifindex: u32,
    /// `dwNextHopAddr`.
    pub next_hop: IpAddr,
    /// `ulTtlTooLow`.
    pub ttl_too_low: u32,
    /// `ulFragNeeded`.
    pub frag_needed: u32,
    /// `ulOutPackets`.
    pub out_packets: u32,
    /// `ulOutDiscards`.
    pub out_discards: u32,
}

/// Which record a buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// `SOURCE_GROUP_ENTRY` (16 bytes; IPv6 64).
    SourceGroup,
    /// `MIB_IPMCAST_MFE` (60 + 16 per OIF; IPv6 132 + 28).
    Mfe,
    /// `MIB_IPMCAST_MFE_STATS` (64 + 28 per OIF; IPv6 136 + 40).
    Stats,
    /// `MIB_IPMCAST_MFE_STATS_EX` (84 + 28 per OIF; IPv6 156 + 40).
    StatsEx,
}

/// Why a buffer does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("record {index} is truncated or malformed")]
pub struct RecordError {
    /// Which record.
    pub index: usize,
}

/// Decodes `count` packed records of `kind` with `family`'s addresses from `buf`.
pub fn decode(
    kind: RecordKind,
    family: ApiFamily,
    buf: &[u8],
    count: u32,
) -> Result<Vec<ApiRecord>, RecordError> {
    decode_prefix(kind, family, buf, count).map(|(records, _)| records)
}

/// Decodes `count` packed records of `kind` with `family`'s addresses from the start of `buf`;
/// also returns how many bytes they take.
pub fn decode_prefix(
    kind: RecordKind,
    family: ApiFamily,
    buf: &[u8],
    count: u32,
) -> Result<(Vec<ApiRecord>, usize), RecordError> {
    let mut r = Reader { buf, at: 0, family };
    let records = (0..count as usize)
        .map(|index| r.record(kind).ok_or(RecordError { index }))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((records, r.at))
}

/// Lowercase hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a hex string; `None` if it is not hex.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
    family: ApiFamily,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let b = self.buf.get(self.at..self.at + N)?.try_into().ok()?;
        self.at += N;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_ne_bytes)
    }
    fn addr(&mut self) -> Option<IpAddr> {
        Some(match self.family {
            ApiFamily::Ipv4 => Ipv4Addr::from(self.take::<4>()?).into(),
            ApiFamily::Ipv6 => Ipv6Addr::from(self.take::<16>()?).into(),
        })
    }

    fn record(&mut self, kind: RecordKind) -> Option<ApiRecord> {
        if kind == RecordKind::SourceGroup {
            return Some(ApiRecord::SourceGroup {
                source: self.addr()?,
                source_mask: self.addr()?,
                group: self.addr()?,
                group_mask: self.addr()?,
            });
        }
        let head = MfeHead {
            group: self.addr()?,
            source: self.addr()?,
            source_mask: self.addr()?,
            upstream: self.addr()?,
            in_ifindex: self.u32()?,
            in_protocol: self.u32()?,
            route_protocol: self.u32()?,
            route_network: self.addr()?,
            route_mask: self.addr()?,
        };
        let (up, expiry) = (self.u32()?, self.u32()?);
        if kind == RecordKind::Mfe {
            let timeout_s = self.u32()?;
            let n = self.u32()?;
            let (_flags, _reserved) = (self.u32()?, self.u32()?);
            let oifs = (0..n)
                .map(|_| {
                    let ifid = ApiIfId {
                        ifindex: self.u32()?,
                        next_hop: self.addr()?,
                    };
                    let (_r0, _r1) = (self.u32()?, self.u32()?);
                    Some(ifid)
                })
                .collect::<Option<Vec<_>>>()?;
            return Some(ApiRecord::Mfe(MfeRecord {
                head,
                up_time_s: up,
                expiry_time_s: expiry,
                timeout_s,
                oifs,
            }));
        }
        let n = self.u32()?;
        let (in_pkts, in_octets) = (self.u32()?, self.u32()?);
        let (pkts_different_if, queue_overflow) = (self.u32()?, self.u32()?);
        let extended = match kind {
            RecordKind::StatsEx => Some(MfeStatsEx {
                uninit_mfe: self.u32()?,
                negative_mfe: self.u32()?,
                in_discards: self.u32()?,
                in_hdr_errors: self.u32()?,
                total_out_packets: self.u32()?,
            }),
            _ => None,
        };
        let oifs = (0..n)
            .map(|_| {
                let ifindex = self.u32()?;
                let next_hop = self.addr()?;
                let _dial_context = self.u32()?;
                Some(OifStatsRecord {
                    ifindex,
                    next_hop,
                    ttl_too_low: self.u32()?,
                    frag_needed: self.u32()?,
                    out_packets: self.u32()?,
                    out_discards: self.u32()?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(ApiRecord::MfeStats(MfeStatsRecord {
            head,
            up_time_cs: up,
            expiry_time_cs: expiry,
            in_pkts,
            in_octets,
            pkts_different_if,
            queue_overflow,
            extended,
            oifs,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_garbage() {
        assert_eq!(
            from_hex(&to_hex(&[0, 1, 0xab, 0xff])),
            Some(vec![0, 1, 0xab, 0xff])
        );
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn source_group_entries_decode_and_truncation_is_an_error() {
        let mut buf = vec![0u8; 16];
        buf[8..12].copy_from_slice(&[239, 1, 1, 1]);
        buf[12..16].copy_from_slice(&[255; 4]);
        let v4 = ApiFamily::Ipv4;
        let records = decode(RecordKind::SourceGroup, v4, &buf, 1).unwrap();
        assert_eq!(
            records,
            [ApiRecord::SourceGroup {
                source: Ipv4Addr::UNSPECIFIED.into(),
                source_mask: Ipv4Addr::UNSPECIFIED.into(),
                group: Ipv4Addr::new(239, 1, 1, 1).into(),
                group_mask: Ipv4Addr::BROADCAST.into(),
            }]
        );
        assert_eq!(
            decode(RecordKind::SourceGroup, v4, &buf, 2),
            Err(RecordError { index: 1 })
        );
    }

    #[test]
    fn ipv6_records_decode_with_16_byte_addresses() {
        let group: Ipv6Addr = "ff0e::1".parse().unwrap();
        let mut buf = vec![0u8; 64];
        buf[32..48].copy_from_slice(&group.octets());
        buf[48..64].copy_from_slice(&[0xff; 16]);
        let records = decode(RecordKind::SourceGroup, ApiFamily::Ipv6, &buf, 1).unwrap();
        assert_eq!(
            records,
            [ApiRecord::SourceGroup {
                source: Ipv6Addr::UNSPECIFIED.into(),
                source_mask: Ipv6Addr::UNSPECIFIED.into(),
                group: group.into(),
                group_mask: Ipv6Addr::from([0xff; 16]).into(),
            }]
        );
        // An MFE with one OIF: 132 + 28 bytes; its OIF's ifindex at 132, next hop at 136.
        let mut mfe = vec![0u8; 160];
        mfe[120..124].copy_from_slice(&1u32.to_ne_bytes());
        mfe[132..136].copy_from_slice(&7u32.to_ne_bytes());
        let records = decode(RecordKind::Mfe, ApiFamily::Ipv6, &mfe, 1).unwrap();
        let [ApiRecord::Mfe(m)] = records.as_slice() else {
            panic!("one MFE record: {records:?}");
        };
        assert_eq!(m.oifs, [ApiIfId::new(7, Ipv6Addr::UNSPECIFIED)]);
        assert_eq!(
            decode(RecordKind::Mfe, ApiFamily::Ipv6, &mfe[..159], 1),
            Err(RecordError { index: 0 })
        );
    }
}
