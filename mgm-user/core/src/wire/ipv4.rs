//! IPv4 header (RFC 791) with options, including Router Alert (RFC 2113).
use super::{checksum, Error, Result};
use std::net::Ipv4Addr;

/// Protocol number of IGMP in the IPv4 header.
pub const PROTO_IGMP: u8 = 2;

/// Byte offsets of the fixed header.
mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
    /// Length of the header without options.
    pub const FIXED_LEN: usize = 20;
}

/// Option kinds that need a name here.
mod option {
    /// End of option list: one byte, ends parsing.
    pub const END: u8 = 0;
    /// No operation: one byte of padding.
    pub const NOP: u8 = 1;
    /// Router Alert (copied, class 0, number 20).
    pub const ROUTER_ALERT: u8 = 0x94;
    /// Router Alert is always four bytes long: kind, length, two-byte value.
    pub const ROUTER_ALERT_LEN: usize = 4;
}

const MORE_FRAGMENTS: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 header and its payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until [`Self::check_len`] passes.
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer and validates the header length and total length against it.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header, the options and the declared total length fit the buffer.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::FIXED_LEN {
            return Err(Error::Truncated);
        }
        if self.header_len() < field::FIXED_LEN {
            return Err(Error::Malformed);
        }
        if self.header_len() > len || usize::from(self.total_len()) > len {
            return Err(Error::Truncated);
        }
        if usize::from(self.total_len()) < self.header_len() {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.bytes()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn addr_at(&self, range: core::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.bytes()[range];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// IP version (4 for a valid packet).
    pub fn version(&self) -> u8 {
        self.bytes()[field::VER_IHL] >> 4
    }

    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes()[field::VER_IHL] & 0x0f) * 4
    }

    /// Type of service byte (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.bytes()[field::TOS]
    }

    /// Total length of the datagram as declared in the header.
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Identification field.
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// Whether this is a fragment (more fragments follow, or a non-zero offset).
    pub fn is_fragment(&self) -> bool {
        let flags = self.u16_at(field::FLG_OFF);
        flags & MORE_FRAGMENTS != 0 || flags & FRAG_OFFSET_MASK != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.bytes()[field::TTL]
    }

    /// Protocol number of the payload.
    pub fn protocol(&self) -> u8 {
        self.bytes()[field::PROTOCOL]
    }

    /// Header checksum as stored.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        self.addr_at(field::SRC)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        self.addr_at(field::DST)
    }

    /// Whether the header checksum verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.bytes()[..self.header_len()])
    }

    /// The options bytes, between the fixed header and the payload.
    pub fn options(&self) -> &[u8] {
        &self.bytes()[field::FIXED_LEN..self.header_len()]
    }

    /// Whether the options carry a Router Alert; `Malformed` if the option list is malformed.
    pub fn router_alert(&self) -> Result<bool> {
        let opts = self.options();
        let mut found = false;
        let mut i = 0;
        while let Some(&kind) = opts.get(i) {
            match kind {
                option::END => break,
                option::NOP => i += 1,
                _ => {
                    let len = usize::from(*opts.get(i + 1).ok_or(Error::Malformed)?);
                    if len < 2 || i + len > opts.len() {
                        return Err(Error::Malformed);
                    }
                    if kind == option::ROUTER_ALERT {
                        if len != option::ROUTER_ALERT_LEN {
                            return Err(Error::Malformed);
                        }
                        found = true;
                    }
                    i += len;
                }
            }
        }
        Ok(found)
    }

    /// The payload, up to the declared total length (link-layer padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[self.header_len()..usize::from(self.total_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn bytes_mut(&mut self) -> &mut [u8] {
        self.buffer.as_mut()
    }

    /// Sets the TTL (the checksum is not updated: call [`Packet::fill_checksum`]).
    pub fn set_ttl(&mut self, ttl: u8) {
        self.bytes_mut()[field::TTL] = ttl;
    }

    /// Recomputes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        self.bytes_mut()[field::CHECKSUM].fill(0);
        let c = checksum::compute(&self.bytes()[..hl]);
        self.bytes_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.bytes_mut()[start..end]
    }
}

/// The parsed form of an IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Protocol number of the payload.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// Type of service byte.
    pub tos: u8,
    /// Whether a Router Alert option is present.
    pub router_alert: bool,
    /// Length of the payload in bytes.
    pub payload_len: usize,
}

impl Repr {
    /// Parses a checked packet: version 4, valid checksum, well-formed options, not a fragment.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        if packet.version() != 4 {
            return Err(Error::Malformed);
        }
        if !packet.verify_checksum() {
            return Err(Error::Checksum);
        }
        let router_alert = packet.router_alert()?;
        if packet.is_fragment() {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            ttl: packet.ttl(),
            tos: packet.tos(),
            router_alert,
            payload_len: packet.payload().len(),
        })
    }

    /// Header length this representation emits.
    pub fn header_len(&self) -> usize {
        field::FIXED_LEN
            + if self.router_alert {
                option::ROUTER_ALERT_LEN
            } else {
                0
            }
    }

    /// Total datagram length this representation emits.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header into the start of `buffer` (at least [`Self::buffer_len`] bytes) and
    /// returns the view; the caller fills the payload. Identification is zero, no fragmentation.
    pub fn emit<'a>(&self, buffer: &'a mut [u8]) -> Result<Packet<&'a mut [u8]>> {
        let total = u16::try_from(self.buffer_len()).map_err(|_| Error::Malformed)?;
        let hl = self.header_len();
        let buffer = buffer
            .get_mut(..usize::from(total))
            .ok_or(Error::Truncated)?;
        buffer[..hl].fill(0);
        buffer[field::VER_IHL] = 0x40 | (hl / 4) as u8;
        buffer[field::TOS] = self.tos;
        buffer[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        buffer[field::TTL] = self.ttl;
        buffer[field::PROTOCOL] = self.protocol;
        buffer[field::SRC].copy_from_slice(&self.src.octets());
        buffer[field::DST].copy_from_slice(&self.dst.octets());
        if self.router_alert {
            let ra = field::FIXED_LEN;
            buffer[ra] = option::ROUTER_ALERT;
            buffer[ra + 1] = option::ROUTER_ALERT_LEN as u8;
        }
        let mut packet = Packet::new_unchecked(buffer);
        packet.fill_checksum();
        Ok(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(router_alert: bool, payload: &[u8]) -> Vec<u8> {
        let repr = Repr {
            src: Ipv4Addr::new(10, 0, 0, 2),
            dst: Ipv4Addr::new(224, 0, 0, 22),
            protocol: PROTO_IGMP,
            ttl: 1,
            tos: 0xc0,
            router_alert,
            payload_len: payload.len(),
        };
        let mut buf = vec![0; repr.buffer_len()];
        let mut packet = repr.emit(&mut buf).unwrap();
        packet.payload_mut().copy_from_slice(payload);
        buf
    }

    #[test]
    fn emit_parse_roundtrip() {
        for ra in [false, true] {
            let buf = sample(ra, &[1, 2, 3, 4]);
            let packet = Packet::new_checked(&buf[..]).unwrap();
            let repr = Repr::parse(&packet).unwrap();
            assert_eq!(repr.router_alert, ra);
            assert_eq!(repr.ttl, 1);
            assert_eq!(repr.tos, 0xc0);
            assert_eq!(repr.src, Ipv4Addr::new(10, 0, 0, 2));
            assert_eq!(repr.dst, Ipv4Addr::new(224, 0, 0, 22));
            assert_eq!(packet.payload(), &[1, 2, 3, 4]);
            assert_eq!(packet.header_len(), if ra { 24 } else { 20 });
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let buf = sample(true, &[9; 8]);
        for len in 0..buf.len() {
            assert!(
                Packet::new_checked(&buf[..len]).is_err(),
                "length {len} accepted"
            );
        }
        assert!(Packet::new_checked(&buf[..]).is_ok());
    }

    #[test]
    fn link_padding_is_not_payload() {
        let mut buf = sample(false, &[7; 4]);
        buf.extend_from_slice(&[0; 6]);
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(packet.payload(), &[7; 4]);
    }

    #[test]
    fn bad_header_fields() {
        let good = sample(false, &[0; 4]);
        let mut short_ihl = good.clone();
        short_ihl[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&short_ihl[..]).err(),
            Some(Error::Malformed)
        );
        let mut small_total = good.clone();
        small_total[2..4].copy_from_slice(&10u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&small_total[..]).err(),
            Some(Error::Malformed)
        );
        let mut v6 = good.clone();
        v6[0] = 0x65;
        let p = Packet::new_checked(&v6[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Malformed));
        let mut bad_sum = good.clone();
        bad_sum[8] = 64;
        let p = Packet::new_checked(&bad_sum[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Checksum));
    }

    fn with_options(opts: &[u8]) -> Vec<u8> {
        let mut buf = sample(false, &[]);
        let hl = 20 + opts.len();
        buf.extend_from_slice(opts);
        buf[0] = 0x40 | (hl / 4) as u8;
        buf[2..4].copy_from_slice(&(hl as u16).to_be_bytes());
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.fill_checksum();
        buf
    }

    #[test]
    fn option_walk() {
        let nop_then_ra = with_options(&[1, 1, 1, 1, 0x94, 4, 0, 0]);
        let p = Packet::new_checked(&nop_then_ra[..]).unwrap();
        assert_eq!(p.router_alert(), Ok(true));
        let end_hides_ra = with_options(&[0, 0, 0, 0, 0x94, 4, 0, 0]);
        let p = Packet::new_checked(&end_hides_ra[..]).unwrap();
        assert_eq!(p.router_alert(), Ok(false));
        let other = with_options(&[0x07, 4, 5, 0]);
        let p = Packet::new_checked(&other[..]).unwrap();
        assert_eq!(p.router_alert(), Ok(false));
        for bad in [
            [0x94, 3, 0, 0],
            [0x07, 1, 0, 0],
            [0x07, 9, 0, 0],
            [1, 1, 1, 0x44],
        ] {
            let buf = with_options(&bad);
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(p.router_alert(), Err(Error::Malformed), "{bad:?}");
            assert_eq!(Repr::parse(&p), Err(Error::Malformed));
        }
    }

    #[test]
    fn fragments_are_unsupported() {
        for flags in [0x2000u16, 0x0001] {
            let mut buf = sample(false, &[0; 4]);
            buf[6..8].copy_from_slice(&flags.to_be_bytes());
            let mut p = Packet::new_unchecked(&mut buf[..]);
            p.fill_checksum();
            let p = Packet::new_checked(&buf[..]).unwrap();
            assert!(p.is_fragment());
            assert_eq!(Repr::parse(&p), Err(Error::Unsupported));
        }
    }
}
