//! The destinations IGMP and MLD messages must be addressed to, one rule for both protocols:
//! a general query to all systems (all nodes), a specific query to its group or all systems,
//! an older-version report to its group, a leave (done) to all routers or its group, a v3
//! (MLDv2) report to the all-v3-routers (all-MLDv2-routers) group.
use super::table::GroupAddr;

/// A received message as far as its destination is concerned.
pub(crate) enum Addressed<A> {
    /// A query for a group (unspecified: a general query).
    Query(A),
    /// An IGMPv1/v2 or MLDv1 report of a group.
    Report(A),
    /// An IGMPv2 leave or MLDv1 done of a group.
    Leave(A),
    /// An IGMPv3 or MLDv2 report.
    SourceReport,
}

/// A protocol's link-scope groups.
pub(crate) struct WellKnown<A> {
    /// 224.0.0.1 or ff02::1.
    pub all_systems: A,
    /// 224.0.0.2 or ff02::2.
    pub all_routers: A,
    /// 224.0.0.22 or ff02::16.
    pub all_v3_routers: A,
}

/// Why a message's addresses are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadAddress {
    /// The message's group is not multicast.
    Group,
    /// The destination is not one the message may be sent to.
    Destination,
}

impl<A: GroupAddr> Addressed<A> {
    /// Checks the message's group and its destination `dst`.
    pub fn check(&self, dst: A, known: &WellKnown<A>) -> Result<(), BadAddress> {
        let multicast = |group: &A| {
            if group.is_multicast() {
                Ok(())
            } else {
                Err(BadAddress::Group)
            }
        };
        let dst_ok = match self {
            Addressed::Query(group) if group.is_unspecified() => dst == known.all_systems,
            Addressed::Query(group) => {
                multicast(group)?;
                dst == *group || dst == known.all_systems
            }
            Addressed::Report(group) => {
                multicast(group)?;
                dst == *group
            }
            Addressed::Leave(group) => {
                multicast(group)?;
                dst == known.all_routers || dst == *group
            }
            Addressed::SourceReport => dst == known.all_v3_routers,
        };
        if dst_ok {
            Ok(())
        } else {
            Err(BadAddress::Destination)
        }
    }
}
