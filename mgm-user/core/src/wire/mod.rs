//! Zero-copy packet views and their parsed forms.
//!
//! Each protocol module offers a `Packet<T: AsRef<[u8]>>` view whose `new_checked` validates the
//! buffer once, so that its accessors cannot panic afterwards, a `field` module naming the byte
//! offsets, and a `Repr` (the parsed, high-level form) that can `parse` a checked packet and
//! `emit` itself into a buffer with correct checksums.
pub mod ethernet;
pub mod igmp;
pub mod ipv4;
pub mod ipv6;
pub mod mld;
pub mod source_list;

/// Why a buffer is not a valid packet of the expected kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The buffer is shorter than the header or the lengths it declares.
    #[error("truncated packet")]
    Truncated,
    /// A field holds a value the protocol forbids (version, header length, option layout).
    #[error("malformed packet")]
    Malformed,
    /// The checksum does not verify.
    #[error("bad checksum")]
    Checksum,
    /// A well-formed packet of a kind this implementation does not handle.
    #[error("unsupported packet")]
    Unsupported,
}

/// Result of a wire operation.
pub type Result<T> = core::result::Result<T, Error>;

/// The Internet checksum (RFC 1071): one's complement sum of 16-bit big-endian words.
pub mod checksum {
    /// Folded one's complement sum of `data` (an odd trailing byte is padded with zero).
    fn sum(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        let mut words = data.chunks_exact(2);
        for w in &mut words {
            acc += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            acc += u32::from(*last) << 8;
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    /// The checksum to store in a header whose checksum field is zero.
    pub fn compute(data: &[u8]) -> u16 {
        !sum(data)
    }

    /// Whether `data`, checksum field included, verifies.
    pub fn verify(data: &[u8]) -> bool {
        sum(data) == 0xffff
    }
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn rfc1071_example() {
        // The worked example of RFC 1071 §3: the sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum::compute(&data), !0xddf2);
    }

    #[test]
    fn odd_length_and_verify() {
        let mut data = vec![0x12, 0x34, 0x00, 0x00, 0x56];
        let c = checksum::compute(&data);
        data[2..4].copy_from_slice(&c.to_be_bytes());
        assert!(checksum::verify(&data));
        data[4] ^= 1;
        assert!(!checksum::verify(&data));
    }
}
