//! Follows the router's network interfaces through rtnetlink: the links present at start,
//! then every link that appears, changes (up/down, MAC, MTU, a new ifindex under the same
//! name) or disappears, and the changes of their IPv6 addresses (MLD needs a link-local one,
//! which may come after the link, e.g. with `addrgenmode none` or duplicate address detection).
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use rtnetlink::{
    packet_core::NetlinkPayload,
    packet_route::{
        address::AddressMessage,
        link::{LinkAttribute, LinkFlags, LinkMessage},
        AddressFamily, RouteNetlinkMessage,
    },
    MulticastGroup,
};

/// What the daemon needs to know of one link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface name.
    pub name: String,
    /// Interface index in the router's namespace.
    pub ifindex: u32,
    /// Administratively up and with a carrier.
    pub up: bool,
    /// Hardware address (all zero when the link has none).
    pub mac: [u8; 6],
    /// MTU.
    pub mtu: u32,
}

/// A change of the router's links.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// A link exists (at start) or appeared or changed.
    Changed(Link),
    /// A link disappeared.
    Removed {
        /// Its name.
        name: String,
        /// Its ifindex.
        ifindex: u32,
    },
    /// An IPv4 address of the link with this ifindex was added or removed.
    Ipv4Addresses(u32),
    /// An IPv6 address of the link with this ifindex was added or removed.
    Ipv6Addresses(u32),
}

/// The links present now (asked over `netlink`), then their changes as they happen.
pub async fn watch(
    netlink: &rtnetlink::Handle,
) -> std::io::Result<(Vec<Link>, impl Stream<Item = LinkEvent>)> {
    let (connection, _, messages) = rtnetlink::new_multicast_connection(&[
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
    ])?;
    tokio::spawn(connection);
    let present = netlink
        .link()
        .get()
        .execute()
        .try_filter_map(|m| async move { Ok(link_of(&m)) })
        .try_collect::<Vec<_>>()
        .await
        .map_err(std::io::Error::other)?;
    let events = messages.filter_map(|(message, _)| async move {
        match message.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(m)) => {
                link_of(&m).map(LinkEvent::Changed)
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::DelLink(m)) => {
                link_of(&m).map(|l| LinkEvent::Removed {
                    name: l.name,
                    ifindex: l.ifindex,
                })
            }
            NetlinkPayload::InnerMessage(
                RouteNetlinkMessage::NewAddress(m) | RouteNetlinkMessage::DelAddress(m),
            ) => address_event(&m),
            _ => None,
        }
    });
    Ok((present, events))
}

/// The change an address message tells of, by its family.
fn address_event(message: &AddressMessage) -> Option<LinkEvent> {
    let ifindex = message.header.index;
    match message.header.family {
        AddressFamily::Inet => Some(LinkEvent::Ipv4Addresses(ifindex)),
        AddressFamily::Inet6 => Some(LinkEvent::Ipv6Addresses(ifindex)),
        _ => None,
    }
}

fn link_of(message: &LinkMessage) -> Option<Link> {
    let mut name = None;
    let mut mac = [0u8; 6];
    let mut mtu = 0;
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(a) if a.len() == 6 => mac.copy_from_slice(a),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    let flags = message.header.flags;
    Some(Link {
        name: name?,
        ifindex: message.header.index,
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::LowerUp),
        mac,
        mtu,
    })
}
