//! IGMP messages: v1 (RFC 1112), v2 (RFC 2236) and v3 (RFC 3376) queries and reports.
//!
//! The v3 group records and query fields have the layout of MLDv2's: [`super::source_list`].
use super::source_list::{self, u16_at, QueryFields, QueryView, Record, RecordRepr, WireAddr};
use super::{checksum, ipv4, Error, Result};
use std::net::Ipv4Addr;

pub use super::source_list::RecordType;

/// Byte offsets of the IGMP message.
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const MAX_RESP: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Group address of queries, v1/v2 reports and leaves.
    pub const GROUP: Range<usize> = 4..8;
    /// Length of v1/v2 messages, and the minimum of any message; v3 queries continue here.
    pub const V2_LEN: usize = 8;
    /// v3 report: number of group records.
    pub const NUM_RECORDS: Range<usize> = 6..8;
    /// v3 report: length of the header before the records.
    pub const REPORT_HEADER_LEN: usize = 8;
}

/// IGMP message type numbers.
pub mod msg_type {
    /// Membership Query (all versions).
    pub const QUERY: u8 = 0x11;
    /// IGMPv1 Membership Report.
    pub const REPORT_V1: u8 = 0x12;
    /// IGMPv2 Membership Report.
    pub const REPORT_V2: u8 = 0x16;
    /// IGMPv2 Leave Group.
    pub const LEAVE: u8 = 0x17;
    /// IGMPv3 Membership Report.
    pub const REPORT_V3: u8 = 0x22;
}

/// The all-systems group, destination of general queries.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// The all-routers group, destination of v2 leaves.
pub const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// The all-IGMPv3-routers group, destination of v3 reports.
pub const ALL_V3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// A read/write view of an IGMP message (the IPv4 payload).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until [`Self::check_len`] passes.
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer and validates every length the message declares against it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks the length for the message type: queries are 8 bytes (v1/v2) or at least 12 with
    /// their sources (v3; 9 to 11 bytes is malformed, RFC 3376 §7.1), v3 reports hold all of
    /// their group records.
    pub fn check_len(&self) -> Result<()> {
        let bytes = self.bytes();
        if bytes.len() < field::V2_LEN {
            return Err(Error::Truncated);
        }
        match self.msg_type() {
            msg_type::QUERY => source_list::check_query::<Ipv4Addr>(&bytes[field::V2_LEN..]),
            msg_type::REPORT_V3 => source_list::check_records::<Ipv4Addr>(
                bytes,
                field::REPORT_HEADER_LEN,
                self.num_records(),
            ),
            _ => Ok(()),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Message type number (see [`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        self.bytes()[field::TYPE]
    }

    /// Max Resp Code (queries) or the unused byte of other messages.
    pub fn max_resp_code(&self) -> u8 {
        self.bytes()[field::MAX_RESP]
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        u16_at(self.bytes(), field::CHECKSUM)
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.bytes())
    }

    /// Group address of a query, v1/v2 report or leave.
    pub fn group_addr(&self) -> Ipv4Addr {
        Ipv4Addr::read(&self.bytes()[field::GROUP])
    }

    /// Whether this query has the v3 layout (at least 12 bytes).
    pub fn is_v3_query(&self) -> bool {
        self.v3_query().is_some()
    }

    /// The v3 fields of a query with the v3 layout.
    pub fn v3_query(&self) -> Option<QueryView<'_, Ipv4Addr>> {
        if self.msg_type() != msg_type::QUERY {
            return None;
        }
        QueryView::new(self.bytes().get(field::V2_LEN..)?)
    }

    /// v3 report: number of group records.
    pub fn num_records(&self) -> u16 {
        u16_at(self.bytes(), field::NUM_RECORDS)
    }

    /// v3 report: the group records (each already length-checked by `check_len`).
    pub fn records(&self) -> impl Iterator<Item = GroupRecord<&[u8]>> + '_ {
        source_list::records(self.bytes(), field::REPORT_HEADER_LEN, self.num_records())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Recomputes and stores the checksum over the whole message.
    pub fn fill_checksum(&mut self) {
        let bytes = self.buffer.as_mut();
        bytes[field::CHECKSUM].fill(0);
        let c = checksum::compute(bytes);
        bytes[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// A view of one group record of a v3 report.
pub type GroupRecord<T> = Record<T, Ipv4Addr>;

impl<T: AsRef<[u8]>> GroupRecord<T> {
    /// Multicast group address.
    pub fn group_addr(&self) -> Ipv4Addr {
        self.group()
    }
}

/// Parsed group record.
pub type GroupRecordRepr = RecordRepr<Ipv4Addr>;

/// The v3-only fields of a query.
pub type QueryV3 = QueryFields<Ipv4Addr>;

/// The parsed form of an IGMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repr {
    /// Membership query. v1: `max_resp_code` 0 and no `v3`; v2: non-zero code and no `v3`;
    /// v3: `v3` present. `group` is unspecified for a general query.
    Query {
        /// Max Resp Code, in tenths of a second (v3: through [`decode_code`]).
        max_resp_code: u8,
        /// Queried group, or 0.0.0.0.
        group: Ipv4Addr,
        /// v3 fields.
        v3: Option<QueryV3>,
    },
    /// IGMPv1 report.
    ReportV1 {
        /// Reported group.
        group: Ipv4Addr,
    },
    /// IGMPv2 report.
    ReportV2 {
        /// Reported group.
        group: Ipv4Addr,
    },
    /// IGMPv2 leave.
    Leave {
        /// Group left.
        group: Ipv4Addr,
    },
    /// IGMPv3 report.
    ReportV3 {
        /// Group records in message order.
        records: Vec<GroupRecordRepr>,
    },
}

/// Decodes a v3 Max Resp Code or QQIC: below 128 the value itself, otherwise a float with a
/// 3-bit exponent and 4-bit mantissa (RFC 3376 §4.1.1, §4.1.7).
pub fn decode_code(code: u8) -> u32 {
    if code < 128 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 4) & 0x07);
        let mant = u32::from(code & 0x0f);
        (mant | 0x10) << (exp + 3)
    }
}

/// Encodes a value as a v3 code, rounding down to the nearest representable value and
/// saturating at the largest one (31744).
pub fn encode_code(value: u32) -> u8 {
    if value < 128 {
        return value as u8;
    }
    for exp in (0u8..8).rev() {
        let mant = value >> (u32::from(exp) + 3);
        if mant >= 0x10 {
            return 0x80 | (exp << 4) | (mant.min(0x1f) & 0x0f) as u8;
        }
    }
    0x7f
}

impl Repr {
    /// Parses a checked message, verifying its checksum. Unknown types are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let group = packet.group_addr();
        Ok(match packet.msg_type() {
            msg_type::QUERY => Repr::Query {
                max_resp_code: packet.max_resp_code(),
                group,
                v3: packet.v3_query().map(|q| q.parse()),
            },
            msg_type::REPORT_V1 => Repr::ReportV1 { group },
            msg_type::REPORT_V2 => Repr::ReportV2 { group },
            msg_type::LEAVE => Repr::Leave { group },
            msg_type::REPORT_V3 => Repr::ReportV3 {
                records: packet.records().map(|r| RecordRepr::parse(&r)).collect(),
            },
            _ => return Err(Error::Unsupported),
        })
    }

    /// Length of the message this representation emits.
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::Query { v3: Some(v3), .. } => field::V2_LEN + v3.buffer_len(),
            Repr::ReportV3 { records } => {
                field::REPORT_HEADER_LEN + source_list::records_len(records)
            }
            _ => field::V2_LEN,
        }
    }

    /// Writes the message into the start of `buffer` with its checksum; `Malformed` if a list is
    /// longer than the 16-bit count allows, `Truncated` if the buffer is too short.
    pub fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        let buffer = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::Truncated)?;
        buffer.fill(0);
        let (kind, group) = match self {
            Repr::Query {
                max_resp_code,
                group,
                v3,
            } => {
                buffer[field::MAX_RESP] = *max_resp_code;
                if let Some(v3) = v3 {
                    v3.emit(&mut buffer[field::V2_LEN..])?;
                }
                (msg_type::QUERY, Some(*group))
            }
            Repr::ReportV1 { group } => (msg_type::REPORT_V1, Some(*group)),
            Repr::ReportV2 { group } => (msg_type::REPORT_V2, Some(*group)),
            Repr::Leave { group } => (msg_type::LEAVE, Some(*group)),
            Repr::ReportV3 { records } => {
                let (header, body) = buffer.split_at_mut(field::REPORT_HEADER_LEN);
                header[field::NUM_RECORDS]
                    .copy_from_slice(&source_list::emit_records(records, body)?);
                (msg_type::REPORT_V3, None)
            }
        };
        buffer[field::TYPE] = kind;
        if let Some(group) = group {
            group.write(&mut buffer[field::GROUP]);
        }
        Packet::new_unchecked(buffer).fill_checksum();
        Ok(())
    }
}

impl Repr {
    /// A complete IPv4 datagram carrying this message the way IGMP is sent: TTL 1, TOS 0xc0
    /// (internetwork control), Router Alert option, both checksums filled.
    pub fn to_datagram(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Vec<u8>> {
        let ip = ipv4::Repr {
            src,
            dst,
            protocol: ipv4::PROTO_IGMP,
            ttl: 1,
            tos: 0xc0,
            router_alert: true,
            payload_len: self.buffer_len(),
        };
        let mut buf = vec![0; ip.buffer_len()];
        let mut packet = ip.emit(&mut buf)?;
        self.emit(packet.payload_mut())?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(x: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, x)
    }
    fn g(x: u8) -> Ipv4Addr {
        Ipv4Addr::new(239, 1, 1, x)
    }

    fn emit(repr: &Repr) -> Vec<u8> {
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        buf
    }

    fn samples() -> Vec<Repr> {
        vec![
            Repr::Query {
                max_resp_code: 0,
                group: Ipv4Addr::UNSPECIFIED,
                v3: None,
            },
            Repr::Query {
                max_resp_code: 100,
                group: g(1),
                v3: None,
            },
            Repr::Query {
                max_resp_code: 0x8c,
                group: g(2),
                v3: Some(QueryV3 {
                    suppress: true,
                    qrv: 2,
                    qqic: 125,
                    sources: vec![a(1), a(2), a(3)],
                }),
            },
            Repr::ReportV1 { group: g(3) },
            Repr::ReportV2 { group: g(4) },
            Repr::Leave { group: g(5) },
            Repr::ReportV3 {
                records: vec![
                    GroupRecordRepr {
                        record_type: RecordType::IsExclude,
                        group: g(6),
                        sources: vec![],
                    },
                    GroupRecordRepr {
                        record_type: RecordType::Allow,
                        group: g(7),
                        sources: vec![a(4), a(5)],
                    },
                    GroupRecordRepr {
                        record_type: RecordType::Other(9),
                        group: g(8),
                        sources: vec![a(6)],
                    },
                ],
            },
        ]
    }

    #[test]
    fn roundtrip_every_message() {
        for repr in samples() {
            let buf = emit(&repr);
            let packet = Packet::new_checked(&buf[..]).unwrap();
            assert!(packet.verify_checksum());
            assert_eq!(Repr::parse(&packet).unwrap(), repr);
        }
    }

    #[test]
    fn every_truncation_is_rejected_or_reads_as_shorter_query() {
        for repr in samples() {
            let buf = emit(&repr);
            for len in 0..buf.len() {
                match Packet::new_checked(&buf[..len]) {
                    Err(_) => {}
                    // An 8-byte prefix of a v3 query is itself a valid v2-layout query.
                    Ok(p) => assert!(
                        p.msg_type() == msg_type::QUERY && len == 8,
                        "{repr:?} accepted at {len}"
                    ),
                }
            }
        }
    }

    #[test]
    fn query_lengths_9_to_11_are_malformed() {
        let buf = emit(&samples()[2]);
        for len in 9..12 {
            assert_eq!(
                Packet::new_checked(&buf[..len]).err(),
                Some(Error::Malformed)
            );
        }
    }

    #[test]
    fn counts_that_do_not_fit() {
        let mut query = emit(&samples()[2]);
        query[11] = 4; // four sources, three present
        assert_eq!(
            Packet::new_checked(&query[..]).err(),
            Some(Error::Truncated)
        );
        let mut report = emit(&samples()[6]);
        report[7] = 4; // four records, three present
        assert_eq!(
            Packet::new_checked(&report[..]).err(),
            Some(Error::Truncated)
        );
        let mut aux = emit(&samples()[6]);
        aux[8 + 1] = 1; // first record claims a word of auxiliary data
        assert_eq!(Packet::new_checked(&aux[..]).err(), Some(Error::Truncated));
    }

    #[test]
    fn aux_data_is_skipped() {
        let mut buf = emit(&Repr::ReportV3 {
            records: vec![GroupRecordRepr {
                record_type: RecordType::IsInclude,
                group: g(1),
                sources: vec![a(1)],
            }],
        });
        buf[9] = 1;
        buf.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        Packet::new_unchecked(&mut buf[..]).fill_checksum();
        let p = Packet::new_checked(&buf[..]).unwrap();
        let Repr::ReportV3 { records } = Repr::parse(&p).unwrap() else {
            panic!("not a v3 report");
        };
        assert_eq!(records[0].sources, vec![a(1)]);
    }

    #[test]
    fn bad_checksum_and_unknown_type() {
        for repr in samples() {
            let mut buf = emit(&repr);
            buf[4] ^= 0x40;
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(Repr::parse(&p), Err(Error::Checksum));
        }
        let mut unknown = emit(&Repr::ReportV2 { group: g(1) });
        unknown[0] = 0x13;
        Packet::new_unchecked(&mut unknown[..]).fill_checksum();
        let p = Packet::new_checked(&unknown[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Unsupported));
    }

    #[test]
    fn datagram_is_ttl1_with_router_alert() {
        let repr = Repr::Leave { group: g(9) };
        let buf = repr.to_datagram(a(1), ALL_ROUTERS).unwrap();
        let ip = ipv4::Packet::new_checked(&buf[..]).unwrap();
        let ip_repr = ipv4::Repr::parse(&ip).unwrap();
        assert!(ip_repr.router_alert);
        assert_eq!((ip_repr.ttl, ip_repr.protocol), (1, ipv4::PROTO_IGMP));
        let igmp = Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(Repr::parse(&igmp).unwrap(), repr);
    }

    #[test]
    fn codes() {
        assert_eq!(decode_code(100), 100);
        assert_eq!(decode_code(0x80), 128);
        assert_eq!(decode_code(0xff), 31744);
        for v in [0, 1, 127, 128, 129, 1000, 31744, 40000] {
            let back = decode_code(encode_code(v));
            assert!(back <= v.max(127), "{v} -> {back}");
            assert!(v.min(31744) - back < v.min(31744) / 16 + 1, "{v} -> {back}");
        }
        for code in 0..=255u8 {
            assert_eq!(encode_code(decode_code(code)), code);
        }
    }
}
