//! The pluggable unicast/multicast RIB used for RPF (spec §6.6) and a simple table
//! implementation of it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::types::{IfId, RouteInfo};

/// The result of an RPF lookup of a source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpfRoute {
    /// Interface toward the source.
    pub iif: IfId,
    /// Upstream neighbour toward the source (0.0.0.0 if directly connected).
    pub upstream: Ipv4Addr,
    /// The route that matched.
    pub route: RouteInfo,
}

/// Source of RPF information: longest-match lookup of a source in the multicast RIB. When the
/// RIB changes, the driver calls [`Mgm::route_changed`](super::Mgm::route_changed). The
/// MGM owns its provider; the driver changes it in place through
/// [`Mgm::rpf_provider_mut`](super::Mgm::rpf_provider_mut).
pub trait RpfProvider: std::any::Any {
    /// The route toward `source`, if any.
    fn lookup(&self, source: Ipv4Addr) -> Option<RpfRoute>;
}

/// A longest-prefix-match route table kept in memory: enough for static setups and tests.
#[derive(Clone, Debug, Default)]
pub struct StaticRib {
    /// Routes keyed by (prefix length, network) so the longest match is found first.
    routes: BTreeMap<(u8, u32), RpfRoute>,
}

impl StaticRib {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the route to `network/prefix_len` (a length above 32 is clamped).
    pub fn insert(&mut self, network: Ipv4Addr, prefix_len: u8, iif: IfId, upstream: Ipv4Addr) {
        let len = prefix_len.min(32);
        let mask = prefix_mask(len);
        let net = u32::from(network) & mask;
        let route = RouteInfo {
            protocol: 3, // PROTO_IP_NETMGMT: a static route.
            network: Ipv4Addr::from(net),
            mask: Ipv4Addr::from(mask),
        };
        self.routes.insert(
            (len, net),
            RpfRoute {
                iif,
                upstream,
                route,
            },
        );
    }

    /// Removes the route to `network/prefix_len`; true if it existed.
    pub fn remove(&mut self, network: Ipv4Addr, prefix_len: u8) -> bool {
        let len = prefix_len.min(32);
        let net = u32::from(network) & prefix_mask(len);
        self.routes.remove(&(len, net)).is_some()
    }
}

fn prefix_mask(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

impl RpfProvider for StaticRib {
    fn lookup(&self, source: Ipv4Addr) -> Option<RpfRoute> {
        let s = u32::from(source);
        self.routes
            .iter()
            .rev()
            .find(|((len, net), _)| s & prefix_mask(*len) == *net)
            .map(|(_, r)| *r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_wins() {
        let mut rib = StaticRib::new();
        rib.insert(
            Ipv4Addr::UNSPECIFIED,
            0,
            IfId::index(1),
            Ipv4Addr::UNSPECIFIED,
        );
        rib.insert(
            Ipv4Addr::new(10, 1, 0, 0),
            16,
            IfId::index(2),
            Ipv4Addr::new(10, 1, 0, 254),
        );
        assert_eq!(
            rib.lookup(Ipv4Addr::new(10, 1, 2, 3)).map(|r| r.iif),
            Some(IfId::index(2))
        );
        assert_eq!(
            rib.lookup(Ipv4Addr::new(10, 2, 2, 3)).map(|r| r.iif),
            Some(IfId::index(1))
        );
        assert!(rib.remove(Ipv4Addr::new(10, 1, 9, 9), 16));
        assert_eq!(
            rib.lookup(Ipv4Addr::new(10, 1, 2, 3)).map(|r| r.iif),
            Some(IfId::index(1))
        );
    }
}
