//! The unicast RIBs (IPv4 and IPv6) behind RPF lookups, as the route watchers report them.
use super::{family::Family, RouterCore, RouterIo};
use crate::{
    daemon::routes::{Route, RouteEvent},
    dataplane::ForwardingBackend,
    mgm::{IfId, StaticRib},
};
use std::{net::Ipv6Addr, time::Instant};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The IPv4 unicast RIB changed.
    pub fn route_event(&mut self, event: RouteEvent, now: Instant) {
        self.route_event_of(event, now);
    }

    /// The IPv6 unicast RIB changed.
    pub fn route_event6(&mut self, event: RouteEvent<Ipv6Addr>, now: Instant) {
        self.route_event_of(event, now);
    }

    /// Loads the IPv4 RIB at start (no invalidation: there are no MFEs yet).
    pub fn routes_present(&mut self, routes: Vec<Route>) {
        for r in routes {
            self.apply_route(r, true);
        }
    }

    /// Loads the IPv6 RIB at start.
    pub fn routes_present6(&mut self, routes: Vec<Route<Ipv6Addr>>) {
        for r in routes {
            self.apply_route(r, true);
        }
    }

    /// A change of the RIB of family `F`: the entries whose sources it covers are re-derived.
    fn route_event_of<F: Family>(&mut self, event: RouteEvent<F>, now: Instant) {
        self.advance(now);
        let (route, added) = match event {
            RouteEvent::Added(r) => (r, true),
            RouteEvent::Removed(r) => (r, false),
        };
        self.apply_route(route, added);
        let mask = F::prefix_mask(route.prefix_len.min(F::BITS));
        F::mgm_mut(self).route_changed(route.network, mask);
        self.drive();
    }

    fn apply_route<F: Family>(&mut self, route: Route<F>, added: bool) {
        let Some(rib) = F::mgm_mut(self).rpf_provider_mut::<StaticRib<F>>() else {
            return;
        };
        if added {
            rib.insert(
                route.network,
                route.prefix_len,
                IfId::index(route.oif),
                route.gateway,
            );
        } else {
            rib.remove(route.network, route.prefix_len);
        }
    }
}
