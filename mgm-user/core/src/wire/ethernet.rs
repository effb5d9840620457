//! Ethernet II frames, untagged or with one 802.1Q tag.
use super::{Error, Result};
use core::net::IpAddr;

/// Byte offsets of the Ethernet header.
pub mod field {
    use core::ops::Range;
    /// Destination MAC address.
    pub const DESTINATION: Range<usize> = 0..6;
    /// Source MAC address.
    pub const SOURCE: Range<usize> = 6..12;
    /// EtherType, or the 802.1Q TPID when tagged.
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Length of an untagged header.
    pub const HEADER_LEN: usize = 14;
    /// Length of one 802.1Q tag.
    pub const VLAN_TAG_LEN: usize = 4;
}

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
/// TPID of an 802.1Q tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;

/// A view of an Ethernet frame whose header (and tag, if any) is known to be present.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that the header (and one 802.1Q tag, if present) fits in `buffer`.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let frame = Self { buffer };
        let bytes = frame.buffer.as_ref();
        if bytes.len() < field::HEADER_LEN {
            return Err(Error::Truncated);
        }
        if frame.is_tagged() && bytes.len() < field::HEADER_LEN + field::VLAN_TAG_LEN {
            return Err(Error::Truncated);
        }
        Ok(frame)
    }

    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[at], b[at + 1]])
    }

    /// Whether the frame carries an 802.1Q tag.
    pub fn is_tagged(&self) -> bool {
        self.u16_at(field::ETHERTYPE.start) == ETHERTYPE_VLAN
    }

    /// Length of the header, tag included.
    pub fn header_len(&self) -> usize {
        if self.is_tagged() {
            field::HEADER_LEN + field::VLAN_TAG_LEN
        } else {
            field::HEADER_LEN
        }
    }

    /// The EtherType of the payload (after the tag, if any).
    pub fn ethertype(&self) -> u16 {
        self.u16_at(self.header_len() - 2)
    }

    /// The payload (the IPv4 packet for IPv4 frames).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Writes the destination MAC address.
    pub fn set_destination(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&mac);
    }

    /// Writes the source MAC address.
    pub fn set_source(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&mac);
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// The Ethernet address of the IP multicast address `group`: 01:00:5e and its last 23 bits for
/// IPv4 (RFC 1112 §6.4), 33:33 and its last 32 bits for IPv6 (RFC 2464 §7).
pub fn multicast_mac(group: IpAddr) -> [u8; 6] {
    match group {
        IpAddr::V4(g) => {
            let [_, g1, g2, g3] = g.octets();
            [0x01, 0x00, 0x5e, g1 & 0x7f, g2, g3]
        }
        IpAddr::V6(g) => {
            let [.., g12, g13, g14, g15] = g.octets();
            [0x33, 0x33, g12, g13, g14, g15]
        }
    }
}

/// Removes an 802.1Q tag from a frame in place (forwarded frames leave untagged, as the XDP
/// program sends them). Frames without a tag are left as they are.
pub fn strip_vlan(frame: &mut Vec<u8>) {
    let tagged = Frame::new_checked(frame.as_slice()).is_ok_and(|f| f.is_tagged());
    if tagged {
        frame.drain(field::ETHERTYPE.start..field::ETHERTYPE.start + field::VLAN_TAG_LEN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tagged: bool) -> Vec<u8> {
        let mut f = vec![0x01, 0, 0x5e, 1, 1, 1, 2, 2, 2, 2, 2, 2];
        if tagged {
            f.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        }
        f.extend_from_slice(&[0x08, 0x00, 0x45]);
        f
    }

    #[test]
    fn multicast_macs_carry_the_groups_last_23_or_32_bits() {
        let mac = |g: &str| multicast_mac(g.parse().unwrap());
        assert_eq!(mac("239.129.2.3"), [0x01, 0, 0x5e, 0x01, 2, 3]);
        assert_eq!(mac("224.0.0.1"), [0x01, 0, 0x5e, 0, 0, 1]);
        assert_eq!(mac("ff02::1"), [0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(
            mac("ff0e::1:ff12:3456"),
            [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]
        );
    }

    #[test]
    fn untagged_and_tagged_frames_find_their_payload() {
        let f = frame(false);
        let v = Frame::new_checked(f.as_slice()).unwrap();
        assert_eq!((v.ethertype(), v.payload()), (ETHERTYPE_IPV4, &[0x45][..]));
        let f = frame(true);
        let v = Frame::new_checked(f.as_slice()).unwrap();
        assert!(v.is_tagged());
        assert_eq!((v.ethertype(), v.payload()), (ETHERTYPE_IPV4, &[0x45][..]));
    }

    #[test]
    fn truncated_frames_are_refused_at_every_length() {
        for tagged in [false, true] {
            let f = frame(tagged);
            let header = if tagged { 18 } else { 14 };
            for len in 0..header {
                assert!(Frame::new_checked(&f[..len]).is_err(), "len {len}");
            }
        }
    }

    #[test]
    fn stripping_the_tag_leaves_an_untagged_frame() {
        let mut f = frame(true);
        strip_vlan(&mut f);
        assert_eq!(f, frame(false));
        strip_vlan(&mut f);
        assert_eq!(f, frame(false));
    }

    #[test]
    fn the_source_address_is_rewritten() {
        let mut f = frame(false);
        Frame::new_checked(f.as_mut_slice())
            .unwrap()
            .set_source([9; 6]);
        assert_eq!(&f[6..12], &[9; 6]);
    }
}
