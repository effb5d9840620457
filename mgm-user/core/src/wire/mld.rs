//! MLD messages (ICMPv6): MLDv1 query, report and done (RFC 2710), MLDv2 query and report
//! (RFC 3810 §5). The checksum covers the IPv6 pseudo-header, so parsing and emitting take the
//! addresses of the enclosing IPv6 header.
//!
//! MLDv2 multicast address records have the record types, and QQIC the 8-bit floating-point
//! format, of IGMPv3 (RFC 3810 §5.2.12, §5.1.9): [`RecordType`], [`decode_qqic`] and
//! [`encode_qqic`] are IGMP's, and the records and query fields have the layout of
//! [`super::source_list`].
use super::source_list::{self, u16_at, QueryFields, QueryView, Record, RecordRepr, WireAddr};
use super::{ipv6, Error, Result};
use std::net::Ipv6Addr;

pub use super::igmp::{decode_code as decode_qqic, encode_code as encode_qqic};
pub use super::source_list::RecordType;

/// Byte offsets of the MLD message.
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Maximum Response Delay (v1) or Code (v2) of a query.
    pub const MAX_RESP: Range<usize> = 4..6;
    /// Multicast address of queries, v1 reports and dones.
    pub const ADDRESS: Range<usize> = 8..24;
    /// Length of MLDv1 messages and of an MLDv2 query's fixed part up to the address; MLDv2
    /// queries continue here.
    pub const V1_LEN: usize = 24;
    /// MLDv2 report: number of multicast address records.
    pub const NUM_RECORDS: Range<usize> = 6..8;
    /// MLDv2 report: length of the header before the records.
    pub const REPORT_HEADER_LEN: usize = 8;
    /// Shortest message of any type (type, code, checksum).
    pub const MIN_LEN: usize = 4;
}

/// ICMPv6 type numbers of MLD messages.
pub mod msg_type {
    /// Multicast Listener Query (both versions).
    pub const QUERY: u8 = 130;
    /// MLDv1 Multicast Listener Report.
    pub const REPORT_V1: u8 = 131;
    /// MLDv1 Multicast Listener Done.
    pub const DONE: u8 = 132;
    /// MLDv2 Multicast Listener Report.
    pub const REPORT_V2: u8 = 143;
}

/// The link-scope all-nodes group, destination of general queries.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// The link-scope all-routers group, destination of MLDv1 dones.
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// The all-MLDv2-capable-routers group, destination of MLDv2 reports.
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// A read/write view of an MLD message (the ICMPv6 message).
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

    /// Checks the length for the message type: queries are 24 bytes (v1) or at least 28 with
    /// their sources (v2; 25 to 27 bytes is malformed, RFC 3810 §8.1), v1 reports and dones 24
    /// bytes, v2 reports hold all of their records. Other ICMPv6 types need 4 bytes.
    pub fn check_len(&self) -> Result<()> {
        let len = self.bytes().len();
        if len < field::MIN_LEN {
            return Err(Error::Truncated);
        }
        match self.msg_type() {
            msg_type::QUERY | msg_type::REPORT_V1 | msg_type::DONE if len < field::V1_LEN => {
                Err(Error::Truncated)
            }
            msg_type::QUERY => source_list::check_query::<Ipv6Addr>(&self.bytes()[field::V1_LEN..]),
            msg_type::REPORT_V2 => {
                if len < field::REPORT_HEADER_LEN {
                    return Err(Error::Truncated);
                }
                source_list::check_records::<Ipv6Addr>(
                    self.bytes(),
                    field::REPORT_HEADER_LEN,
                    self.num_records(),
                )
            }
            _ => Ok(()),
        }
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// ICMPv6 type (see [`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        self.bytes()[field::TYPE]
    }

    /// Checksum as stored.
    pub fn checksum(&self) -> u16 {
        u16_at(self.bytes(), field::CHECKSUM)
    }

    /// Whether the checksum verifies over the pseudo-header of `src` and `dst`.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        ipv6::verify_pseudo_header_checksum(src, dst, ipv6::NEXT_ICMPV6, self.bytes())
    }

    /// Query: Maximum Response Delay in milliseconds (v1) or Maximum Response Code (v2).
    pub fn max_resp_code(&self) -> u16 {
        u16_at(self.bytes(), field::MAX_RESP)
    }

    /// Multicast address of a query, v1 report or done.
    pub fn address(&self) -> Ipv6Addr {
        Ipv6Addr::read(&self.bytes()[field::ADDRESS])
    }

    /// Whether this query has the MLDv2 layout (at least 28 bytes).
    pub fn is_v2_query(&self) -> bool {
        self.v2_query().is_some()
    }

    /// The MLDv2 fields of a query with the MLDv2 layout.
    pub fn v2_query(&self) -> Option<QueryView<'_, Ipv6Addr>> {
        if self.msg_type() != msg_type::QUERY {
            return None;
        }
        QueryView::new(self.bytes().get(field::V1_LEN..)?)
    }

    /// v2 report: number of multicast address records.
    pub fn num_records(&self) -> u16 {
        u16_at(self.bytes(), field::NUM_RECORDS)
    }

    /// v2 report: the records (each already length-checked by `check_len`).
    pub fn records(&self) -> impl Iterator<Item = AddressRecord<&[u8]>> + '_ {
        source_list::records(self.bytes(), field::REPORT_HEADER_LEN, self.num_records())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Recomputes and stores the checksum over the pseudo-header and the whole message.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        let bytes = self.buffer.as_mut();
        bytes[field::CHECKSUM].fill(0);
        let c = ipv6::pseudo_header_checksum(src, dst, ipv6::NEXT_ICMPV6, bytes);
        bytes[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// A view of one multicast address record of an MLDv2 report.
pub type AddressRecord<T> = Record<T, Ipv6Addr>;

impl<T: AsRef<[u8]>> AddressRecord<T> {
    /// Multicast address.
    pub fn address(&self) -> Ipv6Addr {
        self.group()
    }
}

/// Parsed multicast address record.
pub type AddressRecordRepr = RecordRepr<Ipv6Addr>;

/// The MLDv2-only fields of a query.
pub type QueryV2 = QueryFields<Ipv6Addr>;

/// The parsed form of an MLD message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repr {
    /// Multicast Listener Query; `v2` present for the MLDv2 layout. `group` is unspecified for
    /// a general query.
    Query {
        /// v1: Maximum Response Delay in milliseconds; v2: Maximum Response Code (see
        /// [`decode_max_resp`]).
        max_resp_code: u16,
        /// Queried multicast address, or `::`.
        group: Ipv6Addr,
        /// MLDv2 fields.
        v2: Option<QueryV2>,
    },
    /// MLDv1 report.
    ReportV1 {
        /// Reported multicast address.
        group: Ipv6Addr,
    },
    /// MLDv1 done.
    Done {
        /// Multicast address left.
        group: Ipv6Addr,
    },
    /// MLDv2 report.
    ReportV2 {
        /// Records in message order.
        records: Vec<AddressRecordRepr>,
    },
}

/// Largest value [`encode_max_resp`] can carry, in milliseconds (RFC 3810 §5.1.3).
pub const MAX_RESP_LIMIT_MS: u32 = (0x0fff | 0x1000) << (7 + 3);

/// Decodes an MLDv2 Maximum Response Code to milliseconds: below 32768 the value itself,
/// otherwise a float with a 3-bit exponent and a 12-bit mantissa (RFC 3810 §5.1.3).
pub fn decode_max_resp(code: u16) -> u32 {
    if code < 0x8000 {
        u32::from(code)
    } else {
        let exp = u32::from((code >> 12) & 0x07);
        let mant = u32::from(code & 0x0fff);
        (mant | 0x1000) << (exp + 3)
    }
}

/// Encodes milliseconds as an MLDv2 Maximum Response Code, rounding down to the nearest
/// representable value and saturating at [`MAX_RESP_LIMIT_MS`].
pub fn encode_max_resp(ms: u32) -> u16 {
    if ms < 0x8000 {
        return ms as u16;
    }
    for exp in (0u16..8).rev() {
        let mant = ms >> (u32::from(exp) + 3);
        if mant >= 0x1000 {
            return 0x8000 | (exp << 12) | (mant.min(0x1fff) & 0x0fff) as u16;
        }
    }
    0x7fff
}

impl Repr {
    /// Parses a checked message received from `src` to `dst`, verifying its checksum. Other
    /// ICMPv6 types are `Unsupported`.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Repr> {
        if !packet.verify_checksum(src, dst) {
            return Err(Error::Checksum);
        }
        Ok(match packet.msg_type() {
            msg_type::QUERY => Repr::Query {
                max_resp_code: packet.max_resp_code(),
                group: packet.address(),
                v2: packet.v2_query().map(|q| q.parse()),
            },
            msg_type::REPORT_V1 => Repr::ReportV1 {
                group: packet.address(),
            },
            msg_type::DONE => Repr::Done {
                group: packet.address(),
            },
            msg_type::REPORT_V2 => Repr::ReportV2 {
                records: packet.records().map(|r| RecordRepr::parse(&r)).collect(),
            },
            _ => return Err(Error::Unsupported),
        })
    }

    /// Length of the message this representation emits.
    pub fn buffer_len(&self) -> usize {
        match self {
            Repr::Query { v2: Some(v2), .. } => field::V1_LEN + v2.buffer_len(),
            Repr::ReportV2 { records } => {
                field::REPORT_HEADER_LEN + source_list::records_len(records)
            }
            _ => field::V1_LEN,
        }
    }

    /// Writes the message into the start of `buffer` with its checksum for `src` → `dst`;
    /// `Malformed` if a list is longer than its 16-bit count allows, `Truncated` if the buffer
    /// is too short.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr, buffer: &mut [u8]) -> Result<()> {
        let buffer = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::Truncated)?;
        buffer.fill(0);
        let (kind, address) = match self {
            Repr::Query {
                max_resp_code,
                group,
                v2,
            } => {
                buffer[field::MAX_RESP].copy_from_slice(&max_resp_code.to_be_bytes());
                if let Some(v2) = v2 {
                    v2.emit(&mut buffer[field::V1_LEN..])?;
                }
                (msg_type::QUERY, Some(*group))
            }
            Repr::ReportV1 { group } => (msg_type::REPORT_V1, Some(*group)),
            Repr::Done { group } => (msg_type::DONE, Some(*group)),
            Repr::ReportV2 { records } => {
                let (header, body) = buffer.split_at_mut(field::REPORT_HEADER_LEN);
                header[field::NUM_RECORDS]
                    .copy_from_slice(&source_list::emit_records(records, body)?);
                (msg_type::REPORT_V2, None)
            }
        };
        buffer[field::TYPE] = kind;
        if let Some(address) = address {
            address.write(&mut buffer[field::ADDRESS]);
        }
        Packet::new_unchecked(buffer).fill_checksum(src, dst);
        Ok(())
    }

    /// A complete IPv6 packet carrying this message the way MLD is sent (RFC 3810 §5): hop
    /// limit 1, a Hop-by-Hop header with Router Alert 0, the ICMPv6 checksum filled.
    pub fn to_packet(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Result<Vec<u8>> {
        let ip = ipv6::Repr {
            src,
            dst,
            next_header: ipv6::NEXT_ICMPV6,
            hop_limit: 1,
            router_alert: Some(ipv6::ROUTER_ALERT_MLD),
            upper_layer_len: self.buffer_len(),
        };
        let mut buf = vec![0; ip.buffer_len()];
        let mut packet = ip.emit(&mut buf)?;
        self.emit(src, dst, packet.upper_layer_mut())?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests;
