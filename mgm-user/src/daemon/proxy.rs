//! The built-in `proxy` routing protocol: IGMP/MLD-based forwarding (RFC 4605), one instance
//! per address family (one in each MGM).
//!
//! It owns one upstream interface, where the router acts as a host, and downstream interfaces,
//! where IGMP (IPv4) or MLD (IPv6) runs the router side. Every flow is expected from upstream
//! (its RPF answer), and the memberships on the downstream interfaces make up the outgoing
//! lists.
//!
//! The proxy does no I/O: from the receivers IGMP and MLD find downstream (local joins and
//! leaves) it derives the upstream memberships it wants ([`ProxyProtocol::upstream_joins`]),
//! and the router core carries them out as host joins on the upstream interface through its
//! I/O port (`router/host_joins.rs`), so the kernel reports them to the upstream router (IGMP
//! or MLD reports). The first receiver of a group makes it wanted, the last one leaving drops
//! it.
//!
//! The upstream membership of a group is the union of the downstream ones (RFC 4605 §4.1):
//! while every receiver of the group asks for given sources (IGMPv3/MLDv2 INCLUDE), the proxy
//! wants those sources only, (group, source) each (reported upstream as an INCLUDE record);
//! one any-source receiver (EXCLUDE mode, IGMPv2, MLDv1) makes it want (group, any source)
//! instead (its excluded sources are not passed upstream: EXCLUDE {} covers them).
use crate::mgm::{Address, CallbackSet, IfId, MgmClient, RpfAnswer, Sg};
use std::collections::{BTreeMap, BTreeSet};

/// The proxy's state in the MGM of family `A`.
pub struct ProxyProtocol<A: Address = std::net::Ipv4Addr> {
    upstream: u32,
    downstream: BTreeSet<u32>,
    /// The receivers of each group with receivers: (downstream ifindex, source or the
    /// unspecified address).
    groups: BTreeMap<A, BTreeSet<(u32, A)>>,
    /// Whether the wanted upstream memberships or the upstream interface may have changed
    /// since [`ProxyProtocol::take_changed`].
    changed: bool,
}

impl<A: Address> ProxyProtocol<A> {
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
            changed: false,
        }
    }

    /// Follows the interfaces' current ifindexes (0: the upstream interface is out of
    /// service); the receivers found stay. A change of the upstream one raises the change
    /// flag: the upstream joins are made on it.
    pub fn set_interfaces(&mut self, upstream: u32, downstream: impl IntoIterator<Item = u32>) {
        self.changed |= self.upstream != upstream;
        self.upstream = upstream;
        self.downstream = downstream.into_iter().collect();
    }

    /// The upstream memberships the receivers need, (group, source; `None`: any source), in
    /// group order.
    pub fn upstream_joins(&self) -> impl Iterator<Item = (A, Option<A>)> + '_ {
        self.groups.iter().flat_map(|(&group, receivers)| {
            let any_source = receivers.iter().any(|(_, s)| s.is_unspecified());
            let sources: BTreeSet<Option<A>> = if any_source {
                BTreeSet::from([None])
            } else {
                receivers.iter().map(|&(_, s)| Some(s)).collect()
            };
            sources.into_iter().map(move |source| (group, source))
        })
    }

    /// Whether [`ProxyProtocol::upstream_joins`] or the upstream interface may have changed
    /// since the last call.
    pub fn take_changed(&mut self) -> bool {
        std::mem::take(&mut self.changed)
    }
}

impl<A: Address> MgmClient<A> for ProxyProtocol<A> {
    /// Every flow comes from upstream.
    fn rpf(&mut self, _sg: Sg<A>, _header: &[u8], answer: &mut RpfAnswer<A>) -> u32 {
        answer.iif = IfId::index(self.upstream);
        0
    }

    fn local_join(&mut self, sg: Sg<A>, ifid: IfId<A>) {
        if !self.downstream.contains(&ifid.ifindex) || sg.group.is_unspecified() {
            return;
        }
        self.changed |= self
            .groups
            .entry(sg.group)
            .or_default()
            .insert((ifid.ifindex, sg.source));
    }

    fn local_leave(&mut self, sg: Sg<A>, ifid: IfId<A>) {
        let Some(receivers) = self.groups.get_mut(&sg.group) else {
            return;
        };
        self.changed |= receivers.remove(&(ifid.ifindex, sg.source));
        if receivers.is_empty() {
            self.groups.remove(&sg.group);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const G: Ipv4Addr = Ipv4Addr::new(232, 1, 1, 1);
    const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const S2: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn joins(proxy: &ProxyProtocol) -> Vec<(Ipv4Addr, Option<Ipv4Addr>)> {
        proxy.upstream_joins().collect()
    }

    #[test]
    fn include_receivers_want_their_sources_and_one_any_source_receiver_wants_any() {
        let mut proxy = ProxyProtocol::new(1, [2, 3]);
        proxy.local_join(Sg::new(S1, G), IfId::index(2));
        proxy.local_join(Sg::new(S2, G), IfId::index(3));
        assert!(proxy.take_changed());
        assert_eq!(joins(&proxy), [(G, Some(S1)), (G, Some(S2))]);
        proxy.local_join(Sg::new(Ipv4Addr::UNSPECIFIED, G), IfId::index(3));
        assert_eq!(joins(&proxy), [(G, None)]);
        proxy.local_leave(Sg::new(Ipv4Addr::UNSPECIFIED, G), IfId::index(3));
        assert_eq!(joins(&proxy), [(G, Some(S1)), (G, Some(S2))]);
        proxy.local_leave(Sg::new(S1, G), IfId::index(2));
        proxy.local_leave(Sg::new(S2, G), IfId::index(3));
        assert!(proxy.take_changed());
        assert_eq!(joins(&proxy), []);
    }

    #[test]
    fn a_change_of_the_upstream_interface_raises_the_change_flag_and_of_the_downstream_ones_not() {
        let mut proxy = ProxyProtocol::<Ipv4Addr>::new(1, [2]);
        proxy.set_interfaces(1, [2, 3]);
        assert!(!proxy.take_changed());
        proxy.set_interfaces(0, [2, 3]);
        assert!(proxy.take_changed(), "out of service");
        proxy.set_interfaces(4, [2, 3]);
        assert!(proxy.take_changed(), "a new ifindex");
        assert!(!proxy.take_changed());
    }

    #[test]
    fn receivers_outside_the_downstream_interfaces_change_nothing() {
        let mut proxy = ProxyProtocol::new(1, [2]);
        proxy.local_join(Sg::new(S1, G), IfId::index(1));
        proxy.local_leave(Sg::new(S1, G), IfId::index(2));
        assert!(!proxy.take_changed());
        assert_eq!(joins(&proxy), []);
    }
}
