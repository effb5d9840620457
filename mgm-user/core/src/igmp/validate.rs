//! Input hardening: turning received bytes into a [`Message`] and checking that a message is
//! acceptable on an interface, with a [`DropReason`] for everything else.
use super::counters::{DropReason, MessageKind, QueryKind};
use super::destination::{Addressed, WellKnown};
use crate::wire::{self, igmp, ipv4};
use std::net::Ipv4Addr;

/// An IGMP message with the IPv4 header facts that matter for validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// IPv4 source address.
    pub src: Ipv4Addr,
    /// IPv4 destination address.
    pub dst: Ipv4Addr,
    /// IPv4 time to live.
    pub ttl: u8,
    /// Whether the IPv4 header carried a Router Alert option.
    pub router_alert: bool,
    /// The IGMP message.
    pub igmp: igmp::Repr,
}

impl Message {
    /// The kind of this message, for counters.
    pub fn kind(&self) -> MessageKind {
        match &self.igmp {
            igmp::Repr::Query { group, v3, .. } => {
                let sources = v3.as_ref().map_or(&[][..], |q| &q.sources);
                MessageKind::of_query(*group, sources)
            }
            igmp::Repr::ReportV1 { .. } => MessageKind::ReportV1,
            igmp::Repr::ReportV2 { .. } => MessageKind::ReportV2,
            igmp::Repr::Leave { .. } => MessageKind::Leave,
            igmp::Repr::ReportV3 { .. } => MessageKind::ReportV3,
        }
    }

    fn is_v3(&self) -> bool {
        matches!(
            self.igmp,
            igmp::Repr::ReportV3 { .. } | igmp::Repr::Query { v3: Some(_), .. }
        )
    }
}

/// Parses a received IPv4 datagram carrying IGMP.
pub fn parse(datagram: &[u8]) -> Result<Message, DropReason> {
    let ip = ipv4::Packet::new_checked(datagram).map_err(|e| match e {
        wire::Error::Truncated => DropReason::Ipv4Truncated,
        _ => DropReason::Ipv4Malformed,
    })?;
    let ip_repr = ipv4::Repr::parse(&ip).map_err(|e| match e {
        wire::Error::Checksum => DropReason::Ipv4Checksum,
        wire::Error::Unsupported => DropReason::Fragment,
        _ => DropReason::Ipv4Malformed,
    })?;
    if ip_repr.protocol != ipv4::PROTO_IGMP {
        return Err(DropReason::NotIgmp);
    }
    let packet = igmp::Packet::new_checked(ip.payload()).map_err(|e| match e {
        wire::Error::Truncated => DropReason::IgmpTruncated,
        _ => DropReason::IgmpMalformed,
    })?;
    let repr = igmp::Repr::parse(&packet).map_err(|e| match e {
        wire::Error::Checksum => DropReason::IgmpChecksum,
        _ => DropReason::UnknownType,
    })?;
    Ok(Message {
        src: ip_repr.src,
        dst: ip_repr.dst,
        ttl: ip_repr.ttl,
        router_alert: ip_repr.router_alert,
        igmp: repr,
    })
}

/// An interface address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl Subnet {
    /// Whether `other` is on this subnet.
    pub fn contains(&self, other: Ipv4Addr) -> bool {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len.min(32)))
            .unwrap_or(0);
        u32::from(self.addr) & mask == u32::from(other) & mask
    }
}

/// Checks TTL, Router Alert (v3), source, destination and group of a message received on an
/// interface with the given subnet.
pub(super) fn check(msg: &Message, subnet: Subnet) -> Result<(), DropReason> {
    if msg.ttl != 1 {
        return Err(DropReason::TtlNotOne);
    }
    if msg.is_v3() && !msg.router_alert {
        return Err(DropReason::NoRouterAlert);
    }
    let v3_report = matches!(msg.igmp, igmp::Repr::ReportV3 { .. });
    let unspecified_ok = v3_report && msg.src.is_unspecified();
    if !unspecified_ok && (msg.src.is_unspecified() || !subnet.contains(msg.src)) {
        return Err(DropReason::BadSource);
    }
    let addressed = match &msg.igmp {
        igmp::Repr::Query { group, .. } => Addressed::Query(*group),
        igmp::Repr::ReportV1 { group } | igmp::Repr::ReportV2 { group } => {
            Addressed::Report(*group)
        }
        igmp::Repr::Leave { group } => Addressed::Leave(*group),
        igmp::Repr::ReportV3 { .. } => Addressed::SourceReport,
    };
    addressed.check(
        msg.dst,
        &WELL_KNOWN,
        DropReason::BadGroup,
        DropReason::BadDestination,
    )
}

/// IGMP's link-scope groups.
const WELL_KNOWN: WellKnown<Ipv4Addr> = WellKnown {
    all_systems: igmp::ALL_SYSTEMS,
    all_routers: igmp::ALL_ROUTERS,
    all_v3_routers: igmp::ALL_V3_ROUTERS,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_membership() {
        let s = Subnet {
            addr: Ipv4Addr::new(10, 1, 2, 1),
            prefix_len: 24,
        };
        assert!(s.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!s.contains(Ipv4Addr::new(10, 1, 3, 1)));
        let all = Subnet {
            addr: Ipv4Addr::new(10, 1, 2, 1),
            prefix_len: 0,
        };
        assert!(all.contains(Ipv4Addr::new(192, 0, 2, 1)));
        let host = Subnet {
            addr: Ipv4Addr::new(10, 1, 2, 1),
            prefix_len: 32,
        };
        assert!(!host.contains(Ipv4Addr::new(10, 1, 2, 2)));
    }
}
