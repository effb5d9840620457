//! The XDP forwarding backend: keeps the data plane's maps in step with the installed entries.
//!
//! An entry is one `MFES` element pointing at an outgoing-interface set (a devmap shared by
//! every entry with the same list) and at a counter slot. A list change fills (or shares) the
//! new set first, then replaces the `MFES` element in one update, then releases the old set:
//! each packet sees the old entry or the new one, whole. Released sets, counter slots and
//! per-interface counters are reused only after an RCU grace period ([`XdpBackend::collect`]).
//!
//! IPv6 entries live in `MFES6` ([`v6`]) with the same logic ([`family`]), sharing the counter
//! slots, the outgoing sets and the per-interface counters with IPv4.
//!
//! Every write and removal of an entry is mirrored into the probe array in front of its hash
//! map ([`probe`]), which the program reads first.
use super::{
    backend::{ForwardingBackend, IfaceSettings, InstalledMfe, MfeStats},
    ids::IdPool,
    loader::{map_name, DataPlane},
    oif_sets::{drops_nothing, OifSets},
    sys,
    xsk::XskConfig,
    DataPlaneError,
};
use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray, PerCpuHashMap, PerCpuValues};
use mgm_common::{
    config, limits, IfaceConfig, MfeCounters, MfeValue, OifCounterKey, OifCounters, ReportedSg,
    Sg6Key, SgKey, IFACE_FLAG_CONFIGURED, IFACE_FLAG_EGRESS_PROGRAM, IFACE_FLAG_MIRRORED,
    MFE_FLAG_HOLD, NO_OIF_SET,
};
use std::{
    collections::{HashMap as StdHashMap, HashSet},
    time::Duration,
};

mod family;
mod mirror;
mod probe;
mod v6;
use family::Family;
pub use mirror::{monotonic_ns, MAX_SAMPLE_INTERVAL};
use probe::Probe;

/// Default rate of reports per CPU and kind (misses, wrong-if): 1000 per second...
const DEFAULT_REPORTS_PER_SEC: u64 = 1000;
/// ...after a burst of this many.
const DEFAULT_REPORT_BURST: u64 = 100;
/// An (S,G) that raised a creation alert raises no other for this long (its misses are
/// punted meanwhile; a lost entry is written again on the first miss after it).
const DEFAULT_REPORT_REPEAT: Duration = Duration::from_millis(100);

/// Released counter slots and per-interface counters that trigger a grace period (~10 ms) by
/// themselves, so that the counter maps never fill up with garbage.
const GARBAGE_LIMIT: usize = 1024;

/// Where an installed entry's packets go: 8 bytes (a list of several is its outgoing set's,
/// kept once in [`OifSets`], see [`Installed::oifs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outgoing {
    /// Negative: nowhere.
    Nowhere,
    /// Redirected to this interface directly.
    One(u32),
    /// Broadcast through this outgoing set.
    Set(u32),
}

impl Outgoing {
    /// Where `oifs` go, through `set` if they need one.
    fn of(oifs: &[u32], set: Option<u32>) -> Self {
        match (set, oifs) {
            (Some(id), _) => Outgoing::Set(id),
            (None, [one]) => Outgoing::One(*one),
            (None, _) => Outgoing::Nowhere,
        }
    }
}

/// What the backend remembers of an installed entry: 20 bytes.
#[derive(Clone, Debug)]
struct Installed {
    iif: u32,
    out: Outgoing,
    slot: u32,
    /// [`MFE_FLAG_HOLD`] while userspace still sends held packets (`MFE_FLAG_MIRRORED` is
    /// added when written, from the incoming interface).
    flags: u32,
}

/// The XDP backend, owning the forwarding maps of a [`DataPlane`].
pub struct XdpBackend {
    mfes: HashMap<MapData, SgKey, MfeValue>,
    /// The probe array in front of `mfes`.
    probe: Probe<SgKey>,
    mfe_stats: PerCpuArray<MapData, MfeCounters>,
    oif_stats: PerCpuHashMap<MapData, OifCounterKey, OifCounters>,
    ifaces: Array<MapData, IfaceConfig>,
    config: Array<MapData, u64>,
    reported: Array<MapData, ReportedSg>,
    sets: OifSets,
    slots: IdPool,
    entries: StdHashMap<SgKey, Installed>,
    retired_counters: HashSet<OifCounterKey>,
    /// Entries to create in hold mode (see [`ForwardingBackend::hold_on_create`]).
    hold_on_create: HashSet<SgKey>,
    /// Interfaces configured as mirrored (`IFACE_FLAG_MIRRORED`).
    mirrored: HashSet<u32>,
    /// The IPv6 entries.
    v6: v6::Table6,
    cpus: usize,
}

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
        let bare_members = plane.take_map(map_name::SET_BARE_MEMBER)?.try_into()?;
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
        let sets = OifSets::open(outer, members, egress, bare_members, direct, &users)?;
        let entries = found
            .into_iter()
            .map(|(sg, value)| (sg, Installed::adopt(&value)))
            .collect();
        let v6 = v6::Table6::adopt(mfes6, probe6, found6);
        let watermark = slots_used.iter().max().map_or(0, |max| max + 1);
        if watermark > limits::MFES {
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
            mfe_stats: plane.take_map(map_name::MFE_STATS)?.try_into()?,
            oif_stats: plane.take_map(map_name::OIF_STATS)?.try_into()?,
            ifaces,
            config: plane.take_map(map_name::CONFIG)?.try_into()?,
            reported: plane.take_map(map_name::REPORTED_SGS)?.try_into()?,
            sets,
            slots: IdPool::adopt(limits::MFES, watermark, &slots_used, Vec::new()),
            entries,
            retired_counters: HashSet::new(),
            hold_on_create: HashSet::new(),
            mirrored,
            v6,
            cpus,
        };
        backend.adopt_counters()?;
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

    /// Limits reports (creation alerts and wrong-interface reports, counted separately) to
    /// `per_second` per CPU after a burst of `burst`; 0 per second = unlimited.
    pub fn set_report_limit(&mut self, per_second: u64, burst: u64) -> Result<(), DataPlaneError> {
        let interval = if per_second == 0 {
            0
        } else {
            1_000_000_000 / per_second.max(1)
        };
        self.config.set(config::REPORT_INTERVAL_NS, interval, 0)?;
        self.config.set(config::REPORT_BURST, burst.max(1), 0)?;
        Ok(())
    }

    /// Tells the data plane the punt sockets' frame size (`XskConfig::frame_size`): frames
    /// longer than such a frame holds behind the kernel's headroom are not punted (the kernel
    /// would drop them at the socket) but passed, counted (`too_long_to_punt`).
    pub fn set_punt_frame_size(&mut self, frame_size: u32) -> Result<(), DataPlaneError> {
        // The kernel keeps XDP_PACKET_HEADROOM (256) in front; the metadata (at most 32 bytes)
        // may be copied along.
        let max = frame_size.saturating_sub(256 + 32);
        self.config.set(config::PUNT_FRAME_MAX, u64::from(max), 0)?;
        Ok(())
    }

    /// An (S,G) that raised a creation alert raises no other for `interval` (zero: one per
    /// miss the rate limit lets through). An (S,G) whose misses were refused by the rate limit
    /// draws on a bucket of its own for its next miss (same rate), which a spray of one packet
    /// per (S,G) never empties. The data plane remembers (S,G)s in
    /// `mgm_common::limits::REPORTED_SGS` slots chosen by hash, the last one to miss in each.
    pub fn set_report_repeat(&mut self, interval: Duration) -> Result<(), DataPlaneError> {
        let ns = u64::try_from(interval.as_nanos()).unwrap_or(u64::MAX);
        self.config.set(config::REPORT_REPEAT_NS, ns, 0)?;
        Ok(())
    }

    /// The outgoing set of IPv4 entry `sg` as written in the kernel: its bare member (0:
    /// none) and the members whose devmap entry runs no egress program (`None`: the entry has
    /// no set). See [`OifSets`]'s "Bare members".
    pub fn bare_member(&self, sg: SgKey) -> Result<Option<(u32, Vec<u32>)>, DataPlaneError> {
        self.bare_member_of(self.entries.get(&sg))
    }

    /// As written in the kernel: whether interface `ifindex` has an `OIF_DIRECT` entry with
    /// the egress program, and whether its `IFACE_FLAG_EGRESS_PROGRAM` is set (both or
    /// neither: see `oif_direct`).
    pub fn direct_program(&self, ifindex: u32) -> Result<(bool, bool), DataPlaneError> {
        self.sets.read_direct(ifindex)
    }

    /// [`XdpBackend::bare_member`] of an entry of either family.
    fn bare_member_of(
        &self,
        entry: Option<&Installed>,
    ) -> Result<Option<(u32, Vec<u32>)>, DataPlaneError> {
        match entry.map(|entry| entry.out) {
            Some(Outgoing::Set(id)) => self.sets.read_bare(id).map(Some),
            _ => Ok(None),
        }
    }

    /// Prepares the first outgoing-interface sets ahead of traffic (see [`OifSets::reserve`]).
    pub fn reserve_sets(&mut self) -> Result<(), DataPlaneError> {
        self.sets.reserve()
    }

    /// Number of installed entries, of both families (they share the counter slots).
    pub fn len(&self) -> usize {
        self.entries.len() + self.v6.entries.len()
    }

    /// Whether no entry of either family is installed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.v6.entries.is_empty()
    }

    /// Number of distinct outgoing-interface sets in use.
    pub fn sets_in_use(&self) -> usize {
        self.sets.in_use()
    }

    /// Waits for one RCU grace period (~10 ms) and then makes everything released since the
    /// last call reusable. Call it now and then (the backend also calls it when it runs out).
    pub fn collect(&mut self) -> Result<(), DataPlaneError> {
        self.sets.grace_period()?;
        // Everything retired so far is now unused by the data plane.
        self.slots.grace_period_passed();
        for key in std::mem::take(&mut self.retired_counters) {
            let _ = self.oif_stats.remove(&key);
        }
        Ok(())
    }

    /// Number of RCU grace periods waited for so far (each blocks the caller ~10 ms).
    pub fn grace_periods(&self) -> u64 {
        self.sets.grace_periods()
    }

    /// Whether released objects wait for [`XdpBackend::collect`].
    pub fn has_garbage(&self) -> bool {
        self.sets.has_retired()
            || !self.slots.retired().is_empty()
            || !self.retired_counters.is_empty()
    }

    /// Collects when enough garbage has piled up.
    fn collect_if_due(&mut self) -> Result<(), DataPlaneError> {
        if self.slots.retired().len() + self.retired_counters.len() >= GARBAGE_LIMIT {
            self.collect()?;
        }
        Ok(())
    }

    /// The `IFACES` element of `ifindex` (zeros if never configured); an ifindex past the
    /// array is refused.
    fn iface(&self, ifindex: u32) -> Result<IfaceConfig, DataPlaneError> {
        if ifindex >= limits::IFACES {
            return Err(DataPlaneError::Invalid(format!(
                "interface {ifindex}: the data plane holds interfaces with an ifindex below {}",
                limits::IFACES
            )));
        }
        Ok(self.ifaces.get(&ifindex, 0)?)
    }

    fn zeros<T: Default + Clone + aya::Pod>(&self) -> Result<PerCpuValues<T>, DataPlaneError> {
        PerCpuValues::try_from(vec![T::default(); self.cpus]).map_err(|source| {
            DataPlaneError::Sys {
                call: "per-CPU values",
                source,
            }
        })
    }

    /// A counter slot, zeroed. Waits for a grace period only when released slots wait for one:
    /// with every slot in use, the failure is immediate (a full table must not slow the
    /// caller down).
    fn allocate_slot(&mut self) -> Result<u32, DataPlaneError> {
        let full = DataPlaneError::Full("the entry counters");
        let slot = match self.slots.allocate() {
            Some(slot) => slot,
            None if self.slots.retired().is_empty() => return Err(full),
            None => {
                self.collect()?;
                self.slots.allocate().ok_or(full)?
            }
        };
        let zeros = self.zeros()?;
        self.mfe_stats.set(slot, zeros, 0)?;
        Ok(slot)
    }

    /// What the entry counted in `slot` has forwarded so far, packets and bytes.
    fn forwarded(&self, slot: u32) -> Result<(u64, u64), DataPlaneError> {
        Ok(MfeCounters::forwarded(&self.mfe_stats.get(&slot, 0)?))
    }

    /// Creates the (entry, interface) counters of `oifs` with `base`, the entry's packets and
    /// bytes so far, as their base (see `OifCounters`).
    fn add_counters(
        &mut self,
        slot: u32,
        oifs: &[u32],
        base: (u64, u64),
    ) -> Result<(), DataPlaneError> {
        if oifs.is_empty() {
            return Ok(());
        }
        let mut values = vec![OifCounters::default(); self.cpus];
        (values[0].base_packets, values[0].base_bytes) = base;
        for &ifindex in oifs {
            let key = OifCounterKey {
                stats_slot: slot,
                ifindex,
            };
            self.retired_counters.remove(&key);
            let values =
                PerCpuValues::try_from(values.clone()).map_err(|source| DataPlaneError::Sys {
                    call: "per-CPU values",
                    source,
                })?;
            self.oif_stats.insert(key, values, 0)?;
        }
        Ok(())
    }

    fn retire_counters(&mut self, slot: u32, oifs: &[u32]) {
        self.retired_counters
            .extend(oifs.iter().map(|&ifindex| OifCounterKey {
                stats_slot: slot,
                ifindex,
            }));
    }

    fn acquire_set(&mut self, oifs: &[u32], iif: u32) -> Result<Option<u32>, DataPlaneError> {
        if needs_set(oifs, iif) {
            self.sets.acquire(oifs).map(Some)
        } else {
            Ok(None)
        }
    }

    fn write_entry<K: Family>(&mut self, sg: K, entry: &Installed) -> Result<(), DataPlaneError> {
        let value = MfeValue {
            iif: entry.iif,
            oif_set: entry.set().unwrap_or(NO_OIF_SET),
            stats_slot: entry.slot,
            flags: entry.flags | self.mirror_flag(entry.iif),
            oif: match entry.out {
                Outgoing::One(single) => single,
                _ => 0,
            },
        };
        let rewrite = K::probe_mut(self).begin_write(sg, value)?;
        let written = K::map_mut(self).insert(sg, value, 0);
        K::probe_mut(self).finish(rewrite, written.is_ok());
        written?;
        Ok(())
    }

    fn create<K: Family>(
        &mut self,
        sg: K,
        iif: u32,
        oifs: Vec<u32>,
        hold: bool,
    ) -> Result<(), DataPlaneError> {
        let slot = self.allocate_slot()?;
        // The slot was zeroed and no entry counts in it yet: the base is nothing (one map read
        // less on the creation path).
        let entry = self.add_counters(slot, &oifs, (0, 0)).and_then(|()| {
            let set = self.acquire_set(&oifs, iif)?;
            Ok(Installed {
                iif,
                out: Outgoing::of(&oifs, set),
                slot,
                flags: if hold { MFE_FLAG_HOLD } else { 0 },
            })
        });
        let result = entry.and_then(|entry| {
            if let Err(e) = self.write_entry(sg, &entry) {
                if let Some(set) = entry.set() {
                    // The write's error is the one to report.
                    let _ = self.sets.release(set);
                }
                return Err(e);
            }
            Ok(entry)
        });
        match result {
            Ok(entry) => {
                K::entries_mut(self).insert(sg, entry);
                Ok(())
            }
            Err(e) => {
                self.retire_counters(slot, &oifs);
                self.slots.retire(slot);
                Err(e)
            }
        }
    }

    /// Rewrites the entry the bookkeeping has for `sg` (`old`); `hold` puts it in hold mode
    /// (an entry lost from the map and written again: packets punted meanwhile leave first).
    fn change<K: Family>(
        &mut self,
        sg: K,
        old: Installed,
        iif: u32,
        oifs: Vec<u32>,
        hold: bool,
    ) -> Result<(), DataPlaneError> {
        let old_oifs = old.oifs(&self.sets);
        let added: Vec<u32> = oifs
            .iter()
            .copied()
            .filter(|o| !old_oifs.contains(o))
            .collect();
        let removed: Vec<u32> = old_oifs
            .iter()
            .copied()
            .filter(|o| !oifs.contains(o))
            .collect();
        let same_list = added.is_empty()
            && removed.is_empty()
            && needs_set(&oifs, iif) == needs_set(old_oifs, old.iif);
        let set = if same_list {
            old.set()
        } else {
            match self.acquire_set(&oifs, iif) {
                Ok(set) => set,
                Err(e) => {
                    // The map still holds the old entry: so does the bookkeeping.
                    K::entries_mut(self).insert(sg, old);
                    return Err(e);
                }
            }
        };
        let new = Installed {
            iif,
            out: Outgoing::of(&oifs, set),
            slot: old.slot,
            flags: if hold {
                old.flags | MFE_FLAG_HOLD
            } else {
                old.flags
            },
        };
        let counted = match added.is_empty() {
            true => Ok(()),
            false => self
                .forwarded(old.slot)
                .and_then(|base| self.add_counters(old.slot, &added, base)),
        };
        let written = counted.and_then(|()| self.write_entry(sg, &new));
        if let Err(e) = written {
            if !same_list {
                if let Some(set) = set {
                    // The write's error is the one to report.
                    let _ = self.sets.release(set);
                }
            }
            self.retire_counters(old.slot, &added);
            K::entries_mut(self).insert(sg, old);
            return Err(e);
        }
        let released = match old.set() {
            Some(set) if !same_list => self.sets.release(set),
            _ => Ok(()),
        };
        self.retire_counters(old.slot, &removed);
        K::entries_mut(self).insert(sg, new);
        released
    }
}

/// Whether an outgoing list goes through an outgoing set (a devmap broadcast): two or more
/// interfaces, or the incoming one alone (the broadcast excludes it). A single other interface
/// is redirected to directly, and no list means a negative entry.
fn needs_set(oifs: &[u32], iif: u32) -> bool {
    match oifs {
        [] => false,
        [single] => *single == iif,
        _ => true,
    }
}

/// Sorts and de-duplicates an outgoing list, refusing ifindex 0.
pub(super) fn normalize(oifs: &[u32]) -> Result<Vec<u32>, DataPlaneError> {
    if oifs.contains(&0) {
        return Err(DataPlaneError::Invalid(
            "ifindex 0 in the outgoing list".into(),
        ));
    }
    let mut list = oifs.to_vec();
    list.sort_unstable();
    list.dedup();
    Ok(list)
}

impl ForwardingBackend for XdpBackend {
    type Error = DataPlaneError;

    fn install_mfe(&mut self, sg: SgKey, iif: u32, oifs: &[u32]) -> Result<(), DataPlaneError> {
        self.install(sg, iif, oifs)
    }

    fn update_mfe(&mut self, sg: SgKey, iif: u32, oifs: &[u32]) -> Result<(), DataPlaneError> {
        self.update(sg, iif, oifs)
    }

    fn delete_mfe(&mut self, sg: SgKey) -> Result<(), DataPlaneError> {
        self.delete(sg)
    }

    fn mfe_stats(&self, sg: SgKey) -> Result<MfeStats, DataPlaneError> {
        self.stats(sg)
    }

    fn configure_interface(
        &mut self,
        ifindex: u32,
        settings: IfaceSettings,
    ) -> Result<(), DataPlaneError> {
        let mut iface = self.iface(ifindex)?;
        iface.mac = settings.mac;
        iface.ttl_threshold = settings.ttl_threshold;
        iface.mtu = settings.mtu;
        // The program flag belongs to the outgoing sets (see `OifSets`).
        iface.flags = (iface.flags & IFACE_FLAG_EGRESS_PROGRAM)
            | IFACE_FLAG_CONFIGURED
            | if settings.mirrored {
                IFACE_FLAG_MIRRORED
            } else {
                0
            };
        self.ifaces.set(ifindex, iface, 0)?;
        self.sets.set_rule_free(ifindex, drops_nothing(&iface))?;
        self.set_mirrored(ifindex, settings.mirrored)
    }

    fn remove_interface(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        self.sets.forget_interface(ifindex)?;
        self.mirrored.remove(&ifindex);
        if ifindex < limits::IFACES {
            self.ifaces.set(ifindex, IfaceConfig::default(), 0)?;
        }
        Ok(())
    }

    fn set_punt_slots(
        &mut self,
        ifindex: u32,
        first: u32,
        queues: u32,
    ) -> Result<(), DataPlaneError> {
        let mut iface = self.iface(ifindex)?;
        iface.punt_slot = first;
        iface.punt_queues = queues;
        self.ifaces.set(ifindex, iface, 0)?;
        Ok(())
    }

    fn hold_on_create(&mut self, sg: SgKey) {
        self.hold_on_create.insert(sg);
    }

    fn release_hold(&mut self, sg: SgKey) -> Result<(), DataPlaneError> {
        self.release(sg)
    }

    fn installed(&self, sg: SgKey) -> Option<InstalledMfe> {
        self.entries
            .get(&sg)
            .map(|e| e.to_installed(sg, &self.sets))
    }

    fn installed_all(&self) -> Vec<InstalledMfe> {
        self.installed_of()
    }

    fn holds(&self, sg: SgKey) -> Result<bool, DataPlaneError> {
        found(self.mfes.get(&sg, 0))
    }

    fn read_back(&self) -> Result<Vec<InstalledMfe>, DataPlaneError> {
        self.read_back_of()
    }

    fn install_mfe6(&mut self, sg: Sg6Key, iif: u32, oifs: &[u32]) -> Result<(), DataPlaneError> {
        self.install(sg, iif, oifs)
    }

    fn update_mfe6(&mut self, sg: Sg6Key, iif: u32, oifs: &[u32]) -> Result<(), DataPlaneError> {
        self.update(sg, iif, oifs)
    }

    fn delete_mfe6(&mut self, sg: Sg6Key) -> Result<(), DataPlaneError> {
        self.delete(sg)
    }

    fn mfe6_stats(&self, sg: Sg6Key) -> Result<MfeStats, DataPlaneError> {
        self.stats(sg)
    }

    fn hold_on_create6(&mut self, sg: Sg6Key) {
        self.v6.hold_on_create.insert(sg);
    }

    fn release_hold6(&mut self, sg: Sg6Key) -> Result<(), DataPlaneError> {
        self.release(sg)
    }

    fn installed6(&self, sg: Sg6Key) -> Option<InstalledMfe<Sg6Key>> {
        self.v6
            .entries
            .get(&sg)
            .map(|e| e.to_installed(sg, &self.sets))
    }

    fn installed6_all(&self) -> Vec<InstalledMfe<Sg6Key>> {
        self.installed_of()
    }

    fn holds6(&self, sg: Sg6Key) -> Result<bool, DataPlaneError> {
        found(self.v6.mfes.get(&sg, 0))
    }

    fn read_back6(&self) -> Result<Vec<InstalledMfe<Sg6Key>>, DataPlaneError> {
        self.read_back_of()
    }
}

/// Whether a map lookup found its key.
fn found<V>(lookup: Result<V, MapError>) -> Result<bool, DataPlaneError> {
    match lookup {
        Ok(_) => Ok(true),
        Err(MapError::KeyNotFound) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    /// Every installed entry has one (README, "Memory").
    #[test]
    fn the_record_of_an_installed_entry_is_small() {
        assert_eq!(size_of::<super::Installed>(), 20);
    }
}
