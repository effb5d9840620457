//! The numbered payload `mcast send` writes and `mcast join` decodes.

/// The payload `mcast send` writes: a magic, a sequence number and the TTL (IPv4) or hop limit
/// (IPv6) it was sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Payload {
    /// Sequence number, from 0.
    pub seq: u64,
    /// TTL or hop limit the sender set.
    pub sent_ttl: u8,
}

impl Payload {
    const MAGIC: [u8; 4] = *b"MGMc";
    /// Encoded length.
    pub const LEN: usize = 13;

    /// The bytes of this payload.
    pub fn encode(&self) -> [u8; Self::LEN] {
        let mut out = [0; Self::LEN];
        out[..4].copy_from_slice(&Self::MAGIC);
        out[4..12].copy_from_slice(&self.seq.to_be_bytes());
        out[12] = self.sent_ttl;
        out
    }

    /// Decodes a payload written by [`Self::encode`]; `None` for anything else.
    pub fn decode(bytes: &[u8]) -> Option<Payload> {
        let bytes: &[u8; Self::LEN] = bytes.try_into().ok()?;
        if bytes[..4] != Self::MAGIC {
            return None;
        }
        let mut seq = [0; 8];
        seq.copy_from_slice(&bytes[4..12]);
        Some(Payload {
            seq: u64::from_be_bytes(seq),
            sent_ttl: bytes[12],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_roundtrip_and_rejects() {
        let p = Payload {
            seq: 0x0102_0304_0506_0708,
            sent_ttl: 9,
        };
        assert_eq!(Payload::decode(&p.encode()), Some(p));
        assert_eq!(Payload::decode(b"hello"), None);
        let mut other = p.encode();
        other[0] = b'X';
        assert_eq!(Payload::decode(&other), None);
        assert_eq!(Payload::decode(&p.encode()[..12]), None);
    }
}
