//! The source-list layout IGMPv3 (RFC 3376 §4) and MLDv2 (RFC 3810 §5) share, generic over the
//! address type: the group records of reports (type, aux data length, number of sources, group,
//! sources, aux data) and the query fields after the group (S flag, QRV, QQIC, sources). Only
//! the offset where these start and the address length differ between the two protocols.
use super::{Error, Result};
use core::marker::PhantomData;
use core::time::Duration;
use std::net::{Ipv4Addr, Ipv6Addr};

/// An address as carried in group records and query source lists.
pub trait WireAddr: Copy {
    /// Length on the wire.
    const LEN: usize;
    /// Reads the address from the first [`Self::LEN`] bytes of `bytes`.
    fn read(bytes: &[u8]) -> Self;
    /// Writes the address into the first [`Self::LEN`] bytes of `out`.
    fn write(self, out: &mut [u8]);
}

impl WireAddr for Ipv4Addr {
    const LEN: usize = 4;
    fn read(bytes: &[u8]) -> Self {
        Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
    }
    fn write(self, out: &mut [u8]) {
        out[..Self::LEN].copy_from_slice(&self.octets());
    }
}

impl WireAddr for Ipv6Addr {
    const LEN: usize = 16;
    fn read(bytes: &[u8]) -> Self {
        let mut octets = [0; 16];
        octets.copy_from_slice(&bytes[..Self::LEN]);
        Ipv6Addr::from(octets)
    }
    fn write(self, out: &mut [u8]) {
        out[..Self::LEN].copy_from_slice(&self.octets());
    }
}

/// Byte offsets inside a group record and inside the query fields after the group.
mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const AUX_LEN: usize = 1;
    pub const NUM_SOURCES: Range<usize> = 2..4;
    /// Start of the record's group address.
    pub const GROUP: usize = 4;

    /// Query: Resv(4) | S(1) | QRV(3).
    pub const S_QRV: usize = 0;
    pub const QQIC: usize = 1;
    pub const QUERY_NUM_SOURCES: Range<usize> = 2..4;
    /// Length of the query fields before the sources.
    pub const QUERY_LEN: usize = 4;
}

/// The 16-bit big-endian number at `range`.
pub(super) fn u16_at(bytes: &[u8], range: core::ops::Range<usize>) -> u16 {
    let b = &bytes[range];
    u16::from_be_bytes([b[0], b[1]])
}

/// `count` addresses starting at byte `start` (the caller has checked that they fit).
pub(super) fn addrs<A: WireAddr>(
    bytes: &[u8],
    start: usize,
    count: usize,
) -> impl Iterator<Item = A> + '_ {
    (0..count).map(move |i| A::read(&bytes[start + A::LEN * i..]))
}

fn write_addrs<A: WireAddr>(buffer: &mut [u8], addrs: &[A]) {
    for (chunk, addr) in buffer.chunks_exact_mut(A::LEN).zip(addrs) {
        addr.write(chunk);
    }
}

/// A 16-bit count of a list, `Malformed` if the list is longer.
fn count(n: usize) -> Result<[u8; 2]> {
    u16::try_from(n)
        .map(u16::to_be_bytes)
        .map_err(|_| Error::Malformed)
}

/// A view of one group record (IGMPv3) or multicast address record (MLDv2).
#[derive(Debug, Clone)]
pub struct Record<T: AsRef<[u8]>, A> {
    buffer: T,
    addr: PhantomData<A>,
}

impl<T: AsRef<[u8]>, A: WireAddr> Record<T, A> {
    /// Length of a record without sources or auxiliary data.
    pub const HEADER_LEN: usize = field::GROUP + A::LEN;

    /// Wraps a buffer that starts with a record and checks that the record fits.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let record = Record {
            buffer,
            addr: PhantomData,
        };
        let len = record.buffer.as_ref().len();
        if len < Self::HEADER_LEN || record.len() > len {
            return Err(Error::Truncated);
        }
        Ok(record)
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Record type number (see [`RecordType`]).
    pub fn record_type(&self) -> u8 {
        self.bytes()[field::TYPE]
    }

    /// Length of the auxiliary data in 32-bit words.
    pub fn aux_data_len(&self) -> u8 {
        self.bytes()[field::AUX_LEN]
    }

    /// Number of sources.
    pub fn num_sources(&self) -> u16 {
        u16_at(self.bytes(), field::NUM_SOURCES)
    }

    /// Multicast group address.
    pub fn group(&self) -> A {
        A::read(&self.bytes()[field::GROUP..])
    }

    /// Source addresses.
    pub fn sources(&self) -> impl Iterator<Item = A> + '_ {
        addrs(
            self.bytes(),
            Self::HEADER_LEN,
            usize::from(self.num_sources()),
        )
    }

    /// Length of the whole record in bytes, sources and auxiliary data included.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        Self::HEADER_LEN
            + A::LEN * usize::from(self.num_sources())
            + 4 * usize::from(self.aux_data_len())
    }
}

/// Checks that `num_records` records starting at `start` fit in `bytes`.
pub(super) fn check_records<A: WireAddr>(
    bytes: &[u8],
    start: usize,
    num_records: u16,
) -> Result<()> {
    let mut offset = start;
    for _ in 0..num_records {
        let record = bytes.get(offset..).ok_or(Error::Truncated)?;
        offset += Record::<_, A>::new_checked(record)?.len();
    }
    Ok(())
}

/// The `num_records` records starting at `start` (stops at the first that does not fit).
pub(super) fn records<A: WireAddr>(
    bytes: &[u8],
    start: usize,
    num_records: u16,
) -> impl Iterator<Item = Record<&[u8], A>> + '_ {
    let mut offset = start;
    (0..num_records).map_while(move |_| {
        let record = Record::new_checked(bytes.get(offset..)?).ok()?;
        offset += record.len();
        Some(record)
    })
}

/// Group record types (RFC 3376 §4.2.12, RFC 3810 §5.2.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum RecordType {
    /// MODE_IS_INCLUDE (current state).
    IsInclude,
    /// MODE_IS_EXCLUDE (current state).
    IsExclude,
    /// CHANGE_TO_INCLUDE_MODE.
    ToInclude,
    /// CHANGE_TO_EXCLUDE_MODE.
    ToExclude,
    /// ALLOW_NEW_SOURCES.
    Allow,
    /// BLOCK_OLD_SOURCES.
    Block,
    /// A type this implementation does not know; receivers ignore such records.
    Other(u8),
}

impl From<u8> for RecordType {
    fn from(value: u8) -> Self {
        match value {
            1 => RecordType::IsInclude,
            2 => RecordType::IsExclude,
            3 => RecordType::ToInclude,
            4 => RecordType::ToExclude,
            5 => RecordType::Allow,
            6 => RecordType::Block,
            other => RecordType::Other(other),
        }
    }
}

impl From<RecordType> for u8 {
    fn from(value: RecordType) -> Self {
        match value {
            RecordType::IsInclude => 1,
            RecordType::IsExclude => 2,
            RecordType::ToInclude => 3,
            RecordType::ToExclude => 4,
            RecordType::Allow => 5,
            RecordType::Block => 6,
            RecordType::Other(other) => other,
        }
    }
}

/// Parsed group record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRepr<A> {
    /// Record type.
    pub record_type: RecordType,
    /// Multicast group.
    pub group: A,
    /// Source list.
    pub sources: Vec<A>,
}

impl<A: WireAddr> RecordRepr<A> {
    /// Parses a record view.
    pub fn parse<T: AsRef<[u8]>>(record: &Record<T, A>) -> Self {
        RecordRepr {
            record_type: record.record_type().into(),
            group: record.group(),
            sources: record.sources().collect(),
        }
    }

    /// Length of the record this representation emits (no auxiliary data).
    pub fn buffer_len(&self) -> usize {
        Record::<&[u8], A>::HEADER_LEN + A::LEN * self.sources.len()
    }

    /// Writes the record into the start of `buffer` (zeroed, long enough); `Malformed` if the
    /// source list is longer than its 16-bit count allows.
    fn emit(&self, buffer: &mut [u8]) -> Result<()> {
        buffer[field::TYPE] = self.record_type.into();
        buffer[field::NUM_SOURCES].copy_from_slice(&count(self.sources.len())?);
        self.group.write(&mut buffer[field::GROUP..]);
        write_addrs(&mut buffer[Record::<&[u8], A>::HEADER_LEN..], &self.sources);
        Ok(())
    }
}

/// Length of `records` on the wire.
pub(super) fn records_len<A: WireAddr>(records: &[RecordRepr<A>]) -> usize {
    records.iter().map(RecordRepr::buffer_len).sum()
}

/// Writes `records` one after the other into `buffer` (zeroed, [`records_len`] long) and
/// returns their count as stored in the report header; `Malformed` if a count does not fit.
pub(super) fn emit_records<A: WireAddr>(
    records: &[RecordRepr<A>],
    buffer: &mut [u8],
) -> Result<[u8; 2]> {
    let mut at = 0;
    for r in records {
        r.emit(&mut buffer[at..])?;
        at += r.buffer_len();
    }
    count(records.len())
}

/// The query fields IGMPv3 and MLDv2 add after the group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryFields<A> {
    /// Suppress Router-Side Processing.
    pub suppress: bool,
    /// Querier's Robustness Variable (0..=7; 0 means "larger than 7").
    pub qrv: u8,
    /// Querier's Query Interval Code (see [`super::igmp::decode_code`], in seconds).
    pub qqic: u8,
    /// Sources of a group-and-source-specific query.
    pub sources: Vec<A>,
}

/// Checks the query fields in `rest`, the bytes after a query's group: none (an older
/// version's query), or all of them with their sources. A part of them is `Malformed`.
pub(super) fn check_query<A: WireAddr>(rest: &[u8]) -> Result<()> {
    if rest.is_empty() {
        return Ok(());
    }
    if rest.len() < field::QUERY_LEN {
        return Err(Error::Malformed);
    }
    let need = field::QUERY_LEN + A::LEN * usize::from(u16_at(rest, field::QUERY_NUM_SOURCES));
    if need > rest.len() {
        return Err(Error::Truncated);
    }
    Ok(())
}

/// A view of the query fields of an IGMPv3 or MLDv2 query.
#[derive(Debug, Clone, Copy)]
pub struct QueryView<'a, A> {
    rest: &'a [u8],
    addr: PhantomData<A>,
}

impl<'a, A: WireAddr> QueryView<'a, A> {
    /// The query fields at the start of `rest`, if it is long enough to hold them.
    pub(super) fn new(rest: &'a [u8]) -> Option<Self> {
        (rest.len() >= field::QUERY_LEN).then_some(QueryView {
            rest,
            addr: PhantomData,
        })
    }

    /// The Suppress Router-Side Processing flag.
    pub fn suppress(self) -> bool {
        self.rest[field::S_QRV] & 0x08 != 0
    }

    /// Querier's Robustness Variable.
    pub fn qrv(self) -> u8 {
        self.rest[field::S_QRV] & 0x07
    }

    /// Querier's Query Interval Code.
    pub fn qqic(self) -> u8 {
        self.rest[field::QQIC]
    }

    /// Number of sources.
    pub fn num_sources(self) -> u16 {
        u16_at(self.rest, field::QUERY_NUM_SOURCES)
    }

    /// The source addresses (the checked packet holds them all).
    pub fn sources(self) -> impl Iterator<Item = A> + 'a {
        addrs(self.rest, field::QUERY_LEN, usize::from(self.num_sources()))
    }

    /// The parsed fields.
    pub fn parse(self) -> QueryFields<A> {
        QueryFields {
            suppress: self.suppress(),
            qrv: self.qrv(),
            qqic: self.qqic(),
            sources: self.sources().collect(),
        }
    }
}

impl<A: WireAddr> QueryFields<A> {
    /// The querier's query interval from QQIC, `None` when QQIC is 0 (not advertised).
    pub fn query_interval(&self) -> Option<Duration> {
        (self.qqic != 0)
            .then(|| Duration::from_secs(u64::from(super::igmp::decode_code(self.qqic))))
    }

    /// Length of the fields with their sources.
    pub fn buffer_len(&self) -> usize {
        field::QUERY_LEN + A::LEN * self.sources.len()
    }

    /// Writes the fields into the start of `rest` (zeroed, long enough); `Malformed` if the
    /// source list is longer than its 16-bit count allows.
    pub(super) fn emit(&self, rest: &mut [u8]) -> Result<()> {
        rest[field::S_QRV] = (u8::from(self.suppress) << 3) | (self.qrv & 0x07);
        rest[field::QQIC] = self.qqic;
        rest[field::QUERY_NUM_SOURCES].copy_from_slice(&count(self.sources.len())?);
        write_addrs(&mut rest[field::QUERY_LEN..], &self.sources);
        Ok(())
    }
}
