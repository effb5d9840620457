//! The router side of MLDv1 (RFC 2710) and MLDv2 (RFC 3810) as a sans-IO state machine, the
//! IPv6 counterpart of [`crate::igmp`], meant to run beside it.
//!
//! [`Router`] never reads a clock and does no I/O: the caller feeds it received IPv6 packets
//! (or parsed [`Message`]s) with the interface and the current instant, calls
//! [`Router::tick`] at [`Router::next_timeout`], and carries out the returned [`Action`]s:
//! packets to send (complete IPv6 with hop limit 1, a Hop-by-Hop header with Router Alert 0 and
//! the ICMPv6 checksum, from the router's link-local address) and [`MembershipChange`]s for the
//! MGM core as local joins and leaves with IPv6 addresses: EXCLUDE mode is a (\*,G) join,
//! INCLUDE sources are (S,G) joins and excluded sources are blocks of S for G.
//!
//! What is shared with IGMP and what is not:
//! - The per-group state (filter mode, filter and source timers, the state table, the specific
//!   queries the querier owes, older-version listener timers) is IGMP's generic state machine
//!   (`crate::igmp::group`) over `Ipv6Addr`: RFC 3810 §7 is RFC 3376 §6 with other names.
//!   MLDv1 plays the role of IGMPv2 (a v1 report is an IS_EX({}), a done a TO_IN({}), §8.3.2).
//!   So are the bounds (`max_groups`, `max_sources` and the rate-limited [`LimitNotice`]), the
//!   ignore reasons ([`IgnoreReason`]) and the membership changes.
//! - Querier election is by the lowest link-local source address (RFC 3810 §7.6.2, RFC 2710
//!   §4); an MLDv1 query from another router switches the interface to MLDv1 for the Older
//!   Version Querier Present Timeout (§8.3.1), whoever is querier.
//! - Receive checks (RFC 3810 §5.1.14, §5.2.13): every message must come from a link-local
//!   address (a report from `::` included), with hop limit 1 and a Router Alert of value 0 in
//!   a Hop-by-Hop header, and a valid ICMPv6 checksum; every drop is counted per
//!   [`DropReason`].
//! - Groups of scope 0, 1 and 2 (reserved, interface-local and link-local, ff02::1 among them)
//!   are not tracked: routers never forward them ([`IgnoreReason::LocalGroup`]). Any-source
//!   requests for SSM groups (ff3x::/32) are ignored ([`IgnoreReason::SsmAnySource`]).
mod config;
mod counters;
mod iface;
mod snapshot;
mod validate;

pub use config::{IfaceConfig, Version};
pub use counters::{Counters, DropReason, MessageKind};
pub use snapshot::{GroupSnapshot, IfaceSnapshot, QuerierSnapshot, Snapshot};
pub use validate::{parse, parse_icmpv6, Message};

pub use crate::igmp::{FilterMode, IgnoreReason, Limit, LimitNotice, SourceSnapshot};

use crate::igmp::ifaces;
use iface::Iface;
use std::net::Ipv6Addr;
use std::time::Instant;
use validate::is_link_local;

/// One change of MLD's memberships on an interface, for the MGM core.
pub type MembershipChange = crate::igmp::MembershipChange<Ipv6Addr>;
/// The kinds of membership change.
pub type ChangeKind = crate::igmp::ChangeKind<Ipv6Addr>;

/// A packet to send on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Outgoing interface.
    pub ifindex: u32,
    /// Source address (the router's link-local address on the interface).
    pub src: Ipv6Addr,
    /// Destination: ff02::1 for general queries, the multicast address for specific ones.
    pub dst: Ipv6Addr,
    /// The complete IPv6 packet.
    pub packet: Vec<u8>,
}

impl Transmit {
    /// The ICMPv6 message alone, for a raw ICMPv6 socket that adds the IPv6 header itself
    /// (hop limit 1 and a Hop-by-Hop Router Alert 0 to be set on the socket).
    pub fn icmpv6(&self) -> &[u8] {
        let start = crate::wire::ipv6::Packet::new_checked(&self.packet[..])
            .map_or(self.packet.len(), |p| p.upper_layer_offset());
        &self.packet[start..]
    }
}

/// What the caller must do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a packet.
    Send(Transmit),
    /// Apply a membership change to the MGM core.
    Membership(MembershipChange),
    /// Log that a bound refused state (rate-limited, see [`LimitNotice`]).
    LimitReached(LimitNotice),
    /// Log that the interface's querier changed (another router: the version of its queries).
    QuerierChanged(QuerierNotice),
}

/// A change of an MLD interface's querier.
pub type QuerierNotice = crate::igmp::QuerierNotice<Ipv6Addr, Version>;

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
    /// MLD already runs on the interface.
    #[error("MLD is already enabled on ifindex {0}")]
    InterfaceExists(u32),
    /// MLD does not run on the interface.
    #[error("MLD is not enabled on ifindex {0}")]
    NoInterface(u32),
    /// The router's address is not link-local (MLD is sent from fe80::/10).
    #[error("{0} is not a link-local address (fe80::/10)")]
    NotLinkLocal(Ipv6Addr),
    /// The interface configuration is invalid.
    #[error("invalid MLD configuration: {0}")]
    Config(&'static str),
}

/// The MLD router: all interfaces (the router both protocols share).
pub type Router = ifaces::Router<Iface>;

impl Router {
    /// Enables MLD on an interface with the router's link-local address there. The router
    /// starts as querier and sends the startup queries, the first one in the returned actions.
    pub fn add_interface(
        &mut self,
        ifindex: u32,
        link_local: Ipv6Addr,
        config: IfaceConfig,
        now: Instant,
    ) -> Result<Vec<Action>, Error> {
        if !is_link_local(link_local) {
            return Err(Error::NotLinkLocal(link_local));
        }
        self.add(ifindex, config, now, |config| {
            Iface::new(ifindex, link_local, config, now)
        })
    }

    /// The link-local address MLD runs from on `ifindex`, if it runs there.
    pub fn address(&self, ifindex: u32) -> Option<Ipv6Addr> {
        self.ifaces.get(&ifindex).map(|i| i.address())
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hostile_tests;

#[cfg(test)]
mod limit_tests;
