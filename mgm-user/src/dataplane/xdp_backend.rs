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
//!
//! By concern: taking the maps over at start ([`adopt`]), writing entries ([`writes`]), their
//! counters and the grace periods ([`counters`]), interface configuration and the data plane's
//! settings ([`settings`]), mirrored interfaces ([`mirror`]); this module has the bookkeeping
//! and the reads.
use super::{
    backend::{ForwardingBackend, IfaceSettings, InstalledMfe, MfeStats},
    ids::IdPool,
    oif_sets::OifSets,
    DataPlaneError,
};
use aya::maps::{Array, HashMap, MapData, MapError, PerCpuArray, PerCpuHashMap};
use mgm_common::{
    HeldCounters, IfaceConfig, MfeCounters, MfeValue, OifCounterKey, OifCounters, ReportedSg,
    Sg6Key, SgKey,
};
use std::collections::{HashMap as StdHashMap, HashSet};

mod adopt;
mod counters;
mod family;
mod mirror;
mod probe;
mod settings;
mod v6;
mod writes;
use family::Family;
pub use mirror::{monotonic_ns, MAX_SAMPLE_INTERVAL};
use probe::Probe;

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
    /// Per counter slot, the entry's packets punted in hold mode (`HOLD_PUNTED`).
    hold_punted: Array<MapData, u32>,
    /// Per counter slot, how far userspace has sent them on (`HOLD_SENT`).
    hold_sent: Array<MapData, u32>,
    /// Per counter slot, what userspace sent on of the entry's held packets (`HELD_STATS`).
    held_stats: Array<MapData, HeldCounters>,
    /// The `HELD_STATS` elements found set at adoption, by counter slot (read in batches),
    /// until the router's adoption takes them.
    adopted_held: StdHashMap<u32, HeldCounters>,
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
        self.configure_iface(ifindex, settings)
    }

    fn scope_boundary(&self, ifindex: u32) -> u8 {
        self.iface(ifindex).map_or(0, |iface| iface.scope_boundary)
    }

    fn remove_interface(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        self.remove_iface(ifindex)
    }

    fn set_punt_slots(
        &mut self,
        ifindex: u32,
        first: u32,
        queues: u32,
    ) -> Result<(), DataPlaneError> {
        self.set_iface_punt_slots(ifindex, first, queues)
    }

    fn hold_on_create(&mut self, sg: SgKey) {
        self.hold_on_create.insert(sg);
    }

    fn release_hold(&mut self, sg: SgKey) -> Result<(), DataPlaneError> {
        self.release(sg)
    }

    fn held_sent(&mut self, sg: SgKey, sent: u32) -> Result<(), DataPlaneError> {
        self.sent_on(sg, sent)
    }

    fn save_held(&mut self, sg: SgKey, held: HeldCounters) -> Result<(), DataPlaneError> {
        self.keep_held(sg, held)
    }

    fn take_saved_held(&mut self, sg: SgKey) -> Result<HeldCounters, DataPlaneError> {
        self.take_kept_held(sg)
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

    fn held_sent6(&mut self, sg: Sg6Key, sent: u32) -> Result<(), DataPlaneError> {
        self.sent_on(sg, sent)
    }

    fn save_held6(&mut self, sg: Sg6Key, held: HeldCounters) -> Result<(), DataPlaneError> {
        self.keep_held(sg, held)
    }

    fn take_saved_held6(&mut self, sg: Sg6Key) -> Result<HeldCounters, DataPlaneError> {
        self.take_kept_held(sg)
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
