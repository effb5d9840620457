//! The built-in `proxy` routing protocol: IGMP-based forwarding (RFC 4605).
//!
//! It owns one upstream interface, where the router acts as a host, and downstream interfaces,
//! where IGMP runs the router side. When IGMP finds the first receiver of a group on a
//! downstream interface (a local join), the proxy joins the group on the upstream interface
//! with a host socket, so the kernel reports it to the upstream router; when the last
//! downstream receiver leaves, it leaves upstream. Every flow is expected from upstream (its
//! RPF answer), and IGMP's memberships on the downstream interfaces make up the outgoing lists.
use crate::mgm::{IfId, MgmClient, RpfAnswer, Sg};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
};
use tracing::{info, warn};

/// The proxy's state.
pub struct ProxyProtocol {
    upstream: u32,
    downstream: BTreeSet<u32>,
    /// (downstream ifindex, source or 0.0.0.0) with receivers, per group; the socket holds the
    /// upstream join.
    groups: BTreeMap<Ipv4Addr, GroupState>,
}

/// Receivers of one group: (downstream ifindex, source or 0.0.0.0), and the upstream join.
type GroupState = (BTreeSet<(u32, Ipv4Addr)>, Option<Socket>);

impl ProxyProtocol {
    /// A proxy between `upstream` and `downstream` (ifindexes).
    pub fn new(upstream: u32, downstream: impl IntoIterator<Item = u32>) -> Self {
        Self {
            upstream,
            downstream: downstream.into_iter().collect(),
            groups: BTreeMap::new(),
        }
    }

    /// Follows the interfaces' current ifindexes; groups joined stay joined.
    pub fn set_interfaces(&mut self, upstream: u32, downstream: impl IntoIterator<Item = u32>) {
        self.upstream = upstream;
        self.downstream = downstream.into_iter().collect();
    }

    fn join_upstream(&self, group: Ipv4Addr) -> Option<Socket> {
        let result = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP)).and_then(|s| {
            s.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(self.upstream))?;
            Ok(s)
        });
        match result {
            Ok(socket) => {
                info!(%group, ifindex = self.upstream, "proxy: joined upstream");
                Some(socket)
            }
            Err(e) => {
                warn!(%group, error = %e, "proxy: upstream join failed");
                None
            }
        }
    }
}

impl MgmClient for ProxyProtocol {
    /// Every flow comes from upstream.
    fn rpf(&mut self, _sg: Sg, _header: &[u8], answer: &mut RpfAnswer) -> u32 {
        answer.iif = IfId::new(self.upstream, Ipv4Addr::UNSPECIFIED);
        0
    }

    fn local_join(&mut self, sg: Sg, ifid: IfId) {
        if !self.downstream.contains(&ifid.ifindex) || sg.group.is_unspecified() {
            return;
        }
        let first = !self.groups.contains_key(&sg.group);
        let socket = first.then(|| self.join_upstream(sg.group)).flatten();
        let entry = self
            .groups
            .entry(sg.group)
            .or_insert_with(|| (BTreeSet::new(), None));
        entry.0.insert((ifid.ifindex, sg.source));
        if first {
            entry.1 = socket;
        }
    }

    fn local_leave(&mut self, sg: Sg, ifid: IfId) {
        let Some((receivers, _)) = self.groups.get_mut(&sg.group) else {
            return;
        };
        receivers.remove(&(ifid.ifindex, sg.source));
        if receivers.is_empty() {
            // Dropping the socket leaves the group upstream.
            self.groups.remove(&sg.group);
            info!(group = %sg.group, "proxy: left upstream");
        }
    }
}
