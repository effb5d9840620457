//! [`Address`]: what the MGM core needs of an IP address, implemented by [`Ipv4Addr`] and
//! [`Ipv6Addr`] only (the trait is sealed).
//!
//! The core is one state machine generic over the family rather than one copy per family: the
//! rules of the spec (ownership, W/S/M alerts, §6.2's OIF formula, §6.4 creation, lifetimes)
//! never look inside an address, only compare, order, hash and mask it. Every type that holds
//! an address takes it as a parameter defaulting to [`Ipv4Addr`], so `Mgm` is the IPv4 manager
//! (whose Windows-API records stay byte-for-byte as before) and `Mgm<Ipv6Addr>` the IPv6 one.
//! A generic type has the layout of the family it is instantiated with, so IPv4 entries do not
//! grow to hold IPv6 addresses.
//!
//! The buffer calls serve both managers: an IPv6 record is the IPv4 one with 16-byte address
//! fields ([`super::mib`]). mgmd registers an external protocol in both managers and chooses
//! the manager of each API request by its addresses (or its `family` field); interface
//! ownership is kept the same in both (`docs/design.md` §1, `docs/protocol.md`).

use std::fmt::{Debug, Display};
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

mod sealed {
    pub trait Sealed {}
    impl Sealed for std::net::Ipv4Addr {}
    impl Sealed for std::net::Ipv6Addr {}
}

/// An IP address the core can carry: [`Ipv4Addr`] or [`Ipv6Addr`]. The unspecified address is
/// the wildcard of (\*,G) and (\*,\*) keys and the "no next hop" of an [`IfId`](super::IfId);
/// the numeric order (group, then source) is the enumeration order of §4.10.
pub trait Address:
    sealed::Sealed + Copy + Eq + Ord + Hash + Debug + Display + Send + Sync + 'static
{
    /// `0.0.0.0` or `::`.
    const UNSPECIFIED: Self;
    /// The mask of a single address: `255.255.255.255` or `ffff:…:ffff`.
    const HOST_MASK: Self;
    /// Address length in bits: 32 or 128.
    const BITS: u8;
    /// Address length in bytes, as a buffer record holds it: 4 or 16.
    const OCTETS: usize;

    /// True for the wildcard `0.0.0.0` / `::`.
    fn is_unspecified(&self) -> bool;
    /// True for a group address (224.0.0.0/4, ff00::/8).
    fn is_multicast(&self) -> bool;
    /// The bitwise AND of the address and `mask`.
    fn masked(self, mask: Self) -> Self;
    /// The mask of a `len`-bit prefix; a length past [`Address::BITS`] is clamped.
    fn prefix_mask(len: u8) -> Self;
    /// Writes the address's [`Address::OCTETS`] bytes, network order, to the start of `out`
    /// (as the buffer records hold it); nothing when `out` is shorter.
    fn write_octets(&self, out: &mut [u8]);
    /// The address in the first [`Address::OCTETS`] bytes of `bytes`; `None` when shorter.
    fn read_octets(bytes: &[u8]) -> Option<Self>;
}

impl Address for Ipv4Addr {
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    const HOST_MASK: Self = Ipv4Addr::BROADCAST;
    const BITS: u8 = 32;
    const OCTETS: usize = 4;

    fn is_unspecified(&self) -> bool {
        Ipv4Addr::is_unspecified(self)
    }
    fn is_multicast(&self) -> bool {
        Ipv4Addr::is_multicast(self)
    }
    fn masked(self, mask: Self) -> Self {
        Ipv4Addr::from(u32::from(self) & u32::from(mask))
    }
    fn prefix_mask(len: u8) -> Self {
        let len = u32::from(len.min(<Self as Address>::BITS));
        Ipv4Addr::from(u32::MAX.checked_shl(32 - len).unwrap_or(0))
    }
    fn write_octets(&self, out: &mut [u8]) {
        if let Some(dst) = out.get_mut(..4) {
            dst.copy_from_slice(&self.octets());
        }
    }
    fn read_octets(bytes: &[u8]) -> Option<Self> {
        let b: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    }
}

impl Address for Ipv6Addr {
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    const HOST_MASK: Self = Ipv6Addr::new(
        0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
    );
    const BITS: u8 = 128;
    const OCTETS: usize = 16;

    fn is_unspecified(&self) -> bool {
        Ipv6Addr::is_unspecified(self)
    }
    fn is_multicast(&self) -> bool {
        Ipv6Addr::is_multicast(self)
    }
    fn masked(self, mask: Self) -> Self {
        Ipv6Addr::from(u128::from(self) & u128::from(mask))
    }
    fn prefix_mask(len: u8) -> Self {
        let len = u32::from(len.min(<Self as Address>::BITS));
        Ipv6Addr::from(u128::MAX.checked_shl(128 - len).unwrap_or(0))
    }
    fn write_octets(&self, out: &mut [u8]) {
        if let Some(dst) = out.get_mut(..16) {
            dst.copy_from_slice(&self.octets());
        }
    }
    fn read_octets(bytes: &[u8]) -> Option<Self> {
        let b: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_masks_cover_both_ends() {
        assert_eq!(<Ipv4Addr as Address>::prefix_mask(0), Ipv4Addr::UNSPECIFIED);
        assert_eq!(
            <Ipv4Addr as Address>::prefix_mask(24),
            Ipv4Addr::new(255, 255, 255, 0)
        );
        assert_eq!(<Ipv4Addr as Address>::prefix_mask(99), Ipv4Addr::BROADCAST);
        assert_eq!(<Ipv6Addr as Address>::prefix_mask(0), Ipv6Addr::UNSPECIFIED);
        assert_eq!(
            <Ipv6Addr as Address>::prefix_mask(16),
            Ipv6Addr::new(0xffff, 0, 0, 0, 0, 0, 0, 0)
        );
        assert_eq!(
            <Ipv6Addr as Address>::prefix_mask(200),
            <Ipv6Addr as Address>::HOST_MASK
        );
    }

    #[test]
    fn masking_keeps_the_prefix() {
        let a: Ipv6Addr = "2001:db8:1:2::7".parse().unwrap();
        let m = <Ipv6Addr as Address>::prefix_mask(48);
        assert_eq!(a.masked(m), "2001:db8:1::".parse::<Ipv6Addr>().unwrap());
        assert!(Address::is_multicast(
            &"ff3e::1".parse::<Ipv6Addr>().unwrap()
        ));
    }
}
