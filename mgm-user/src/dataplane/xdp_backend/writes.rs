//! Writing an entry: a new one, or a change of its incoming interface or outgoing list, each
//! in one `MFES` (`MFES6`) update after its outgoing set and counters are ready, undone
//! whole when a step fails.
use super::{family::Family, Installed, Outgoing, XdpBackend};
use crate::dataplane::{allocating::allocating, DataPlaneError};
use mgm_common::{MfeValue, MFE_FLAG_HOLD, NO_OIF_SET};

impl XdpBackend {
    fn acquire_set(&mut self, oifs: &[u32], iif: u32) -> Result<Option<u32>, DataPlaneError> {
        if needs_set(oifs, iif) {
            self.sets.acquire(oifs).map(Some)
        } else {
            Ok(None)
        }
    }

    pub(super) fn write_entry<K: Family>(
        &mut self,
        sg: K,
        entry: &Installed,
    ) -> Result<(), DataPlaneError> {
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
        let map = K::map_mut(self);
        let written = allocating("MFES (MFES6)", || Ok(map.insert(sg, value, 0)?));
        K::probe_mut(self).finish(rewrite, written.is_ok());
        written?;
        Ok(())
    }

    /// Starts the hold-mode count of the entry counted in `slot` afresh (the slot's last entry
    /// may have left its own; see `mgm-ebpf/src/hold.rs`), before the entry is written in hold
    /// mode.
    fn start_hold(&mut self, slot: u32) -> Result<(), DataPlaneError> {
        self.hold_punted.set(slot, 0, 0)?;
        self.hold_sent.set(slot, 0, 0)?;
        Ok(())
    }

    pub(super) fn create<K: Family>(
        &mut self,
        sg: K,
        iif: u32,
        oifs: Vec<u32>,
        hold: bool,
    ) -> Result<(), DataPlaneError> {
        let slot = self.allocate_slot()?;
        // The slot was zeroed and no entry counts in it yet: the base is nothing (one map read
        // less on the creation path).
        let started = match hold {
            true => self.start_hold(slot),
            false => Ok(()),
        };
        let entry = started
            .and_then(|()| self.add_counters(slot, &oifs, (0, 0)))
            .and_then(|()| {
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
    pub(super) fn change<K: Family>(
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
        let started = match hold {
            true => counted.and_then(|()| self.start_hold(old.slot)),
            false => counted,
        };
        let written = started.and_then(|()| self.write_entry(sg, &new));
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
