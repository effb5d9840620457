//! The built-in `static` routing protocol: smcroute's static routes on top of the MGM.
//!
//! It owns every configured interface that no other protocol claims. Its routes name an inbound
//! interface, a source (host, prefix or any) and a group (host or prefix), and outbound
//! interfaces. The MGM keeps memberships for exact groups only, so a route becomes
//! memberships lazily: when a packet of a new (S,G) misses, [`StaticProtocol::memberships_for`]
//! names the (S,G) memberships on the route's outbound interfaces, which the daemon adds
//! *before* it reports the miss to the MGM; the MFE is then created with the full list at once.
//! The protocol's RPF callback points matching flows at the route's inbound interface.
use crate::{
    config::StaticRoute,
    mgm::{IfId, MgmClient, RpfAnswer, Sg},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};

/// The static routes and the memberships they hold.
#[derive(Debug, Default)]
pub struct StaticProtocol {
    routes: BTreeSet<StaticRoute>,
    /// Interface names → ifindex, as the daemon last saw them.
    ifindexes: BTreeMap<String, u32>,
    /// Memberships held for flows, by (S,G): the outbound interfaces added.
    held: BTreeMap<Sg, BTreeSet<IfId>>,
}

impl StaticProtocol {
    /// Records an interface's current ifindex (or its disappearance with `None`).
    pub fn set_ifindex(&mut self, name: &str, ifindex: Option<u32>) {
        match ifindex {
            Some(i) => self.ifindexes.insert(name.to_owned(), i),
            None => self.ifindexes.remove(name),
        };
    }

    /// The routes.
    pub fn routes(&self) -> impl Iterator<Item = &StaticRoute> {
        self.routes.iter()
    }

    /// Adds a route; false if it was there already.
    pub fn add_route(&mut self, route: StaticRoute) -> bool {
        self.routes.insert(route)
    }

    /// Removes a route and returns the memberships no remaining route justifies, to delete.
    pub fn remove_route(&mut self, route: &StaticRoute) -> Option<Vec<(Sg, IfId)>> {
        if !self.routes.remove(route) {
            return None;
        }
        let mut stale = Vec::new();
        for (sg, held) in &mut self.held {
            let wanted = wanted_oifs(&self.routes, &self.ifindexes, *sg);
            let gone: Vec<IfId> = held.difference(&wanted).copied().collect();
            for ifid in gone {
                held.remove(&ifid);
                stale.push((*sg, ifid));
            }
        }
        self.held.retain(|_, held| !held.is_empty());
        Some(stale)
    }

    /// For a packet of `sg` that arrived on `iif`: the (S,G) memberships to add so that the
    /// MFE about to be created carries the routes' outbound interfaces. Each is returned once.
    pub fn memberships_for(&mut self, iif: u32, sg: Sg) -> Vec<(Sg, IfId)> {
        let matching = self.routes.iter().filter(|r| {
            self.ifindexes.get(&r.from) == Some(&iif) && r.matches(&r.from, sg.source, sg.group)
        });
        let mut add = Vec::new();
        for route in matching {
            for name in &route.to {
                let Some(&ifindex) = self.ifindexes.get(name) else {
                    continue;
                };
                let ifid = IfId::new(ifindex, Ipv4Addr::UNSPECIFIED);
                if self.held.entry(sg).or_default().insert(ifid) {
                    add.push((sg, ifid));
                }
            }
        }
        add
    }

    /// Forgets every held membership on `ifindex` (the interface is gone).
    pub fn forget_interface(&mut self, ifindex: u32) {
        for held in self.held.values_mut() {
            held.retain(|i| i.ifindex != ifindex);
        }
        self.held.retain(|_, held| !held.is_empty());
    }

    fn inbound_for(&self, sg: Sg) -> Option<u32> {
        self.routes
            .iter()
            .find(|r| r.matches(&r.from, sg.source, sg.group))
            .and_then(|r| self.ifindexes.get(&r.from).copied())
    }
}

/// The outbound interfaces that `routes` give `sg` (from any inbound interface).
fn wanted_oifs(
    routes: &BTreeSet<StaticRoute>,
    ifindexes: &BTreeMap<String, u32>,
    sg: Sg,
) -> BTreeSet<IfId> {
    routes
        .iter()
        .filter(|r| r.matches(&r.from, sg.source, sg.group))
        .flat_map(|r| r.to.iter())
        .filter_map(|name| ifindexes.get(name))
        .map(|&i| IfId::new(i, Ipv4Addr::UNSPECIFIED))
        .collect()
}

impl MgmClient for StaticProtocol {
    /// A flow that a route matches comes in on the route's inbound interface, whatever the
    /// unicast RIB says; any other flow keeps the RIB's answer.
    fn rpf(&mut self, sg: Sg, _header: &[u8], answer: &mut RpfAnswer) -> u32 {
        if let Some(ifindex) = self.inbound_for(sg) {
            answer.iif = IfId::new(ifindex, Ipv4Addr::UNSPECIFIED);
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(words: &str) -> StaticRoute {
        let words: Vec<String> = words.split_whitespace().map(str::to_owned).collect();
        StaticRoute::parse_words(&words).expect("route")
    }

    fn protocol() -> StaticProtocol {
        let mut p = StaticProtocol::default();
        for (name, i) in [("up0", 2), ("rcv1", 3), ("rcv2", 4), ("rcv3", 5)] {
            p.set_ifindex(name, Some(i));
        }
        p
    }

    fn sg(s: &str, g: &str) -> Sg {
        Sg::new(s.parse().unwrap(), g.parse().unwrap())
    }

    fn ifid(i: u32) -> IfId {
        IfId::new(i, Ipv4Addr::UNSPECIFIED)
    }

    #[test]
    fn a_prefix_route_becomes_exact_memberships_on_the_first_packet() {
        let mut p = protocol();
        p.add_route(route("up0 239.1.0.0/16 rcv1 rcv2"));
        let flow = sg("10.0.0.1", "239.1.2.3");
        assert_eq!(
            p.memberships_for(2, flow),
            vec![(flow, ifid(3)), (flow, ifid(4))]
        );
        assert!(p.memberships_for(2, flow).is_empty(), "added once");
        assert!(
            p.memberships_for(3, flow).is_empty(),
            "wrong inbound interface"
        );
        assert!(p.memberships_for(2, sg("10.0.0.1", "239.2.0.1")).is_empty());
    }

    #[test]
    fn removing_a_route_returns_only_unjustified_memberships() {
        let mut p = protocol();
        let wide = route("up0 239.1.0.0/16 rcv1 rcv2");
        p.add_route(wide.clone());
        p.add_route(route("up0 10.0.0.1 239.1.2.3 rcv2 rcv3"));
        let flow = sg("10.0.0.1", "239.1.2.3");
        assert_eq!(p.memberships_for(2, flow).len(), 3);
        let stale = p.remove_route(&wide).expect("existed");
        assert_eq!(stale, vec![(flow, ifid(3))]);
        assert!(p.remove_route(&wide).is_none());
    }

    #[test]
    fn rpf_points_matching_flows_at_the_inbound_interface() {
        let mut p = protocol();
        p.add_route(route("rcv3 239.9.9.9 rcv1"));
        let mut answer = RpfAnswer {
            iif: ifid(2),
            upstream: Ipv4Addr::UNSPECIFIED,
            route: Default::default(),
            reject: false,
        };
        p.rpf(sg("10.9.0.1", "239.9.9.9"), &[], &mut answer);
        assert_eq!(answer.iif, ifid(5));
        answer.iif = ifid(2);
        p.rpf(sg("10.9.0.1", "239.9.9.8"), &[], &mut answer);
        assert_eq!(answer.iif, ifid(2));
    }
}
