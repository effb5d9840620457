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
//!
//! The upstream membership of a group is the union of the downstream ones (RFC 4605 §4.1):
//! while every receiver of the group asks for given sources (IGMPv3/MLDv2 INCLUDE), the proxy
//! joins those sources only (MCAST_JOIN_SOURCE_GROUP, reported upstream as an INCLUDE record);
//! one any-source receiver (EXCLUDE mode, IGMPv2, MLDv1) makes it join for any source (its
//! excluded sources are not passed upstream: EXCLUDE {} covers them). A change of mode opens
//! the new membership before it closes the old one, so the group is never left in between.
use crate::{
    leaf::{self, Channel, Iface},
    mgm::{Address, CallbackSet, IfId, MgmClient, RpfAnswer, Sg},
};
use socket2::{Domain, Protocol, Socket, Type};
use std::{
    collections::{BTreeMap, BTreeSet},
    io,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};
use tracing::{info, warn};

/// An address family the proxy serves: the host sockets it joins groups with.
pub trait UpstreamJoin: Address + Into<IpAddr> {
    /// The socket domain of the family.
    const DOMAIN: Domain;
}

impl UpstreamJoin for Ipv4Addr {
    const DOMAIN: Domain = Domain::IPV4;
}

impl UpstreamJoin for Ipv6Addr {
    const DOMAIN: Domain = Domain::IPV6;
}

/// The proxy's state in the MGM of family `A`.
pub struct ProxyProtocol<A: UpstreamJoin = Ipv4Addr> {
    upstream: u32,
    downstream: BTreeSet<u32>,
    /// The receivers and the upstream membership of each group with receivers.
    groups: BTreeMap<A, GroupState<A>>,
}

/// Receivers of one group, (downstream ifindex, source or the unspecified address), and its
/// upstream membership (none while a join failed).
struct GroupState<A> {
    receivers: BTreeSet<(u32, A)>,
    upstream: Option<Upstream<A>>,
}

/// A host socket joined to a group on the upstream interface: for any source, or for the
/// sources listed.
struct Upstream<A> {
    socket: Socket,
    sources: Option<BTreeSet<A>>,
}

/// The sources an upstream membership of `receivers` needs: `None` for any source.
fn wanted_sources<A: Address>(receivers: &BTreeSet<(u32, A)>) -> Option<BTreeSet<A>> {
    receivers
        .iter()
        .map(|&(_, source)| (!source.is_unspecified()).then_some(source))
        .collect()
}

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

    fn upstream_iface(&self) -> Iface {
        Iface {
            name: String::new(),
            index: self.upstream,
        }
    }

    /// Joins `group` upstream on a new socket for `sources` (`None`: any source).
    fn join_upstream(&self, group: A, sources: Option<BTreeSet<A>>) -> io::Result<Upstream<A>> {
        let socket = Socket::new(A::DOMAIN, Type::DGRAM, Some(Protocol::UDP))?;
        let iface = self.upstream_iface();
        match &sources {
            None => leaf::join(
                &socket,
                Channel {
                    group,
                    source: None,
                },
                &iface,
            )?,
            Some(sources) => {
                for &source in sources {
                    let source = Some(source);
                    leaf::join(&socket, Channel { group, source }, &iface)?;
                }
            }
        }
        Ok(Upstream { socket, sources })
    }

    /// Brings the upstream membership of `group` to what its receivers need: sources added
    /// to or dropped from a source-specific membership in place, a new socket when the mode
    /// changes (joined before the old one closes).
    fn update_upstream(&mut self, group: A) {
        let iface = self.upstream_iface();
        let Some(state) = self.groups.get_mut(&group) else {
            return;
        };
        let wanted = wanted_sources(&state.receivers);
        match (&mut state.upstream, &wanted) {
            (Some(Upstream { sources: None, .. }), None) => return,
            (
                Some(Upstream {
                    socket,
                    sources: Some(joined),
                }),
                Some(wanted),
            ) => {
                let added: Vec<A> = wanted.difference(joined).copied().collect();
                let dropped: Vec<A> = joined.difference(wanted).copied().collect();
                for source in added {
                    let channel = Channel {
                        group,
                        source: Some(source),
                    };
                    match leaf::join(socket, channel, &iface) {
                        Ok(()) => {
                            joined.insert(source);
                            info!(%group, %source, "proxy: joined the source upstream");
                        }
                        Err(e) => warn!(%group, %source, error = %e, "proxy: upstream join failed"),
                    }
                }
                for source in dropped {
                    let channel = Channel {
                        group,
                        source: Some(source),
                    };
                    if let Err(e) = leaf::leave(socket, channel, &iface) {
                        warn!(%group, %source, error = %e, "proxy: upstream leave failed");
                    }
                    joined.remove(&source);
                    info!(%group, %source, "proxy: left the source upstream");
                }
                return;
            }
            _ => {}
        }
        match self.join_upstream(group, wanted.clone()) {
            Ok(upstream) => {
                info!(%group, ifindex = self.upstream, sources = ?wanted, "proxy: joined upstream");
                if let Some(state) = self.groups.get_mut(&group) {
                    // The old membership closes after the new one is open.
                    state.upstream = Some(upstream);
                }
            }
            Err(e) => warn!(%group, error = %e, "proxy: upstream join failed"),
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
        self.groups
            .entry(sg.group)
            .or_insert_with(|| GroupState {
                receivers: BTreeSet::new(),
                upstream: None,
            })
            .receivers
            .insert((ifid.ifindex, sg.source));
        self.update_upstream(sg.group);
    }

    fn local_leave(&mut self, sg: Sg<A>, ifid: IfId<A>) {
        let Some(state) = self.groups.get_mut(&sg.group) else {
            return;
        };
        state.receivers.remove(&(ifid.ifindex, sg.source));
        if state.receivers.is_empty() {
            // Dropping the socket leaves the group upstream.
            self.groups.remove(&sg.group);
            info!(group = %sg.group, "proxy: left upstream");
        } else {
            self.update_upstream(sg.group);
        }
    }
}
