//! The router side of IGMP v1/v2/v3 as a sans-IO state machine.
//!
//! [`Router`] never reads a clock and does no I/O: the caller feeds it received datagrams (or
//! parsed [`Message`]s) with the interface and the current instant, calls [`Router::tick`] at
//! [`Router::next_timeout`], and carries out the returned [`Action`]s: datagrams to send
//! (complete IPv4 with TTL 1, Router Alert and checksums, for a raw socket with IP_HDRINCL)
//! and [`MembershipChange`]s for the MGM core, where EXCLUDE mode is a (\*,G) join, INCLUDE
//! sources are (S,G) joins and excluded sources are blocks of S for G.
//!
//! Every input that fails validation is dropped and counted per [`DropReason`].
//!
//! The per-group state machine (`group`), the groups of an interface (`table`), the querier
//! state (`querier`), the bounds, counters and membership changes are generic over the address
//! type: [`crate::mld`] runs the same code with IPv6 addresses.
pub(crate) mod config;
pub(crate) mod counters;
pub(crate) mod destination;
pub(crate) mod group;
mod iface;
pub(crate) mod ifaces;
pub(crate) mod limits;
pub(crate) mod membership;
pub(crate) mod querier;
pub(crate) mod snapshot;
pub(crate) mod table;
mod validate;

pub use config::{IfaceConfig, Version};
pub use counters::{Counters, DropReason, IgnoreReason, MessageKind};
pub use group::FilterMode;
pub use limits::{Limit, LimitNotice};
pub use membership::{ChangeKind, MembershipChange};
pub use snapshot::{GroupSnapshot, IfaceSnapshot, QuerierSnapshot, Snapshot, SourceSnapshot};
pub use validate::{parse, Message};

use iface::Iface;
use ifaces::{Ifaces, RouterIface};
use std::net::Ipv4Addr;
use std::time::Instant;
use validate::Subnet;

/// A datagram to send on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Outgoing interface.
    pub ifindex: u32,
    /// Source address (the router's address on the interface).
    pub src: Ipv4Addr,
    /// Destination: 224.0.0.1 for general queries, the group for specific ones.
    pub dst: Ipv4Addr,
    /// The complete IPv4 datagram.
    pub datagram: Vec<u8>,
}

/// What the caller must do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a datagram.
    Send(Transmit),
    /// Apply a membership change to the MGM core.
    Membership(MembershipChange),
    /// Log that a bound refused state (rate-limited, see [`LimitNotice`]).
    LimitReached(LimitNotice),
}

impl From<MembershipChange> for Action {
    fn from(change: MembershipChange) -> Self {
        Action::Membership(change)
    }
}

impl From<LimitNotice> for Action {
    fn from(notice: LimitNotice) -> Self {
        Action::LimitReached(notice)
    }
}

/// Errors of interface management.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// IGMP already runs on the interface.
    #[error("IGMP is already enabled on ifindex {0}")]
    InterfaceExists(u32),
    /// IGMP does not run on the interface.
    #[error("IGMP is not enabled on ifindex {0}")]
    NoInterface(u32),
    /// The prefix length is over 32.
    #[error("invalid prefix length {0}")]
    PrefixLen(u8),
    /// The interface configuration is invalid.
    #[error("invalid IGMP configuration: {0}")]
    Config(&'static str),
}

/// The IGMP router: all interfaces.
#[derive(Debug, Clone, Default)]
pub struct Router {
    ifaces: Ifaces<Iface>,
}

impl Router {
    /// A router with no interfaces.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enables IGMP on an interface with the router's address and prefix there. The router
    /// starts as querier and sends the startup queries, the first one in the returned actions.
    pub fn add_interface(
        &mut self,
        ifindex: u32,
        addr: Ipv4Addr,
        prefix_len: u8,
        config: IfaceConfig,
        now: Instant,
    ) -> Result<Vec<Action>, Error> {
        if prefix_len > 32 {
            return Err(Error::PrefixLen(prefix_len));
        }
        if self.ifaces.contains(ifindex) {
            return Err(Error::InterfaceExists(ifindex));
        }
        config.validate().map_err(Error::Config)?;
        let iface = Iface::new(ifindex, Subnet { addr, prefix_len }, config, now);
        Ok(self.ifaces.insert(ifindex, iface, now))
    }

    /// Replaces an interface's configuration, keeping its groups and querier state. Running
    /// timers keep their deadlines, except that the next general query is brought forward to
    /// `now` + the new query interval when that is earlier; new bounds apply to new state.
    pub fn set_config(
        &mut self,
        ifindex: u32,
        config: IfaceConfig,
        now: Instant,
    ) -> Result<(), Error> {
        config.validate().map_err(Error::Config)?;
        self.ifaces
            .get_mut(ifindex)
            .ok_or(Error::NoInterface(ifindex))?
            .set_config(config, now);
        Ok(())
    }

    /// Disables IGMP on an interface: the leaves for all its memberships.
    pub fn remove_interface(&mut self, ifindex: u32) -> Result<Vec<Action>, Error> {
        let leaves = self
            .ifaces
            .remove(ifindex)
            .ok_or(Error::NoInterface(ifindex))?;
        Ok(leaves.into_iter().map(Action::Membership).collect())
    }

    /// Handles a received IPv4 datagram carrying IGMP.
    pub fn handle_packet(&mut self, ifindex: u32, datagram: &[u8], now: Instant) -> Vec<Action> {
        self.ifaces.handle_packet(ifindex, datagram, now)
    }

    /// Counts an input on `ifindex` dropped before parsing (by the receive path), e.g. a
    /// frame addressed to another station.
    pub fn count_drop(&mut self, ifindex: u32, reason: DropReason) {
        self.ifaces.count_drop(ifindex, reason)
    }

    /// Handles an already parsed message; it is validated like a received datagram.
    pub fn handle_message(&mut self, ifindex: u32, msg: &Message, now: Instant) -> Vec<Action> {
        self.ifaces.handle_message(ifindex, msg, now)
    }

    /// Runs every timer due at `now`.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        self.ifaces.tick(now)
    }

    /// When [`Self::tick`] must next be called.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.ifaces.next_timeout()
    }

    /// Joins describing the current memberships on an interface, for the re-adds IGMP owes
    /// the MGM core after Enable-IGMP (docs/mgm-spec.md §5.9).
    pub fn memberships(&self, ifindex: u32) -> Result<Vec<MembershipChange>, Error> {
        self.ifaces
            .memberships(ifindex)
            .ok_or(Error::NoInterface(ifindex))
    }

    /// The operator's view at `now`.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let (interfaces, unknown_interface) = self.ifaces.snapshots(now);
        Snapshot {
            interfaces,
            unknown_interface,
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod limit_tests;
