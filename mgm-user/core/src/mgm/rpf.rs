//! The pluggable unicast/multicast RIB used for RPF (spec §6.6) and a simple table
//! implementation of it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::address::Address;
use super::types::{IfId, RouteInfo};

/// The result of an RPF lookup of a source address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpfRoute<A: Address = Ipv4Addr> {
    /// Interface toward the source.
    pub iif: IfId<A>,
    /// Upstream neighbour toward the source (unspecified if directly connected).
    pub upstream: A,
    /// The route that matched.
    pub route: RouteInfo<A>,
}

/// Source of RPF information: longest-match lookup of a source in the multicast RIB. When the
/// RIB changes, the driver calls [`Mgm::route_changed`](super::Mgm::route_changed). The
/// MGM owns its provider; the driver changes it in place through
/// [`Mgm::rpf_provider_mut`](super::Mgm::rpf_provider_mut).
pub trait RpfProvider<A: Address = Ipv4Addr>: std::any::Any {
    /// The route toward `source`, if any.
    fn lookup(&self, source: A) -> Option<RpfRoute<A>>;
}

/// A longest-prefix-match route table kept in memory: enough for static setups and tests.
#[derive(Clone, Debug)]
pub struct StaticRib<A: Address = Ipv4Addr> {
    /// Routes keyed by (prefix length, network) so the longest match is found first.
    routes: BTreeMap<(u8, A), RpfRoute<A>>,
}

impl<A: Address> Default for StaticRib<A> {
    fn default() -> Self {
        StaticRib {
            routes: BTreeMap::new(),
        }
    }
}

impl<A: Address> StaticRib<A> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the route to `network/prefix_len` (a length above the address's
    /// 32 or 128 bits is clamped).
    pub fn insert(&mut self, network: A, prefix_len: u8, iif: IfId<A>, upstream: A) {
        let len = prefix_len.min(A::BITS);
        let mask = A::prefix_mask(len);
        let net = network.masked(mask);
        let route = RouteInfo {
            protocol: 3, // PROTO_IP_NETMGMT: a static route.
            network: net,
            mask,
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
    pub fn remove(&mut self, network: A, prefix_len: u8) -> bool {
        let len = prefix_len.min(A::BITS);
        let net = network.masked(A::prefix_mask(len));
        self.routes.remove(&(len, net)).is_some()
    }
}

impl<A: Address> RpfProvider<A> for StaticRib<A> {
    fn lookup(&self, source: A) -> Option<RpfRoute<A>> {
        self.routes
            .iter()
            .rev()
            .find(|((len, net), _)| source.masked(A::prefix_mask(*len)) == *net)
            .map(|(_, r)| *r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

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

    #[test]
    fn longest_prefix_wins_over_ipv6() {
        let addr = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        let mut rib = StaticRib::new();
        rib.insert(
            addr("2001:db8::"),
            32,
            IfId::index(1),
            Ipv6Addr::UNSPECIFIED,
        );
        rib.insert(addr("2001:db8:1::"), 48, IfId::index(2), addr("fe80::1"));
        let via =
            |rib: &StaticRib<Ipv6Addr>, s: &str| rib.lookup(addr(s)).map(|r| (r.iif, r.upstream));
        assert_eq!(
            via(&rib, "2001:db8:1::7"),
            Some((IfId::index(2), addr("fe80::1")))
        );
        assert_eq!(
            via(&rib, "2001:db8:2::7").map(|r| r.0),
            Some(IfId::index(1))
        );
        assert_eq!(via(&rib, "2001:db9::7"), None);
        let route = rib.lookup(addr("2001:db8:1::7")).unwrap().route;
        assert_eq!(
            (route.network, route.mask),
            (addr("2001:db8:1::"), addr("ffff:ffff:ffff::"))
        );
        assert!(rib.remove(addr("2001:db8:1:ffff::"), 48));
        assert_eq!(
            via(&rib, "2001:db8:1::7").map(|r| r.0),
            Some(IfId::index(1))
        );
    }
}
