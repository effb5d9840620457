//! Input hardening: turning received bytes into a [`Message`] and the receive checks of RFC
//! 3810 §5.1.14 and §5.2.13 (link-local source, hop limit 1, Router Alert), with a
//! [`DropReason`] for everything else.
use super::counters::{DropReason, MessageKind};
use crate::igmp::counters::QueryKind;
use crate::igmp::destination::{Addressed, WellKnown};
use crate::wire::{self, ipv6, mld};
use std::net::Ipv6Addr;

/// An MLD message with the IPv6 header facts that matter for validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// IPv6 source address.
    pub src: Ipv6Addr,
    /// IPv6 destination address.
    pub dst: Ipv6Addr,
    /// IPv6 hop limit.
    pub hop_limit: u8,
    /// Value of the Router Alert option of the Hop-by-Hop header, if any.
    pub router_alert: Option<u16>,
    /// The MLD message.
    pub mld: mld::Repr,
}

impl Message {
    /// The kind of this message, for counters.
    pub fn kind(&self) -> MessageKind {
        match &self.mld {
            mld::Repr::Query { group, v2, .. } => {
                let sources = v2.as_ref().map_or(&[][..], |q| &q.sources);
                MessageKind::of_query(*group, sources)
            }
            mld::Repr::ReportV1 { .. } => MessageKind::ReportV1,
            mld::Repr::Done { .. } => MessageKind::Done,
            mld::Repr::ReportV2 { .. } => MessageKind::ReportV2,
        }
    }
}

/// Parses a received IPv6 packet carrying MLD (behind an optional Hop-by-Hop header).
pub fn parse(packet: &[u8]) -> Result<Message, DropReason> {
    let ip = ipv6::Packet::new_checked(packet).map_err(|e| match e {
        wire::Error::Truncated => DropReason::Ipv6Truncated,
        _ => DropReason::Ipv6Malformed,
    })?;
    let ip_repr = ipv6::Repr::parse(&ip).map_err(|e| match e {
        wire::Error::Unsupported => DropReason::UnknownOption,
        _ => DropReason::Ipv6Malformed,
    })?;
    if ip_repr.next_header != ipv6::NEXT_ICMPV6 {
        return Err(DropReason::NotIcmpv6);
    }
    parse_icmpv6(&ip_repr, ip.upper_layer().1)
}

/// Parses an ICMPv6 message received with the IPv6 header facts in `ip` (what a raw ICMPv6
/// socket reports as ancillary data: addresses, hop limit, Hop-by-Hop Router Alert).
pub fn parse_icmpv6(ip: &ipv6::Repr, message: &[u8]) -> Result<Message, DropReason> {
    let packet = mld::Packet::new_checked(message).map_err(|e| match e {
        wire::Error::Truncated => DropReason::MldTruncated,
        _ => DropReason::MldMalformed,
    })?;
    let repr = mld::Repr::parse(&packet, ip.src, ip.dst).map_err(|e| match e {
        wire::Error::Checksum => DropReason::MldChecksum,
        _ => DropReason::UnknownType,
    })?;
    Ok(Message {
        src: ip.src,
        dst: ip.dst,
        hop_limit: ip.hop_limit,
        router_alert: ip.router_alert,
        mld: repr,
    })
}

/// Whether `addr` is a link-local unicast address (fe80::/10).
pub(super) fn is_link_local(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

/// Checks hop limit, Router Alert, source, destination and multicast address of a message.
/// Every MLD message, reports included, must come from a link-local address: a report from
/// `::` (a host before Duplicate Address Detection) is dropped as RFC 3810 §5.2.13 requires.
pub(super) fn check(msg: &Message) -> Result<(), DropReason> {
    if msg.hop_limit != 1 {
        return Err(DropReason::HopLimitNotOne);
    }
    if msg.router_alert != Some(ipv6::ROUTER_ALERT_MLD) {
        return Err(DropReason::NoRouterAlert);
    }
    if !is_link_local(msg.src) {
        return Err(DropReason::BadSource);
    }
    let addressed = match &msg.mld {
        mld::Repr::Query { group, .. } => Addressed::Query(*group),
        mld::Repr::ReportV1 { group } => Addressed::Report(*group),
        mld::Repr::Done { group } => Addressed::Leave(*group),
        mld::Repr::ReportV2 { .. } => Addressed::SourceReport,
    };
    addressed.check(
        msg.dst,
        &WELL_KNOWN,
        DropReason::BadGroup,
        DropReason::BadDestination,
    )
}

/// MLD's link-scope groups.
const WELL_KNOWN: WellKnown<Ipv6Addr> = WellKnown {
    all_systems: mld::ALL_NODES,
    all_routers: mld::ALL_ROUTERS,
    all_v3_routers: mld::ALL_MLDV2_ROUTERS,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packet_and_its_icmpv6_part_parse_alike() {
        let repr = mld::Repr::ReportV1 {
            group: "ff0e::1".parse().unwrap(),
        };
        let src: Ipv6Addr = "fe80::7".parse().unwrap();
        let dst: Ipv6Addr = "ff0e::1".parse().unwrap();
        let packet = repr.to_packet(src, dst).unwrap();
        let whole = parse(&packet).unwrap();
        let ip = ipv6::Packet::new_checked(&packet[..]).unwrap();
        let ip_repr = ipv6::Repr::parse(&ip).unwrap();
        assert_eq!(parse_icmpv6(&ip_repr, ip.upper_layer().1), Ok(whole));
        let moved = ipv6::Repr {
            src: "fe80::8".parse().unwrap(),
            ..ip_repr
        };
        assert_eq!(
            parse_icmpv6(&moved, ip.upper_layer().1),
            Err(DropReason::MldChecksum)
        );
    }

    #[test]
    fn link_local_is_fe80_slash_10() {
        for (addr, want) in [
            ("fe80::1", true),
            ("febf:ffff::1", true),
            ("fec0::1", false),
            ("::", false),
            ("2001:db8::1", false),
            ("ff02::1", false),
        ] {
            assert_eq!(is_link_local(addr.parse().unwrap()), want, "{addr}");
        }
    }
}
