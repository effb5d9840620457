//! An MFE's last reported counters as the table keeps them: compact for what backends report
//! (mgmd's XDP backend: `ulInPkts`, `ulInOctets`, `ulPktsDifferentIf` and each outgoing
//! interface's `ulOutPackets`; 48 bytes for IPv4, no allocation with one outgoing interface),
//! the whole report boxed when any other counter is not zero (mgmd's: an outgoing interface's
//! `ulOutDiscards`, once its rules have dropped copies of the entry). Every MFE holds one, and a
//! table may hold 100 000 MFEs and more (README, "Memory").

use super::address::Address;
use super::reports::{MfeCounters, OifCounters};
use super::types::IfId;
use crate::compact::OneOrMany;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StoredCounters<A: Address> {
    /// Every counter not kept here is 0.
    Compact {
        in_pkts: u64,
        in_octets: u64,
        pkts_different_if: u64,
        /// `ulOutPackets` of each outgoing interface reported.
        out_packets: OneOrMany<(IfId<A>, u64)>,
    },
    /// A report with other counters.
    Full(Box<MfeCounters<A>>),
}

impl<A: Address> Default for StoredCounters<A> {
    fn default() -> Self {
        StoredCounters::Compact {
            in_pkts: 0,
            in_octets: 0,
            pkts_different_if: 0,
            out_packets: OneOrMany::new(),
        }
    }
}

impl<A: Address> StoredCounters<A> {
    /// `ulInPkts`.
    pub(crate) fn in_pkts(&self) -> u64 {
        match self {
            StoredCounters::Compact { in_pkts, .. } => *in_pkts,
            StoredCounters::Full(full) => full.in_pkts,
        }
    }

    /// The counters as reported.
    pub(crate) fn to_counters(&self) -> MfeCounters<A> {
        match self {
            StoredCounters::Compact {
                in_pkts,
                in_octets,
                pkts_different_if,
                out_packets,
            } => MfeCounters {
                in_pkts: *in_pkts,
                in_octets: *in_octets,
                pkts_different_if: *pkts_different_if,
                oifs: out_packets
                    .iter()
                    .map(|(ifid, packets)| OifCounters {
                        out_packets: *packets,
                        ..OifCounters::new(*ifid)
                    })
                    .collect(),
                ..MfeCounters::default()
            },
            StoredCounters::Full(full) => (**full).clone(),
        }
    }
}

impl<A: Address> From<MfeCounters<A>> for StoredCounters<A> {
    fn from(c: MfeCounters<A>) -> Self {
        let others = [
            c.queue_overflow,
            c.uninit_mfe,
            c.negative_mfe,
            c.in_discards,
            c.in_hdr_errors,
            c.total_out_packets,
        ];
        let oif_others = c
            .oifs
            .iter()
            .any(|o| o.ttl_too_low != 0 || o.frag_needed != 0 || o.out_discards != 0);
        if others.iter().any(|v| *v != 0) || oif_others {
            return StoredCounters::Full(Box::new(c));
        }
        StoredCounters::Compact {
            in_pkts: c.in_pkts,
            in_octets: c.in_octets,
            pkts_different_if: c.pkts_different_if,
            out_packets: c.oifs.iter().map(|o| (o.ifid, o.out_packets)).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn report(out_discards: u64, in_discards: u64) -> MfeCounters {
        MfeCounters {
            in_pkts: 7,
            in_octets: 700,
            pkts_different_if: 2,
            in_discards,
            oifs: vec![
                OifCounters {
                    out_packets: 5,
                    out_discards,
                    ..OifCounters::new(IfId::index(4))
                },
                OifCounters {
                    out_packets: 6,
                    ..OifCounters::new(IfId::index(9))
                },
            ],
            ..MfeCounters::default()
        }
    }

    #[test]
    fn every_report_reads_back_as_it_came() {
        for (out_discards, in_discards) in [(0, 0), (1, 0), (0, 3)] {
            let c = report(out_discards, in_discards);
            let stored = StoredCounters::from(c.clone());
            assert_eq!(
                matches!(stored, StoredCounters::Compact { .. }),
                out_discards == 0 && in_discards == 0
            );
            assert_eq!(stored.to_counters(), c);
            assert_eq!(stored.in_pkts(), 7);
        }
        assert_eq!(
            StoredCounters::<Ipv4Addr>::default().to_counters(),
            MfeCounters::default()
        );
    }

    #[test]
    fn compact_counters_are_small() {
        assert_eq!(size_of::<StoredCounters<Ipv4Addr>>(), 48);
    }
}
