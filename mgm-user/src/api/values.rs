//! The values API messages carry: interfaces, (S,G) pairs, masks, routes and creation-alert
//! entries, with addresses as strings of either family (`"10.0.0.1"`, `"2001:db8::1"`), and
//! the [`ApiFamily`] a request names.
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr};

/// The address family of a request: the MGM it reaches (`"ipv4"` or `"ipv6"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiFamily {
    /// The IPv4 MGM (the default).
    #[default]
    Ipv4,
    /// The IPv6 MGM.
    Ipv6,
}

impl ApiFamily {
    /// The family of `addr`.
    pub fn of(addr: IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => ApiFamily::Ipv4,
            IpAddr::V6(_) => ApiFamily::Ipv6,
        }
    }

    /// `"ipv4"` or `"ipv6"`.
    pub fn name(self) -> &'static str {
        match self {
            ApiFamily::Ipv4 => "ipv4",
            ApiFamily::Ipv6 => "ipv6",
        }
    }
}

/// An interface as the MGM names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIfId {
    /// Interface index.
    pub ifindex: u32,
    /// Point-to-multipoint next hop, else unspecified: `0.0.0.0` (the default) or `::`.
    #[serde(default = "unspecified")]
    pub next_hop: IpAddr,
}

impl ApiIfId {
    /// A broadcast or point-to-point interface (next hop `0.0.0.0`).
    pub fn index(ifindex: u32) -> Self {
        Self {
            ifindex,
            next_hop: unspecified(),
        }
    }

    /// An interface with next hop `next_hop` (of either family).
    pub fn new(ifindex: u32, next_hop: impl Into<IpAddr>) -> Self {
        Self {
            ifindex,
            next_hop: next_hop.into(),
        }
    }
}

fn unspecified() -> IpAddr {
    Ipv4Addr::UNSPECIFIED.into()
}

/// A (source, group) pair; the unspecified address (`0.0.0.0`, `::`) is the wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSg {
    /// Source, unspecified for any.
    pub source: IpAddr,
    /// Group, unspecified for all.
    pub group: IpAddr,
}

impl ApiSg {
    /// The pair (`source`, `group`).
    pub fn new(source: impl Into<IpAddr>, group: impl Into<IpAddr>) -> Self {
        Self {
            source: source.into(),
            group: group.into(),
        }
    }
}

/// One interface entry of a creation alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIfEntry {
    /// The candidate outgoing interface.
    pub ifid: ApiIfId,
    /// IGMP (MLD in the IPv6 MGM) owns or co-owns it.
    pub igmp: bool,
    /// Leave true to forward there, set false to veto.
    pub enabled: bool,
}

/// `dwSourceMask` / `dwGroupMask` of a membership call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMasks {
    /// Source mask.
    pub source_mask: IpAddr,
    /// Group mask.
    pub group_mask: IpAddr,
}

/// The route of an RPF decision (`pbRoute`; `dwRouteProtocol/Network/Mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRoute {
    /// `PROTO_IP_*` id of the route's origin.
    pub protocol: u32,
    /// Destination network.
    pub network: IpAddr,
    /// Destination mask.
    pub mask: IpAddr,
}
