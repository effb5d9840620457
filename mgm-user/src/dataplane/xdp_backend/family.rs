//! The two address families' tables of the backend and the entry operations over either: the
//! same logic over `MFES` (IPv4, [`SgKey`]) and `MFES6` (IPv6, [`Sg6Key`]). Both share the
//! counter slots, the outgoing sets and the per-interface counters.
use super::{
    normalize,
    probe::{Key, Probe},
    Installed, Outgoing, XdpBackend,
};
use crate::dataplane::{
    backend::{InstalledMfe, MfeStats, OifStats},
    oif_sets::OifSets,
    sys, DataPlaneError,
};
use aya::maps::{HashMap, MapData, PerCpuValues};
use mgm_common::{
    HeldCounters, MfeCounters, MfeValue, OifCounterKey, OifCounters, ReportedSg, Sg6Key, SgKey,
    MFE_FLAG_HOLD, NO_OIF_SET,
};
use std::{
    collections::{HashMap as StdHashMap, HashSet},
    fmt::Display,
};

/// An (S,G) key of one family, and where the backend keeps that family's entries.
pub(super) trait Family: Key + Display {
    /// The family's MFE map.
    fn map(backend: &XdpBackend) -> &HashMap<MapData, Self, MfeValue>;
    /// The family's MFE map, to change it.
    fn map_mut(backend: &mut XdpBackend) -> &mut HashMap<MapData, Self, MfeValue>;
    /// The probe array in front of the family's MFE map.
    fn probe_mut(backend: &mut XdpBackend) -> &mut Probe<Self>;
    /// The family's bookkeeping of installed entries.
    fn entries(backend: &XdpBackend) -> &StdHashMap<Self, Installed>;
    /// The family's bookkeeping of installed entries, to change it.
    fn entries_mut(backend: &mut XdpBackend) -> &mut StdHashMap<Self, Installed>;
    /// The (S,G)s whose next creation starts in hold mode.
    fn hold_on_create(backend: &mut XdpBackend) -> &mut HashSet<Self>;
    /// The key standing for the (S,G) in the report budget (`REPORTED_SGS`).
    fn budget_key(&self) -> SgKey;
}

impl Family for SgKey {
    fn map(backend: &XdpBackend) -> &HashMap<MapData, Self, MfeValue> {
        &backend.mfes
    }
    fn map_mut(backend: &mut XdpBackend) -> &mut HashMap<MapData, Self, MfeValue> {
        &mut backend.mfes
    }
    fn probe_mut(backend: &mut XdpBackend) -> &mut Probe<Self> {
        &mut backend.probe
    }
    fn entries(backend: &XdpBackend) -> &StdHashMap<Self, Installed> {
        &backend.entries
    }
    fn entries_mut(backend: &mut XdpBackend) -> &mut StdHashMap<Self, Installed> {
        &mut backend.entries
    }
    fn hold_on_create(backend: &mut XdpBackend) -> &mut HashSet<Self> {
        &mut backend.hold_on_create
    }
    fn budget_key(&self) -> SgKey {
        *self
    }
}

impl Family for Sg6Key {
    fn map(backend: &XdpBackend) -> &HashMap<MapData, Self, MfeValue> {
        &backend.v6.mfes
    }
    fn map_mut(backend: &mut XdpBackend) -> &mut HashMap<MapData, Self, MfeValue> {
        &mut backend.v6.mfes
    }
    fn probe_mut(backend: &mut XdpBackend) -> &mut Probe<Self> {
        &mut backend.v6.probe
    }
    fn entries(backend: &XdpBackend) -> &StdHashMap<Self, Installed> {
        &backend.v6.entries
    }
    fn entries_mut(backend: &mut XdpBackend) -> &mut StdHashMap<Self, Installed> {
        &mut backend.v6.entries
    }
    fn hold_on_create(backend: &mut XdpBackend) -> &mut HashSet<Self> {
        &mut backend.v6.hold_on_create
    }
    fn budget_key(&self) -> SgKey {
        self.digest()
    }
}

/// The entry operations of both families (the IPv4 ones behind `ForwardingBackend`, the IPv6
/// ones behind the `*6` methods).
impl XdpBackend {
    /// Installs or replaces the entry for `sg` (see
    /// [`crate::dataplane::ForwardingBackend::install_mfe`]).
    pub(super) fn install<K: Family>(
        &mut self,
        sg: K,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), DataPlaneError> {
        let hold = K::hold_on_create(self).remove(&sg);
        let oifs = normalize(oifs)?;
        match K::entries_mut(self).remove(&sg) {
            Some(old) => self.change(sg, old, iif, oifs, hold)?,
            None => self.create(sg, iif, oifs, hold)?,
        }
        // The report budget forgets the (S,G): should the entry go (lost, deleted), its next
        // miss is reported at once. (Another (S,G) sharing the slot only counts as new; were
        // the write refused, the next report would only wait out `REPORT_REPEAT_NS`.)
        let _ = self
            .reported
            .set(ReportedSg::slot(sg.budget_key()), ReportedSg::default(), 0);
        self.collect_if_due()
    }

    /// Changes the existing entry for `sg` (see
    /// [`crate::dataplane::ForwardingBackend::update_mfe`]).
    pub(super) fn update<K: Family>(
        &mut self,
        sg: K,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), DataPlaneError> {
        let oifs = normalize(oifs)?;
        let old = K::entries_mut(self)
            .remove(&sg)
            .ok_or_else(|| DataPlaneError::NoEntry(sg.to_string()))?;
        self.change(sg, old, iif, oifs, false)?;
        self.collect_if_due()
    }

    /// Removes the entry for `sg` (see [`crate::dataplane::ForwardingBackend::delete_mfe`]).
    pub(super) fn delete<K: Family>(&mut self, sg: K) -> Result<(), DataPlaneError> {
        let old = K::entries_mut(self)
            .remove(&sg)
            .ok_or_else(|| DataPlaneError::NoEntry(sg.to_string()))?;
        let rewrite = match K::probe_mut(self).begin_remove(&sg) {
            Ok(rewrite) => rewrite,
            Err(e) => {
                K::entries_mut(self).insert(sg, old);
                return Err(e);
            }
        };
        let removed = K::map_mut(self).remove(&sg);
        K::probe_mut(self).finish(rewrite, removed.is_ok());
        if let Err(e) = removed {
            K::entries_mut(self).insert(sg, old);
            return Err(e.into());
        }
        let old_oifs = old.oifs(&self.sets).to_vec();
        let released = match old.set() {
            Some(set) => self.sets.release(set),
            None => Ok(()),
        };
        self.retire_counters(old.slot, &old_oifs);
        self.slots.retire(old.slot);
        released.and_then(|()| self.collect_if_due())
    }

    /// The counters of the entry for `sg` (see [`crate::dataplane::ForwardingBackend::mfe_stats`]).
    pub(super) fn stats<K: Family>(&self, sg: K) -> Result<MfeStats, DataPlaneError> {
        let entry = K::entries(self)
            .get(&sg)
            .ok_or_else(|| DataPlaneError::NoEntry(sg.to_string()))?;
        let counters = self.mfe_stats.get(&entry.slot, 0)?;
        let (packets, bytes) = (sum(&counters, |c| c.packets), sum(&counters, |c| c.bytes));
        let (forwarded, forwarded_bytes) = MfeCounters::forwarded(&counters);
        let entry_oifs = entry.oifs(&self.sets);
        let mut oifs = Vec::with_capacity(entry_oifs.len());
        for &ifindex in entry_oifs {
            let key = OifCounterKey {
                stats_slot: entry.slot,
                ifindex,
            };
            let per_cpu = self.oif_stats.get(&key, 0)?;
            let (sent, sent_bytes) = OifCounters::sent(forwarded, forwarded_bytes, &per_cpu);
            oifs.push((
                ifindex,
                OifStats {
                    packets: sent,
                    bytes: sent_bytes,
                    drops: sum(&per_cpu, |c| c.drops),
                },
            ));
        }
        Ok(MfeStats {
            packets,
            bytes,
            wrong_if: sum(&counters, |c| c.wrong_if),
            ttl_expired: sum(&counters, |c| c.ttl_expired),
            sampled: sum(&counters, |c| c.unforwarded)
                .saturating_sub(sum(&counters, |c| c.ttl_expired)),
            oifs,
        })
    }

    /// Ends hold mode of the entry for `sg` (see
    /// [`crate::dataplane::ForwardingBackend::release_hold`]).
    pub(super) fn release<K: Family>(&mut self, sg: K) -> Result<(), DataPlaneError> {
        let Some(mut entry) = K::entries(self).get(&sg).cloned() else {
            return Err(DataPlaneError::NoEntry(sg.to_string()));
        };
        // Not in hold mode: nothing to write (the daemon ends the hold of every adopted entry,
        // which the backend's own adoption already did: two calls per entry at each start).
        if entry.flags & MFE_FLAG_HOLD == 0 {
            return Ok(());
        }
        entry.flags &= !MFE_FLAG_HOLD;
        self.write_entry(sg, &entry)?;
        K::entries_mut(self).insert(sg, entry);
        Ok(())
    }

    /// Userspace has sent on the first `sent` packets of `sg` punted in hold mode (see
    /// [`crate::dataplane::ForwardingBackend::held_sent`]); nothing to write for an entry not in
    /// hold mode.
    pub(super) fn sent_on<K: Family>(&mut self, sg: K, sent: u32) -> Result<(), DataPlaneError> {
        match K::entries(self).get(&sg) {
            Some(entry) if entry.flags & MFE_FLAG_HOLD != 0 => {
                Ok(self.hold_sent.set(entry.slot, sent, 0)?)
            }
            Some(_) => Ok(()),
            None => Err(DataPlaneError::NoEntry(sg.to_string())),
        }
    }

    /// Keeps what userspace sent on of `sg`'s held packets (see
    /// [`crate::dataplane::ForwardingBackend::save_held`]) in its counter slot.
    pub(super) fn keep_held<K: Family>(
        &mut self,
        sg: K,
        held: HeldCounters,
    ) -> Result<(), DataPlaneError> {
        let slot = self.slot_of(sg)?;
        Ok(self.held_stats.set(slot, held, 0)?)
    }

    /// What an earlier run kept for `sg` with [`XdpBackend::keep_held`], as read at adoption;
    /// forgotten once taken.
    pub(super) fn take_kept_held<K: Family>(
        &mut self,
        sg: K,
    ) -> Result<HeldCounters, DataPlaneError> {
        let slot = self.slot_of(sg)?;
        Ok(self.adopted_held.remove(&slot).unwrap_or_default())
    }

    /// The counter slot of the entry for `sg`.
    fn slot_of<K: Family>(&self, sg: K) -> Result<u32, DataPlaneError> {
        K::entries(self)
            .get(&sg)
            .map(|entry| entry.slot)
            .ok_or_else(|| DataPlaneError::NoEntry(sg.to_string()))
    }

    /// The entries of family `K` as the bookkeeping has them.
    pub(super) fn installed_of<K: Family>(&self) -> Vec<InstalledMfe<K>> {
        K::entries(self)
            .iter()
            .map(|(sg, e)| e.to_installed(*sg, &self.sets))
            .collect()
    }

    /// The entries of family `K` as the data plane holds them.
    pub(super) fn read_back_of<K: Family>(&self) -> Result<Vec<InstalledMfe<K>>, DataPlaneError> {
        let mut out = Vec::new();
        for (sg, value) in sys::read_hash(K::map(self))? {
            let oifs = match value.oif_set {
                NO_OIF_SET if value.oif != 0 => vec![value.oif],
                NO_OIF_SET => Vec::new(),
                set => self.sets.read_list(set)?,
            };
            out.push(InstalledMfe {
                sg,
                iif: value.iif,
                oifs,
            });
        }
        Ok(out)
    }
}

impl Installed {
    /// Its outgoing set, if it has one.
    pub(super) fn set(&self) -> Option<u32> {
        match self.out {
            Outgoing::Set(id) => Some(id),
            _ => None,
        }
    }

    /// Its outgoing interfaces (those of a set from `sets`).
    pub(super) fn oifs<'a>(&'a self, sets: &'a OifSets) -> &'a [u32] {
        match &self.out {
            Outgoing::Nowhere => &[],
            Outgoing::One(one) => std::slice::from_ref(one),
            Outgoing::Set(id) => sets.list(*id),
        }
    }

    /// The bookkeeping of an entry found in a map left by an earlier run.
    pub(super) fn adopt(value: &MfeValue) -> Self {
        let out = match value.oif_set {
            NO_OIF_SET if value.oif != 0 => Outgoing::One(value.oif),
            NO_OIF_SET => Outgoing::Nowhere,
            id => Outgoing::Set(id),
        };
        Self {
            iif: value.iif,
            out,
            slot: value.stats_slot,
            flags: value.flags & MFE_FLAG_HOLD,
        }
    }

    /// The entry of `sg` as [`crate::dataplane::ForwardingBackend::installed`] shows it.
    pub(super) fn to_installed<K>(&self, sg: K, sets: &OifSets) -> InstalledMfe<K> {
        InstalledMfe {
            sg,
            iif: self.iif,
            oifs: self.oifs(sets).to_vec(),
        }
    }
}

fn sum<T: aya::Pod>(values: &PerCpuValues<T>, field: impl Fn(&T) -> u64) -> u64 {
    values.iter().map(field).sum()
}
