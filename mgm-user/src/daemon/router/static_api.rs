//! Static routes added and removed at run time.
use super::{RouterCore, RouterIo};
use crate::{
    api::proto::{ApiFamily, Response},
    config::{StaticRoute, MAX_STATIC_ROUTES},
    dataplane::ForwardingBackend,
    mgm::{MemberFlags, Sg},
};
use ipnet::IpNet;
use std::net::IpAddr;

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Adds a static route at run time (`mgmctl add`, the API): within [`MAX_STATIC_ROUTES`]
    /// of its family.
    pub fn add_route(&mut self, route: StaticRoute) -> Response {
        let (family, routes, exists) = match route.group {
            IpNet::V4(_) => {
                let statics = &self.builtins.statics.1;
                (
                    ApiFamily::Ipv4,
                    statics.route_count(),
                    statics.has_route(&route),
                )
            }
            IpNet::V6(_) => {
                let statics = &self.v6.statics.1;
                (
                    ApiFamily::Ipv6,
                    statics.route_count(),
                    statics.has_route(&route),
                )
            }
        };
        if routes >= MAX_STATIC_ROUTES && !exists {
            let now = self.clock;
            return self.api_refusals.refuse_route(family, now);
        }
        self.insert_route(route)
    }

    /// Adds a static route (of a reloaded configuration, bounded as it was read, or one the
    /// API adds).
    pub(super) fn insert_route(&mut self, route: StaticRoute) -> Response {
        if let Err(problem) = route.check(&self.config.interfaces) {
            return Response::error(87, problem.to_string());
        }
        let added = match route.group {
            IpNet::V4(_) => self.builtins.statics.1.add_route(route.clone()),
            IpNet::V6(_) => self.v6.statics.1.add_route(route.clone()),
        };
        if !added {
            return Response::error(183, "the route exists already");
        }
        // Flows with an entry (forwarded or dropped) that the route matches pick it up now;
        // the others' routes are unchanged.
        let matched = |source: IpAddr, group: IpAddr| route.matches(&route.from, source, group);
        match route.group {
            IpNet::V4(_) => {
                self.apply_routes_to_mfes4(|sg| matched(sg.source.into(), sg.group.into()))
            }
            IpNet::V6(_) => {
                self.apply_routes_to_mfes6(|sg| matched(sg.source.into(), sg.group.into()))
            }
        }
        self.drive();
        Response::Ok
    }

    /// Removes a static route at run time; only the flows it fed change.
    pub fn remove_route(&mut self, route: &StaticRoute) -> Response {
        let now = self.now();
        if let IpNet::V6(_) = route.group {
            let (h, statics) = &mut self.v6.statics;
            let Some(stale) = statics.remove_route(route) else {
                return Response::error(1168, "no such route");
            };
            for (sg, ifid) in stale {
                let _ = self
                    .v6
                    .mgm
                    .delete_membership(*h, sg, ifid, MemberFlags::JOIN, now);
            }
            self.drive();
            return Response::Ok;
        }
        let Some(stale) = self.builtins.statics.1.remove_route(route) else {
            return Response::error(1168, "no such route");
        };
        let h = self.builtins.statics.0;
        for (sg, ifid) in stale {
            let _ = self
                .mgm
                .delete_membership(h, sg, ifid, MemberFlags::JOIN, now);
        }
        self.drive();
        Response::Ok
    }

    /// Gives every existing entry (of either family) the memberships the routes now name for
    /// it (the static protocol returns each membership once), so flows already forwarded or
    /// dropped pick up an interface coming into service without waiting for their entry to
    /// expire.
    pub(super) fn apply_routes_to_mfes(&mut self) {
        self.apply_routes_to_mfes4(|_| true);
        self.apply_routes_to_mfes6(|_| true);
        self.drive();
    }

    /// Gives the IPv4 entries of the flows `wanted` picks the memberships the routes now name
    /// for them.
    fn apply_routes_to_mfes4(&mut self, wanted: impl Fn(Sg) -> bool) {
        let flows: Vec<Sg> = self
            .mgm
            .mfes()
            .map(|m| m.sg())
            .filter(|&sg| wanted(sg))
            .collect();
        let h = self.builtins.statics.0;
        let now = self.now();
        for sg in flows {
            for (msg, ifid) in self.builtins.statics.1.memberships_for(sg) {
                let _ = self
                    .mgm
                    .add_membership(h, msg, ifid, MemberFlags::JOIN, now);
            }
        }
    }
}
