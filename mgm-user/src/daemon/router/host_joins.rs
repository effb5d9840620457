//! Host-side joins of the router itself (`mgmctl join`): the core keeps the list, the I/O side
//! holds the sockets.
use super::{RouterCore, RouterIo};
use crate::{api::proto::Response, dataplane::ForwardingBackend};
use std::net::IpAddr;

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// The router joins a group on an interface as a host.
    pub fn host_join(&mut self, iface: String, group: IpAddr, source: Option<IpAddr>) -> Response {
        let join = (iface, group, source);
        if self.host_joins.contains(&join) {
            return Response::error(183, "already joined");
        }
        match self.io.host_join(&join) {
            Ok(()) => {
                self.host_joins.insert(join);
                Response::Ok
            }
            Err(e) => Response::error(87, e.to_string()),
        }
    }

    /// Leaves a host join.
    pub fn host_leave(&mut self, iface: String, group: IpAddr, source: Option<IpAddr>) -> Response {
        let join = (iface, group, source);
        if !self.host_joins.remove(&join) {
            return Response::error(1168, "not joined");
        }
        self.io.host_leave(&join);
        Response::Ok
    }
}
