//! IPv6 header (RFC 8200) with the Hop-by-Hop Options header walked far enough to find a Router
//! Alert (RFC 2711), as MLD needs, and the upper-layer checksum over the pseudo-header (§8.1).
use super::{checksum, Error, Result};
use std::net::Ipv6Addr;

/// Next Header value of a Hop-by-Hop Options header.
pub const NEXT_HOP_BY_HOP: u8 = 0;
/// Next Header value of ICMPv6.
pub const NEXT_ICMPV6: u8 = 58;
/// Router Alert value of an MLD message (RFC 2711 §2.1).
pub const ROUTER_ALERT_MLD: u16 = 0;
/// Length of the fixed header.
pub const HEADER_LEN: usize = field::HEADER_LEN;

/// Byte offsets of the fixed header.
mod field {
    use core::ops::Range;
    pub const VERSION: usize = 0;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
    /// Length of the fixed header.
    pub const HEADER_LEN: usize = 40;
}

/// The Hop-by-Hop Options header and its options.
mod hbh {
    pub const NEXT_HEADER: usize = 0;
    /// Length in 8-octet units, not counting the first 8 octets.
    pub const LEN: usize = 1;
    /// Where the options start.
    pub const OPTIONS: usize = 2;
    /// The size unit of the header.
    pub const UNIT: usize = 8;
    /// One byte of padding, without a length byte.
    pub const PAD1: u8 = 0;
    /// Padding of two or more bytes.
    pub const PADN: u8 = 1;
    /// Router Alert (RFC 2711): two bytes of data.
    pub const ROUTER_ALERT: u8 = 5;
    pub const ROUTER_ALERT_DATA_LEN: usize = 2;
    /// The two high bits of an option type: the action for an unrecognised option; 00 = skip.
    pub const ACTION_MASK: u8 = 0xc0;
    /// The header this crate emits: next header, length 0, Router Alert, PadN of two bytes.
    pub const EMITTED_LEN: usize = 8;
}

fn addr_at(bytes: &[u8], range: core::ops::Range<usize>) -> Ipv6Addr {
    let mut octets = [0; 16];
    octets.copy_from_slice(&bytes[range]);
    Ipv6Addr::from(octets)
}

/// A read/write view of an IPv6 header, an optional Hop-by-Hop Options header and the payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until [`Self::check_len`] passes.
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer and validates the payload length and the Hop-by-Hop header's length.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header, the declared payload and a Hop-by-Hop header fit.
    pub fn check_len(&self) -> Result<()> {
        let len = self.bytes().len();
        if len < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        if field::HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::Truncated);
        }
        if self.next_header() == NEXT_HOP_BY_HOP {
            let payload = self.payload();
            let hbh_len = payload
                .get(hbh::LEN)
                .map(|l| (usize::from(*l) + 1) * hbh::UNIT)
                .ok_or(Error::Truncated)?;
            if hbh_len > payload.len() {
                return Err(Error::Truncated);
            }
        }
        Ok(())
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// IP version (6 for a valid packet).
    pub fn version(&self) -> u8 {
        self.bytes()[field::VERSION] >> 4
    }

    /// Payload length: everything after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        let b = &self.bytes()[field::PAYLOAD_LEN];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Next Header of the fixed header.
    pub fn next_header(&self) -> u8 {
        self.bytes()[field::NEXT_HEADER]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.bytes()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        addr_at(self.bytes(), field::SRC)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        addr_at(self.bytes(), field::DST)
    }

    /// The payload up to the declared length (link-layer padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[field::HEADER_LEN..field::HEADER_LEN + usize::from(self.payload_len())]
    }

    /// The Hop-by-Hop Options header, if the fixed header is followed by one.
    pub fn hop_by_hop(&self) -> Option<&[u8]> {
        if self.next_header() != NEXT_HOP_BY_HOP {
            return None;
        }
        let payload = self.payload();
        let len = (usize::from(payload[hbh::LEN]) + 1) * hbh::UNIT;
        Some(&payload[..len])
    }

    /// Where the header after the Hop-by-Hop header (or after the fixed header) starts.
    pub fn upper_layer_offset(&self) -> usize {
        field::HEADER_LEN + self.hop_by_hop().map_or(0, <[u8]>::len)
    }

    /// The header after the Hop-by-Hop header (or after the fixed header when there is none):
    /// its Next Header value and the bytes from it to the end of the payload.
    pub fn upper_layer(&self) -> (u8, &[u8]) {
        match self.hop_by_hop() {
            Some(h) => (h[hbh::NEXT_HEADER], &self.payload()[h.len()..]),
            None => (self.next_header(), self.payload()),
        }
    }

    /// The value of the Router Alert option in the Hop-by-Hop header, if there is one.
    /// `Malformed` if an option overruns the header or a Router Alert has the wrong length,
    /// `Unsupported` if an unrecognised option asks not to be skipped (RFC 8200 §4.2).
    pub fn router_alert(&self) -> Result<Option<u16>> {
        let Some(h) = self.hop_by_hop() else {
            return Ok(None);
        };
        let mut found = None;
        let mut i = hbh::OPTIONS;
        while let Some(&kind) = h.get(i) {
            if kind == hbh::PAD1 {
                i += 1;
                continue;
            }
            let len = usize::from(*h.get(i + 1).ok_or(Error::Malformed)?);
            let data = h.get(i + 2..i + 2 + len).ok_or(Error::Malformed)?;
            match kind {
                hbh::PADN => {}
                hbh::ROUTER_ALERT if len == hbh::ROUTER_ALERT_DATA_LEN => {
                    found = found.or(Some(u16::from_be_bytes([data[0], data[1]])));
                }
                hbh::ROUTER_ALERT => return Err(Error::Malformed),
                _ if kind & hbh::ACTION_MASK != 0 => return Err(Error::Unsupported),
                _ => {}
            }
            i += 2 + len;
        }
        Ok(found)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, hop_limit: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = hop_limit;
    }

    /// The bytes after the Hop-by-Hop header, writable.
    pub fn upper_layer_mut(&mut self) -> &mut [u8] {
        let start = self.upper_layer_offset();
        let end = field::HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The parsed form of an IPv6 header and its Hop-by-Hop header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next Header after the Hop-by-Hop header (the upper-layer protocol for MLD).
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Value of the Router Alert option; `None` without one.
    pub router_alert: Option<u16>,
    /// Length of what follows the Hop-by-Hop header.
    pub upper_layer_len: usize,
}

impl Repr {
    /// Parses a checked packet: version 6 and a well-formed Hop-by-Hop header.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr> {
        if packet.version() != 6 {
            return Err(Error::Malformed);
        }
        let router_alert = packet.router_alert()?;
        let (next_header, upper) = packet.upper_layer();
        Ok(Repr {
            src: packet.src_addr(),
            dst: packet.dst_addr(),
            next_header,
            hop_limit: packet.hop_limit(),
            router_alert,
            upper_layer_len: upper.len(),
        })
    }

    /// Length of the headers this representation emits (a Hop-by-Hop header only with a
    /// Router Alert).
    pub fn header_len(&self) -> usize {
        field::HEADER_LEN
            + if self.router_alert.is_some() {
                hbh::EMITTED_LEN
            } else {
                0
            }
    }

    /// Total packet length this representation emits.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.upper_layer_len
    }

    /// Writes the headers into the start of `buffer` (at least [`Self::buffer_len`] bytes) and
    /// returns the view; the caller fills the upper layer. Traffic class and flow label are 0.
    pub fn emit<'a>(&self, buffer: &'a mut [u8]) -> Result<Packet<&'a mut [u8]>> {
        let payload_len =
            u16::try_from(self.buffer_len() - field::HEADER_LEN).map_err(|_| Error::Malformed)?;
        let buffer = buffer
            .get_mut(..self.buffer_len())
            .ok_or(Error::Truncated)?;
        buffer[..self.header_len()].fill(0);
        buffer[field::VERSION] = 0x60;
        buffer[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
        buffer[field::HOP_LIMIT] = self.hop_limit;
        buffer[field::SRC].copy_from_slice(&self.src.octets());
        buffer[field::DST].copy_from_slice(&self.dst.octets());
        match self.router_alert {
            Some(value) => {
                buffer[field::NEXT_HEADER] = NEXT_HOP_BY_HOP;
                let h = &mut buffer[field::HEADER_LEN..field::HEADER_LEN + hbh::EMITTED_LEN];
                h[hbh::NEXT_HEADER] = self.next_header;
                h[hbh::OPTIONS] = hbh::ROUTER_ALERT;
                h[hbh::OPTIONS + 1] = hbh::ROUTER_ALERT_DATA_LEN as u8;
                h[4..6].copy_from_slice(&value.to_be_bytes());
                h[6] = hbh::PADN;
            }
            None => buffer[field::NEXT_HEADER] = self.next_header,
        }
        Ok(Packet::new_unchecked(buffer))
    }
}

/// The pseudo-header of RFC 8200 §8.1 followed by the upper-layer message.
fn with_pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, message: &[u8]) -> Vec<u8> {
    let mut data = Vec::with_capacity(40 + message.len());
    data.extend_from_slice(&src.octets());
    data.extend_from_slice(&dst.octets());
    data.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    data.extend_from_slice(&[0, 0, 0, next_header]);
    data.extend_from_slice(message);
    data
}

/// The checksum to store in an upper-layer message whose checksum field is zero.
pub fn pseudo_header_checksum(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    message: &[u8],
) -> u16 {
    checksum::compute(&with_pseudo_header(src, dst, next_header, message))
}

/// Whether an upper-layer message, checksum field included, verifies over the pseudo-header.
pub fn verify_pseudo_header_checksum(
    src: Ipv6Addr,
    dst: Ipv6Addr,
    next_header: u8,
    message: &[u8],
) -> bool {
    checksum::verify(&with_pseudo_header(src, dst, next_header, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{IpNumber, Ipv6Extensions, Ipv6Header};

    fn addr(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn sample(router_alert: Option<u16>, payload: &[u8]) -> Vec<u8> {
        let repr = Repr {
            src: addr("fe80::1"),
            dst: addr("ff02::16"),
            next_header: NEXT_ICMPV6,
            hop_limit: 1,
            router_alert,
            upper_layer_len: payload.len(),
        };
        let mut buf = vec![0; repr.buffer_len()];
        let mut packet = repr.emit(&mut buf).unwrap();
        packet.upper_layer_mut().copy_from_slice(payload);
        buf
    }

    #[test]
    fn emit_parse_roundtrip_against_etherparse() {
        for ra in [None, Some(ROUTER_ALERT_MLD), Some(0x1234)] {
            let buf = sample(ra, &[1, 2, 3, 4]);
            let packet = Packet::new_checked(&buf[..]).unwrap();
            let repr = Repr::parse(&packet).unwrap();
            assert_eq!(repr.router_alert, ra);
            assert_eq!(repr.next_header, NEXT_ICMPV6);
            assert_eq!(packet.upper_layer().1, &[1, 2, 3, 4]);

            let (oracle, rest) = Ipv6Header::from_slice(&buf).unwrap();
            assert_eq!(oracle.source, repr.src.octets());
            assert_eq!(oracle.destination, repr.dst.octets());
            assert_eq!(oracle.hop_limit, 1);
            assert_eq!(usize::from(oracle.payload_length), rest.len());
            let (exts, next, upper) = Ipv6Extensions::from_slice(oracle.next_header, rest).unwrap();
            assert_eq!(next, IpNumber::IPV6_ICMP);
            assert_eq!(upper, &[1, 2, 3, 4]);
            let hbh = exts.hop_by_hop_options.map(|h| h.payload().to_vec());
            assert_eq!(hbh.is_some(), ra.is_some());
            if let (Some(options), Some(value)) = (hbh, ra) {
                assert_eq!(&options[..4], &[5, 2, (value >> 8) as u8, value as u8]);
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let buf = sample(Some(0), &[9; 8]);
        for len in 0..buf.len() {
            assert!(Packet::new_checked(&buf[..len]).is_err(), "length {len}");
        }
        let mut padded = buf.clone();
        padded.extend_from_slice(&[0; 6]);
        let packet = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(packet.upper_layer().1, &[9; 8]);
    }

    #[test]
    fn hop_by_hop_longer_than_the_payload() {
        let mut buf = sample(Some(0), &[]);
        buf[40 + 1] = 1; // 16 bytes declared, 8 present
        assert_eq!(Packet::new_checked(&buf[..]).err(), Some(Error::Truncated));
    }

    fn with_options(options: [u8; 6]) -> Vec<u8> {
        let mut buf = sample(Some(0), &[]);
        buf[42..48].copy_from_slice(&options);
        buf
    }

    #[test]
    fn option_walk() {
        let cases: [([u8; 6], Result<Option<u16>>); 8] = [
            ([0, 0, 0, 5, 2, 0], Err(Error::Malformed)), // RA overruns the header
            ([0, 5, 2, 0, 9, 0], Ok(Some(9))),           // Pad1, RA, Pad1
            ([1, 4, 0, 0, 0, 0], Ok(None)),              // PadN only
            ([5, 3, 0, 0, 0, 0], Err(Error::Malformed)), // RA of the wrong length
            ([1, 9, 0, 0, 0, 0], Err(Error::Malformed)), // PadN overruns
            ([0x1e, 0, 5, 2, 0, 1], Ok(Some(1))),        // unknown, skippable
            ([0x9e, 0, 5, 2, 0, 1], Err(Error::Unsupported)), // unknown, discard
            ([5, 2, 0, 3, 1, 0], Ok(Some(3))),           // RA, empty PadN
        ];
        for (options, want) in cases {
            let buf = with_options(options);
            let packet = Packet::new_checked(&buf[..]).unwrap();
            assert_eq!(packet.router_alert(), want, "{options:?}");
        }
    }

    #[test]
    fn wrong_version_is_malformed() {
        let mut buf = sample(None, &[0; 4]);
        buf[0] = 0x40;
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&packet), Err(Error::Malformed));
    }

    #[test]
    fn pseudo_header_checksum_against_etherparse() {
        // An ICMPv6 echo request (type 128) with a payload of odd length.
        let (src, dst) = (addr("fe80::1"), addr("ff02::1"));
        let mut message = vec![128, 0, 0, 0, 0x12, 0x34, 0, 1, 0xab, 0xcd, 0xef];
        let c = pseudo_header_checksum(src, dst, NEXT_ICMPV6, &message);
        message[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(verify_pseudo_header_checksum(
            src,
            dst,
            NEXT_ICMPV6,
            &message
        ));
        let oracle = etherparse::Icmpv6Slice::from_slice(&message).unwrap();
        assert!(oracle.is_checksum_valid(src.octets(), dst.octets()));
        assert!(!verify_pseudo_header_checksum(
            src,
            addr("ff02::2"),
            NEXT_ICMPV6,
            &message
        ));
    }
}
