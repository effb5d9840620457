//! The action queue. Work done by one API call is staged by phase and committed in the order
//! of spec §6.11 (Disable-IGMP, forwarding changes, questions, W/S alerts, LocalJoin/Leave,
//! M alerts, Enable-IGMP), so callbacks always describe committed state.

use std::collections::{HashMap, VecDeque};

use super::action::{Action, Callback};
use super::address::Address;
use super::types::IfId;

/// Where a staged action goes in the committed order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Disable-IGMP, before anything else.
    Open,
    /// Install/update/delete for the backend.
    Forwarding,
    /// RPF and creation-alert questions.
    Question,
    /// Membership-driven (W/S) alerts.
    Membership,
    /// LocalJoin / LocalLeave.
    Local,
    /// MFE-driven (M) alerts.
    Mfe,
    /// Enable-IGMP, after everything else.
    Close,
}

const PHASES: usize = 7;

/// Staged and committed actions, plus the IGMP disable windows they imply.
#[derive(Debug)]
pub(crate) struct Outbox<A: Address> {
    queue: VecDeque<Action<A>>,
    staged: [Vec<Action<A>>; PHASES],
    /// Interfaces whose Enable-IGMP is queued but not yet polled, with a count.
    igmp_window: HashMap<IfId<A>, u32>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for Outbox<A> {
    fn default() -> Self {
        Outbox {
            queue: Default::default(),
            staged: Default::default(),
            igmp_window: Default::default(),
        }
    }
}

impl<A: Address> Outbox<A> {
    /// Stages `action` in `phase`.
    pub(crate) fn stage(&mut self, phase: Phase, action: Action<A>) {
        self.staged[phase as usize].push(action);
    }

    /// Moves staged actions to the queue in phase order.
    pub(crate) fn commit(&mut self) {
        for bucket in &mut self.staged {
            for action in bucket.drain(..) {
                if let Some(ifid) = enable_igmp_of(&action) {
                    *self.igmp_window.entry(ifid).or_default() += 1;
                }
                self.queue.push_back(action);
            }
        }
    }

    /// Takes the oldest committed action.
    pub(crate) fn pop(&mut self) -> Option<Action<A>> {
        let action = self.queue.pop_front()?;
        if let Some(ifid) = enable_igmp_of(&action) {
            if let Some(n) = self.igmp_window.get_mut(&ifid) {
                *n -= 1;
                if *n == 0 {
                    self.igmp_window.remove(&ifid);
                }
            }
        }
        Some(action)
    }

    /// True between a Disable-IGMP for `ifid` and the polling of its Enable-IGMP.
    pub(crate) fn igmp_disabled(&self, ifid: IfId<A>) -> bool {
        self.igmp_window.contains_key(&ifid)
    }

    /// Number of committed actions not yet polled.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }
}

fn enable_igmp_of<A: Address>(action: &Action<A>) -> Option<IfId<A>> {
    match action {
        Action::Callback {
            callback: Callback::EnableIgmp { ifid },
            ..
        } => Some(*ifid),
        _ => None,
    }
}
