//! Value types shared by every part of the MGM core: addresses, interfaces, handles, time, flags.

use std::cmp::Ordering;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Add;
use std::time::Duration;

use bitflags::bitflags;

use super::address::Address;
use super::error::MgmError;

/// `PROTOCOL_ID(type, vendor, id)` of `routprot.h` (spec §2).
pub const fn protocol_id(proto_type: u32, vendor: u32, id: u32) -> u32 {
    ((proto_type & 3) << 30) | ((vendor & 0x3FFF) << 16) | (id & 0xFFFF)
}

/// Protocol id of the router-side IGMP, `MS_IP_IGMP` = 0x4137000A (spec §2, A-19).
pub const MS_IP_IGMP: u32 = protocol_id(1, 0x137, 10);

/// Default MFE lifetime in seconds, also the default prune-alert timeout (spec §5.3, A-48).
pub const DEFAULT_MFE_TIMEOUT_S: u32 = 900;

/// A (source, group) pair. The unspecified address is the wildcard in either position, so
/// (\*,G) is `Sg { source: UNSPECIFIED, group }` and (\*,\*) is [`Sg::STAR_STAR`]. (S,\*) is
/// not a valid membership. Ordered by group, then source: the enumeration order of spec
/// §4.10. Generic over the family (see [`Address`]); IPv4 by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sg<A: Address = Ipv4Addr> {
    /// Source address; unspecified means "any source".
    pub source: A,
    /// Group address; unspecified means "all groups".
    pub group: A,
}

impl<A: Address> Sg<A> {
    /// The (\*,\*) membership key.
    pub const STAR_STAR: Sg<A> = Sg::new(A::UNSPECIFIED, A::UNSPECIFIED);

    /// A pair from its two addresses.
    pub const fn new(source: A, group: A) -> Self {
        Sg { source, group }
    }

    /// The (\*,G) key for `group`.
    pub const fn star_g(group: A) -> Self {
        Sg::new(A::UNSPECIFIED, group)
    }

    /// Validates an (address, mask) pair: a wildcard is 0/0, a single address is
    /// addr/all-ones; anything else is a range and is rejected, as is (S,\*).
    pub fn from_masked(
        source: A,
        source_mask: A,
        group: A,
        group_mask: A,
    ) -> Result<Self, MgmError> {
        let sg = Sg::new(source, group);
        if source_mask == sg.source_mask() && group_mask == sg.group_mask() && !sg.is_source_star()
        {
            Ok(sg)
        } else {
            Err(MgmError::InvalidParameter)
        }
    }

    /// True for (\*,G) and (\*,\*).
    pub fn is_wildcard_source(&self) -> bool {
        self.source.is_unspecified()
    }

    /// True for (\*,\*).
    pub fn is_wildcard_group(&self) -> bool {
        self.group.is_unspecified()
    }

    /// True for a specific (S,G): the only shape an MFE has.
    pub fn is_exact(&self) -> bool {
        !self.is_wildcard_source() && !self.is_wildcard_group()
    }

    /// The undefined (S,\*) shape.
    fn is_source_star(&self) -> bool {
        !self.is_wildcard_source() && self.is_wildcard_group()
    }

    /// True for the shapes a membership may have: (S,G), (\*,G), (\*,\*).
    pub fn is_valid_membership(&self) -> bool {
        !self.is_source_star()
    }

    /// Unspecified for a wildcard source, the host mask otherwise.
    pub fn source_mask(&self) -> A {
        mask_of(self.source)
    }

    /// Unspecified for a wildcard group, the host mask otherwise.
    pub fn group_mask(&self) -> A {
        mask_of(self.group)
    }

    /// Whether the source lies in `network/mask` (RIB change matching, A-30).
    pub fn source_in(&self, network: A, mask: A) -> bool {
        self.source.masked(mask) == network.masked(mask)
    }

    /// Whether a membership on `self` covers the MFE `mfe` (spec §6.2): (S,G) covers itself,
    /// (\*,G) every MFE of G, (\*,\*) every MFE.
    pub fn covers(&self, mfe: Sg<A>) -> bool {
        (self.is_wildcard_group() || self.group == mfe.group)
            && (self.is_wildcard_source() || self.source == mfe.source)
    }
}

fn mask_of<A: Address>(addr: A) -> A {
    if addr.is_unspecified() {
        A::UNSPECIFIED
    } else {
        A::HOST_MASK
    }
}

impl<A: Address> Ord for Sg<A> {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.group, self.source).cmp(&(other.group, other.source))
    }
}

impl<A: Address> PartialOrd for Sg<A> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<A: Address> fmt::Display for Sg<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |a: A| {
            if a.is_unspecified() {
                "*".to_string()
            } else {
                a.to_string()
            }
        };
        write!(f, "({},{})", show(self.source), show(self.group))
    }
}

/// An interface as MGM names it: (ifindex, next hop). The next hop is unspecified except on
/// point-to-multipoint interfaces. The exact pair is the key everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IfId<A: Address = Ipv4Addr> {
    /// Kernel interface index.
    pub ifindex: u32,
    /// Point-to-multipoint neighbour, else unspecified.
    pub next_hop: A,
}

impl<A: Address> IfId<A> {
    /// An interface from its index and next hop.
    pub const fn new(ifindex: u32, next_hop: A) -> Self {
        IfId { ifindex, next_hop }
    }

    /// A broadcast or point-to-point interface (next hop unspecified).
    pub const fn index(ifindex: u32) -> Self {
        IfId::new(ifindex, A::UNSPECIFIED)
    }

    /// Whether the index can name an interface: 0 never does (the kernel's "none"), nor does
    /// 0xFFFFFFFF (out of the kernel's range, the Win32 "invalid" value). The MGM calls refuse
    /// both with `ERROR_INVALID_PARAMETER`.
    pub const fn is_valid(&self) -> bool {
        self.ifindex != 0 && self.ifindex != u32::MAX
    }
}

impl<A: Address> fmt::Display for IfId<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.next_hop.is_unspecified() {
            write!(f, "if{}", self.ifindex)
        } else {
            write!(f, "if{}/{}", self.ifindex, self.next_hop)
        }
    }
}

/// A point in time as the driver sees it, in milliseconds since an epoch the driver picks.
/// The core never reads a clock: every call that needs time takes one of these.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(u64);

impl Timestamp {
    /// From milliseconds since the driver's epoch.
    pub const fn from_millis(ms: u64) -> Self {
        Timestamp(ms)
    }

    /// From seconds since the driver's epoch.
    pub const fn from_secs(s: u64) -> Self {
        Timestamp(s.saturating_mul(1000))
    }

    /// Milliseconds since the driver's epoch.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Timestamp {
    type Output = Timestamp;
    fn add(self, d: Duration) -> Timestamp {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Timestamp(self.0.saturating_add(ms))
    }
}

/// A registered protocol's handle. Only [`Mgm::register`](super::Mgm::register) makes one and
/// values are never reused, so a stale handle can never alias a later registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProtocolHandle(pub(crate) u64);

impl ProtocolHandle {
    /// The numeric value, for logs and IPC correlation (not accepted back by the core).
    pub fn raw(self) -> u64 {
        self.0
    }
}

/// A group-enumeration handle (spec §4.13); never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnumHandle(pub(crate) u64);

impl EnumHandle {
    /// The numeric value, as the API carries it.
    pub fn raw(self) -> u64 {
        self.0
    }
    /// The handle an out-of-process protocol gives back (a value that names no open
    /// enumeration of that protocol is refused with `InvalidParameter`).
    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
}

/// Identifies one out-parameter question (RPF or creation alert) awaiting its answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub(crate) u64);

impl QueryId {
    /// The id as it travels to an out-of-process protocol.
    pub fn raw(self) -> u64 {
        self.0
    }

    /// The id an out-of-process protocol gives back with its answer (an id that names no open
    /// question is answered `NotFound`).
    pub fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
}

/// The RIB route used for an RPF decision (`dwRouteProtocol/Network/Mask`); all zero when
/// there was none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RouteInfo<A: Address = Ipv4Addr> {
    /// `PROTO_IP_*` id of the route's origin.
    pub protocol: u32,
    /// Destination network.
    pub network: A,
    /// Destination mask.
    pub mask: A,
}

impl<A: Address> Default for RouteInfo<A> {
    fn default() -> Self {
        RouteInfo {
            protocol: 0,
            network: A::UNSPECIFIED,
            mask: A::UNSPECIFIED,
        }
    }
}

bitflags! {
    /// The callbacks a protocol supplies; a missing bit models a NULL pointer in
    /// `ROUTING_PROTOCOL_CONFIG` and selects the default outcome of spec §5.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct CallbackSet: u32 {
        /// `pfnRpfCallback`.
        const RPF = 1 << 0;
        /// `pfnCreationAlertCallback`.
        const CREATION_ALERT = 1 << 1;
        /// `pfnPruneAlertCallback`.
        const PRUNE_ALERT = 1 << 2;
        /// `pfnJoinAlertCallback`.
        const JOIN_ALERT = 1 << 3;
        /// `pfnWrongIfCallback`.
        const WRONG_IF = 1 << 4;
        /// `pfnLocalJoinCallback`.
        const LOCAL_JOIN = 1 << 5;
        /// `pfnLocalLeaveCallback`.
        const LOCAL_LEAVE = 1 << 6;
        /// `pfnDisableIgmpCallback`.
        const DISABLE_IGMP = 1 << 7;
        /// `pfnEnableIgmpCallback`.
        const ENABLE_IGMP = 1 << 8;
    }
}

bitflags! {
    /// `dwFlags` of membership add/delete (spec §2).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct MemberFlags: u32 {
        /// `MGM_JOIN_STATE_FLAG`: change membership state and every derived MFE.
        const JOIN = 1;
        /// `MGM_FORWARD_STATE_FLAG`: change only the OIF list of the exact (S,G) MFE.
        const FORWARD = 2;
    }
}

/// `MGM_ENUM_TYPES` (spec §2, A-20).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EnumType {
    /// One entry per joined group, source 0.
    AnySource = 0,
    /// Every (S,G), (\*,G) and (\*,\*) membership key.
    AllSources = 1,
}

/// MFE statistics record format (spec §4.11, A-28).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatsLevel {
    /// `MIB_IPMCAST_MFE_STATS` (`MGM_MFE_STATS_0`, or flags 0).
    Basic,
    /// `MIB_IPMCAST_MFE_STATS_EX` (`MGM_MFE_STATS_1`).
    Extended,
}

impl StatsLevel {
    /// Maps `dwFlags`: 0 and 1 are basic, 2 extended, anything else invalid.
    pub fn from_flags(flags: u32) -> Result<Self, MgmError> {
        match flags {
            0 | 1 => Ok(StatsLevel::Basic),
            2 => Ok(StatsLevel::Extended),
            _ => Err(MgmError::InvalidParameter),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ms_ip_igmp_value() {
        assert_eq!(MS_IP_IGMP, 0x4137_000A);
        assert_eq!(protocol_id(2, 0x137, 10009), 0x8137_2719);
    }

    #[test]
    fn a05_masks_and_source_star_are_rejected() {
        let any = Ipv4Addr::UNSPECIFIED;
        let host = Ipv4Addr::BROADCAST;
        let s = Ipv4Addr::new(10, 0, 0, 1);
        let g = Ipv4Addr::new(239, 1, 1, 1);
        assert!(Sg::from_masked(s, host, g, host).is_ok());
        assert!(Sg::from_masked(any, any, g, host).is_ok());
        assert!(Sg::from_masked(any, any, any, any).is_ok());
        assert_eq!(
            Sg::from_masked(s, host, any, any),
            Err(MgmError::InvalidParameter)
        );
        let range = Ipv4Addr::new(255, 255, 255, 0);
        assert_eq!(
            Sg::from_masked(s, range, g, host),
            Err(MgmError::InvalidParameter)
        );
        assert_eq!(
            Sg::from_masked(any, host, g, host),
            Err(MgmError::InvalidParameter)
        );
    }

    #[test]
    fn sg_orders_by_group_then_source() {
        let a = Sg::new(Ipv4Addr::new(10, 0, 0, 9), Ipv4Addr::new(224, 0, 1, 1));
        let b = Sg::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(224, 0, 1, 2));
        assert!(a < b);
    }
}
