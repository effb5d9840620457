//! IGMP glue: datagrams in, queries out, memberships into the MGM. The MLD glue
//! ([`super::mld_glue`]) shares the MGM side ([`IgmpClient`], [`apply_membership`]).
use super::{family::Family, RouterCore, RouterIo};
use crate::{
    dataplane::ForwardingBackend,
    igmp::{self, ChangeKind, MembershipChange},
    mgm::{
        Action, Address, IfId, MemberFlags, Mgm, MgmClient, MgmError, OifSet, ProtocolHandle, Sg,
        Timestamp,
    },
};
use std::{
    collections::{BTreeMap, BTreeSet},
    net::Ipv4Addr,
    time::Instant,
};
use tracing::{debug, info, warn};

/// IGMP (or MLD, in the IPv6 MGM) as an MGM client: it only needs the disable/enable bracket.
pub(super) struct IgmpClient<A: Address = Ipv4Addr> {
    /// Interfaces whose memberships must be re-added after an Enable-IGMP callback.
    pub(super) readd: Vec<IfId<A>>,
    /// The sources excluded from an EXCLUDE-mode (\*,G), by (ifindex, group): a FORWARD
    /// delete reaches only an entry that exists, so entries created later get it from
    /// here ([`IgmpClient::blocked_oifs`]). Bounded by the protocol's `max_sources`; keyed so
    /// that a (\*,G) leave drops its own sources without visiting the others.
    blocked: BTreeMap<(u32, A), BTreeSet<A>>,
}

impl<A: Address> Default for IgmpClient<A> {
    fn default() -> Self {
        Self {
            readd: Vec::new(),
            blocked: BTreeMap::new(),
        }
    }
}

impl<A: Address> IgmpClient<A> {
    /// Follows the excluded sources through one membership change.
    pub(super) fn track(&mut self, change: &MembershipChange<A>) {
        let key = (change.ifindex, change.group);
        match change.kind {
            ChangeKind::Block(s) => {
                self.blocked.entry(key).or_default().insert(s);
            }
            ChangeKind::Unblock(s) => {
                if let Some(sources) = self.blocked.get_mut(&key) {
                    sources.remove(&s);
                    if sources.is_empty() {
                        self.blocked.remove(&key);
                    }
                }
            }
            ChangeKind::LeaveAny => {
                self.blocked.remove(&key);
            }
            ChangeKind::JoinAny | ChangeKind::JoinSource(_) | ChangeKind::LeaveSource(_) => {}
        }
    }

    /// The outgoing interfaces of a new entry of `sg` that exclude its source.
    pub(super) fn blocked_oifs<'a>(
        &'a self,
        sg: Sg<A>,
        oifs: &'a [IfId<A>],
    ) -> impl Iterator<Item = IfId<A>> + 'a {
        oifs.iter().copied().filter(move |o| {
            self.blocked
                .get(&(o.ifindex, sg.group))
                .is_some_and(|sources| sources.contains(&sg.source))
        })
    }
}

impl<A: Address> MgmClient<A> for IgmpClient<A> {
    fn enable_igmp(&mut self, ifid: IfId<A>) {
        self.readd.push(ifid);
    }
}

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Counts an IGMP frame the receive path dropped (e.g. addressed to another station).
    pub fn igmp_dropped(&mut self, ifindex: u32, reason: crate::igmp::DropReason) {
        self.igmp.count_drop(ifindex, reason);
    }

    /// An IGMP datagram arrived on `ifindex`.
    pub fn igmp_datagram(&mut self, ifindex: u32, datagram: &[u8], now: Instant) {
        self.advance(now);
        let actions = self.igmp.handle_packet(ifindex, datagram, now);
        self.igmp_actions(actions);
        self.drive();
    }

    /// `action` as the backend must see it: a new entry without the interfaces where the
    /// family's IGMP (MLD) excludes its source. Their FORWARD state goes to the MGM first (a
    /// FORWARD delete reaches only an existing entry, A-26), so neither the backend nor the
    /// entry's held packets ever go there. The flag says whether any was excluded (the MGM
    /// then has an update to drain).
    pub(super) fn without_blocked<F: Family>(&mut self, action: Action<F>) -> (Action<F>, bool) {
        let Action::InstallMfe { sg, iif, oifs } = action else {
            return (action, false);
        };
        let (h, client) = F::local(self);
        let (h, blocked) = (
            *h,
            client.blocked_oifs(sg, oifs.as_slice()).collect::<Vec<_>>(),
        );
        if blocked.is_empty() {
            return (Action::InstallMfe { sg, iif, oifs }, false);
        }
        let now = self.now();
        for oif in &blocked {
            let mgm = F::mgm_mut(self);
            if let Err(e) = mgm.delete_membership(h, sg, *oif, MemberFlags::FORWARD, now) {
                warn!(%sg, ifindex = oif.ifindex, error = %e, "excluding a blocked source failed");
            }
        }
        let oifs: OifSet<F> = oifs.iter().filter(|o| !blocked.contains(o)).collect();
        (Action::InstallMfe { sg, iif, oifs }, true)
    }

    pub(super) fn igmp_actions(&mut self, actions: Vec<igmp::Action>) {
        let now = self.now();
        let handle = self.builtins.igmp.0;
        for action in actions {
            match action {
                igmp::Action::Send(t) => self.io.send_igmp(t.ifindex, t.dst, &t.datagram),
                igmp::Action::Membership(change) => {
                    self.builtins.igmp.1.track(&change);
                    if let Err(e) = apply_membership(&mut self.mgm, handle, change, now) {
                        debug!(?change, error = %e, "IGMP membership not applied");
                    }
                }
                igmp::Action::LimitReached(n) => {
                    let interface = self.name_of(n.ifindex);
                    warn!(%interface, ifindex = n.ifindex, limit = ?n.limit, max = n.max, refused = n.refused,
                        "IGMP state bound reached: refused since the last notice");
                }
                igmp::Action::QuerierChanged(n) => log_querier(&n),
            }
        }
    }
}

/// Logs a change of an interface's IGMP querier. Another router querying in an older version
/// than this one's `igmp_version` is a warning: every router of a link must be configured with
/// the oldest version present there (RFC 3376 §7.3.1).
fn log_querier(n: &igmp::QuerierNotice) {
    match n.other {
        Some((querier, version)) if version < n.configured => warn!(ifindex = n.ifindex,
            %querier, ?version, configured = ?n.configured,
            "IGMP querier is another router that queries in an older version than igmp_version: \
             configure every router of the link with the oldest version (RFC 3376 §7.3.1)"),
        Some((querier, version)) => info!(ifindex = n.ifindex, %querier, ?version,
            "IGMP querier is another router (lower address): this router stops its queries"),
        None => info!(
            ifindex = n.ifindex,
            "IGMP querier is this router again: the other querier's queries stopped"
        ),
    }
}

/// Applies one change of IGMP's (or MLD's) memberships to `mgm` as protocol `h`.
pub(super) fn apply_membership<A: Address>(
    mgm: &mut Mgm<A>,
    h: ProtocolHandle,
    change: MembershipChange<A>,
    now: Timestamp,
) -> Result<(), MgmError> {
    let ifid = IfId::index(change.ifindex);
    let star = Sg::star_g(change.group);
    match change.kind {
        ChangeKind::JoinAny => mgm.add_membership(h, star, ifid, MemberFlags::JOIN, now),
        ChangeKind::LeaveAny => mgm.delete_membership(h, star, ifid, MemberFlags::JOIN, now),
        ChangeKind::JoinSource(s) => {
            mgm.add_membership(h, Sg::new(s, change.group), ifid, MemberFlags::JOIN, now)
        }
        ChangeKind::LeaveSource(s) => {
            mgm.delete_membership(h, Sg::new(s, change.group), ifid, MemberFlags::JOIN, now)
        }
        ChangeKind::Block(s) => {
            mgm.delete_membership(h, Sg::new(s, change.group), ifid, MemberFlags::FORWARD, now)
        }
        ChangeKind::Unblock(s) => {
            mgm.add_membership(h, Sg::new(s, change.group), ifid, MemberFlags::FORWARD, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(ifindex: u32, group: [u8; 4], kind: ChangeKind) -> MembershipChange {
        MembershipChange {
            ifindex,
            group: group.into(),
            kind,
        }
    }

    /// The interfaces among 1..=3 that exclude `source` from `group`.
    fn excluding(client: &IgmpClient, source: [u8; 4], group: [u8; 4]) -> Vec<u32> {
        let oifs: Vec<IfId<Ipv4Addr>> = (1..=3).map(IfId::index).collect();
        let sg = Sg::new(source.into(), group.into());
        client.blocked_oifs(sg, &oifs).map(|o| o.ifindex).collect()
    }

    #[test]
    fn excluded_sources_follow_blocks_unblocks_and_leaves_per_interface_and_group() {
        let (g1, g2, s1, s2) = ([239, 1, 1, 1], [239, 1, 1, 2], [10, 0, 0, 1], [10, 0, 0, 2]);
        let mut client = IgmpClient::default();
        for c in [
            change(1, g1, ChangeKind::JoinAny),
            change(1, g1, ChangeKind::Block(s1.into())),
            change(1, g1, ChangeKind::Block(s2.into())),
            change(2, g1, ChangeKind::JoinAny),
            change(2, g1, ChangeKind::Block(s1.into())),
            change(1, g2, ChangeKind::JoinAny),
            change(1, g2, ChangeKind::Block(s1.into())),
            change(3, g1, ChangeKind::JoinSource(s1.into())),
        ] {
            client.track(&c);
        }
        assert_eq!(excluding(&client, s1, g1), [1, 2]);
        assert_eq!(excluding(&client, s2, g1), [1]);
        assert_eq!(excluding(&client, s1, g2), [1]);

        client.track(&change(1, g1, ChangeKind::Unblock(s2.into())));
        assert_eq!(excluding(&client, s2, g1), Vec::<u32>::new());
        assert_eq!(
            excluding(&client, s1, g1),
            [1, 2],
            "the other source stays excluded"
        );

        client.track(&change(1, g1, ChangeKind::LeaveAny));
        assert_eq!(
            excluding(&client, s1, g1),
            [2],
            "the leave is of interface 1 only"
        );
        assert_eq!(excluding(&client, s1, g2), [1], "and of group 1 only");

        client.track(&change(3, g1, ChangeKind::LeaveSource(s1.into())));
        client.track(&change(2, g1, ChangeKind::LeaveAny));
        client.track(&change(1, g2, ChangeKind::LeaveAny));
        assert_eq!(excluding(&client, s1, g1), Vec::<u32>::new());
        assert_eq!(excluding(&client, s1, g2), Vec::<u32>::new());
        assert!(
            client.blocked.is_empty(),
            "nothing is held once every group is left"
        );
    }

    #[test]
    fn unblocking_a_source_never_blocked_holds_nothing() {
        let mut client = IgmpClient::default();
        client.track(&change(
            1,
            [239, 1, 1, 1],
            ChangeKind::Unblock([10, 0, 0, 1].into()),
        ));
        client.track(&change(1, [239, 1, 1, 1], ChangeKind::LeaveAny));
        assert!(client.blocked.is_empty());
    }
}
