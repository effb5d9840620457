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
pub use querier::QuerierNotice;
pub use snapshot::{GroupSnapshot, IfaceSnapshot, QuerierSnapshot, Snapshot, SourceSnapshot};
pub use validate::{parse, Message};

use iface::Iface;
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
    /// Log that the interface's querier changed.
    QuerierChanged(QuerierNotice),
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

/// The IGMP router: all interfaces (the router both protocols share).
pub type Router = ifaces::Router<Iface>;

impl Router {
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
        self.add(ifindex, config, now, |config| {
            Iface::new(ifindex, Subnet { addr, prefix_len }, config, now)
        })
    }

    /// The address and prefix length IGMP runs from on `ifindex`, if it runs there.
    pub fn subnet(&self, ifindex: u32) -> Option<(Ipv4Addr, u8)> {
        self.ifaces.get(&ifindex).map(Iface::subnet)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod limit_tests;
