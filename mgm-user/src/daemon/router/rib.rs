//! The unicast RIB behind RPF lookups, as the route watcher reports it.
use super::{RouterCore, RouterIo};
use crate::{
    daemon::routes::{Route, RouteEvent},
    dataplane::ForwardingBackend,
    mgm::{IfId, StaticRib},
};
use std::{net::Ipv4Addr, time::Instant};

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The unicast RIB changed.
    pub fn route_event(&mut self, event: RouteEvent, now: Instant) {
        self.advance(now);
        let (route, added) = match event {
            RouteEvent::Added(r) => (r, true),
            RouteEvent::Removed(r) => (r, false),
        };
        self.apply_route(route, added);
        let mask = Ipv4Addr::from(
            u32::MAX
                .checked_shl(32 - u32::from(route.prefix_len))
                .unwrap_or(0),
        );
        self.mgm.route_changed(route.network, mask);
        self.drive();
    }

    /// Loads the RIB at start (no invalidation: there are no MFEs yet).
    pub fn routes_present(&mut self, routes: Vec<Route>) {
        for r in routes {
            self.apply_route(r, true);
        }
    }

    fn apply_route(&mut self, route: Route, added: bool) {
        let Some(rib) = self.mgm.rpf_provider_mut::<StaticRib>() else {
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
