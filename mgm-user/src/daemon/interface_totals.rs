//! The per-interface counters of the metrics endpoint (`mgm_interface_*_total`): sums over
//! the forwarding entries, which come and go, kept monotonic as Prometheus counters must be.
//! What an entry counted stays in its interfaces' totals once the entry is gone, made anew
//! (its counters restarted) or has lost the interface: each scrape compares every (entry,
//! interface) with what the previous one saw and keeps the counts of those that went. An entry
//! that lived between two scrapes only is not seen. Pure bookkeeping, no I/O; bounded by the
//! (entry, interface) pairs of one scrape and by the interfaces.
use crate::api::proto::MfeRow;
use std::{
    collections::{BTreeMap, HashMap},
    net::IpAddr,
};

/// Packets and bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Count {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Count {
    fn add(&mut self, other: Count) {
        self.packets = self.packets.saturating_add(other.packets);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }

    /// Whether `self` cannot follow `before` (a counter went down: restarted).
    fn restarted_since(&self, before: &Count) -> bool {
        self.packets < before.packets || self.bytes < before.bytes
    }
}

/// What the entries accepted on one interface and sent out of it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InterfaceCounts {
    /// Packets (and bytes) the entries accepted here.
    pub inbound: Count,
    /// Copies (and bytes) the entries sent here.
    pub outbound: Count,
}

/// Which way a counted (entry, interface) pair goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Way {
    In,
    Out,
}

/// An (entry, interface) pair: the entry's source, group and incoming interface, the
/// interface, and which way.
type Pair = (IpAddr, IpAddr, String, String, Way);

/// The totals kept from one scrape to the next.
#[derive(Debug, Default)]
pub struct InterfaceTotals {
    /// Per interface, what (entry, interface) pairs gone since counted.
    retired: BTreeMap<String, InterfaceCounts>,
    /// Each pair's counts as the last scrape saw them.
    last: HashMap<Pair, Count>,
}

impl InterfaceTotals {
    /// The totals per interface with the entries `mfes` of this scrape.
    pub fn update(&mut self, mfes: &[MfeRow]) -> BTreeMap<String, InterfaceCounts> {
        let now: HashMap<Pair, Count> = mfes.iter().flat_map(pairs).collect();
        for (pair, before) in self.last.drain() {
            if now
                .get(&pair)
                .is_none_or(|count| count.restarted_since(&before))
            {
                add(&mut self.retired, &pair, before);
            }
        }
        let mut totals = self.retired.clone();
        for (pair, count) in &now {
            add(&mut totals, pair, *count);
        }
        self.last = now;
        totals
    }
}

/// The counted pairs of entry `m`: its incoming interface, and each outgoing one.
fn pairs(m: &MfeRow) -> impl Iterator<Item = (Pair, Count)> + '_ {
    let pair = |iface: &str, way| (m.source, m.group, m.iif.clone(), iface.to_owned(), way);
    let inbound = Count {
        packets: m.packets,
        bytes: m.bytes,
    };
    std::iter::once((pair(&m.iif, Way::In), inbound)).chain(m.oifs.iter().map(move |o| {
        let count = Count {
            packets: o.packets,
            bytes: o.bytes,
        };
        (pair(&o.iface, Way::Out), count)
    }))
}

/// Adds `count` of `pair` to its interface's totals in `totals`.
fn add(totals: &mut BTreeMap<String, InterfaceCounts>, pair: &Pair, count: Count) {
    let counts = totals.entry(pair.3.clone()).or_default();
    match pair.4 {
        Way::In => counts.inbound.add(count),
        Way::Out => counts.outbound.add(count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::proto::OifRow;
    use std::net::Ipv4Addr;

    fn entry(group: u8, packets: u64, oifs: &[(&str, u64)]) -> MfeRow {
        MfeRow {
            source: Ipv4Addr::new(10, 0, 0, 1).into(),
            group: Ipv4Addr::new(239, 1, 1, group).into(),
            iif: "up0".into(),
            origin: "static".into(),
            oifs: oifs
                .iter()
                .map(|&(iface, packets)| OifRow {
                    iface: iface.into(),
                    packets,
                    bytes: packets * 100,
                    drops: 0,
                })
                .collect(),
            packets,
            bytes: packets * 100,
            wrong_if: 0,
            age_s: 0,
            expires_s: 0,
        }
    }

    fn packets(totals: &BTreeMap<String, InterfaceCounts>) -> Vec<(&str, u64, u64)> {
        totals
            .iter()
            .map(|(name, c)| (name.as_str(), c.inbound.packets, c.outbound.packets))
            .collect()
    }

    #[test]
    fn the_totals_never_go_down_as_entries_go_restart_or_lose_an_interface() {
        let mut totals = InterfaceTotals::default();
        let first = totals.update(&[
            entry(1, 100, &[("rcv1", 100), ("rcv3", 100)]),
            entry(2, 99, &[("rcv1", 99)]),
        ]);
        assert_eq!(
            packets(&first),
            [("rcv1", 0, 199), ("rcv3", 0, 100), ("up0", 199, 0)]
        );
        // Entry 2 is gone, entry 1 lost rcv3 and counted 10 more.
        let second = totals.update(&[entry(1, 110, &[("rcv1", 110)])]);
        assert_eq!(
            packets(&second),
            [("rcv1", 0, 209), ("rcv3", 0, 100), ("up0", 209, 0)]
        );
        // Entry 1 made anew: its counters start again.
        let third = totals.update(&[entry(1, 5, &[("rcv1", 5)])]);
        assert_eq!(
            packets(&third),
            [("rcv1", 0, 214), ("rcv3", 0, 100), ("up0", 214, 0)]
        );
    }
}
