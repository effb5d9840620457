//! Host-side joins of the router itself (`mgmctl join`).
use super::*;

impl Router {
    /// The router joins a group on an interface as a host.
    pub fn host_join(
        &mut self,
        iface: String,
        group: Ipv4Addr,
        source: Option<Ipv4Addr>,
    ) -> Response {
        let key = (iface.clone(), group, source);
        if self.host_joins.contains_key(&key) {
            return Response::error(183, "already joined");
        }
        let result = crate::leaf::Iface::lookup(&iface).and_then(|i| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)?;
            crate::leaf::join(&socket, crate::leaf::Channel { group, source }, &i)?;
            Ok(socket)
        });
        match result {
            Ok(socket) => {
                self.host_joins.insert(key, socket);
                Response::Ok
            }
            Err(e) => Response::error(87, e.to_string()),
        }
    }

    /// Leaves a host join.
    pub fn host_leave(
        &mut self,
        iface: String,
        group: Ipv4Addr,
        source: Option<Ipv4Addr>,
    ) -> Response {
        match self.host_joins.remove(&(iface, group, source)) {
            Some(_) => Response::Ok,
            None => Response::error(1168, "not joined"),
        }
    }
}
