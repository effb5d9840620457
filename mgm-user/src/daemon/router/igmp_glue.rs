//! IGMP glue: datagrams in, queries out, memberships into the MGM.
use super::*;

impl Router {
    /// An IGMP datagram arrived on `ifindex`.
    pub fn igmp_datagram(&mut self, ifindex: u32, datagram: &[u8]) {
        let actions = self.igmp.handle_packet(ifindex, datagram, Instant::now());
        self.igmp_actions(actions);
        self.drive();
    }

    pub(super) fn igmp_actions(&mut self, actions: Vec<igmp::Action>) {
        let now = self.now();
        let handle = self.builtins.igmp.0;
        for action in actions {
            match action {
                igmp::Action::Send(t) => {
                    if let Some(io) = &self.igmp_io {
                        if let Err(e) = io.send(t.ifindex, t.dst, &t.datagram) {
                            debug!(ifindex = t.ifindex, error = %e, "IGMP send failed");
                        }
                    }
                }
                igmp::Action::Membership(change) => {
                    if let Err(e) = apply_membership(&mut self.mgm, handle, change, now) {
                        debug!(?change, error = %e, "IGMP membership not applied");
                    }
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
