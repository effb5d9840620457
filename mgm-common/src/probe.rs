//! The probe arrays: an inlined lookup in front of the MFE hash maps.

use crate::{MfeValue, Sg6Key, SgKey};

/// Ways (entries) of one [`ProbeBucket`].
pub const PROBE_WAYS: usize = 4;

/// `ProbeBucket::used`: an entry of this bucket found it full and lives only in the hash map,
/// so an (S,G) not in the bucket may still have an entry there.
pub const PROBE_SPILLED: u32 = 1 << 31;

/// An (S,G) key of the probe arrays: [`SgKey`] or [`Sg6Key`], made of whole 4-byte words and
/// at most 4-byte aligned, so that a [`ProbeBucket`] of either has no padding.
pub trait ProbeKey: Copy + Default + PartialEq + sealed::Sealed {
    /// Its bucket ([`SgKey::probe_bucket`], [`Sg6Key::probe_bucket`]).
    fn bucket(&self) -> u32;
}

impl ProbeKey for SgKey {
    fn bucket(&self) -> u32 {
        self.probe_bucket()
    }
}

impl ProbeKey for Sg6Key {
    fn bucket(&self) -> u32 {
        self.probe_bucket()
    }
}

mod sealed {
    /// Only the keys of this crate are [`super::ProbeKey`]s.
    pub trait Sealed {}
    impl Sealed for super::SgKey {}
    impl Sealed for super::Sg6Key {}
}

/// One entry of a [`ProbeBucket`]: an (S,G) key of `MFES` or `MFES6` and its value, a copy of
/// the hash map's.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeWay<K> {
    /// The (S,G).
    pub key: K,
    /// Its entry, as in the hash map.
    pub value: MfeValue,
}

/// One bucket of the inlined lookup in front of the hash maps (`MFE_PROBE`, `MFE_PROBE6`,
/// plain arrays indexed by [`SgKey::probe_bucket`] / [`Sg6Key::probe_bucket`]): the entries of
/// up to [`PROBE_WAYS`] (S,G)s of the bucket, copies of the hash map's, which stays the
/// authority. Userspace rewrites a bucket as a seqlock: `seq` odd, then the body, then `seq`
/// even again; the program reads `seq`, the ways, `seq` again, and a torn read falls back to
/// the hash map, as does an (S,G) not found in a [`PROBE_SPILLED`] bucket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProbeBucket<K> {
    /// Sequence number: odd while userspace rewrites the bucket.
    pub seq: u32,
    /// Bit `i` set: way `i` holds an entry; and [`PROBE_SPILLED`].
    pub used: u32,
    /// The entries.
    pub ways: [ProbeWay<K>; PROBE_WAYS],
}
