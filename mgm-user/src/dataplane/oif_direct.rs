//! The program of an entry's single copy: `OIF_DIRECT` (ifindex → the interface with the egress
//! program) and `IFACE_FLAG_EGRESS_PROGRAM` in the interface's `IFACES` element.
//!
//! The kernel queues the frames redirected to an interface in one NAPI poll together and runs
//! the program of the first one queued on all of them (`bq_enqueue` in `kernel/bpf/devmap.c`
//! keeps the first frame's program for the whole bulk queue). An entry's single copy and the
//! copies of sets' broadcasts may go to the same interface in the same poll, so every copy
//! queued to an interface must carry the same program, its *canonical* one: none when the
//! interface is bare in every set in use listing it, or listed in none (the ingress program
//! applies its rules and writes its MAC, then redirects with no program); the egress program
//! otherwise, which single copies get from the interface's `OIF_DIRECT` entry (the flag tells
//! the ingress program to hand the copy's description over in the metadata and redirect
//! there). [`super::oif_sets::OifSets`], which decides which interfaces are bare, keeps this in
//! step ([`DirectRedirects::set`]) whenever an interface's canonical program changes.
//!
//! Invariant: the flag is set only while the entry exists (entry written before the flag is
//! set, flag cleared before the entry is removed); a flag whose entry is gone anyway (the
//! interface went away) makes the ingress program fall back to the no-program path.
use super::DataPlaneError;
use aya::{
    maps::{Array, DevMapHash, MapData, MapError},
    programs::ProgramFd,
};
use mgm_common::{limits, IfaceConfig, IFACE_FLAG_EGRESS_PROGRAM};
use std::collections::BTreeSet;

/// `OIF_DIRECT` and the program flags of `IFACES`.
pub struct DirectRedirects {
    map: DevMapHash<MapData>,
    /// A second handle of `IFACES` (the backend writes the other settings; every writer
    /// rewrites an element read back from the map, so that each keeps the other's fields).
    ifaces: Array<MapData, IfaceConfig>,
    /// Interfaces whose single copies carry the egress program.
    programmed: BTreeSet<u32>,
}

impl DirectRedirects {
    /// Takes over `map` as an earlier run left it (pinned maps): every interface of `wanted`
    /// gets its entry rewritten with `egress` and the flag, every other one left in `map`
    /// loses both.
    pub fn adopt(
        map: DevMapHash<MapData>,
        ifaces: Array<MapData, IfaceConfig>,
        egress: &ProgramFd,
        wanted: &BTreeSet<u32>,
    ) -> Result<Self, DataPlaneError> {
        let left = map.keys().collect::<Result<Vec<u32>, _>>()?;
        let mut direct = Self {
            map,
            ifaces,
            programmed: BTreeSet::new(),
        };
        for ifindex in left {
            if !wanted.contains(&ifindex) {
                direct.programmed.insert(ifindex);
                direct.set(ifindex, false, egress)?;
            }
        }
        for &ifindex in wanted {
            direct.set(ifindex, true, egress)?;
        }
        Ok(direct)
    }

    /// Makes the single copies to `ifindex` carry `egress` (`program`) or no program. An
    /// ifindex past `IFACES` has no flag: its copies take the no-program path, whose rules
    /// drop them (`stat::EGRESS_NO_CONFIG`) as the egress program does.
    pub fn set(
        &mut self,
        ifindex: u32,
        program: bool,
        egress: &ProgramFd,
    ) -> Result<(), DataPlaneError> {
        let program = program && ifindex < limits::IFACES;
        if program == self.programmed.contains(&ifindex) {
            return Ok(());
        }
        if program {
            self.map.insert(ifindex, ifindex, Some(egress), 0)?;
            self.set_flag(ifindex, true)?;
            self.programmed.insert(ifindex);
        } else {
            if ifindex < limits::IFACES {
                self.set_flag(ifindex, false)?;
            }
            // Absent is fine: the kernel removes an interface's entry with the interface.
            let _ = self.map.remove(ifindex);
            self.programmed.remove(&ifindex);
        }
        Ok(())
    }

    /// Forgets interface `ifindex` (gone: the kernel removed its entry).
    pub fn forget(&mut self, ifindex: u32) {
        self.programmed.remove(&ifindex);
    }

    /// As written in the kernel: whether interface `ifindex` has an `OIF_DIRECT` entry with a
    /// program, and whether its flag is set.
    pub fn read(&self, ifindex: u32) -> Result<(bool, bool), DataPlaneError> {
        let entry = match self.map.get(ifindex, 0) {
            Ok(value) => value.prog_id.is_some(),
            Err(MapError::KeyNotFound) => false,
            Err(e) => return Err(e.into()),
        };
        let flag = ifindex < limits::IFACES
            && self.ifaces.get(&ifindex, 0)?.flags & IFACE_FLAG_EGRESS_PROGRAM != 0;
        Ok((entry, flag))
    }

    fn set_flag(&mut self, ifindex: u32, on: bool) -> Result<(), DataPlaneError> {
        let mut iface = self.ifaces.get(&ifindex, 0)?;
        if on {
            iface.flags |= IFACE_FLAG_EGRESS_PROGRAM;
        } else {
            iface.flags &= !IFACE_FLAG_EGRESS_PROGRAM;
        }
        self.ifaces.set(ifindex, iface, 0)?;
        Ok(())
    }
}
