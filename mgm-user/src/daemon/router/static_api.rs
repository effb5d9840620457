//! Static routes added and removed at run time.
use super::{RouterCore, RouterIo};
use crate::{
    api::proto::Response,
    config::StaticRoute,
    dataplane::ForwardingBackend,
    mgm::{MemberFlags, Sg},
};
use ipnet::IpNet;

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Adds a static route at run time.
    pub fn add_route(&mut self, route: StaticRoute) -> Response {
        if let Err(problem) = route.check(&self.config.interfaces) {
            return Response::error(87, problem.to_string());
        }
        let added = match route.group {
            IpNet::V4(_) => self.builtins.statics.1.add_route(route),
            IpNet::V6(_) => self.v6.statics.1.add_route(route),
        };
        if !added {
            return Response::error(183, "the route exists already");
        }
        // Flows with an entry (forwarded or dropped) pick the route up now.
        self.apply_routes_to_mfes();
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

    /// Gives every existing entry (of either family) the memberships the routes now name for it (the static
    /// protocol returns each membership once), so flows already forwarded or dropped pick up a
    /// route added at run time without waiting for their entry to expire.
    pub(super) fn apply_routes_to_mfes(&mut self) {
        let flows: Vec<Sg> = self.mgm.mfes().map(|m| m.sg()).collect();
        let h = self.builtins.statics.0;
        let now = self.now();
        for sg in flows {
            for (msg, ifid) in self.builtins.statics.1.memberships_for(sg) {
                let _ = self
                    .mgm
                    .add_membership(h, msg, ifid, MemberFlags::JOIN, now);
            }
        }
        self.apply_routes_to_mfes6();
        self.drive();
    }
}
