//! The probe arrays in front of `MFES` and `MFES6` (`MFE_PROBE`, `MFE_PROBE6`; the program's
//! side is `mgm-ebpf/src/probe.rs`): every write and removal of an entry in a hash map is
//! mirrored into its (S,G)'s bucket, which holds up to [`PROBE_WAYS`] entries.
//!
//! A bucket is rewritten as a seqlock in three map updates: its old body with `seq` odd, the
//! new body with the same odd `seq`, then `seq` even. The kernel copies a value with a memcpy
//! whose stores come in no promised order, but each update changes only `seq` or only the
//! body, and each is complete before the next one starts (a system call apart); so a program
//! that read `seq` even before and after the ways (in that order, see the program's side)
//! read a body no update changed in between. The hash map's own update comes between the first
//! two: while they could disagree, the bucket reads as torn and the hash map answers. Should
//! the hash map refuse, the bucket gets its old body back; should one of the last two updates
//! fail, the bucket stays torn (its (S,G)s are looked up in the hash map, counted
//! `probe_torn`) until its next rewrite, and the failure is logged.
//!
//! An entry whose bucket is full lives in the hash map alone and the bucket is marked
//! [`PROBE_SPILLED`]; the mark goes with the last such entry, and a later write of one moves it
//! into a free way. The buckets are written with map updates, not through a mapping of the
//! array (`BPF_F_MMAPABLE`), which would count the arrays' 21 MiB in mgmd's resident size.
use crate::dataplane::{sys, DataPlaneError};
use aya::maps::{Array, IterableMap, Map, MapData};
use mgm_common::{MfeValue, ProbeBucket, ProbeKey, ProbeWay, PROBE_SPILLED, PROBE_WAYS};
use std::{collections::HashMap, hash::Hash};
use tracing::warn;

/// An (S,G) key of a family's hash map and probe array.
pub(super) trait Key: ProbeKey + aya::Pod + Eq + Hash {}

impl<K: ProbeKey + aya::Pod + Eq + Hash> Key for K {}

/// One family's probe array, and the keys that did not fit in their bucket.
pub(super) struct Probe<K: Key> {
    buckets: Array<MapData, ProbeBucket<K>>,
    /// By bucket, the keys whose entries live in the hash map alone.
    spilled: HashMap<u32, Vec<K>>,
}

/// A bucket's rewrite under way (see [`Probe::finish`]).
#[must_use = "a bucket stays torn until its rewrite is finished"]
pub(super) struct Rewrite<K> {
    index: u32,
    /// The body before, and the odd `seq` it was written with (`None`: nothing to write).
    old: Option<ProbeBucket<K>>,
    new: ProbeBucket<K>,
    spill: Spill<K>,
}

/// What a rewrite changes in the bookkeeping of spilled keys.
enum Spill<K> {
    Nothing,
    Add(K),
    Remove(K),
}

impl<K: Key> Probe<K> {
    /// The probe over `buckets`, made to agree with `entries` (those of the family's hash
    /// map, left by an earlier run). A `fresh` array, created with this data plane, reads as
    /// zeros and is only written. A pinned one is read whole, in batches ([`sys::read_array`]):
    /// a bucket may hold an entry the hash map no longer has (removed while mgmd was down, or
    /// by a run stopped between the two writes) wherever no entry of the map hashes, so every
    /// bucket is compared, and the read fails unless it returned each of them.
    pub(super) fn adopt<'a>(
        buckets: Array<MapData, ProbeBucket<K>>,
        entries: impl Iterator<Item = (&'a K, &'a MfeValue)>,
        fresh: bool,
    ) -> Result<Self, DataPlaneError>
    where
        K: 'a,
    {
        let mut wanted: HashMap<u32, Vec<(K, MfeValue)>> = HashMap::new();
        for (key, value) in entries {
            wanted.entry(key.bucket()).or_default().push((*key, *value));
        }
        let mut probe = Self {
            buckets,
            spilled: HashMap::new(),
        };
        if fresh {
            for (index, entries) in wanted {
                probe.adopt_bucket(index, ProbeBucket::default(), entries)?;
            }
            return Ok(probe);
        }
        // A second handle reads while the first one writes.
        let reader: Array<MapData, ProbeBucket<K>> = Map::Array(sys::duplicate(
            probe.buckets.map(),
            "duplicating a probe array's descriptor",
        )?)
        .try_into()?;
        sys::read_array(&reader, |index, old| {
            let entries = wanted.remove(&index).unwrap_or_default();
            probe.adopt_bucket(index, old, entries)
        })?;
        Ok(probe)
    }

    /// Makes bucket `index`, read as `old`, hold `entries` (entries kept in their ways).
    fn adopt_bucket(
        &mut self,
        index: u32,
        old: ProbeBucket<K>,
        entries: Vec<(K, MfeValue)>,
    ) -> Result<(), DataPlaneError> {
        let (new, spilled) = layout(&old, entries);
        if !spilled.is_empty() {
            self.spilled.insert(index, spilled);
        }
        let rewrite = self.begin(index, old, new, Spill::Nothing)?;
        self.finish(rewrite, true);
        Ok(())
    }

    /// Starts writing `value` as the entry of `key` (the hash map's update comes next).
    pub(super) fn begin_write(
        &mut self,
        key: K,
        value: MfeValue,
    ) -> Result<Rewrite<K>, DataPlaneError> {
        let index = key.bucket();
        let old = self.buckets.get(&index, 0)?;
        let mut new = old;
        let spilled = self.is_spilled(index, &key);
        let spill = match (place(&mut new, key, value), spilled) {
            (true, true) => {
                if self.spilled[&index].len() == 1 {
                    new.used &= !PROBE_SPILLED;
                }
                Spill::Remove(key)
            }
            (true, false) => Spill::Nothing,
            (false, true) => Spill::Nothing,
            (false, false) => {
                new.used |= PROBE_SPILLED;
                Spill::Add(key)
            }
        };
        self.begin(index, old, new, spill)
    }

    /// Starts removing the entry of `key` (the hash map's removal comes next).
    pub(super) fn begin_remove(&mut self, key: &K) -> Result<Rewrite<K>, DataPlaneError> {
        let index = key.bucket();
        let old = self.buckets.get(&index, 0)?;
        let mut new = old;
        let spill = match way_of(&old, key) {
            Some(way) => {
                new.used &= !(1 << way);
                new.ways[way] = ProbeWay::default();
                Spill::Nothing
            }
            None if self.is_spilled(index, key) => {
                if self.spilled[&index].len() == 1 {
                    new.used &= !PROBE_SPILLED;
                }
                Spill::Remove(*key)
            }
            None => Spill::Nothing,
        };
        self.begin(index, old, new, spill)
    }

    /// Ends `rewrite`: its bucket gets the new body if the hash map took the change
    /// (`applied`), its old one back otherwise, and `seq` even again.
    pub(super) fn finish(&mut self, rewrite: Rewrite<K>, applied: bool) {
        let Rewrite {
            index,
            old,
            new,
            spill,
        } = rewrite;
        if applied {
            match spill {
                Spill::Nothing => {}
                Spill::Add(key) => self.spilled.entry(index).or_default().push(key),
                Spill::Remove(key) => {
                    if let Some(keys) = self.spilled.get_mut(&index) {
                        keys.retain(|k| *k != key);
                        if keys.is_empty() {
                            self.spilled.remove(&index);
                        }
                    }
                }
            }
        }
        let Some(old) = old else {
            return;
        };
        let body = if applied { new } else { old };
        let written = self
            .buckets
            .set(index, with_seq(body, old.seq), 0)
            .and_then(|()| {
                let seq = old.seq.wrapping_add(1);
                self.buckets.set(index, with_seq(body, seq), 0)
            });
        if let Err(e) = written {
            warn!(
                bucket = index,
                error = %e,
                "probe bucket left torn: its (S,G)s are looked up in the hash map until it is \
                 written again"
            );
        }
    }

    fn is_spilled(&self, index: u32, key: &K) -> bool {
        self.spilled
            .get(&index)
            .is_some_and(|keys| keys.contains(key))
    }

    /// Marks bucket `index` torn (odd `seq`) if `new` differs from `old` (or `old` was left
    /// torn).
    fn begin(
        &mut self,
        index: u32,
        mut old: ProbeBucket<K>,
        new: ProbeBucket<K>,
        spill: Spill<K>,
    ) -> Result<Rewrite<K>, DataPlaneError> {
        let changes = with_seq(new, old.seq) != old || old.seq & 1 != 0;
        if changes && old.seq & 1 == 0 {
            old.seq = old.seq.wrapping_add(1);
            self.buckets.set(index, old, 0)?;
        }
        Ok(Rewrite {
            index,
            old: changes.then_some(old),
            new,
            spill,
        })
    }
}

/// `bucket` with `seq`.
fn with_seq<K>(mut bucket: ProbeBucket<K>, seq: u32) -> ProbeBucket<K> {
    bucket.seq = seq;
    bucket
}

/// The way of `bucket` holding `key`'s entry.
fn way_of<K: PartialEq>(bucket: &ProbeBucket<K>, key: &K) -> Option<usize> {
    (0..PROBE_WAYS).find(|&way| bucket.used & (1 << way) != 0 && bucket.ways[way].key == *key)
}

/// Puts `key`'s entry in its way of `bucket`, or in a free one; false if the bucket is full.
fn place<K: PartialEq>(bucket: &mut ProbeBucket<K>, key: K, value: MfeValue) -> bool {
    let way =
        way_of(bucket, &key).or_else(|| (0..PROBE_WAYS).find(|&w| bucket.used & (1 << w) == 0));
    let Some(way) = way else {
        return false;
    };
    bucket.ways[way] = ProbeWay { key, value };
    bucket.used |= 1 << way;
    true
}

/// The body of a bucket holding `entries`, each in the way it has in `old` if it has one, and
/// the keys that did not fit.
fn layout<K: Copy + Default + PartialEq>(
    old: &ProbeBucket<K>,
    entries: Vec<(K, MfeValue)>,
) -> (ProbeBucket<K>, Vec<K>) {
    let mut new = with_seq(ProbeBucket::default(), old.seq);
    let (kept, others): (Vec<_>, Vec<_>) = entries
        .into_iter()
        .partition(|(key, _)| way_of(old, key).is_some());
    for (key, value) in kept {
        if let Some(way) = way_of(old, &key) {
            new.ways[way] = ProbeWay { key, value };
            new.used |= 1 << way;
        }
    }
    let mut spilled = Vec::new();
    for (key, value) in others {
        if !place(&mut new, key, value) {
            new.used |= PROBE_SPILLED;
            spilled.push(key);
        }
    }
    (new, spilled)
}

#[cfg(test)]
mod tests {
    use super::{layout, place, way_of};
    use mgm_common::{MfeValue, ProbeBucket, SgKey, PROBE_SPILLED, PROBE_WAYS};

    fn key(n: u32) -> SgKey {
        SgKey {
            source: n,
            group: 0xef,
        }
    }

    fn value(iif: u32) -> MfeValue {
        MfeValue {
            iif,
            ..MfeValue::default()
        }
    }

    #[test]
    fn a_bucket_takes_as_many_entries_as_it_has_ways_and_rewrites_them_in_place() {
        let mut bucket = ProbeBucket::<SgKey>::default();
        for n in 0..PROBE_WAYS as u32 {
            assert!(place(&mut bucket, key(n), value(n)));
        }
        assert!(!place(&mut bucket, key(99), value(1)), "full");
        assert!(place(&mut bucket, key(2), value(7)), "rewritten");
        assert_eq!(bucket.ways[2].value.iif, 7);
        assert_eq!(way_of(&bucket, &key(3)), Some(3));
        assert_eq!(way_of(&bucket, &key(99)), None);
    }

    #[test]
    fn an_adopted_bucket_keeps_its_entries_in_their_ways_and_spills_the_rest() {
        let mut old = ProbeBucket::<SgKey>::default();
        assert!(place(&mut old, key(1), value(1)));
        assert!(place(&mut old, key(2), value(2)));
        old.seq = 6;
        let entries = (2..8).map(|n| (key(n), value(n + 10))).collect();
        let (new, spilled) = layout(&old, entries);
        assert_eq!(new.seq, 6);
        assert_eq!(new.ways[1].key, key(2), "kept in its way");
        assert_eq!(new.ways[1].value.iif, 12, "with the map's value");
        assert_eq!(way_of(&new, &key(1)), None, "gone from the map: gone");
        assert_eq!(spilled, [key(6), key(7)]);
        assert_ne!(new.used & PROBE_SPILLED, 0);
    }
}
