//! The unicast RIB behind RPF lookups, as the route watcher reports it.
use super::*;

impl Router {
    /// The unicast RIB changed.
    pub fn route_event(&mut self, event: RouteEvent) {
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
        let Ok(mut rib) = self.rib.write() else {
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
