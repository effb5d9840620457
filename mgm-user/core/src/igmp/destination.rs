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

impl<A: GroupAddr> Addressed<A> {
    /// Checks the message's group and its destination `dst`: `bad_group` when the group is
    /// not multicast, `bad_destination` when `dst` is not one the message may be sent to.
    pub fn check<E>(
        &self,
        dst: A,
        known: &WellKnown<A>,
        bad_group: E,
        bad_destination: E,
    ) -> Result<(), E> {
        let group = match self {
            Addressed::Query(group) if group.is_unspecified() => None,
            Addressed::Query(group) | Addressed::Report(group) | Addressed::Leave(group) => {
                Some(group)
            }
            Addressed::SourceReport => None,
        };
        if group.is_some_and(|g| !g.is_multicast()) {
            return Err(bad_group);
        }
        let dst_ok = match self {
            Addressed::Query(group) if group.is_unspecified() => dst == known.all_systems,
            Addressed::Query(group) => dst == *group || dst == known.all_systems,
            Addressed::Report(group) => dst == *group,
            Addressed::Leave(group) => dst == known.all_routers || dst == *group,
            Addressed::SourceReport => dst == known.all_v3_routers,
        };
        if dst_ok {
            Ok(())
        } else {
            Err(bad_destination)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::igmp::{ALL_ROUTERS, ALL_SYSTEMS, ALL_V3_ROUTERS};
    use std::net::Ipv4Addr;

    const KNOWN: WellKnown<Ipv4Addr> = WellKnown {
        all_systems: ALL_SYSTEMS,
        all_routers: ALL_ROUTERS,
        all_v3_routers: ALL_V3_ROUTERS,
    };
    const G: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 1);
    const ANY: Ipv4Addr = Ipv4Addr::UNSPECIFIED;

    fn check(msg: Addressed<Ipv4Addr>, dst: Ipv4Addr) -> Result<(), &'static str> {
        msg.check(dst, &KNOWN, "group", "destination")
    }

    #[test]
    fn only_a_query_may_name_the_unspecified_group() {
        assert_eq!(check(Addressed::Query(ANY), ALL_SYSTEMS), Ok(()));
        assert_eq!(check(Addressed::Query(ANY), G), Err("destination"));
        assert_eq!(check(Addressed::Report(ANY), ANY), Err("group"));
        assert_eq!(check(Addressed::Leave(ANY), ALL_ROUTERS), Err("group"));
    }

    #[test]
    fn each_message_to_its_destinations() {
        assert_eq!(check(Addressed::Query(G), G), Ok(()));
        assert_eq!(check(Addressed::Query(G), ALL_SYSTEMS), Ok(()));
        assert_eq!(check(Addressed::Query(G), ALL_ROUTERS), Err("destination"));
        assert_eq!(check(Addressed::Report(G), G), Ok(()));
        assert_eq!(check(Addressed::Report(G), ALL_SYSTEMS), Err("destination"));
        assert_eq!(check(Addressed::Leave(G), ALL_ROUTERS), Ok(()));
        assert_eq!(check(Addressed::Leave(G), G), Ok(()));
        assert_eq!(check(Addressed::Leave(G), ALL_SYSTEMS), Err("destination"));
        assert_eq!(check(Addressed::SourceReport, ALL_V3_ROUTERS), Ok(()));
        assert_eq!(check(Addressed::SourceReport, G), Err("destination"));
    }
}
