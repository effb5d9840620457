//! IGMP glue: datagrams in, queries out, memberships into the MGM.
use super::{RouterCore, RouterIo};
use crate::{
    dataplane::ForwardingBackend,
    igmp::{self, ChangeKind, MembershipChange},
    mgm::{IfId, MemberFlags, Mgm, MgmError, ProtocolHandle, Sg, Timestamp},
};
use std::time::Instant;
use tracing::{debug, warn};

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

    pub(super) fn igmp_actions(&mut self, actions: Vec<igmp::Action>) {
        let now = self.now();
        let handle = self.builtins.igmp.0;
        for action in actions {
            match action {
                igmp::Action::Send(t) => self.io.send_igmp(t.ifindex, t.dst, &t.datagram),
                igmp::Action::Membership(change) => {
                    if let Err(e) = apply_membership(&mut self.mgm, handle, change, now) {
                        debug!(?change, error = %e, "IGMP membership not applied");
                    }
                }
                igmp::Action::LimitReached(n) => {
                    warn!(ifindex = n.ifindex, limit = ?n.limit, max = n.max, refused = n.refused,
                        "IGMP state bound reached: refused since the last notice");
                }
            }
        }
    }
}

fn apply_membership(
    mgm: &mut Mgm,
    h: ProtocolHandle,
    change: MembershipChange,
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
