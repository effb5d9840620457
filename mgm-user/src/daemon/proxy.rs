//! The built-in `proxy` routing protocol: IGMP/MLD-based forwarding (RFC 4605), one instance
//! per address family (one in each MGM).
//!
//! It owns one upstream interface, where the router acts as a host, and downstream interfaces,
//! where IGMP (IPv4) or MLD (IPv6) runs the router side. When they find the first receiver of a
//! group on a downstream interface (a local join), the proxy joins the group on the upstream
//! interface with a host socket, so the kernel reports it to the upstream router (an IGMP or
//! MLD report); when the last downstream receiver leaves, it leaves upstream. Every flow is
//! expected from upstream (its RPF answer), and the memberships on the downstream interfaces
//! make up the outgoing lists.
use crate::mgm::{Address, CallbackSet, IfId, MgmClient, RpfAnswer, Sg};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    net::{Ipv4Addr, Ipv6Addr},
};
use tracing::{info, warn};

/// An address family the proxy serves: how a host joins a group of it.
pub trait UpstreamJoin: Address {
    /// A host socket joined to `group` on interface `ifindex`: the kernel reports the
    /// membership on that link until the socket closes.
    fn join_upstream(group: Self, ifindex: u32) -> io::Result<Socket>;
}

impl UpstreamJoin for Ipv4Addr {
    fn join_upstream(group: Self, ifindex: u32) -> io::Result<Socket> {
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(ifindex))?;
        Ok(socket)
    }
}

impl UpstreamJoin for Ipv6Addr {
    fn join_upstream(group: Self, ifindex: u32) -> io::Result<Socket> {
        let socket = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP))?;
        socket.join_multicast_v6(&group, ifindex)?;
        Ok(socket)
    }
}

/// The proxy's state in the MGM of family `A`.
pub struct ProxyProtocol<A: UpstreamJoin = Ipv4Addr> {
    upstream: u32,
    downstream: BTreeSet<u32>,
    /// (downstream ifindex, source or the unspecified address) with receivers, per group; the
    /// socket holds the upstream join.
    groups: BTreeMap<A, GroupState<A>>,
}

/// Receivers of one group: (downstream ifindex, source or the unspecified address), and the
/// upstream join.
type GroupState<A> = (BTreeSet<(u32, A)>, Option<Socket>);

impl<A: UpstreamJoin> ProxyProtocol<A> {
    /// The callbacks the proxy registers for.
    pub const CALLBACKS: CallbackSet = CallbackSet::RPF
        .union(CallbackSet::LOCAL_JOIN)
        .union(CallbackSet::LOCAL_LEAVE);

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

    fn join_upstream(&self, group: A) -> Option<Socket> {
        match A::join_upstream(group, self.upstream) {
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

impl<A: UpstreamJoin> MgmClient<A> for ProxyProtocol<A> {
    /// Every flow comes from upstream.
    fn rpf(&mut self, _sg: Sg<A>, _header: &[u8], answer: &mut RpfAnswer<A>) -> u32 {
        answer.iif = IfId::index(self.upstream);
        0
    }

    fn local_join(&mut self, sg: Sg<A>, ifid: IfId<A>) {
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

    fn local_leave(&mut self, sg: Sg<A>, ifid: IfId<A>) {
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
