//! What the hold queues delivered for one entry, kept as long as the entry and added to the
//! fast path's counters whenever they are read: its packets, and per outgoing interface the
//! copies sent and those the interface's rules dropped (as the fast path counts its own).
//! Every entry whose first packets were held has one, so it is compact: 40 bytes, with the
//! counts of one interface inline (an allocation only for an entry served on several).
//! Packet counts saturate at `u32::MAX` (the hold queues deliver at most a few thousand
//! packets per entry each time it is created or re-adopted).
use super::Flow;
use crate::{
    compact::OneOrMany,
    dataplane::{MfeStats, OifStats},
    mgm::Sg,
};
use mgm_common::HeldCounters;
use std::{collections::HashMap, net::Ipv6Addr};

/// The tallies of every entry, one map per family so that an IPv4 entry's key stays 8 bytes
/// (a key of either family would take 36 in each of the table's slots).
#[derive(Debug, Default)]
pub(super) struct Tallies {
    v4: HashMap<Sg, Tally>,
    v6: HashMap<Sg<Ipv6Addr>, Tally>,
}

impl Tallies {
    pub(super) fn get(&self, flow: Flow) -> Option<&Tally> {
        match flow {
            Flow::V4(sg) => self.v4.get(&sg),
            Flow::V6(sg) => self.v6.get(&sg),
        }
    }

    /// The tally of `flow`, a new one if it has none.
    pub(super) fn of(&mut self, flow: Flow) -> &mut Tally {
        match flow {
            Flow::V4(sg) => self.v4.entry(sg).or_default(),
            Flow::V6(sg) => self.v6.entry(sg).or_default(),
        }
    }

    /// Gives `flow` the tally `tally` (a previous run's, read back at adoption).
    pub(super) fn insert(&mut self, flow: Flow, tally: Tally) {
        match flow {
            Flow::V4(sg) => self.v4.insert(sg, tally),
            Flow::V6(sg) => self.v6.insert(sg, tally),
        };
    }

    pub(super) fn remove(&mut self, flow: Flow) {
        match flow {
            Flow::V4(sg) => self.v4.remove(&sg),
            Flow::V6(sg) => self.v6.remove(&sg),
        };
    }
}

/// The hold queues' deliveries and refusals for one entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Tally {
    packets: u32,
    wrong_if: u32,
    bytes: u64,
    /// Copies sent and dropped, by outgoing interface (in the order first served).
    oifs: OneOrMany<OifTally>,
}

/// Copies of an entry's held packets sent out of one interface, and dropped by its rules.
/// Aligned to 4 bytes, so that one inline in [`Tally`] keeps it at 40 bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C, packed(4))]
pub(super) struct OifTally {
    ifindex: u32,
    packets: u32,
    drops: u32,
    bytes: u64,
}

impl OifTally {
    #[cfg(test)]
    pub(super) fn new(ifindex: u32, packets: u32, bytes: u64) -> Self {
        Self {
            ifindex,
            packets,
            drops: 0,
            bytes,
        }
    }
}

impl Tally {
    #[cfg(test)]
    pub(super) fn new(packets: u32, bytes: u64, oifs: &[OifTally]) -> Self {
        Self {
            packets,
            wrong_if: 0,
            bytes,
            oifs: oifs.into(),
        }
    }

    /// What a later run needs of the tally: the entry's counts, not the interfaces' ones.
    pub(super) fn held(&self) -> HeldCounters {
        HeldCounters {
            packets: self.packets,
            wrong_if: self.wrong_if,
            bytes: self.bytes,
        }
    }

    /// The tally of an entry with outgoing interfaces `oifs` that an earlier run kept as
    /// `held`: each packet sent on counts as a copy sent out of each interface (which it was,
    /// unless an interface's rules dropped it; those drops are not kept).
    pub(super) fn restored(held: HeldCounters, oifs: &[u32]) -> Self {
        Self {
            packets: held.packets,
            wrong_if: held.wrong_if,
            bytes: held.bytes,
            oifs: oifs
                .iter()
                .map(|&ifindex| OifTally {
                    ifindex,
                    packets: held.packets,
                    drops: 0,
                    bytes: held.bytes,
                })
                .collect(),
        }
    }

    /// A packet refused because it arrived on another interface than the entry's.
    pub(super) fn wrong_if(&mut self) {
        self.wrong_if = self.wrong_if.saturating_add(1);
    }

    /// A packet of `bytes` (its IP packet, either family) that the entry took from its
    /// incoming interface: sent on to its outgoing interfaces, or dropped for its TTL ≤ 1.
    pub(super) fn taken(&mut self, bytes: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes += bytes as u64;
    }

    /// A copy of `bytes` sent out of `ifindex`.
    pub(super) fn copy_sent(&mut self, ifindex: u32, bytes: usize) {
        let oif = self.oif(ifindex);
        oif.packets = oif.packets.saturating_add(1);
        oif.bytes += bytes as u64;
    }

    /// A copy the rules of `ifindex` dropped (TTL threshold, MTU, or the interface not in
    /// service).
    pub(super) fn copy_dropped(&mut self, ifindex: u32) {
        let oif = self.oif(ifindex);
        oif.drops = oif.drops.saturating_add(1);
    }

    /// The counts of `ifindex`, new ones if it has none.
    fn oif(&mut self, ifindex: u32) -> &mut OifTally {
        let at = match self.oifs.iter().position(|o| o.ifindex == ifindex) {
            Some(at) => at,
            None => {
                self.oifs.push(OifTally {
                    ifindex,
                    ..OifTally::default()
                });
                self.oifs.len() - 1
            }
        };
        &mut self.oifs[at]
    }

    /// Adds the tally to the fast path's counters of the entry.
    pub(super) fn add_to(&self, stats: &mut MfeStats) {
        stats.packets += u64::from(self.packets);
        stats.bytes += self.bytes;
        stats.wrong_if += u64::from(self.wrong_if);
        for oif in self.oifs.iter() {
            match stats.oifs.iter_mut().find(|(i, _)| *i == oif.ifindex) {
                Some((_, s)) => {
                    s.packets += u64::from(oif.packets);
                    s.bytes += oif.bytes;
                    s.drops += u64::from(oif.drops);
                }
                None => stats.oifs.push((
                    oif.ifindex,
                    OifStats {
                        packets: u64::from(oif.packets),
                        bytes: oif.bytes,
                        drops: u64::from(oif.drops),
                    },
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_is_small() {
        assert_eq!(size_of::<Tally>(), 40);
        assert_eq!(size_of::<OifTally>(), 20);
    }

    #[test]
    fn counts_saturate() {
        let mut tally = Tally {
            packets: u32::MAX,
            ..Tally::default()
        };
        tally.taken(100);
        tally.copy_sent(7, 100);
        tally.copy_sent(7, 100);
        tally.copy_dropped(7);
        let mut stats = MfeStats::default();
        tally.add_to(&mut stats);
        assert_eq!((stats.packets, stats.bytes), (u64::from(u32::MAX), 100));
        let oif = stats.oifs[0].1;
        assert_eq!((oif.packets, oif.bytes, oif.drops), (2, 200, 1));
    }
}
