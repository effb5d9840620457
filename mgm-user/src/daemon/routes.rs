//! Follows the kernel's IPv4 unicast routes (main table) through rtnetlink: the RIB that RPF
//! lookups use (spec §6.6, §10: Linux has no separate multicast RIB), and its changes, which
//! invalidate the MFEs whose sources they cover.
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use rtnetlink::{
    packet_core::NetlinkPayload,
    packet_route::{
        route::{RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType},
        RouteNetlinkMessage,
    },
    MulticastGroup, RouteMessageBuilder,
};
use std::net::Ipv4Addr;

/// One unicast route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination network.
    pub network: Ipv4Addr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Outgoing interface (towards the sources it covers).
    pub oif: u32,
    /// Gateway, 0.0.0.0 when the network is directly connected.
    pub gateway: Ipv4Addr,
}

/// A change of the RIB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteEvent {
    /// A route appeared or changed.
    Added(Route),
    /// A route disappeared.
    Removed(Route),
}

/// The routes present now, then their changes as they happen.
pub async fn watch() -> std::io::Result<(Vec<Route>, impl Stream<Item = RouteEvent>)> {
    let (connection, _, messages) =
        rtnetlink::new_multicast_connection(&[MulticastGroup::Ipv4Route])?;
    tokio::spawn(connection);
    let (connection, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(connection);
    let present = handle
        .route()
        .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
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

/// The route of a message, if it is an IPv4 unicast route of the main table with an interface.
fn route_of(message: &RouteMessage) -> Option<Route> {
    let header = &message.header;
    if header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut network = Ipv4Addr::UNSPECIFIED;
    let mut gateway = Ipv4Addr::UNSPECIFIED;
    let mut oif = None;
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Destination(RouteAddress::Inet(a)) => network = *a,
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => gateway = *a,
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(_) | RouteAttribute::Gateway(_) => return None,
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
