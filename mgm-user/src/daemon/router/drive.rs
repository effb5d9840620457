//! Draining the MGMs: each family's MGM runs until it has nothing left to do; its actions go
//! to the backend, the hold queues, the monitor and the external protocols, and IGMP's (MLD's)
//! memberships go back into it after an Enable-IGMP callback asked for them.
use super::{family::Family, forwarded, RouterCore, RouterIo};
use crate::{
    dataplane::ForwardingBackend,
    mgm::{Action, Answer, Callback, ProtocolHandle},
};
use std::net::{Ipv4Addr, Ipv6Addr};
use tracing::warn;

/// What one run of an MGM produced: its actions, and the callbacks its in-process protocols
/// handled (with their answers).
pub(super) type Ran<A> = (
    Vec<Action<A>>,
    Vec<(ProtocolHandle, Callback<A>, Option<Answer<A>>)>,
);

impl<B: ForwardingBackend, I: RouterIo> RouterCore<B, I> {
    /// Drains both MGMs' actions into the backend and the protocols, then carries out the
    /// upstream joins the proxy wants if its change flag is up.
    pub(super) fn drive(&mut self) {
        self.drive_family::<Ipv4Addr>();
        self.drive_family::<Ipv6Addr>();
        self.sync_proxy_joins();
    }

    fn drive_family<F: Family>(&mut self) {
        let refused = F::mgm(self).capacity_counters().refused;
        loop {
            let now = self.now();
            // What the built-in protocols handled matters only to a monitor, or as the bracket
            // of an external protocol's call.
            let observed = self.monitor.active() || self.calling.is_some();
            let (actions, handled) = F::run_mgm(self, now, observed);
            for (to, callback, answer) in handled {
                self.delivered_builtin(to, &callback, answer.as_ref());
            }
            let mut excluded = false;
            for action in actions {
                let (action, blocked) = self.without_blocked(action);
                excluded |= blocked;
                self.apply(action);
            }
            let readd = F::take_readd(self);
            if readd.is_empty() && !excluded {
                break;
            }
            for ifid in readd {
                F::readd_memberships(self, ifid.ifindex);
            }
        }
        let newly_refused = F::mgm(self).capacity_counters().refused - refused;
        if newly_refused > 0 {
            warn!(
                family = F::NAME,
                refused = newly_refused,
                "the forwarding table is full of active flows: new entries refused"
            );
        }
    }

    fn apply<F: Family>(&mut self, action: Action<F>) {
        self.monitor.publish_action(&action);
        match action {
            Action::InstallMfe { sg, iif, oifs } | Action::UpdateMfe { sg, iif, oifs } => {
                let oifs = forwarded(iif.ifindex, oifs.iter().map(|i| i.ifindex));
                self.entry_written(sg, iif.ifindex, &oifs);
            }
            Action::DeleteMfe { sg } => self.entry_deleted(sg),
            Action::CreationCancelled { sg } => self.creation_cancelled(sg),
            Action::Callback { to, callback } => self.deliver_external(to, callback),
        }
    }
}
