//! What the core asks the outside world to do: [`Action`]s, the [`Callback`]s inside them, and
//! the [`Answer`]s that complete callbacks with out-parameters.

use std::net::Ipv4Addr;

use super::address::Address;
use super::oif::OifSet;
use super::types::{IfId, ProtocolHandle, QueryId, RouteInfo, Sg};

/// One output of the core, drained with [`Mgm::poll_action`](super::Mgm::poll_action).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action<A: Address = Ipv4Addr> {
    /// Deliver `callback` to the protocol `to`.
    Callback {
        /// Recipient.
        to: ProtocolHandle,
        /// What to tell it.
        callback: Callback<A>,
    },
    /// Install a new forwarding entry. An empty `oifs` is a negative entry: drop matching
    /// packets without reporting them again.
    InstallMfe {
        /// The entry's key.
        sg: Sg<A>,
        /// Accept packets only from here.
        iif: IfId<A>,
        /// Forward copies out of these.
        oifs: OifSet<A>,
    },
    /// Replace the outgoing list of an installed entry.
    UpdateMfe {
        /// The entry's key.
        sg: Sg<A>,
        /// Unchanged incoming interface, repeated for the backend's convenience.
        iif: IfId<A>,
        /// The new list (empty = negative).
        oifs: OifSet<A>,
    },
    /// Remove an installed entry.
    DeleteMfe {
        /// The entry's key.
        sg: Sg<A>,
    },
    /// A creation begun by a packet miss was abandoned (ownership or route change while its
    /// questions were open). Release any packets held for it; the next packet starts over.
    CreationCancelled {
        /// The abandoned key.
        sg: Sg<A>,
    },
}

/// A callback of spec §5, one variant per `PMGM_*_CALLBACK`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callback<A: Address = Ipv4Addr> {
    /// `PMGM_RPF_CALLBACK`: answer with [`Answer::Rpf`].
    Rpf(RpfQuestion<A>),
    /// `PMGM_CREATION_ALERT_CALLBACK`: answer with [`Answer::CreationAlert`].
    CreationAlert(CreationQuestion<A>),
    /// `PMGM_PRUNE_ALERT_CALLBACK`.
    PruneAlert {
        /// Pruned key (wildcards for membership-driven alerts).
        sg: Sg<A>,
        /// TRUE alerts: the deleted interface; FALSE alerts: the MFE's IIF.
        ifid: IfId<A>,
        /// `bMemberDelete`.
        member_delete: bool,
        /// `*pdwTimeout` on input: the lifetime the MFE gets unless answered otherwise.
        timeout_s: u32,
        /// Present on FALSE alerts: answer with [`Answer::PruneAlert`] to set the MFE's lifetime.
        reply: Option<PruneReply<A>>,
    },
    /// `PMGM_JOIN_ALERT_CALLBACK`.
    JoinAlert {
        /// Joined key.
        sg: Sg<A>,
        /// `bMemberUpdate`.
        member_update: bool,
    },
    /// `PMGM_WRONG_IF_CALLBACK`.
    WrongIf {
        /// Packet source.
        source: A,
        /// Packet group.
        group: A,
        /// Interface the packet arrived on.
        ifid: IfId<A>,
        /// The packet's IP header as the data plane captured it.
        header: Vec<u8>,
    },
    /// `PMGM_LOCAL_JOIN_CALLBACK`: IGMP added receivers on an interface the recipient owns.
    LocalJoin {
        /// Joined key.
        sg: Sg<A>,
        /// The IGMP interface.
        ifid: IfId<A>,
    },
    /// `PMGM_LOCAL_LEAVE_CALLBACK`.
    LocalLeave {
        /// Left key.
        sg: Sg<A>,
        /// The IGMP interface.
        ifid: IfId<A>,
    },
    /// `PMGM_DISABLE_IGMP_CALLBACK`: IGMP must not add/delete memberships on `ifid` until the
    /// matching `EnableIgmp` has been polled.
    DisableIgmp {
        /// The interface changing owner.
        ifid: IfId<A>,
    },
    /// `PMGM_ENABLE_IGMP_CALLBACK`: re-add all memberships on `ifid` (later, not from inside the
    /// callback, for portability).
    EnableIgmp {
        /// The interface.
        ifid: IfId<A>,
    },
}

/// The in/out parameters of the RPF callback.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RpfAnswer<A: Address = Ipv4Addr> {
    /// `*pdwInIfIndex` / `*pdwInIfNextHopAddr`.
    pub iif: IfId<A>,
    /// `*pdwUpStreamNbr` (informational).
    pub upstream: A,
    /// The route the protocol used (`pbRoute`).
    pub route: RouteInfo<A>,
    /// The callback's return value was non-zero; honoured only with
    /// [`Config::rpf_reject_creates_negative`](super::Config::rpf_reject_creates_negative),
    /// and always for a no-route proposal. Set in a proposal when the RIB has no route and the
    /// arrival interface is proposed
    /// ([`Config::rpf_ask_arrival_owner`](super::Config::rpf_ask_arrival_owner)): the protocol
    /// claims the flow by answering with it cleared.
    pub reject: bool,
}

/// An RPF question: the RIB's proposal, which the protocol may change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpfQuestion<A: Address = Ipv4Addr> {
    /// Pass back in [`Answer::Rpf`].
    pub query: QueryId,
    /// The packet's (S,G); masks are host masks (/32, /128; A-06).
    pub sg: Sg<A>,
    /// The RIB-derived values; also the default answer.
    pub proposal: RpfAnswer<A>,
    /// The packet's IP header.
    pub header: Vec<u8>,
}

/// One `MGM_IF_ENTRY` of a creation alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IfEntry<A: Address = Ipv4Addr> {
    /// The candidate outgoing interface.
    pub ifid: IfId<A>,
    /// `bIGMP`: IGMP owns or co-owns the interface.
    pub igmp: bool,
    /// `bIsEnabled`: TRUE on input; set FALSE to veto forwarding there.
    pub enabled: bool,
}

/// A creation alert: the recipient's own candidate interfaces for a new MFE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreationQuestion<A: Address = Ipv4Addr> {
    /// Pass back in [`Answer::CreationAlert`].
    pub query: QueryId,
    /// The new MFE's key.
    pub sg: Sg<A>,
    /// Its incoming interface.
    pub iif: IfId<A>,
    /// The recipient's candidate interfaces, all enabled.
    pub entries: Vec<IfEntry<A>>,
}

/// Names the MFE a FALSE prune alert was about, so a late answer cannot touch a re-created one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PruneReply<A: Address = Ipv4Addr> {
    pub(crate) sg: Sg<A>,
    pub(crate) epoch: u64,
}

/// The out-parameters of an answered callback, fed back with
/// [`Mgm::answer`](super::Mgm::answer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<A: Address = Ipv4Addr> {
    /// Result of an RPF question.
    Rpf {
        /// The question answered.
        query: QueryId,
        /// The protocol's values.
        answer: RpfAnswer<A>,
    },
    /// Result of a creation alert; entries left enabled or not listed keep forwarding.
    CreationAlert {
        /// The question answered.
        query: QueryId,
        /// The entries with their `enabled` decision.
        entries: Vec<IfEntry<A>>,
    },
    /// Result of a FALSE prune alert: the MFE's new lifetime in seconds.
    PruneAlert {
        /// From the alert.
        reply: PruneReply<A>,
        /// `*pdwTimeout` on output.
        timeout_s: u32,
    },
}
