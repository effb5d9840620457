//! Which kernel entries the mirror forwards in XDP, and the changes that keep the mirrored set
//! equal to that selection: pure functions over the kernel's table, no I/O and no clock.
use super::mfc::{MfcEntry, MfcEvent};
use crate::mgm::{Address, Sg};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};

/// Kernel entries the mirror keeps at most, per family: the data plane's table. Entries beyond
/// are left to the kernel (counted, logged).
pub const MAX_KERNEL_ENTRIES: usize = mgm_common::limits::MFES as usize;

/// A kernel route forwarded in XDP: incoming ifindex and outgoing ifindexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MirroredRoute {
    /// Incoming ifindex.
    pub iif: u32,
    /// Outgoing ifindexes (never the incoming one), not empty.
    pub oifs: BTreeSet<u32>,
}

/// Why a resolved kernel entry stays with the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelOnly {
    /// A (\*,G) entry: XDP forwards exact (S,G) entries only.
    Wildcard,
    /// Not resolved yet (no incoming interface).
    Unresolved,
    /// An interface that is not a mirrored mgm interface in service (pimreg, a tunnel, lo...).
    Foreign(u32),
    /// An outgoing interface whose TTL threshold differs from the one mgm applies there.
    Threshold(u32),
    /// No outgoing interface other than the incoming one.
    NoOutgoing,
}

/// The mirrored interfaces in service: ifindex → the TTL threshold XDP applies there.
pub type MirroredInterfaces = BTreeMap<u32, u8>;

/// The XDP form of `entry`, or why it stays with the kernel. The thresholds 0 and 1 both let
/// every packet through (ipmr forwards when TTL > threshold, after the TTL ≥ 2 check).
pub fn select<A: Address>(
    entry: &MfcEntry<A>,
    interfaces: &MirroredInterfaces,
) -> Result<MirroredRoute, KernelOnly> {
    if entry.sg.source.is_unspecified() {
        return Err(KernelOnly::Wildcard);
    }
    let iif = match entry.iif {
        Some(iif) if !entry.unresolved => iif,
        _ => return Err(KernelOnly::Unresolved),
    };
    if !interfaces.contains_key(&iif) {
        return Err(KernelOnly::Foreign(iif));
    }
    let mut oifs = BTreeSet::new();
    for &(oif, ttl) in entry.oifs.iter().filter(|(oif, _)| *oif != iif) {
        let Some(&threshold) = interfaces.get(&oif) else {
            return Err(KernelOnly::Foreign(oif));
        };
        if ttl.max(1) != threshold.max(1) {
            return Err(KernelOnly::Threshold(oif));
        }
        oifs.insert(oif);
    }
    if oifs.is_empty() {
        return Err(KernelOnly::NoOutgoing);
    }
    Ok(MirroredRoute { iif, oifs })
}

/// The kernel's entries of one table of family `A`, as the mirror last read them.
#[derive(Debug)]
pub struct KernelTable<A: Address = Ipv4Addr> {
    table: u32,
    entries: BTreeMap<Sg<A>, MfcEntry<A>>,
    /// Entries not kept because the table was full, since the start.
    refused: u64,
}

impl<A: Address> KernelTable<A> {
    /// An empty view of kernel table `table`.
    pub fn new(table: u32) -> Self {
        Self {
            table,
            entries: BTreeMap::new(),
            refused: 0,
        }
    }

    /// Replaces the view with a dump's entries (those of other tables are ignored); returns how
    /// many were refused because the view is full.
    pub fn replace(&mut self, dump: Vec<MfcEntry<A>>) -> u64 {
        self.entries.clear();
        let before = self.refused;
        for entry in dump {
            self.apply(MfcEvent::Added(entry));
        }
        self.refused - before
    }

    /// Applies one change; returns whether the view changed. An addition beyond
    /// [`MAX_KERNEL_ENTRIES`] is refused (counted in [`KernelTable::refused`]).
    pub fn apply(&mut self, event: MfcEvent<A>) -> bool {
        match event {
            MfcEvent::Added(entry) if entry.table == self.table => {
                if self.entries.len() >= MAX_KERNEL_ENTRIES && !self.entries.contains_key(&entry.sg)
                {
                    self.refused += 1;
                    return false;
                }
                self.entries.insert(entry.sg, entry.clone()) != Some(entry)
            }
            MfcEvent::Removed(sg, table) if table == self.table => {
                self.entries.remove(&sg).is_some()
            }
            _ => false,
        }
    }

    /// Entries refused because the view was full, since the start.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// Number of kernel entries in the view.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries XDP forwards, and how many stay with the kernel.
    pub fn selection(
        &self,
        interfaces: &MirroredInterfaces,
    ) -> (BTreeMap<Sg<A>, MirroredRoute>, usize) {
        let mut kernel_only = 0;
        let selected = self
            .entries
            .iter()
            .filter_map(|(sg, entry)| match select(entry, interfaces) {
                Ok(route) => Some((*sg, route)),
                Err(_) => {
                    kernel_only += 1;
                    None
                }
            })
            .collect();
        (selected, kernel_only)
    }
}

/// One step from the mirrored set to the selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change<A: Address = Ipv4Addr> {
    /// A new mirrored entry.
    Add(Sg<A>, MirroredRoute),
    /// Another incoming interface or outgoing list.
    Modify {
        /// The entry.
        sg: Sg<A>,
        /// What it was.
        old: MirroredRoute,
        /// What it becomes.
        new: MirroredRoute,
    },
    /// The entry leaves XDP (its packets go to the kernel again).
    Remove(Sg<A>, MirroredRoute),
}

impl<A: Address> Change<A> {
    /// The entry that changes.
    pub fn sg(&self) -> Sg<A> {
        match self {
            Self::Add(sg, _) | Self::Remove(sg, _) | Self::Modify { sg, .. } => *sg,
        }
    }
}

/// The changes that turn `mirrored` into `wanted`, in (S,G) order.
pub fn diff<A: Address>(
    mirrored: &BTreeMap<Sg<A>, MirroredRoute>,
    wanted: &BTreeMap<Sg<A>, MirroredRoute>,
) -> Vec<Change<A>> {
    let mut changes = Vec::new();
    for (sg, old) in mirrored {
        match wanted.get(sg) {
            None => changes.push(Change::Remove(*sg, old.clone())),
            Some(new) if new != old => changes.push(Change::Modify {
                sg: *sg,
                old: old.clone(),
                new: new.clone(),
            }),
            Some(_) => {}
        }
    }
    for (sg, new) in wanted {
        if !mirrored.contains_key(sg) {
            changes.push(Change::Add(*sg, new.clone()));
        }
    }
    changes.sort_by_key(|c| match c {
        Change::Add(sg, _) | Change::Remove(sg, _) | Change::Modify { sg, .. } => *sg,
    });
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn sg(s: u8, g: u8) -> Sg {
        Sg::new(Ipv4Addr::new(10, 0, 0, s), Ipv4Addr::new(239, 1, 1, g))
    }

    fn entry(sg: Sg, iif: u32, oifs: &[(u32, u8)]) -> MfcEntry {
        MfcEntry {
            sg,
            table: 253,
            iif: Some(iif),
            oifs: oifs.to_vec(),
            unresolved: false,
        }
    }

    fn route(iif: u32, oifs: &[u32]) -> MirroredRoute {
        MirroredRoute {
            iif,
            oifs: oifs.iter().copied().collect(),
        }
    }

    /// Interfaces 2..=5 mirrored, 5 with a threshold of 8; 9 is pimreg.
    fn interfaces() -> MirroredInterfaces {
        [(2, 1), (3, 1), (4, 0), (5, 8)].into()
    }

    #[test]
    fn resolved_entries_on_mirrored_interfaces_are_selected_without_their_iif() {
        assert_eq!(
            select(
                &entry(sg(1, 1), 2, &[(3, 1), (4, 1), (2, 1)]),
                &interfaces()
            ),
            Ok(route(2, &[3, 4])),
            "thresholds 0 and 1 are the same; the incoming interface is dropped"
        );
        assert_eq!(
            select(&entry(sg(1, 1), 2, &[(5, 8)]), &interfaces()),
            Ok(route(2, &[5]))
        );
    }

    #[test]
    fn everything_else_stays_with_the_kernel() {
        let i = interfaces();
        let wildcard = entry(Sg::new(Ipv4Addr::UNSPECIFIED, sg(0, 1).group), 2, &[(3, 1)]);
        assert_eq!(select(&wildcard, &i), Err(KernelOnly::Wildcard));
        let mut unresolved = entry(sg(1, 1), 2, &[]);
        unresolved.unresolved = true;
        assert_eq!(select(&unresolved, &i), Err(KernelOnly::Unresolved));
        assert_eq!(
            select(&entry(sg(1, 1), 2, &[(3, 1), (9, 1)]), &i),
            Err(KernelOnly::Foreign(9)),
            "pimreg (registering) stays with the kernel"
        );
        assert_eq!(
            select(&entry(sg(1, 1), 9, &[(3, 1)]), &i),
            Err(KernelOnly::Foreign(9))
        );
        assert_eq!(
            select(&entry(sg(1, 1), 2, &[(3, 4)]), &i),
            Err(KernelOnly::Threshold(3))
        );
        assert_eq!(
            select(&entry(sg(1, 1), 2, &[(2, 1)]), &i),
            Err(KernelOnly::NoOutgoing)
        );
    }

    #[test]
    fn the_view_follows_its_table_and_is_bounded() {
        let mut view = KernelTable::new(253);
        assert!(view.apply(MfcEvent::Added(entry(sg(1, 1), 2, &[(3, 1)]))));
        assert!(
            !view.apply(MfcEvent::Added(entry(sg(1, 1), 2, &[(3, 1)]))),
            "same"
        );
        let mut other = entry(sg(2, 1), 2, &[(3, 1)]);
        other.table = 254;
        assert!(!view.apply(MfcEvent::Added(other)), "another table");
        assert!(!view.apply(MfcEvent::Removed(sg(1, 1), 254)));
        assert!(view.apply(MfcEvent::Removed(sg(1, 1), 253)));
        let full: Vec<MfcEntry> = (0..=MAX_KERNEL_ENTRIES as u32)
            .map(|i| {
                let s = Sg::new(Ipv4Addr::from(0x0a00_0000 + i), sg(0, 1).group);
                entry(s, 2, &[(3, 1)])
            })
            .collect();
        assert_eq!(view.replace(full), 1, "one beyond the bound");
        assert_eq!((view.len(), view.refused()), (MAX_KERNEL_ENTRIES, 1));
        let (selected, kernel_only) = view.selection(&interfaces());
        assert_eq!((selected.len(), kernel_only), (MAX_KERNEL_ENTRIES, 0));
    }

    #[test]
    fn the_diff_adds_modifies_and_removes_in_order() {
        let mirrored: BTreeMap<Sg, MirroredRoute> = [
            (sg(1, 1), route(2, &[3])),
            (sg(2, 1), route(2, &[3, 4])),
            (sg(3, 1), route(2, &[3])),
        ]
        .into();
        let wanted: BTreeMap<Sg, MirroredRoute> = [
            (sg(1, 1), route(2, &[3])),
            (sg(2, 1), route(2, &[4])),
            (sg(4, 1), route(3, &[2])),
        ]
        .into();
        assert_eq!(
            diff(&mirrored, &wanted),
            vec![
                Change::Modify {
                    sg: sg(2, 1),
                    old: route(2, &[3, 4]),
                    new: route(2, &[4])
                },
                Change::Remove(sg(3, 1), route(2, &[3])),
                Change::Add(sg(4, 1), route(3, &[2])),
            ]
        );
        assert!(diff(&wanted, &wanted).is_empty());
    }
}
