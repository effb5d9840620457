//! Root lab tests of pinned counters across versions: a fresh start creates the
//! per-(entry, interface) counters (`OIF_STATS`) without preallocation; a start over the pins
//! of an earlier version, whose `OIF_STATS` was preallocated, adopts that map as it is
//! (logged), counts in it and stays hitless through a `kill -9` and a new mgmd; and a start
//! over an earlier version's shorter global counter array (`STATS`, before a counter was
//! added) replaces it, the values carried over.
mod support;

use aya::maps::{MapData, MapInfo, PerCpuArray, PerCpuHashMap, PerCpuValues};
use aya_obj::{
    generated::{
        bpf_map_type::{BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_PERCPU_HASH},
        BPF_F_NO_PREALLOC,
    },
    maps::{bpf_map_def, LegacyMap, PinningType},
    EbpfSectionKind,
};
use mgm_common::{limits, stat, OifCounterKey, OifCounters};
use mgm_user::{dataplane::map_name, lab::Lab};
use std::{net::Ipv4Addr, os::unix::fs::DirBuilderExt, path::Path};
use support::{interfaces, pinned_map, Mgmd};

const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 4, 5, 6);
const PACKETS: u32 = 3000;
/// What mgmd logs when it adopts a pinned map that an earlier version created otherwise.
const ADOPTED_AS_IT_IS: &str = "by an earlier version: adopted as it is";

/// A static route from up0 to both receivers, re-derived one second after a restart.
fn config() -> String {
    format!(
        "adopt_window_s = 1\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\", \"rcv2\"]\n",
        interfaces(&[("up0", ""), ("rcv1", ""), ("rcv2", "")])
    )
}

/// Creates a map as an earlier version would have (`map_type`, sizes, `flags`) in a new pin
/// directory, pinned at `path`.
fn pin_earlier_map(
    path: &Path,
    map_type: u32,
    (key_size, value_size, max_entries): (u32, u32, u32),
    flags: u32,
) -> anyhow::Result<MapData> {
    let dir = path.parent().expect("the pin directory");
    std::fs::DirBuilder::new().mode(0o700).create(dir)?;
    let map = MapData::create(
        aya_obj::Map::Legacy(LegacyMap {
            def: bpf_map_def {
                map_type,
                key_size,
                value_size,
                max_entries,
                map_flags: flags,
                id: 0,
                pinning: PinningType::None,
            },
            inner_def: None,
            section_index: 0,
            section_kind: EbpfSectionKind::Maps,
            symbol_index: None,
            data: Vec::new(),
        }),
        path.file_name()
            .and_then(|name| name.to_str())
            .expect("a map name"),
        None,
    )?;
    map.pin(path)?;
    Ok(map)
}

/// The (entry, interface) counters in the pinned `OIF_STATS` at `path`.
fn counter_keys(path: &Path) -> anyhow::Result<usize> {
    let map: PerCpuHashMap<MapData, OifCounterKey, OifCounters> =
        aya::maps::Map::PerCpuHashMap(MapData::from_pin(path)?).try_into()?;
    Ok(map.keys().count())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_fresh_start_creates_the_interface_counters_without_preallocation() -> anyhow::Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config())?;
    let path = pinned_map(&mgmd.lab, map_name::OIF_STATS)?;
    let flags = MapInfo::from_pin(&path)?.map_flags();
    assert_eq!(
        flags & BPF_F_NO_PREALLOC,
        BPF_F_NO_PREALLOC,
        "flags {flags:#x}"
    );
    // The elements are created by mgmd as before: one per outgoing interface of the entry.
    mgmd.expect_delivery(GROUP, 100, &[1, 2], "through the new map")?;
    assert_eq!(counter_keys(&path)?, 2);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn pins_of_a_version_with_preallocated_counters_are_adopted_and_restart_hitless(
) -> anyhow::Result<()> {
    let lab = Lab::star(2)?;
    let path = pinned_map(&lab, map_name::OIF_STATS)?;
    // The pins an earlier version left: its OIF_STATS, preallocated (no flags), with this
    // version's key, value and size.
    let old = pin_earlier_map(
        &path,
        BPF_MAP_TYPE_PERCPU_HASH as u32,
        (
            size_of::<OifCounterKey>() as u32,
            size_of::<OifCounters>() as u32,
            limits::OIF_COUNTERS,
        ),
        0,
    )?;
    let old_id = old.info()?.id();
    drop(old);

    let mut mgmd = Mgmd::start_logged(lab, &config())?;
    assert_eq!(
        mgmd.log_lines_with(&[ADOPTED_AS_IT_IS, "/OIF_STATS"])?,
        1,
        "the adoption of the preallocated map is logged"
    );
    // Killed in the middle of the stream, once XDP forwards it.
    mgmd.stream_through_kill_9(SOURCE, GROUP, PACKETS)?;
    // Each start logged the preallocated map, and no other: the maps this version pinned
    // itself (some with flags the loader adds, as a devmap's) are as it creates them.
    assert_eq!(
        (
            mgmd.log_lines(ADOPTED_AS_IT_IS)?,
            mgmd.log_lines_with(&[ADOPTED_AS_IT_IS, "/OIF_STATS"])?
        ),
        (2, 2)
    );
    // Both mgmds counted in the old map itself.
    let pinned = MapInfo::from_pin(&path)?;
    assert_eq!((pinned.id(), pinned.map_flags()), (old_id, 0));
    assert_eq!(counter_keys(&path)?, 2);
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_shorter_counter_array_of_an_earlier_version_is_replaced_its_values_carried_over(
) -> anyhow::Result<()> {
    const EARLIER: u64 = 1_000_000;
    let lab = Lab::star(2)?;
    let path = pinned_map(&lab, map_name::STATS)?;
    // The global counters of a version that had one counter fewer, with some counted.
    let old = pin_earlier_map(
        &path,
        BPF_MAP_TYPE_PERCPU_ARRAY as u32,
        (4, 8, stat::COUNT - 1),
        0,
    )?;
    let old_id = old.info()?.id();
    let mut old: PerCpuArray<_, u64> = aya::maps::Map::PerCpuArray(old).try_into()?;
    let cpus = aya::util::nr_cpus().map_err(|(what, error)| anyhow::anyhow!("{what}: {error}"))?;
    let mut values = vec![0; cpus];
    values[0] = EARLIER;
    old.set(stat::FORWARDED, PerCpuValues::try_from(values)?, 0)?;
    drop(old);

    let mut mgmd = Mgmd::start_logged(lab, &config())?;
    assert_eq!(
        mgmd.log_lines("its values carried over")?,
        1,
        "the replacement is logged"
    );
    let pinned = MapInfo::from_pin(&path)?;
    assert_ne!(pinned.id(), old_id, "a new array");
    assert_eq!(pinned.max_entries(), stat::COUNT);
    mgmd.expect_delivery(GROUP, 100, &[1, 2], "through the new map")?;
    // The earlier count goes on in the new array, with this version's on top.
    let stats: PerCpuArray<_, u64> =
        aya::maps::Map::PerCpuArray(MapData::from_pin(&path)?).try_into()?;
    let forwarded: u64 = stats.get(&stat::FORWARDED, 0)?.iter().sum();
    assert!(forwarded > EARLIER, "forwarded {forwarded}");
    Ok(())
}
