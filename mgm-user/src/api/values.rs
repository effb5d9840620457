//! The values API messages carry: interfaces, (S,G) pairs, masks, routes and creation-alert
//! entries, with addresses as dotted-quad strings.
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// An interface as the MGM names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIfId {
    /// Interface index.
    pub ifindex: u32,
    /// Point-to-multipoint next hop, else 0.0.0.0.
    #[serde(default = "unspecified")]
    pub next_hop: Ipv4Addr,
}

fn unspecified() -> Ipv4Addr {
    Ipv4Addr::UNSPECIFIED
}

/// A (source, group) pair; 0.0.0.0 is the wildcard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiSg {
    /// Source, 0.0.0.0 for any.
    pub source: Ipv4Addr,
    /// Group, 0.0.0.0 for all.
    pub group: Ipv4Addr,
}

/// One interface entry of a creation alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiIfEntry {
    /// The candidate outgoing interface.
    pub ifid: ApiIfId,
    /// IGMP owns or co-owns it.
    pub igmp: bool,
    /// Leave true to forward there, set false to veto.
    pub enabled: bool,
}

/// `dwSourceMask` / `dwGroupMask` of a membership call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiMasks {
    /// Source mask.
    pub source_mask: Ipv4Addr,
    /// Group mask.
    pub group_mask: Ipv4Addr,
}

/// The route of an RPF decision (`pbRoute`; `dwRouteProtocol/Network/Mask`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiRoute {
    /// `PROTO_IP_*` id of the route's origin.
    pub protocol: u32,
    /// Destination network.
    pub network: Ipv4Addr,
    /// Destination mask.
    pub mask: Ipv4Addr,
}
