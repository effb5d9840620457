//! The (S,G) keys of the MFE maps, IPv4 and IPv6.

use crate::limits;
use core::net::{Ipv4Addr, Ipv6Addr};

/// Key of the MFE map: one (S,G) pair, both addresses in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SgKey {
    /// Source address.
    pub source: u32,
    /// Group address.
    pub group: u32,
}

impl SgKey {
    /// The key of (`source`, `group`).
    pub const fn new(source: Ipv4Addr, group: Ipv4Addr) -> Self {
        Self {
            source: u32::from_ne_bytes(source.octets()),
            group: u32::from_ne_bytes(group.octets()),
        }
    }

    /// The source address.
    pub const fn source_addr(&self) -> Ipv4Addr {
        let [a, b, c, d] = self.source.to_ne_bytes();
        Ipv4Addr::new(a, b, c, d)
    }

    /// The group address.
    pub const fn group_addr(&self) -> Ipv4Addr {
        let [a, b, c, d] = self.group.to_ne_bytes();
        Ipv4Addr::new(a, b, c, d)
    }

    /// The top `bits` bits of a multiplicative hash of both addresses: the slot of this
    /// (S,G) in a table of `1 << bits` slots.
    #[inline(always)]
    pub const fn hash_slot(&self, bits: u32) -> u32 {
        let key = (self.source as u64) << 32 | self.group as u64;
        (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits)) as u32
    }

    /// Its bucket in `MFE_PROBE` (see [`ProbeBucket`](crate::ProbeBucket)).
    #[inline(always)]
    pub const fn probe_bucket(&self) -> u32 {
        self.hash_slot(limits::PROBE_BUCKETS.trailing_zeros())
    }
}

impl core::fmt::Display for SgKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "({},{})", self.source_addr(), self.group_addr())
    }
}

/// Key of the IPv6 MFE map (`MFES6`): one (S,G) pair, both addresses as their 16 bytes in
/// network order (as they sit in the packet).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Sg6Key {
    /// Source address.
    pub source: [u8; 16],
    /// Group address.
    pub group: [u8; 16],
}

impl Sg6Key {
    /// The key of (`source`, `group`).
    pub const fn new(source: Ipv6Addr, group: Ipv6Addr) -> Self {
        Self {
            source: source.octets(),
            group: group.octets(),
        }
    }

    /// The source address.
    pub const fn source_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(u128::from_be_bytes(self.source))
    }

    /// The group address.
    pub const fn group_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from_bits(u128::from_be_bytes(self.group))
    }

    /// Its bucket in `MFE_PROBE6` (see [`ProbeBucket`](crate::ProbeBucket)): that of its
    /// [`digest`](Self::digest).
    #[inline(always)]
    pub const fn probe_bucket(&self) -> u32 {
        self.digest().probe_bucket()
    }

    /// The 64-bit digest that stands for this (S,G) in the report budget (`REPORTED_SGS`,
    /// keyed by [`SgKey`]): each address folded to 32 bits by XOR of its words. Two (S,G)s
    /// with the same digest share one budget slot and its repeat interval.
    #[inline(always)]
    pub const fn digest(&self) -> SgKey {
        let (s, g) = (&self.source, &self.group);
        Self::digest_of_words(&[
            word(s, 0),
            word(s, 4),
            word(s, 8),
            word(s, 12),
            word(g, 0),
            word(g, 4),
            word(g, 8),
            word(g, 12),
        ])
    }

    /// The [`digest`](Self::digest) of the key whose native-order words (source first) are
    /// `w` (the XDP program reads them from the packet with native loads).
    #[inline(always)]
    pub const fn digest_of_words(w: &[u32; 8]) -> SgKey {
        SgKey {
            source: w[0] ^ w[1] ^ w[2] ^ w[3],
            group: w[4] ^ w[5] ^ w[6] ^ w[7],
        }
    }
}

/// The native-order word at byte `i` of `a`.
#[inline(always)]
const fn word(a: &[u8; 16], i: usize) -> u32 {
    u32::from_ne_bytes([a[i], a[i + 1], a[i + 2], a[i + 3]])
}

impl core::fmt::Display for Sg6Key {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "({},{})", self.source_addr(), self.group_addr())
    }
}
