//! In-process protocols: the [`MgmClient`] trait (one method per callback, each defaulting to
//! the "NULL pointer" outcome of §5) and [`Mgm::drive`], which delivers queued callbacks to such
//! clients and feeds their out-parameters straight back, so they see synchronous semantics.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;

use super::action::{Action, Answer, Callback, IfEntry, RpfAnswer};
use super::address::Address;
use super::types::{IfId, ProtocolHandle, Sg, Timestamp};
use super::Mgm;

/// A protocol's callbacks (`ROUTING_PROTOCOL_CONFIG`). Implement any subset and register the
/// matching [`CallbackSet`](super::CallbackSet): the core never queues a callback whose bit is
/// missing. Return values of the C callbacks are ignored except RPF's (A-10 opt-in).
pub trait MgmClient<A: Address = Ipv4Addr> {
    /// RPF: may change the IIF, upstream and route in `answer`. Non-zero means reject.
    fn rpf(&mut self, _sg: Sg<A>, _header: &[u8], _answer: &mut RpfAnswer<A>) -> u32 {
        0
    }
    /// Creation alert: set `enabled = false` on entries that must not forward.
    fn creation_alert(&mut self, _sg: Sg<A>, _iif: IfId<A>, _entries: &mut [IfEntry<A>]) {}
    /// Prune alert; for FALSE alerts `timeout_s` may be changed.
    fn prune_alert(
        &mut self,
        _sg: Sg<A>,
        _ifid: IfId<A>,
        _member_delete: bool,
        _timeout_s: &mut u32,
    ) {
    }
    /// Join alert.
    fn join_alert(&mut self, _sg: Sg<A>, _member_update: bool) {}
    /// Wrong-interface arrival.
    fn wrong_if(&mut self, _source: A, _group: A, _ifid: IfId<A>, _header: &[u8]) {}
    /// IGMP found receivers on an interface this protocol owns.
    fn local_join(&mut self, _sg: Sg<A>, _ifid: IfId<A>) {}
    /// IGMP's receivers left an interface this protocol owns.
    fn local_leave(&mut self, _sg: Sg<A>, _ifid: IfId<A>) {}
    /// (IGMP) stop adding/deleting memberships on `ifid`.
    fn disable_igmp(&mut self, _ifid: IfId<A>) {}
    /// (IGMP) re-add memberships on `ifid`, later.
    fn enable_igmp(&mut self, _ifid: IfId<A>) {}
}

impl<A: Address> Callback<A> {
    /// Calls the matching method of `client` and returns its out-parameters, if the callback
    /// has any.
    pub fn deliver(self, client: &mut dyn MgmClient<A>) -> Option<Answer<A>> {
        match self {
            Callback::Rpf(q) => {
                let mut answer = q.proposal;
                answer.reject = client.rpf(q.sg, &q.header, &mut answer) != 0;
                Some(Answer::Rpf {
                    query: q.query,
                    answer,
                })
            }
            Callback::CreationAlert(mut q) => {
                client.creation_alert(q.sg, q.iif, &mut q.entries);
                Some(Answer::CreationAlert {
                    query: q.query,
                    entries: q.entries,
                })
            }
            Callback::PruneAlert {
                sg,
                ifid,
                member_delete,
                mut timeout_s,
                reply,
            } => {
                client.prune_alert(sg, ifid, member_delete, &mut timeout_s);
                reply.map(|reply| Answer::PruneAlert { reply, timeout_s })
            }
            Callback::JoinAlert { sg, member_update } => {
                client.join_alert(sg, member_update);
                None
            }
            Callback::WrongIf {
                source,
                group,
                ifid,
                header,
            } => {
                client.wrong_if(source, group, ifid, &header);
                None
            }
            Callback::LocalJoin { sg, ifid } => {
                client.local_join(sg, ifid);
                None
            }
            Callback::LocalLeave { sg, ifid } => {
                client.local_leave(sg, ifid);
                None
            }
            Callback::DisableIgmp { ifid } => {
                client.disable_igmp(ifid);
                None
            }
            Callback::EnableIgmp { ifid } => {
                client.enable_igmp(ifid);
                None
            }
        }
    }
}

/// Finds the in-process client behind a handle.
pub trait ClientDirectory<A: Address = Ipv4Addr> {
    /// The client, or `None` if `h` is served some other way (e.g. out of process).
    fn client(&mut self, h: ProtocolHandle) -> Option<&mut dyn MgmClient<A>>;
}

impl<A: Address, C: MgmClient<A>> ClientDirectory<A> for HashMap<ProtocolHandle, C> {
    fn client(&mut self, h: ProtocolHandle) -> Option<&mut dyn MgmClient<A>> {
        self.get_mut(&h).map(|c| c as &mut dyn MgmClient<A>)
    }
}

impl<A: Address, C: MgmClient<A>> ClientDirectory<A> for BTreeMap<ProtocolHandle, C> {
    fn client(&mut self, h: ProtocolHandle) -> Option<&mut dyn MgmClient<A>> {
        self.get_mut(&h).map(|c| c as &mut dyn MgmClient<A>)
    }
}

/// Told of each in-process delivery: the recipient, the callback, its out-parameters.
type Observer<'a, A> = dyn FnMut(ProtocolHandle, &Callback<A>, Option<&Answer<A>>) + 'a;

impl<A: Address> Mgm<A> {
    /// Drains the queue: callbacks for clients in `clients` are delivered and answered at once
    /// (answers may queue more actions, which are drained too); every other action (backend
    /// operations, callbacks for out-of-process clients) goes to `other`, in order.
    pub fn drive(
        &mut self,
        now: Timestamp,
        clients: &mut dyn ClientDirectory<A>,
        other: &mut dyn FnMut(Action<A>),
    ) {
        self.drive_observed(now, clients, other, &mut |_, _, _| {});
    }

    /// [`Mgm::drive`], with `observe` told of every in-process delivery: the recipient, the
    /// callback and the out-parameters it produced (for event monitors).
    pub fn drive_observed(
        &mut self,
        now: Timestamp,
        clients: &mut dyn ClientDirectory<A>,
        other: &mut dyn FnMut(Action<A>),
        observe: &mut Observer<'_, A>,
    ) {
        while let Some(action) = self.poll_action() {
            match action {
                Action::Callback { to, callback } => match clients.client(to) {
                    Some(client) => {
                        let answer = callback.clone().deliver(client);
                        observe(to, &callback, answer.as_ref());
                        if let Some(answer) = answer {
                            // NotFound only for a prune reply whose MFE this same call
                            // deleted later; nothing is left to apply then.
                            let _ = self.answer(answer, now);
                        }
                    }
                    None => other(Action::Callback { to, callback }),
                },
                action => other(action),
            }
        }
    }
}
