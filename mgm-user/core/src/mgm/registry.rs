//! Protocol registration (spec §4.1, §4.2) and the ownership records that other modules query.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::action::{Action, Callback};
use super::address::Address;
use super::error::MgmError;
use super::outbox::Phase;
use super::types::{CallbackSet, IfId, ProtocolHandle};
use super::Mgm;

/// A registered protocol.
#[derive(Debug)]
pub(crate) struct Client<A: Address> {
    pub(crate) protocol_id: u32,
    pub(crate) component_id: u32,
    pub(crate) callbacks: CallbackSet,
    pub(crate) is_igmp: bool,
    /// Interfaces it owns (for IGMP: owns or co-owns).
    pub(crate) owned: BTreeSet<IfId<A>>,
    /// Per-protocol settings.
    pub(crate) options: ClientOptions,
}

/// Per-protocol settings a protocol may choose after registering
/// ([`Mgm::set_client_options`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long this protocol's RPF and creation-alert questions wait for an answer; `None`
    /// is [`Config::answer_deadline`](super::Config::answer_deadline).
    pub answer_deadline: Option<std::time::Duration>,
    /// A-10 opt-in for this protocol: a rejecting RPF answer makes the MFE negative (also
    /// on when [`Config::rpf_reject_creates_negative`](super::Config::rpf_reject_creates_negative)
    /// is set for everyone).
    pub rpf_reject_creates_negative: bool,
}

/// Who owns an interface: at most one routing protocol, plus IGMP (spec §1.6).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct IfState {
    pub(crate) owner: Option<ProtocolHandle>,
    pub(crate) igmp: bool,
}

/// Clients in registration order (handles grow) and interface ownership.
#[derive(Debug)]
pub(crate) struct Registry<A: Address> {
    pub(crate) clients: BTreeMap<ProtocolHandle, Client<A>>,
    pub(crate) igmp: Option<ProtocolHandle>,
    pub(crate) interfaces: HashMap<IfId<A>, IfState>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for Registry<A> {
    fn default() -> Self {
        Registry {
            clients: Default::default(),
            igmp: Default::default(),
            interfaces: Default::default(),
        }
    }
}

impl<A: Address> Registry<A> {
    /// The client behind `h`, or `InvalidParameter`.
    pub(crate) fn client(&self, h: ProtocolHandle) -> Result<&Client<A>, MgmError> {
        self.clients.get(&h).ok_or(MgmError::InvalidParameter)
    }

    /// Whether `h` is the registered IGMP.
    pub(crate) fn is_igmp(&self, h: ProtocolHandle) -> bool {
        self.igmp == Some(h)
    }

    /// The routing protocol (not IGMP) owning `ifid`.
    pub(crate) fn routing_owner(&self, ifid: IfId<A>) -> Option<ProtocolHandle> {
        self.interfaces.get(&ifid).and_then(|s| s.owner)
    }

    /// The interface's owner for callback targeting: the routing protocol, else IGMP.
    pub(crate) fn owner(&self, ifid: IfId<A>) -> Option<ProtocolHandle> {
        let state = self.interfaces.get(&ifid)?;
        state.owner.or(if state.igmp { self.igmp } else { None })
    }

    /// Whether IGMP owns or co-owns `ifid` (`bIGMP`, A-11).
    pub(crate) fn igmp_on(&self, ifid: IfId<A>) -> bool {
        self.interfaces.get(&ifid).is_some_and(|s| s.igmp)
    }

    /// Protocol id of `ifid`'s owner, 0 when nobody owns it (`dwInIfProtocol`).
    pub(crate) fn owner_protocol_id(&self, ifid: IfId<A>) -> u32 {
        self.owner(ifid)
            .and_then(|h| self.clients.get(&h))
            .map_or(0, |c| c.protocol_id)
    }

    /// Whether `h` is registered and supplied the callback `cb` needs.
    pub(crate) fn accepts(&self, h: ProtocolHandle, cb: &Callback<A>) -> bool {
        self.clients
            .get(&h)
            .is_some_and(|c| c.callbacks.contains(required(cb)))
    }
}

impl<A: Address> Callback<A> {
    /// The [`CallbackSet`] bit a protocol must have registered to receive this callback.
    pub fn needs(&self) -> CallbackSet {
        required(self)
    }
}

/// The `CallbackSet` bit a callback needs.
pub(crate) fn required<A: Address>(cb: &Callback<A>) -> CallbackSet {
    match cb {
        Callback::Rpf(_) => CallbackSet::RPF,
        Callback::CreationAlert(_) => CallbackSet::CREATION_ALERT,
        Callback::PruneAlert { .. } => CallbackSet::PRUNE_ALERT,
        Callback::JoinAlert { .. } => CallbackSet::JOIN_ALERT,
        Callback::WrongIf { .. } => CallbackSet::WRONG_IF,
        Callback::LocalJoin { .. } => CallbackSet::LOCAL_JOIN,
        Callback::LocalLeave { .. } => CallbackSet::LOCAL_LEAVE,
        Callback::DisableIgmp { .. } => CallbackSet::DISABLE_IGMP,
        Callback::EnableIgmp { .. } => CallbackSet::ENABLE_IGMP,
    }
}

impl<A: Address> Mgm<A> {
    /// `MgmRegisterMProtocol`: registers a protocol instance with the callbacks it supplies.
    /// The (protocol id, component id) pair must be unique (`AlreadyExists`); a second IGMP
    /// with another component id gets `CanNotComplete`. Registration fires no callbacks.
    pub fn register(
        &mut self,
        protocol_id: u32,
        component_id: u32,
        callbacks: CallbackSet,
    ) -> Result<ProtocolHandle, MgmError> {
        let reg = &self.registry;
        if reg
            .clients
            .values()
            .any(|c| c.protocol_id == protocol_id && c.component_id == component_id)
        {
            return Err(MgmError::AlreadyExists);
        }
        let is_igmp = protocol_id == self.config.igmp_protocol_id;
        if is_igmp && reg.igmp.is_some() {
            return Err(MgmError::CanNotComplete);
        }
        let h = ProtocolHandle(self.serial());
        self.registry.clients.insert(
            h,
            Client {
                protocol_id,
                component_id,
                callbacks,
                is_igmp,
                owned: BTreeSet::new(),
                options: ClientOptions::default(),
            },
        );
        if is_igmp {
            self.registry.igmp = Some(h);
        }
        Ok(h)
    }

    /// Sets the per-protocol options of `h` (`InvalidParameter` for a bad handle).
    pub fn set_client_options(
        &mut self,
        h: ProtocolHandle,
        options: ClientOptions,
    ) -> Result<(), MgmError> {
        let c = self
            .registry
            .clients
            .get_mut(&h)
            .ok_or(MgmError::InvalidParameter)?;
        c.options = options;
        Ok(())
    }

    /// The per-protocol options of `h`.
    pub fn client_options(&self, h: ProtocolHandle) -> Result<ClientOptions, MgmError> {
        Ok(self.registry.client(h)?.options)
    }

    /// How long questions to `h` wait for their answer.
    pub fn answer_deadline_of(&self, h: ProtocolHandle) -> std::time::Duration {
        self.registry
            .clients
            .get(&h)
            .and_then(|c| c.options.answer_deadline)
            .unwrap_or(self.config.answer_deadline)
    }

    /// The interfaces `h` owns (for IGMP: owns or co-owns), whatever their state.
    pub fn owned_interfaces(&self, h: ProtocolHandle) -> Vec<IfId<A>> {
        self.registry
            .clients
            .get(&h)
            .map(|c| c.owned.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `MgmDeRegisterMProtocol`: fails with `CanNotComplete` while the protocol owns any
    /// interface. On success its group enumerations die and no callback still queued for it is
    /// ever returned by [`Mgm::poll_action`].
    pub fn deregister(&mut self, h: ProtocolHandle) -> Result<(), MgmError> {
        if !self.registry.client(h)?.owned.is_empty() {
            return Err(MgmError::CanNotComplete);
        }
        self.registry.clients.remove(&h);
        if self.registry.igmp == Some(h) {
            self.registry.igmp = None;
        }
        self.enums.drop_owner(h);
        Ok(())
    }

    /// `MgmGetProtocolOnInterface`: (protocol id, component id) of the owner; the routing
    /// protocol when IGMP co-owns; `NotFound` when nobody owns the interface.
    pub fn protocol_on_interface(&self, ifid: IfId<A>) -> Result<(u32, u32), MgmError> {
        let h = self.registry.owner(ifid).ok_or(MgmError::NotFound)?;
        let c = self.registry.client(h).map_err(|_| MgmError::NotFound)?;
        Ok((c.protocol_id, c.component_id))
    }

    /// The handle of the registered IGMP, if any.
    pub fn igmp(&self) -> Option<ProtocolHandle> {
        self.registry.igmp
    }

    /// Stages `callback` to `to` if `to` supplied that callback (A-09: otherwise skipped).
    pub(crate) fn send(&mut self, phase: Phase, to: ProtocolHandle, callback: Callback<A>) {
        if self.registry.accepts(to, &callback) {
            self.out.stage(phase, Action::Callback { to, callback });
        }
    }
}
