//! The Multicast Group Manager core: the semantics of docs/mgm-spec.md as a deterministic,
//! sans-IO state machine.
//!
//! # Shape
//! [`Mgm`] owns all state. Every call takes its inputs, including the current time as a
//! [`Timestamp`] (the core never reads a clock), commits the state change, and queues
//! [`Action`]s. The driver drains them with [`Mgm::poll_action`] after each call:
//! [`Action::Callback`] goes to a protocol, the MFE actions go to the forwarding backend. The
//! driver calls [`Mgm::tick`] no later than [`Mgm::next_timeout`]. No I/O, threads or locks live
//! here, so a callback handler that calls back into `Mgm` cannot deadlock (§6.11): the state it
//! sees is already committed.
//!
//! Inputs from the data plane: [`Mgm::packet_miss`] (creation path, §6.4),
//! [`Mgm::wrong_interface`] (§5.5), [`Mgm::report_stats`] (counters the core cannot see), and
//! [`Mgm::route_changed`] from the RIB (A-30). RPF lookups go through a pluggable
//! [`RpfProvider`].
//!
//! # Driving it
//! ```
//! use std::net::Ipv4Addr;
//! use mgm_core::mgm::*;
//!
//! let mut rib = StaticRib::new();
//! rib.insert(Ipv4Addr::new(10, 0, 0, 0), 8, IfId::index(2), Ipv4Addr::UNSPECIFIED);
//! let mut mgm = Mgm::new(Config::default(), Box::new(rib));
//! let now = Timestamp::from_secs(1);
//! let pim = mgm.register(protocol_id(1, 0, 5), 1, CallbackSet::all()).unwrap();
//! mgm.take_interface_ownership(pim, IfId::index(1), now).unwrap();
//! mgm.take_interface_ownership(pim, IfId::index(2), now).unwrap();
//! let g = Ipv4Addr::new(239, 1, 1, 1);
//! mgm.add_membership(pim, Sg::star_g(g), IfId::index(1), MemberFlags::JOIN, now).unwrap();
//! mgm.packet_miss(Ipv4Addr::new(10, 0, 0, 7), g, 2, &[], now).unwrap();
//!
//! struct Pim; // an in-process protocol keeping every default
//! impl MgmClient for Pim {}
//! let mut clients = std::collections::HashMap::from([(pim, Pim)]);
//! let mut backend = Vec::new();
//! mgm.drive(now, &mut clients, &mut |action| backend.push(action));
//! assert!(matches!(&backend[..], [Action::InstallMfe { oifs, .. }] if oifs.len() == 1));
//! if let Some(at) = mgm.next_timeout() {
//!     mgm.tick(at); // the daemon's timer fires
//! }
//! ```
//!
//! # Address families (A-57)
//! One core serves both families: [`Mgm`] and every type that holds an address ([`Sg`],
//! [`IfId`], [`RouteInfo`], [`Mfe`], [`Action`], [`Callback`], [`RpfProvider`], [`StaticRib`],
//! [`MgmClient`], ...) take the address type `A` ([`Address`]: [`Ipv4Addr`] or
//! [`std::net::Ipv6Addr`], sealed) as a parameter that defaults to [`Ipv4Addr`]. So `Mgm` is the
//! IPv4 manager and `Mgm<Ipv6Addr>` the IPv6 one, and a dual-stack router runs one of each, with
//! its own RIB, registrations, interface ownership, memberships and MFEs (handles are numbered
//! per manager). In the IPv6 manager MLD plays the part the spec gives IGMP (A-19, the
//! Disable/Enable-IGMP bracket, LocalJoin/LocalLeave); the callbacks keep their names.
//!
//! Why generic rather than one copy per family: the rules of §4–§7 never look inside an
//! address, they compare, order, hash and mask it, so a second copy would duplicate every rule
//! and its tests. Why not one manager holding both families (an enum address): an IPv4 (S,G)
//! would grow to the size of an IPv6 one in every table, and a key mixing families means
//! nothing. A generic type has the layout of its family, so IPv4 entries cost what they did.
//!
//! The Windows MGM API is IPv4-only (DWORD addresses): its byte-buffer records (`MIB_IPMCAST_*`,
//! `SOURCE_GROUP_ENTRY`, §3) keep their layouts byte for byte in `Mgm<Ipv4Addr>`; the IPv6
//! manager serves the same records with every address field 16 bytes wide (decision A-57).
//!
//! # Callbacks with out-parameters
//! RPF and creation alerts are *questions*: packet-driven creation is a pending state keyed by
//! (S,G) (the "resolving" marker of §6.11) that emits [`Callback::Rpf`] and then one
//! [`Callback::CreationAlert`] per owning protocol, each with a [`QueryId`]. The driver completes
//! them with [`Mgm::answer`]. An in-process protocol answers at once: [`Mgm::drive`] delivers a
//! callback to an [`MgmClient`] and feeds its out-parameters back immediately. An out-of-process
//! protocol answers whenever its reply arrives; a question still open after its protocol's
//! deadline ([`ClientOptions::answer_deadline`], by default [`Config::answer_deadline`]) takes
//! its documented default on the next tick (keep the RIB's
//! RPF values; forward on every offered interface). Only when every question is answered is the
//! MFE built and [`Action::InstallMfe`] queued (A-33). A FALSE prune alert applies the default
//! lifetime at once and carries a [`PruneReply`]; answering it later sets the lifetime (A-35).
//!
//! # Ordering
//! Actions of one call are queued as: Disable-IGMP, forwarding changes, questions, W/S alerts,
//! LocalJoin/Leave, M alerts, Enable-IGMP (§6.11, A-39). The IGMP disable window of A-24 lasts
//! until the driver has polled the Enable-IGMP action, so an IGMP that calls in while handling
//! Disable-IGMP gets `CanNotComplete`.
//!
//! # Register decisions narrowed or changed
//! Every §4–§7 rule and §11 decision is implemented as stated, except:
//! * A-41: only attribution by caller. Attribution by owner would move IGMP's memberships
//!   between clients on every ownership change, for which the spec defines no alerts.
//! * A-40: no `mfe_deleted` extension; backends learn deletions from [`Action::DeleteMfe`].
//! * §6.11 self-deregistration from inside a callback cannot be detected by a sans-IO core
//!   (callbacks run after the call returned); instead callbacks still queued for a protocol
//!   that deregisters are dropped by [`Mgm::poll_action`], which gives the same guarantee.
//! * §6.4 step 8 (optional WrongIf on the creating packet): not sent; the backend reports later
//!   wrong-interface packets through [`Mgm::wrong_interface`].
//! * The table is bounded ([`Config::max_mfes`], [`Config::max_negative_mfes`]): a new entry
//!   that does not fit evicts the oldest negative entry, then the oldest idle one, and is
//!   refused rather than evict an active flow (see `capacity.rs`).
//! * A-32/A-10 negative entries ([`MfeKind::NoRoute`], [`MfeKind::Rejected`]) are drop entries
//!   that membership and forward-state changes leave alone until they expire; adding OIFs to
//!   an entry whose IIF was never RPF-checked would forward unchecked traffic.
//! * §6.4 steps 1–2, opt-in [`Config::rpf_ask_arrival_owner`]: when the RIB has no route to the
//!   source (or its interface has no owner), the owner of the *arrival* interface is asked
//!   through its RPF callback, with the arrival interface proposed and `reject` set; clearing
//!   `reject` claims the flow (a static route naming its incoming interface forwards every
//!   source arriving there, RIB or not, as the kernel and smcroute do), anything else — a
//!   rejecting answer, no RPF callback, no answer by the deadline — installs the A-32 no-route
//!   negative entry as before. The spec's behaviour (negative at once) is the default.
//! * FALSE prune alerts apply the default lifetime when queued and the answer when it arrives,
//!   so an unanswered (out-of-process) alert leaves the documented 900 s (A-35).

mod action;
mod address;
mod alerts;
mod buffer_api;
mod capacity;
mod client;
mod config;
mod creation;
mod enumeration;
mod error;
mod expiry;
mod idle_candidates;
mod membership;
mod mfe;
mod mib;
mod oif;
mod outbox;
mod ownership;
mod registry;
mod reports;
mod rpf;
mod stored_counters;
mod types;

pub use action::{
    Action, Answer, Callback, CreationQuestion, IfEntry, PruneReply, RpfAnswer, RpfQuestion,
};
pub use address::Address;
pub use capacity::CapacityCounters;
pub use client::{ClientDirectory, MgmClient};
pub use config::{Config, IgmpTakeover};
pub use enumeration::GroupBatch;
pub use error::{status_of, win32, MgmError};
pub use membership::Membership;
pub use mfe::{Mfe, MfeKind};
pub use mib::{
    mfe_record_size, mfe_stats_ex_record_size, mfe_stats_record_size, sizeof_mib_mfe,
    sizeof_mib_mfe_stats, sizeof_mib_mfe_stats_ex, source_group_entry_size,
    SOURCE_GROUP_ENTRY_SIZE,
};
pub use oif::OifSet;
pub use registry::ClientOptions;
pub use reports::{MfeCounters, OifCounters};
pub use rpf::{RpfProvider, RpfRoute, StaticRib};
pub use types::{
    protocol_id, CallbackSet, EnumHandle, EnumType, IfId, MemberFlags, ProtocolHandle, QueryId,
    RouteInfo, Sg, StatsLevel, Timestamp, DEFAULT_MFE_TIMEOUT_S, MS_IP_IGMP,
};

use std::net::Ipv4Addr;

use creation::PendingTable;
use enumeration::GroupEnums;
use membership::MembershipTable;
use mfe::MfeTable;
use outbox::Outbox;
use registry::Registry;

/// The Multicast Group Manager state machine for one address family (IPv4 by default). See
/// the module documentation.
pub struct Mgm<A: Address = Ipv4Addr> {
    config: Config,
    rpf: Box<dyn RpfProvider<A> + Send>,
    registry: Registry<A>,
    members: MembershipTable<A>,
    mfes: MfeTable<A>,
    pending: PendingTable<A>,
    enums: GroupEnums<A>,
    out: Outbox<A>,
    capacity: CapacityCounters,
    last_serial: u64,
}

impl<A: Address> Mgm<A> {
    /// A manager with no protocols, memberships or MFEs.
    pub fn new(config: Config, rpf: Box<dyn RpfProvider<A> + Send>) -> Self {
        Mgm {
            config,
            rpf,
            registry: Registry::default(),
            members: MembershipTable::default(),
            mfes: MfeTable::default(),
            pending: PendingTable::default(),
            enums: GroupEnums::default(),
            out: Outbox::default(),
            capacity: CapacityCounters::default(),
            last_serial: 0,
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the RPF provider. Call [`Mgm::route_changed`] for what changed, if anything.
    pub fn set_rpf_provider(&mut self, rpf: Box<dyn RpfProvider<A> + Send>) {
        self.rpf = rpf;
    }

    /// The RPF provider, if it is an `R`, to change it in place (e.g. a [`StaticRib`] that
    /// follows the kernel's routes). Call [`Mgm::route_changed`] for what changed.
    pub fn rpf_provider_mut<R: RpfProvider<A>>(&mut self) -> Option<&mut R> {
        let provider: &mut dyn std::any::Any = &mut *self.rpf;
        provider.downcast_mut::<R>()
    }

    /// The next queued action, oldest first. Callbacks to a protocol that has deregistered
    /// since they were queued are dropped here (A-21).
    pub fn poll_action(&mut self) -> Option<Action<A>> {
        while let Some(action) = self.out.pop() {
            match &action {
                Action::Callback { to, .. } if !self.registry.clients.contains_key(to) => {}
                _ => return Some(action),
            }
        }
        None
    }

    /// Number of queued actions not yet polled.
    pub fn queued_actions(&self) -> usize {
        self.out.len()
    }

    /// When [`Mgm::tick`] must next be called: the earliest MFE expiry or question deadline.
    pub fn next_timeout(&self) -> Option<Timestamp> {
        match (self.mfes.next_expiry(), self.pending.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the timers due at `now`: MFE expiry (§6.5, no callbacks) and unanswered questions
    /// (defaults applied).
    pub fn tick(&mut self, now: Timestamp) {
        self.expire_questions(now);
        self.expire_mfes(now);
        self.out.commit();
    }

    /// MGM shuts down (§6.5): deletes every MFE from the backend and abandons creations in
    /// progress, without callbacks. Registrations, ownership and memberships stay, so packets
    /// arriving afterwards create entries again.
    pub fn shutdown(&mut self) {
        let all: Vec<Sg<A>> = self.mfes.iter().map(|m| m.sg()).collect();
        for sg in all {
            self.delete_mfe(sg);
        }
        let pending = self.pending_with_source_in(A::UNSPECIFIED, A::UNSPECIFIED);
        self.cancel_creations(pending);
        self.out.commit();
    }

    /// Completes a callback with out-parameters (see the module documentation). `NotFound`
    /// when the question is no longer open (answered, expired or cancelled) or the MFE of a
    /// prune reply is gone.
    pub fn answer(&mut self, answer: Answer<A>, now: Timestamp) -> Result<(), MgmError> {
        let result = match answer {
            Answer::Rpf { query, answer } => self.answer_rpf(query, answer, now),
            Answer::CreationAlert { query, entries } => self.answer_creation(query, &entries, now),
            Answer::PruneAlert { reply, timeout_s } => self.answer_prune(reply, timeout_s, now),
        };
        self.out.commit();
        result
    }

    /// A fresh value for handles, query ids and MFE epochs; never repeats.
    fn serial(&mut self) -> u64 {
        self.last_serial += 1;
        self.last_serial
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mgm_can_move_to_a_daemon_task() {
        fn assert_send<T: Send>() {}
        assert_send::<super::Mgm>();
        assert_send::<super::Mgm<std::net::Ipv6Addr>>();
    }
}
