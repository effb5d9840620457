//! Alert targeting (spec §6.3): the W/S rules for membership-driven alerts (TRUE flag) and the
//! M rules for MFE-driven alerts (FALSE flag).

use std::time::Duration;

use super::action::{Callback, PruneReply};
use super::address::Address;
use super::outbox::Phase;
use super::types::{IfId, ProtocolHandle, Sg, Timestamp};
use super::Mgm;

/// W1–W3 (and A1 for (\*,\*), A-43): who hears that `x` added a wildcard membership, given
/// the clients present on that key before.
pub(crate) fn wildcard_join_recipients(
    present_before: &[ProtocolHandle],
    x: ProtocolHandle,
    registered: impl Iterator<Item = ProtocolHandle>,
) -> Vec<ProtocolHandle> {
    if present_before.contains(&x) {
        return Vec::new(); // W3: X was already present.
    }
    match present_before {
        [] => registered.filter(|c| *c != x).collect(), // W1: the first.
        [y] => vec![*y],                                // W2: the second.
        _ => Vec::new(),                                // W3: two or more already.
    }
}

/// W4–W6: who hears that `x` deleted its last wildcard membership on a key, given the
/// clients present after. (A delete that was not X's last is W6: nobody, decided by the caller.)
pub(crate) fn wildcard_prune_recipients(
    present_after: &[ProtocolHandle],
    x: ProtocolHandle,
    registered: impl Iterator<Item = ProtocolHandle>,
) -> Vec<ProtocolHandle> {
    match present_after {
        [] => registered.filter(|c| *c != x).collect(), // W5: nobody left.
        [y] => vec![*y],                                // W4: one left.
        _ => Vec::new(),                                // W6.
    }
}

/// S1/S2: the RPF owner toward S hears of the first/last (S,G) membership, unless it is the
/// caller or there is none.
pub(crate) fn source_alert_recipient(
    rpf_owner: Option<ProtocolHandle>,
    x: ProtocolHandle,
) -> Option<ProtocolHandle> {
    rpf_owner.filter(|o| *o != x)
}

impl<A: Address> Mgm<A> {
    /// Queues the W/S join alerts for `x` adding `sg`, given the state before the insert.
    pub(crate) fn alert_membership_join(
        &mut self,
        x: ProtocolHandle,
        sg: Sg<A>,
        present_before: &[ProtocolHandle],
        holders_before: usize,
    ) {
        let to = if sg.is_wildcard_source() {
            wildcard_join_recipients(present_before, x, self.registry.clients.keys().copied())
        } else {
            self.source_rule(x, sg, holders_before == 0)
        };
        for c in to {
            let cb = Callback::JoinAlert {
                sg,
                member_update: true,
            };
            self.send(Phase::Membership, c, cb);
        }
    }

    /// Queues the W/S prune alerts for `x` deleting `sg` on `ifid`, given the state after.
    pub(crate) fn alert_membership_prune(
        &mut self,
        x: ProtocolHandle,
        sg: Sg<A>,
        ifid: IfId<A>,
        x_still_present: bool,
        present_after: &[ProtocolHandle],
        holders_after: usize,
    ) {
        let to = if sg.is_wildcard_source() {
            if x_still_present {
                Vec::new() // W6: not X's last.
            } else {
                wildcard_prune_recipients(present_after, x, self.registry.clients.keys().copied())
            }
        } else {
            self.source_rule(x, sg, holders_after == 0)
        };
        for c in to {
            let cb = Callback::PruneAlert {
                sg,
                ifid,
                member_delete: true,
                timeout_s: self.config.mfe_timeout_s,
                reply: None,
            };
            self.send(Phase::Membership, c, cb);
        }
    }

    /// M1: the MFE's OIF list became non-empty; tell the IIF owner.
    pub(crate) fn alert_mfe_join(&mut self, sg: Sg<A>, iif: IfId<A>) {
        if let Some(owner) = self.registry.owner(iif) {
            let cb = Callback::JoinAlert {
                sg,
                member_update: false,
            };
            self.send(Phase::Mfe, owner, cb);
        }
    }

    /// M2/M3: the MFE's OIF list is empty. Its lifetime becomes the default prune timeout,
    /// restarted now; the IIF owner may answer with another value.
    pub(crate) fn alert_mfe_prune(&mut self, sg: Sg<A>, now: Timestamp) {
        let timeout_s = self.config.mfe_timeout_s;
        let Some(m) = self.mfes.get(sg) else { return };
        let (iif, epoch) = (m.iif(), m.epoch);
        self.mfes
            .set_lifetime(sg, timeout_s, now + Duration::from_secs(timeout_s.into()));
        if let Some(owner) = self.registry.owner(iif) {
            let cb = Callback::PruneAlert {
                sg,
                ifid: iif,
                member_delete: false,
                timeout_s,
                reply: Some(PruneReply { sg, epoch }),
            };
            self.send(Phase::Mfe, owner, cb);
        }
    }

    /// Applies the answer to a FALSE prune alert: lifetime = `timeout_s`, restarted now.
    pub(crate) fn answer_prune(
        &mut self,
        reply: PruneReply<A>,
        timeout_s: u32,
        now: Timestamp,
    ) -> Result<(), super::MgmError> {
        match self.mfes.get(reply.sg) {
            Some(m) if m.epoch == reply.epoch => {
                let at = now + Duration::from_secs(timeout_s.into());
                self.mfes.set_lifetime(reply.sg, timeout_s, at);
                Ok(())
            }
            _ => Err(super::MgmError::NotFound),
        }
    }

    /// S1/S2 recipients: the RPF owner on a first-add/last-delete `transition`, else nobody.
    fn source_rule(&self, x: ProtocolHandle, sg: Sg<A>, transition: bool) -> Vec<ProtocolHandle> {
        if !transition {
            return Vec::new();
        }
        source_alert_recipient(self.rpf_owner(sg), x)
            .into_iter()
            .collect()
    }

    /// Owner of the RPF interface toward `sg.source` in the RIB (S1/S2).
    fn rpf_owner(&self, sg: Sg<A>) -> Option<ProtocolHandle> {
        let route = self.rpf.lookup(sg.source)?;
        self.registry.owner(route.iif)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const X: ProtocolHandle = ProtocolHandle(1);
    const Y: ProtocolHandle = ProtocolHandle(2);
    const Z: ProtocolHandle = ProtocolHandle(3);

    fn all() -> impl Iterator<Item = ProtocolHandle> {
        [X, Y, Z].into_iter()
    }

    #[test]
    fn w1_first_client_alerts_all_others() {
        assert_eq!(wildcard_join_recipients(&[], X, all()), vec![Y, Z]);
    }

    #[test]
    fn w2_second_client_alerts_the_first_only() {
        assert_eq!(wildcard_join_recipients(&[Y], X, all()), vec![Y]);
    }

    #[test]
    fn w3_third_or_repeat_alerts_nobody() {
        assert!(wildcard_join_recipients(&[Y, Z], X, all()).is_empty());
        assert!(wildcard_join_recipients(&[X], X, all()).is_empty());
    }

    #[test]
    fn w4_one_left_hears_the_prune() {
        assert_eq!(wildcard_prune_recipients(&[Y], X, all()), vec![Y]);
    }

    #[test]
    fn w5_last_leaver_alerts_all_others() {
        assert_eq!(wildcard_prune_recipients(&[], X, all()), vec![Y, Z]);
    }

    #[test]
    fn w6_two_left_alerts_nobody() {
        assert!(wildcard_prune_recipients(&[Y, Z], X, all()).is_empty());
    }

    #[test]
    fn s_rules_skip_the_caller_and_missing_owner() {
        assert_eq!(source_alert_recipient(Some(Y), X), Some(Y));
        assert_eq!(source_alert_recipient(Some(X), X), None);
        assert_eq!(source_alert_recipient(None, X), None);
    }
}
