//! Taking over the data plane's maps: entries an earlier run left in pinned maps are adopted
//! with their outgoing sets and counters and go on forwarding untouched; the settings get their
//! defaults.
use super::{family::Family, probe::Probe, v6, Installed, XdpBackend};
use crate::dataplane::{
    ids::IdPool,
    loader::{map_name, DataPlane},
    oif_sets::OifSets,
    sys,
    xsk::XskConfig,
    DataPlaneError,
};
use aya::maps::{Array, HashMap, MapData, PerCpuArray};
use mgm_common::{
    config, HeldCounters, IfaceConfig, MfeCounters, MfeValue, OifCounterKey, Sg6Key, SgKey,
    IFACE_FLAG_MIRRORED, MFE_FLAG_HOLD, NO_OIF_SET,
};
use std::{
    collections::{HashMap as StdHashMap, HashSet},
    time::Duration,
};

/// Default rate of reports per CPU and kind (misses, wrong-if): 1000 per second...
const DEFAULT_REPORTS_PER_SEC: u64 = 1000;
/// ...after a burst of this many.
const DEFAULT_REPORT_BURST: u64 = 100;
/// An (S,G) that raised a creation alert raises no other for this long (its misses are
/// punted meanwhile; a lost entry is written again on the first miss after it).
const DEFAULT_REPORT_REPEAT: Duration = Duration::from_millis(100);

impl XdpBackend {
    /// Takes the forwarding maps of `plane`. Entries already in them (maps pinned by an earlier
    /// run, see [`DataPlane::load_pinned`]) are adopted with their outgoing sets and counters,
    /// and go on forwarding untouched.
    pub fn new(plane: &mut DataPlane) -> Result<Self, DataPlaneError> {
        let mfes: HashMap<MapData, SgKey, MfeValue> = plane.take_map(map_name::MFES)?.try_into()?;
        let found = sys::read_hash(&mfes)?;
        // A data plane loaded unpinned has new, empty maps.
        let fresh = plane.pin_dir().is_none();
        let probe = Probe::adopt(
            plane.take_map(map_name::MFE_PROBE)?.try_into()?,
            found.iter().map(|(sg, value)| (sg, value)),
            fresh,
        )?;
        let (mfes6, found6) = v6::Table6::open(plane)?;
        let probe6 = Probe::adopt(
            plane.take_map(map_name::MFE_PROBE6)?.try_into()?,
            found6.iter().map(|(sg, value)| (sg, value)),
            fresh,
        )?;
        let values = found
            .iter()
            .map(|(_, v)| v)
            .chain(found6.iter().map(|(_, v)| v));
        let mut users: StdHashMap<u32, usize> = StdHashMap::new();
        for value in values.clone() {
            if value.oif_set != NO_OIF_SET {
                *users.entry(value.oif_set).or_default() += 1;
            }
        }
        let slots_used: Vec<u32> = values.map(|value| value.stats_slot).collect();
        let egress = plane.egress_program()?;
        let outer = match plane.take_map(map_name::OIF_SETS)? {
            aya::maps::Map::ArrayOfMaps(data) => data,
            _ => return Err(DataPlaneError::Missing("OIF_SETS array of maps")),
        };
        let members = plane.take_map(map_name::SET_MEMBERS)?.try_into()?;
        let broadcasts = plane.take_map(map_name::SET_BROADCASTS)?.try_into()?;
        let ifaces = match plane.take_map(map_name::IFACES)? {
            aya::maps::Map::Array(data) => data,
            _ => return Err(DataPlaneError::Missing("IFACES array")),
        };
        let direct = (
            plane.take_map(map_name::OIF_DIRECT)?.try_into()?,
            aya::maps::Map::Array(sys::duplicate(
                &ifaces,
                "duplicating the IFACES descriptor",
            )?)
            .try_into()?,
        );
        let sets = OifSets::open(outer, members, egress, broadcasts, direct, &users)?;
        let entries = found
            .into_iter()
            .map(|(sg, value)| (sg, Installed::adopt(&value)))
            .collect();
        let v6 = v6::Table6::adopt(mfes6, probe6, found6);
        let watermark = slots_used.iter().max().map_or(0, |max| max + 1);
        let mfe_stats: PerCpuArray<MapData, MfeCounters> =
            plane.take_map(map_name::MFE_STATS)?.try_into()?;
        // The capacity the data plane was loaded with (`DataPlane::load_sized`).
        let capacity = mfe_stats.len();
        if watermark > capacity {
            return Err(DataPlaneError::Invalid(
                "an entry's counter slot is out of range".into(),
            ));
        }
        let cpus =
            aya::util::nr_cpus().map_err(|(call, source)| DataPlaneError::Sys { call, source })?;
        let ifaces: Array<MapData, IfaceConfig> = aya::maps::Map::Array(ifaces).try_into()?;
        let mut mirrored = HashSet::new();
        sys::read_array(&ifaces, |ifindex, iface| {
            if iface.flags & IFACE_FLAG_MIRRORED != 0 {
                mirrored.insert(ifindex);
            }
            Ok(())
        })?;
        let mut backend = Self {
            mfes,
            probe,
            mfe_stats,
            oif_stats: plane.take_map(map_name::OIF_STATS)?.try_into()?,
            ifaces,
            config: plane.take_map(map_name::CONFIG)?.try_into()?,
            reported: plane.take_map(map_name::REPORTED_SGS)?.try_into()?,
            hold_punted: plane.take_map(map_name::HOLD_PUNTED)?.try_into()?,
            hold_sent: plane.take_map(map_name::HOLD_SENT)?.try_into()?,
            held_stats: plane.take_map(map_name::HELD_STATS)?.try_into()?,
            adopted_held: StdHashMap::new(),
            sets,
            slots: IdPool::adopt(capacity, watermark, &slots_used, Vec::new()),
            entries,
            retired_counters: HashSet::new(),
            hold_on_create: HashSet::new(),
            mirrored,
            v6,
            cpus,
        };
        backend.adopt_counters()?;
        // What an earlier run kept of its entries' held packets, in batches (an element per
        // call would cost a start one call per adopted entry).
        sys::read_array(&backend.held_stats, |slot, held| {
            if held != HeldCounters::default() {
                backend.adopted_held.insert(slot, held);
            }
            Ok(())
        })?;
        // Whoever held packets for an entry in hold mode is gone: the fast path takes over.
        backend.release_holds::<SgKey>()?;
        backend.release_holds::<Sg6Key>()?;
        backend.set_report_limit(DEFAULT_REPORTS_PER_SEC, DEFAULT_REPORT_BURST)?;
        backend.set_mirror_defaults()?;
        backend.set_report_repeat(DEFAULT_REPORT_REPEAT)?;
        backend.set_punt_frame_size(XskConfig::default().frame_size)?;
        // The program's reads of a bucket rely on loads keeping their order (see
        // `mgm-ebpf/src/probe.rs`): elsewhere the hash maps alone answer.
        let probe_on = cfg!(target_arch = "x86_64");
        backend.config.set(config::PROBE, u64::from(probe_on), 0)?;
        Ok(backend)
    }

    /// Ends hold mode of every entry of family `K` (after a restart).
    fn release_holds<K: Family>(&mut self) -> Result<(), DataPlaneError> {
        let holding: Vec<K> = K::entries(self)
            .iter()
            .filter(|(_, e)| e.flags & MFE_FLAG_HOLD != 0)
            .map(|(sg, _)| *sg)
            .collect();
        for sg in holding {
            self.release::<K>(sg)?;
        }
        Ok(())
    }

    /// Keeps the (entry, interface) counters of adopted entries, creates missing ones and
    /// retires the rest.
    fn adopt_counters(&mut self) -> Result<(), DataPlaneError> {
        let wanted: HashSet<OifCounterKey> = self
            .entries
            .values()
            .chain(self.v6.entries.values())
            .flat_map(|entry| {
                entry.oifs(&self.sets).iter().map(|&ifindex| OifCounterKey {
                    stats_slot: entry.slot,
                    ifindex,
                })
            })
            .collect();
        let present: HashSet<OifCounterKey> = sys::read_per_cpu_keys(&self.oif_stats, self.cpus)?
            .into_iter()
            .collect();
        self.retired_counters = present.difference(&wanted).copied().collect();
        let missing: Vec<OifCounterKey> = wanted.difference(&present).copied().collect();
        for key in missing {
            let base = self.forwarded(key.stats_slot)?;
            self.add_counters(key.stats_slot, &[key.ifindex], base)?;
        }
        Ok(())
    }
}
