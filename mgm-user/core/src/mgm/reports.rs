//! Reports from outside the core: packet counters from the backend (the core cannot count
//! packets itself), wrong-interface arrivals (§5.5, A-37) and RIB changes.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::action::Callback;
use super::address::Address;
use super::error::MgmError;
use super::outbox::Phase;
use super::types::{IfId, Sg, Timestamp};
use super::Mgm;

/// Cumulative counters of one MFE as the backend reads them. Fields the backend cannot
/// measure stay 0. The MIB records truncate them to 32 bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfeCounters<A: Address = Ipv4Addr> {
    /// `ulInPkts`.
    pub in_pkts: u64,
    /// `ulInOctets`.
    pub in_octets: u64,
    /// `ulPktsDifferentIf`.
    pub pkts_different_if: u64,
    /// `ulQueueOverflow`.
    pub queue_overflow: u64,
    /// `ulUninitMfe`.
    pub uninit_mfe: u64,
    /// `ulNegativeMfe`.
    pub negative_mfe: u64,
    /// `ulInDiscards`.
    pub in_discards: u64,
    /// `ulInHdrErrors`.
    pub in_hdr_errors: u64,
    /// `ulTotalOutPackets`; 0 from a backend that counts copies per interface only, whose
    /// records then give the sum of the interfaces' `ulOutPackets` ([`Self::total_out`]).
    pub total_out_packets: u64,
    /// Per outgoing interface; interfaces not listed count 0.
    pub oifs: Vec<OifCounters<A>>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for MfeCounters<A> {
    fn default() -> Self {
        MfeCounters {
            in_pkts: Default::default(),
            in_octets: Default::default(),
            pkts_different_if: Default::default(),
            queue_overflow: Default::default(),
            uninit_mfe: Default::default(),
            negative_mfe: Default::default(),
            in_discards: Default::default(),
            in_hdr_errors: Default::default(),
            total_out_packets: Default::default(),
            oifs: Default::default(),
        }
    }
}

impl<A: Address> MfeCounters<A> {
    /// `ulTotalOutPackets` as the records give it: the reported total, or without one the
    /// copies sent over all outgoing interfaces (one packet sent on N interfaces counts N).
    pub fn total_out(&self) -> u64 {
        match self.total_out_packets {
            0 => self.oifs.iter().map(|o| o.out_packets).sum(),
            total => total,
        }
    }

    /// The counters of `ifid`, zero if not reported.
    pub fn oif(&self, ifid: IfId<A>) -> OifCounters<A> {
        self.oifs
            .iter()
            .find(|o| o.ifid == ifid)
            .cloned()
            .unwrap_or_else(|| OifCounters::new(ifid))
    }
}

/// Counters of one outgoing interface of an MFE (`MIB_IPMCAST_OIF_STATS`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OifCounters<A: Address = Ipv4Addr> {
    /// The interface.
    pub ifid: IfId<A>,
    /// `ulTtlTooLow`.
    pub ttl_too_low: u64,
    /// `ulFragNeeded`.
    pub frag_needed: u64,
    /// `ulOutPackets`.
    pub out_packets: u64,
    /// `ulOutDiscards`.
    pub out_discards: u64,
}

impl<A: Address> OifCounters<A> {
    /// All-zero counters for `ifid`.
    pub fn new(ifid: IfId<A>) -> Self {
        OifCounters {
            ifid,
            ttl_too_low: 0,
            frag_needed: 0,
            out_packets: 0,
            out_discards: 0,
        }
    }
}

impl<A: Address> Mgm<A> {
    /// Stores the backend's counters for MFE `sg`; an entry whose packet count did not grow
    /// becomes idle (evictable, see [`super::capacity`]) until it grows again. With
    /// [`Config::refresh_on_activity`](super::Config::refresh_on_activity), a grown packet
    /// count restarts the lifetime (A-48 option). `NotFound` if there is no such MFE.
    pub fn report_stats(
        &mut self,
        sg: Sg<A>,
        counters: MfeCounters<A>,
        now: Timestamp,
    ) -> Result<(), MgmError> {
        let refresh = self.config.refresh_on_activity;
        let (active, timeout_s) = self
            .mfes
            .update(sg, |m| {
                let active = counters.in_pkts > m.counters.in_pkts();
                m.counters = counters.into();
                m.idle = !active;
                (active, m.timeout_s)
            })
            .ok_or(MgmError::NotFound)?;
        if refresh && active {
            let at = now + Duration::from_secs(timeout_s.into());
            self.mfes.set_lifetime(sg, timeout_s, at);
        }
        Ok(())
    }

    /// A packet of MFE (source, group) arrived on `ifindex`, not its IIF. The arrival
    /// interface's owner gets the wrong-interface callback, at most once per
    /// [`Config::wrong_if_interval`](super::Config::wrong_if_interval) per MFE.
    /// Reports for pairs with no MFE are ignored.
    pub fn wrong_interface(
        &mut self,
        source: A,
        group: A,
        ifindex: u32,
        header: &[u8],
        now: Timestamp,
    ) {
        let sg = Sg::new(source, group);
        let interval = self.config.wrong_if_interval;
        let ifid = IfId::index(ifindex);
        let owner = self.registry.owner(ifid);
        let Some(m) = self.mfes.get_mut(sg) else {
            return;
        };
        if !self.config.wrong_if_enabled || m.last_wrong_if().is_some_and(|t| t + interval > now) {
            return;
        }
        m.set_last_wrong_if(now);
        if let Some(owner) = owner {
            let cb = Callback::WrongIf {
                source,
                group,
                ifid,
                header: header.to_vec(),
            };
            self.send(Phase::Mfe, owner, cb);
        }
        self.out.commit();
    }

    /// Whether the backend should report wrong-interface arrivals at all: enabled and some
    /// protocol supplies the callback.
    pub fn wants_wrong_if_reports(&self) -> bool {
        self.config.wrong_if_enabled
            && self
                .registry
                .clients
                .values()
                .any(|c| c.callbacks.contains(super::CallbackSet::WRONG_IF))
    }

    /// The RIB route to `network/mask` changed: delete the MFEs (and abandon the creations)
    /// whose source it covers, so the next packet re-runs RPF. No callbacks.
    pub fn route_changed(&mut self, network: A, mask: A) {
        for sg in self.mfes.with_source_in(network, mask) {
            self.delete_mfe(sg);
        }
        let pending = self.pending_with_source_in(network, mask);
        self.cancel_creations(pending);
        self.out.commit();
    }

    /// The route of the one (S,G) `sg` changed (a protocol that routes by (S,G), such as the
    /// kernel's mirrored routes): delete its MFE (and abandon its creation), so its next packet
    /// re-runs RPF, as [`Mgm::route_changed`] does for a source's whole network; the source's
    /// other entries stay as they are. No callbacks.
    pub fn sg_route_changed(&mut self, sg: Sg<A>) {
        self.delete_mfe(sg);
        self.cancel_creations(vec![sg]);
        self.out.commit();
    }
}
