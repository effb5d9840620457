//! The built-in `static` routing protocol: smcroute's static routes on top of the MGM.
//!
//! It owns every configured interface that no other protocol claims. Its routes name an inbound
//! interface, a source (host, prefix or any) and a group (host or prefix), and outbound
//! interfaces. The MGM keeps memberships for exact groups only, so a route becomes
//! memberships lazily: when a packet of a new (S,G) misses, [`StaticProtocol::memberships_for`]
//! names the (S,G) memberships on the route's outbound interfaces, which the daemon adds
//! *before* it reports the miss to the MGM; the MFE is then created with the full list at once.
//!
//! As with the kernel and smcroute (`mroute from IF [source] group to IF...`), a route names
//! where its flows come in, whatever the unicast RIB says and wherever the first packet
//! arrived:
//! * the memberships come from the routes that match (S,G), not from the arrival interface, so
//!   a stray first packet on another interface does not make the flow a negative entry;
//! * the RPF callback points the flow at the route's inbound interface, so packets arriving
//!   elsewhere are wrong-interface drops while the flow keeps forwarding;
//! * a source the RIB has no route to is claimed through the RPF callback (the MGM asks the
//!   arrival interface's owner, `mgm::Config::rpf_ask_arrival_owner`); without a matching
//!   route the offer is rejected and the MGM installs its short no-route negative entry.
//!
//! When routes with different inbound interfaces match one (S,G), the first in route order
//! (inbound name, source, group) whose inbound interface is in service decides; only routes
//! with that inbound interface contribute outbound interfaces.
//!
//! The protocol is generic over the address family: the daemon runs one per MGM (IPv4 and
//! IPv6), each keeping the routes of its family (a route's group decides its family).
use crate::{
    config::StaticRoute,
    mgm::{Address, IfId, MgmClient, RpfAnswer, Sg},
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::{IpAddr, Ipv4Addr},
};

/// The static routes of one address family and the memberships they hold.
#[derive(Debug)]
pub struct StaticProtocol<A: Address = Ipv4Addr> {
    routes: BTreeSet<StaticRoute>,
    /// Interface names → ifindex, as the daemon last saw them.
    ifindexes: BTreeMap<String, u32>,
    /// Memberships held for flows, by (S,G): the outbound interfaces added.
    held: BTreeMap<Sg<A>, BTreeSet<IfId<A>>>,
}

impl<A: Address> Default for StaticProtocol<A> {
    fn default() -> Self {
        Self {
            routes: BTreeSet::new(),
            ifindexes: BTreeMap::new(),
            held: BTreeMap::new(),
        }
    }
}

impl<A: Address + Into<IpAddr>> StaticProtocol<A> {
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

    /// How many routes there are.
    pub fn route_count(&self) -> usize {
        self.routes.len()
    }

    /// Whether `route` is one of them.
    pub fn has_route(&self, route: &StaticRoute) -> bool {
        self.routes.contains(route)
    }

    /// Whether `route` is of this protocol's address family (by its group).
    pub fn is_own(route: &StaticRoute) -> bool {
        route.group.network().is_ipv4() == A::UNSPECIFIED.into().is_ipv4()
    }

    /// Adds a route; false if it was there already or is of the other family.
    pub fn add_route(&mut self, route: StaticRoute) -> bool {
        Self::is_own(&route) && self.routes.insert(route)
    }

    /// Removes a route and returns the memberships no remaining route justifies, to delete.
    pub fn remove_route(&mut self, route: &StaticRoute) -> Option<Vec<(Sg<A>, IfId<A>)>> {
        if !self.routes.remove(route) {
            return None;
        }
        let mut stale = Vec::new();
        // Only the flows the route matched can lose an interface by its removal (each of the
        // others is given what it was by the same routes): a removal costs the flows of its
        // route, not every flow against every route (the kernel's (S,G) routes, one each).
        let matched = self
            .held
            .iter_mut()
            .filter(|(sg, _)| route.matches(&route.from, sg.source, sg.group));
        for (sg, held) in matched {
            let wanted = wanted_oifs(&self.routes, &self.ifindexes, *sg);
            let gone: Vec<IfId<A>> = held.difference(&wanted).copied().collect();
            for ifid in gone {
                held.remove(&ifid);
                stale.push((*sg, ifid));
            }
        }
        self.held.retain(|_, held| !held.is_empty());
        Some(stale)
    }

    /// For a new flow `sg`: the (S,G) memberships to add so that the MFE about to be created
    /// carries the routes' outbound interfaces, whichever interface its first packet arrived
    /// on. Each is returned once.
    pub fn memberships_for(&mut self, sg: Sg<A>) -> Vec<(Sg<A>, IfId<A>)> {
        let Some((_, wanted)) = route_of(&self.routes, &self.ifindexes, sg) else {
            return Vec::new();
        };
        let held = self.held.entry(sg).or_default();
        let add: Vec<(Sg<A>, IfId<A>)> = wanted
            .into_iter()
            .filter(|ifid| held.insert(*ifid))
            .map(|ifid| (sg, ifid))
            .collect();
        if held.is_empty() {
            self.held.remove(&sg);
        }
        add
    }

    /// Forgets every held membership on `ifindex` (the interface goes out of service) and
    /// returns them, for the daemon to delete: the flows' entries then lose the interface in
    /// place instead of being deleted with it.
    pub fn forget_interface(&mut self, ifindex: u32) -> Vec<(Sg<A>, IfId<A>)> {
        let mut gone = Vec::new();
        for (sg, held) in &mut self.held {
            held.retain(|i| {
                let keep = i.ifindex != ifindex;
                if !keep {
                    gone.push((*sg, *i));
                }
                keep
            });
        }
        self.held.retain(|_, held| !held.is_empty());
        gone
    }
}

/// The inbound interface and the outbound interfaces that `routes` give `sg` (see the module
/// documentation for several matching routes); `None` when no route with an inbound interface
/// in service matches.
fn route_of<A: Address + Into<IpAddr>>(
    routes: &BTreeSet<StaticRoute>,
    ifindexes: &BTreeMap<String, u32>,
    sg: Sg<A>,
) -> Option<(u32, BTreeSet<IfId<A>>)> {
    let matching = || {
        routes
            .iter()
            .filter(move |r| r.matches(&r.from, sg.source, sg.group))
    };
    let (from, inbound) = matching().find_map(|r| Some((&r.from, *ifindexes.get(&r.from)?)))?;
    let oifs = matching()
        .filter(|r| &r.from == from)
        .flat_map(|r| r.to.iter())
        .filter_map(|name| ifindexes.get(name))
        .filter(|&&i| i != inbound)
        .map(|&i| IfId::index(i))
        .collect();
    Some((inbound, oifs))
}

/// The outbound interfaces that `routes` give `sg`.
fn wanted_oifs<A: Address + Into<IpAddr>>(
    routes: &BTreeSet<StaticRoute>,
    ifindexes: &BTreeMap<String, u32>,
    sg: Sg<A>,
) -> BTreeSet<IfId<A>> {
    route_of(routes, ifindexes, sg)
        .map(|(_, oifs)| oifs)
        .unwrap_or_default()
}

impl<A: Address + Into<IpAddr>> MgmClient<A> for StaticProtocol<A> {
    /// A flow that a route matches comes in on the route's inbound interface, whatever the
    /// unicast RIB says (and whether it has a route at all); any other flow keeps the RIB's
    /// answer, and a no-route offer (`reject` set) without a matching route stays rejected.
    fn rpf(&mut self, sg: Sg<A>, _header: &[u8], answer: &mut RpfAnswer<A>) -> u32 {
        match route_of(&self.routes, &self.ifindexes, sg) {
            Some((inbound, _)) => {
                answer.iif = IfId::index(inbound);
                0
            }
            None => u32::from(answer.reject),
        }
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
            p.memberships_for(flow),
            vec![(flow, ifid(3)), (flow, ifid(4))]
        );
        assert!(p.memberships_for(flow).is_empty(), "added once");
        assert!(p.memberships_for(sg("10.0.0.1", "239.2.0.1")).is_empty());
    }

    #[test]
    fn the_routes_inbound_interface_decides_not_the_arrival_and_not_the_rib() {
        let mut p = protocol();
        p.add_route(route("rcv3 239.1.2.3 rcv1 rcv3"));
        p.add_route(route("rcv3 10.0.0.0/8 239.1.0.0/16 rcv2"));
        p.add_route(route("up0 239.1.0.0/16 rcv1"));
        let flow = sg("10.0.0.1", "239.1.2.3");
        assert_eq!(
            p.memberships_for(flow),
            vec![(flow, ifid(3)), (flow, ifid(4))],
            "the routes from rcv3 (first in order), never the inbound interface itself"
        );
        let no_route = RpfAnswer {
            iif: ifid(2),
            upstream: Ipv4Addr::UNSPECIFIED,
            route: Default::default(),
            reject: true,
        };
        let mut answer = no_route;
        assert_eq!(p.rpf(flow, &[], &mut answer), 0, "claimed");
        assert_eq!(answer.iif, ifid(5));
        p.set_ifindex("rcv3", None);
        let mut answer = no_route;
        assert_eq!(p.rpf(flow, &[], &mut answer), 0);
        assert_eq!(answer.iif, ifid(2), "rcv3 out of service: the up0 route");
        let mut answer = no_route;
        assert_ne!(
            p.rpf(sg("10.0.0.1", "239.9.9.9"), &[], &mut answer),
            0,
            "no route: the offer stays rejected"
        );
    }

    #[test]
    fn removing_a_route_returns_only_unjustified_memberships() {
        let mut p = protocol();
        let wide = route("up0 239.1.0.0/16 rcv1 rcv2");
        p.add_route(wide.clone());
        p.add_route(route("up0 10.0.0.1 239.1.2.3 rcv2 rcv3"));
        let flow = sg("10.0.0.1", "239.1.2.3");
        assert_eq!(p.memberships_for(flow).len(), 3);
        let stale = p.remove_route(&wide).expect("existed");
        assert_eq!(stale, vec![(flow, ifid(3))]);
        assert!(p.remove_route(&wide).is_none());
        assert_eq!(p.forget_interface(5), vec![(flow, ifid(5))]);
        assert!(p.forget_interface(5).is_empty());
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
