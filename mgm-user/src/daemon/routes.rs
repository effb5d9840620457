//! Follows the kernel's IPv4 and IPv6 unicast routes (main table) through rtnetlink, one watch per
//! family: the RIB that RPF lookups use (spec §6.6, §10: Linux has no separate multicast RIB), and
//! its changes, which invalidate the MFEs whose sources they cover.
//!
//! A multipath route (ECMP: RTA_MULTIPATH, no RTA_OIF) has one RPF interface here, chosen
//! deterministically: its first next hop (in the kernel's order) that is not marked dead, with
//! that next hop's gateway. Multicast from sources behind such a route is expected on that
//! interface; copies arriving on the other next hops' interfaces are wrong-interface drops.
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use rtnetlink::{
    packet_core::NetlinkPayload,
    packet_route::{
        route::{
            RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteNextHop,
            RouteNextHopFlags, RouteType,
        },
        RouteNetlinkMessage,
    },
    MulticastGroup, RouteMessageBuilder,
};
use std::net::{Ipv4Addr, Ipv6Addr};

/// One unicast route of family `A`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route<A = Ipv4Addr> {
    /// Destination network.
    pub network: A,
    /// Prefix length.
    pub prefix_len: u8,
    /// Outgoing interface (towards the sources it covers).
    pub oif: u32,
    /// Gateway, unspecified when the network is directly connected.
    pub gateway: A,
}

/// A change of the RIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteEvent<A = Ipv4Addr> {
    /// A route appeared or changed.
    Added(Route<A>),
    /// A route disappeared.
    Removed(Route<A>),
}

/// An address family of the kernel's routes.
pub trait RouteFamily: Copy + Send + 'static {
    /// Its rtnetlink multicast group.
    const GROUP: MulticastGroup;
    /// Its unspecified address (a default route's destination, a connected route's gateway).
    const UNSPECIFIED: Self;
    /// The address of this family, if `address` is one.
    fn of(address: &RouteAddress) -> Option<Self>;
    /// A dump request of the family's routes.
    fn dump() -> RouteMessage;
}

impl RouteFamily for Ipv4Addr {
    const GROUP: MulticastGroup = MulticastGroup::Ipv4Route;
    const UNSPECIFIED: Self = Ipv4Addr::UNSPECIFIED;
    fn of(address: &RouteAddress) -> Option<Self> {
        match address {
            RouteAddress::Inet(a) => Some(*a),
            _ => None,
        }
    }
    fn dump() -> RouteMessage {
        RouteMessageBuilder::<Ipv4Addr>::new().build()
    }
}

impl RouteFamily for Ipv6Addr {
    const GROUP: MulticastGroup = MulticastGroup::Ipv6Route;
    const UNSPECIFIED: Self = Ipv6Addr::UNSPECIFIED;
    fn of(address: &RouteAddress) -> Option<Self> {
        match address {
            RouteAddress::Inet6(a) => Some(*a),
            _ => None,
        }
    }
    fn dump() -> RouteMessage {
        RouteMessageBuilder::<Ipv6Addr>::new().build()
    }
}

/// The routes of family `A` present now (asked over `netlink`), then their changes as they
/// happen.
pub async fn watch<A: RouteFamily>(
    netlink: &rtnetlink::Handle,
) -> std::io::Result<(Vec<Route<A>>, impl Stream<Item = RouteEvent<A>>)> {
    let (connection, _, messages) = rtnetlink::new_multicast_connection(&[A::GROUP])?;
    tokio::spawn(connection);
    let present = netlink
        .route()
        .get(A::dump())
        .execute()
        .try_filter_map(|m| async move { Ok(route_of(&m)) })
        .try_collect::<Vec<_>>()
        .await
        .map_err(std::io::Error::other)?;
    let events = messages.filter_map(|(message, _)| async move {
        match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(m)) => {
                route_of(&m).map(RouteEvent::Added)
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelRoute(m)) => {
                route_of(&m).map(RouteEvent::Removed)
            }
            _ => None,
        }
    });
    Ok((present, events))
}

/// The route of a message, if it is a unicast route of family `A` of the main table with an
/// interface (its own, or the chosen next hop's of a multipath route).
fn route_of<A: RouteFamily>(message: &RouteMessage) -> Option<Route<A>> {
    let header = &message.header;
    if header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut network = A::UNSPECIFIED;
    let mut gateway = A::UNSPECIFIED;
    let mut oif = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(a) => network = A::of(a)?,
            RouteAttribute::Gateway(a) => gateway = A::of(a)?,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::MultiPath(hops) if oif.is_none() => {
                if let Some((i, via)) = rpf_next_hop(hops) {
                    oif = Some(i);
                    gateway = via;
                }
            }
            RouteAttribute::Table(t) => table = *t,
            _ => {}
        }
    }
    (table == u32::from(RouteHeader::RT_TABLE_MAIN)).then_some(())?;
    Some(Route {
        network,
        prefix_len: header.destination_prefix_length,
        oif: oif?,
        gateway,
    })
}

/// The next hop of a multipath route that RPF uses: the first one not marked dead, as
/// (interface, gateway).
fn rpf_next_hop<A: RouteFamily>(hops: &[RouteNextHop]) -> Option<(u32, A)> {
    let hop = hops
        .iter()
        .find(|h| !h.flags.contains(RouteNextHopFlags::Dead) && h.interface_index != 0)?;
    let gateway = hop
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Gateway(g) => A::of(g),
            _ => None,
        })
        .unwrap_or(A::UNSPECIFIED);
    Some((hop.interface_index, gateway))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::AddressFamily;

    fn hop(ifindex: u32, gateway: [u8; 4], flags: RouteNextHopFlags) -> RouteNextHop {
        let mut hop = RouteNextHop::default();
        hop.flags = flags;
        hop.interface_index = ifindex;
        hop.attributes = vec![RouteAttribute::Gateway(RouteAddress::Inet(gateway.into()))];
        hop
    }

    fn default_route(attributes: Vec<RouteAttribute>) -> RouteMessage {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.kind = RouteType::Unicast;
        m.header.table = RouteHeader::RT_TABLE_MAIN;
        m.header.destination_prefix_length = 0;
        m.attributes = attributes;
        m
    }

    #[test]
    fn a_multipath_default_route_uses_its_first_live_next_hop() {
        let ecmp = default_route(vec![
            RouteAttribute::Table(254),
            RouteAttribute::MultiPath(vec![
                hop(7, [10, 1, 0, 1], RouteNextHopFlags::Dead),
                hop(8, [10, 2, 0, 1], RouteNextHopFlags::empty()),
                hop(9, [10, 3, 0, 1], RouteNextHopFlags::empty()),
            ]),
        ]);
        assert_eq!(
            route_of::<Ipv4Addr>(&ecmp),
            Some(Route {
                network: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                oif: 8,
                gateway: Ipv4Addr::new(10, 2, 0, 1),
            })
        );
        let all_dead = default_route(vec![RouteAttribute::MultiPath(vec![hop(
            7,
            [10, 1, 0, 1],
            RouteNextHopFlags::Dead,
        )])]);
        assert_eq!(route_of::<Ipv4Addr>(&all_dead), None);
    }

    #[test]
    fn ipv6_routes_are_read_by_the_ipv6_watch_only() {
        let network: Ipv6Addr = "2001:db8:5::".parse().unwrap();
        let mut connected = default_route(vec![
            RouteAttribute::Destination(RouteAddress::Inet6(network)),
            RouteAttribute::Oif(4),
        ]);
        connected.header.address_family = AddressFamily::Inet6;
        connected.header.destination_prefix_length = 64;
        assert_eq!(
            route_of::<Ipv6Addr>(&connected),
            Some(Route {
                network,
                prefix_len: 64,
                oif: 4,
                gateway: Ipv6Addr::UNSPECIFIED,
            })
        );
        assert_eq!(route_of::<Ipv4Addr>(&connected), None);
    }

    #[test]
    fn a_single_path_route_keeps_its_own_interface() {
        let single = default_route(vec![
            RouteAttribute::Gateway(RouteAddress::Inet(Ipv4Addr::new(10, 0, 0, 254))),
            RouteAttribute::Oif(3),
        ]);
        assert_eq!(
            route_of::<Ipv4Addr>(&single).map(|r| (r.oif, r.gateway)),
            Some((3, Ipv4Addr::new(10, 0, 0, 254)))
        );
    }
}
