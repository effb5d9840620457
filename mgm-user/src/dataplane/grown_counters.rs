//! The global counter array (`STATS`) across an upgrade that adds counters: a version with
//! more counters (`mgm_common::stat::COUNT`) cannot adopt the shorter pinned array, so its
//! values are read, its pin removed, and the values written into the new array after load.
//! New counters are only ever appended, so an index means the same counter in both.
//!
//! The earlier program keeps counting into the old array until this version's program
//! replaces it on each interface; those few counts are not carried over, so the replacement
//! is logged as a warning.
use aya::maps::{Map, MapData, MapInfo, PerCpuArray, PerCpuValues};
use mgm_common::stat;
use std::path::Path;
use tracing::warn;

use super::DataPlaneError;

/// The per-CPU values of a shorter pinned `STATS`, index by index.
pub struct CarriedCounters(Vec<Vec<u64>>);

/// Takes the pinned `STATS` at `path` out of the way when it holds fewer counters than this
/// build (same key and value): returns its values, its pin removed. `None` when there is no
/// pin or it has this build's size (then it is adopted as it is); an array of any other
/// layout is left for the loader's layout check to refuse.
pub fn take_shorter(path: &Path) -> Result<Option<CarriedCounters>, DataPlaneError> {
    let Ok(info) = MapInfo::from_pin(path) else {
        return Ok(None);
    };
    let counter_layout = info.key_size() == 4 && info.value_size() == 8;
    if !counter_layout || info.max_entries() >= stat::COUNT {
        return Ok(None);
    }
    let old: PerCpuArray<_, u64> =
        PerCpuArray::try_from(Map::PerCpuArray(MapData::from_pin(path)?))?;
    let values = (0..info.max_entries())
        .map(|index| Ok(old.get(&index, 0)?.to_vec()))
        .collect::<Result<Vec<_>, DataPlaneError>>()?;
    std::fs::remove_file(path).map_err(|source| DataPlaneError::Sys {
        call: "unpinning the shorter counter array of an earlier version",
        source,
    })?;
    warn!(
        map = %path.display(),
        pinned = info.max_entries(),
        this_build = stat::COUNT,
        "the pinned counter array of an earlier version has fewer counters: replaced by a \
         new one, its values carried over"
    );
    Ok(Some(CarriedCounters(values)))
}

impl CarriedCounters {
    /// Writes the carried values into this build's counter array.
    pub fn restore(self, stats: &mut Map) -> Result<(), DataPlaneError> {
        let mut stats: PerCpuArray<_, u64> = PerCpuArray::try_from(stats)?;
        for (index, per_cpu) in (0u32..).zip(self.0) {
            let values = PerCpuValues::try_from(per_cpu).map_err(|source| DataPlaneError::Sys {
                call: "carrying the counters of an earlier version",
                source,
            })?;
            stats.set(index, values, 0)?;
        }
        Ok(())
    }
}
