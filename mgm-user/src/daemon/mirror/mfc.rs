//! The kernel's multicast forwarding caches as rtnetlink reports them (families
//! RTNL_FAMILY_IPMR and RTNL_FAMILY_IP6MR): decoding of the datagrams the mirror's socket
//! reads, without I/O, for one address family at a time ([`MfcFamily`]).
//!
//! An entry is an RTM_NEWROUTE/RTM_DELROUTE message: RTA_SRC/RTA_DST (source unspecified for a
//! (\*,G)), RTA_TABLE, RTA_IIF and RTA_MULTIPATH (one next hop per outgoing interface, its
//! `rtnh_hops` being the TTL or hop limit threshold). Unresolved entries carry
//! RTNH_F_UNRESOLVED and no RTA_IIF. RTM_NEWNETCONF/RTM_DELNETCONF of the family say that an
//! interface's multicast forwarding changed (MRT_DEL_VIF and MRT6_DEL_MIF remove it from every
//! entry without a route message): the table must be dumped again.
use crate::mgm::{Address, Sg};
use rtnetlink::{
    packet_core::{NetlinkBuffer, Parseable as _, NLMSG_DONE, NLMSG_ERROR},
    packet_route::route::{RouteAddress, RouteAttribute, RouteFlags, RouteMessage},
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// `rtm_family` of the IPv4 multicast routing messages.
pub const RTNL_FAMILY_IPMR: u8 = 128;
/// `rtm_family` of the IPv6 multicast routing messages.
pub const RTNL_FAMILY_IP6MR: u8 = 129;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;
const RTM_NEWNETCONF: u16 = 80;
const RTM_DELNETCONF: u16 = 81;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;

/// An address family of the kernel's multicast routing, as rtnetlink names it.
pub trait MfcFamily: Address {
    /// `rtm_family` of its multicast route messages.
    const RTNL_FAMILY: u8;
    /// The family byte of its netconf messages.
    const NETCONF_FAMILY: u8;
    /// An address of the family from a route attribute.
    fn of(address: &RouteAddress) -> Option<Self>;
}

impl MfcFamily for Ipv4Addr {
    const RTNL_FAMILY: u8 = RTNL_FAMILY_IPMR;
    const NETCONF_FAMILY: u8 = AF_INET;

    fn of(address: &RouteAddress) -> Option<Self> {
        match address {
            RouteAddress::Inet(a) => Some(*a),
            RouteAddress::Other(bytes) => <[u8; 4]>::try_from(bytes.as_slice())
                .ok()
                .map(Ipv4Addr::from),
            _ => None,
        }
    }
}

impl MfcFamily for Ipv6Addr {
    const RTNL_FAMILY: u8 = RTNL_FAMILY_IP6MR;
    const NETCONF_FAMILY: u8 = AF_INET6;

    fn of(address: &RouteAddress) -> Option<Self> {
        match address {
            RouteAddress::Inet6(a) => Some(*a),
            RouteAddress::Other(bytes) => <[u8; 16]>::try_from(bytes.as_slice())
                .ok()
                .map(Ipv6Addr::from),
            _ => None,
        }
    }
}

/// One entry of the kernel's MFC of family `A`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MfcEntry<A: Address = Ipv4Addr> {
    /// Source and group; source unspecified for a (\*,G) entry.
    pub sg: Sg<A>,
    /// The multicast routing table.
    pub table: u32,
    /// Incoming ifindex (none while unresolved, or in a deletion's message).
    pub iif: Option<u32>,
    /// Outgoing ifindexes with their TTL thresholds, in the kernel's order.
    pub oifs: Vec<(u32, u8)>,
    /// Waiting for its owner to resolve it (packets are queued in the kernel).
    pub unresolved: bool,
}

/// What one message means for the mirror of family `A`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MfcEvent<A: Address = Ipv4Addr> {
    /// An entry was added or changed (or is one of a dump's).
    Added(MfcEntry<A>),
    /// An entry was removed.
    Removed(Sg<A>, u32),
    /// An interface's multicast forwarding changed: the entries may have lost or regained it.
    Resync,
    /// The end of a dump.
    DumpDone,
    /// The kernel refused a request (its negative errno).
    Refused(i32),
}

/// A datagram that is not what rtnetlink sends.
#[derive(Debug, thiserror::Error)]
#[error("malformed rtnetlink message at byte {offset}: {message}")]
pub struct MalformedMessage {
    /// Where in the datagram.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

/// Decodes one datagram (several messages may share it) for family `A`. Messages of other
/// kinds, and route and netconf messages of other families, are skipped; an error message
/// (answering a request) ends a dump.
pub fn decode_datagram<A: MfcFamily>(bytes: &[u8]) -> Result<Vec<MfcEvent<A>>, MalformedMessage> {
    let mut events = Vec::new();
    let mut offset = 0;
    while offset < bytes.len() {
        let malformed = |message: String| MalformedMessage { offset, message };
        let buffer =
            NetlinkBuffer::new_checked(&bytes[offset..]).map_err(|e| malformed(e.to_string()))?;
        let length = buffer.length() as usize;
        match buffer.message_type() {
            RTM_NEWROUTE | RTM_DELROUTE => {
                let message =
                    RouteMessage::parse(buffer.payload()).map_err(|e| malformed(e.to_string()))?;
                if let Some(entry) = entry_of(&message) {
                    events.push(if buffer.message_type() == RTM_NEWROUTE {
                        MfcEvent::Added(entry)
                    } else {
                        MfcEvent::Removed(entry.sg, entry.table)
                    });
                }
            }
            RTM_NEWNETCONF | RTM_DELNETCONF
                if buffer.payload().first() == Some(&A::NETCONF_FAMILY) =>
            {
                events.push(MfcEvent::Resync);
            }
            NLMSG_DONE => events.push(MfcEvent::DumpDone),
            NLMSG_ERROR => {
                let code = buffer
                    .payload()
                    .get(..4)
                    .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                    .ok_or_else(|| malformed("short error message".into()))?;
                events.push(if code == 0 {
                    MfcEvent::DumpDone
                } else {
                    MfcEvent::Refused(code)
                });
            }
            _ => {}
        }
        // Messages are aligned to 4 bytes.
        offset += (length + 3) & !3;
    }
    Ok(events)
}

/// The MFC entry of a route message, if it is one of family `A`.
pub fn entry_of<A: MfcFamily>(message: &RouteMessage) -> Option<MfcEntry<A>> {
    if u8::from(message.header.address_family) != A::RTNL_FAMILY {
        return None;
    }
    let mut source = None;
    let mut group = None;
    let mut table = u32::from(message.header.table);
    let mut iif = None;
    let mut oifs = Vec::new();
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Source(address) => source = A::of(address),
            RouteAttribute::Destination(address) => group = A::of(address),
            RouteAttribute::Table(id) => table = *id,
            RouteAttribute::Iif(index) => iif = Some(*index),
            RouteAttribute::MultiPath(hops) => {
                oifs = hops.iter().map(|h| (h.interface_index, h.hops)).collect();
            }
            _ => {}
        }
    }
    Some(MfcEntry {
        sg: Sg::new(source.unwrap_or(A::UNSPECIFIED), group?),
        table,
        iif,
        oifs,
        unresolved: message
            .header
            .flags
            .contains(RouteFlags::from_bits_retain(RTNH_F_UNRESOLVED)),
    })
}

/// RTNH_F_UNRESOLVED in `rtm_flags`.
const RTNH_F_UNRESOLVED: u32 = 0x20;

#[cfg(test)]
mod tests {
    use super::*;

    /// An RTM_NEWROUTE (or DELROUTE) of the IPMR family as the kernel 6.18 sends it for
    /// (10.0.0.1, 239.1.1.1) in table 253, iif 2, oifs 3 (TTL 1) and 4 (TTL 5).
    fn mfc_message(kind: u16, flags: u32, with_iif: bool) -> Vec<u8> {
        mfc_message_of(
            RTNL_FAMILY_IPMR,
            &[10, 0, 0, 1],
            &[239, 1, 1, 1],
            kind,
            flags,
            with_iif,
        )
    }

    /// The same message of family `family` for (`source`, `group`) (their bytes).
    fn mfc_message_of(
        family: u8,
        source: &[u8],
        group: &[u8],
        kind: u16,
        flags: u32,
        with_iif: bool,
    ) -> Vec<u8> {
        let mut attrs = Vec::new();
        let mut attr = |kind: u16, value: &[u8]| {
            attrs.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
            attrs.extend_from_slice(&kind.to_ne_bytes());
            attrs.extend_from_slice(value);
            while attrs.len() % 4 != 0 {
                attrs.push(0);
            }
        };
        attr(15, &253u32.to_ne_bytes());
        attr(2, source);
        attr(1, group);
        if with_iif {
            attr(3, &2u32.to_ne_bytes());
            let mut hops = Vec::new();
            for (ifindex, ttl) in [(3u32, 1u8), (4, 5)] {
                hops.extend_from_slice(&8u16.to_ne_bytes());
                hops.extend_from_slice(&[0, ttl]);
                hops.extend_from_slice(&ifindex.to_ne_bytes());
            }
            attr(9, &hops);
        }
        attr(17, &[0; 24]);
        let bits = (source.len() * 8) as u8;
        let mut header = vec![family, bits, bits, 0, 253, 17, 0, 5];
        header.extend_from_slice(&flags.to_ne_bytes());
        let payload = [header, attrs].concat();
        let mut message = Vec::new();
        message.extend_from_slice(&((16 + payload.len()) as u32).to_ne_bytes());
        message.extend_from_slice(&kind.to_ne_bytes());
        message.extend_from_slice(&[0; 10]);
        message.extend_from_slice(&payload);
        message
    }

    fn sg() -> Sg {
        Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(239, 1, 1, 1))
    }

    #[test]
    fn a_resolved_entry_decodes_with_its_thresholds() {
        let events = decode_datagram(&mfc_message(RTM_NEWROUTE, 0, true)).expect("valid");
        assert_eq!(
            events,
            vec![MfcEvent::Added(MfcEntry {
                sg: sg(),
                table: 253,
                iif: Some(2),
                oifs: vec![(3, 1), (4, 5)],
                unresolved: false,
            })]
        );
    }

    #[test]
    fn unresolved_entries_deletions_netconf_and_done_share_a_datagram() {
        let mut datagram = mfc_message(RTM_NEWROUTE, RTNH_F_UNRESOLVED, false);
        datagram.extend(mfc_message(RTM_DELROUTE, 0, false));
        // RTM_NEWNETCONF for AF_INET (family byte, padding, one attribute).
        datagram.extend_from_slice(&28u32.to_ne_bytes());
        datagram.extend_from_slice(&RTM_NEWNETCONF.to_ne_bytes());
        datagram.extend_from_slice(&[0; 10]);
        datagram.extend_from_slice(&[AF_INET, 0, 0, 0, 8, 0, 1, 0, 2, 0, 0, 0]);
        datagram.extend_from_slice(&20u32.to_ne_bytes());
        datagram.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        datagram.extend_from_slice(&[0; 14]);
        let events = decode_datagram(&datagram).expect("valid");
        assert!(matches!(
            &events[0],
            MfcEvent::Added(MfcEntry {
                unresolved: true,
                iif: None,
                ..
            })
        ));
        assert_eq!(
            events[1..],
            [
                MfcEvent::Removed(sg(), 253),
                MfcEvent::Resync,
                MfcEvent::DumpDone
            ]
        );
    }

    #[test]
    fn other_families_are_skipped_and_garbage_is_refused() {
        let mut unicast = mfc_message(RTM_NEWROUTE, 0, true);
        unicast[16] = AF_INET;
        assert_eq!(
            decode_datagram::<Ipv4Addr>(&unicast).expect("valid"),
            vec![]
        );
        let mut truncated = mfc_message(RTM_NEWROUTE, 0, true);
        truncated.truncate(30);
        let error = decode_datagram::<Ipv4Addr>(&truncated).expect_err("truncated");
        assert_eq!(error.offset, 0);
        assert!(decode_datagram::<Ipv4Addr>(&[1, 2, 3]).is_err());
    }

    #[test]
    fn ipv6_entries_and_netconf_decode_for_ipv6_only() {
        let (source, group): (Ipv6Addr, Ipv6Addr) =
            ("2001:db8::1".parse().unwrap(), "ff0e::1".parse().unwrap());
        let mut datagram = mfc_message_of(
            RTNL_FAMILY_IP6MR,
            &source.octets(),
            &group.octets(),
            RTM_NEWROUTE,
            0,
            true,
        );
        datagram.extend(mfc_message(RTM_NEWROUTE, 0, true));
        // RTM_NEWNETCONF for AF_INET6.
        datagram.extend_from_slice(&28u32.to_ne_bytes());
        datagram.extend_from_slice(&RTM_NEWNETCONF.to_ne_bytes());
        datagram.extend_from_slice(&[0; 10]);
        datagram.extend_from_slice(&[AF_INET6, 0, 0, 0, 8, 0, 1, 0, 2, 0, 0, 0]);
        assert_eq!(
            decode_datagram::<Ipv6Addr>(&datagram).expect("valid"),
            vec![
                MfcEvent::Added(MfcEntry {
                    sg: Sg::new(source, group),
                    table: 253,
                    iif: Some(2),
                    oifs: vec![(3, 1), (4, 5)],
                    unresolved: false,
                }),
                MfcEvent::Resync
            ]
        );
        assert_eq!(
            decode_datagram::<Ipv4Addr>(&datagram).expect("valid"),
            vec![MfcEvent::Added(MfcEntry {
                sg: sg(),
                table: 253,
                iif: Some(2),
                oifs: vec![(3, 1), (4, 5)],
                unresolved: false,
            })]
        );
    }
}
