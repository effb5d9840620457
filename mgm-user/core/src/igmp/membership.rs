//! How IGMP (and MLD) router state maps onto MGM memberships, and the changes between two
//! states. Generic over the address type; the defaults are IGMP's IPv4 addresses.
use serde::Serialize;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// One change of IGMP's (or MLD's, with `A` = `Ipv6Addr`) memberships on an interface, to be
/// applied to the MGM core.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct MembershipChange<A = Ipv4Addr> {
    /// Interface (next hop 0) where the receivers are.
    pub ifindex: u32,
    /// Multicast group.
    pub group: A,
    /// What changed.
    pub kind: ChangeKind<A>,
}

/// The kinds of membership change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ChangeKind<A = Ipv4Addr> {
    /// (\*,G) join: the group entered EXCLUDE mode.
    JoinAny,
    /// (\*,G) leave: the group left EXCLUDE mode.
    LeaveAny,
    /// (S,G) join: S is wanted in INCLUDE mode.
    JoinSource(A),
    /// (S,G) leave.
    LeaveSource(A),
    /// S is excluded from the (\*,G) join (MGM FORWARD-state delete for (S,G)).
    Block(A),
    /// S is no longer excluded.
    Unblock(A),
}

/// What one group's router state means for forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum View<A> {
    /// Forward only these sources (empty: no membership).
    Include(BTreeSet<A>),
    /// Forward every source but these.
    Exclude(BTreeSet<A>),
}

impl<A> View<A> {
    /// No membership at all.
    pub fn none() -> Self {
        View::Include(BTreeSet::new())
    }
}

/// The changes that turn `before` into `after`, joins before leaves so that forwarding never
/// has a gap.
pub(crate) fn diff<A: Copy + Ord>(
    ifindex: u32,
    group: A,
    before: &View<A>,
    after: &View<A>,
) -> Vec<MembershipChange<A>> {
    let change = |kind| MembershipChange {
        ifindex,
        group,
        kind,
    };
    let each = |set: &BTreeSet<A>, f: fn(A) -> ChangeKind<A>| {
        set.iter().map(|s| change(f(*s))).collect::<Vec<_>>()
    };
    let minus =
        |a: &BTreeSet<A>, b: &BTreeSet<A>| -> BTreeSet<A> { a.difference(b).copied().collect() };
    let mut out = Vec::new();
    match (before, after) {
        (View::Include(a), View::Include(b)) => {
            out.extend(each(&minus(b, a), ChangeKind::JoinSource));
            out.extend(each(&minus(a, b), ChangeKind::LeaveSource));
        }
        (View::Include(a), View::Exclude(y)) => {
            out.push(change(ChangeKind::JoinAny));
            out.extend(each(y, ChangeKind::Block));
            out.extend(each(a, ChangeKind::LeaveSource));
        }
        (View::Exclude(y), View::Exclude(z)) => {
            out.extend(each(&minus(z, y), ChangeKind::Block));
            out.extend(each(&minus(y, z), ChangeKind::Unblock));
        }
        (View::Exclude(y), View::Include(a)) => {
            out.extend(each(a, ChangeKind::JoinSource));
            out.extend(each(y, ChangeKind::Unblock));
            out.push(change(ChangeKind::LeaveAny));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(xs: &[u8]) -> BTreeSet<Ipv4Addr> {
        xs.iter().map(|x| Ipv4Addr::new(10, 0, 0, *x)).collect()
    }
    fn kinds(before: View<Ipv4Addr>, after: View<Ipv4Addr>) -> Vec<ChangeKind> {
        diff(3, Ipv4Addr::new(239, 1, 1, 1), &before, &after)
            .into_iter()
            .map(|c| c.kind)
            .collect()
    }
    fn a(x: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, x)
    }

    #[test]
    fn transitions() {
        use ChangeKind::*;
        assert_eq!(
            kinds(View::Include(s(&[1, 2])), View::Include(s(&[2, 3]))),
            vec![JoinSource(a(3)), LeaveSource(a(1))]
        );
        assert_eq!(
            kinds(View::Include(s(&[1])), View::Exclude(s(&[2]))),
            vec![JoinAny, Block(a(2)), LeaveSource(a(1))]
        );
        assert_eq!(
            kinds(View::Exclude(s(&[1, 2])), View::Exclude(s(&[2, 3]))),
            vec![Block(a(3)), Unblock(a(1))]
        );
        assert_eq!(
            kinds(View::Exclude(s(&[1])), View::Include(s(&[2]))),
            vec![JoinSource(a(2)), Unblock(a(1)), LeaveAny]
        );
        assert_eq!(kinds(View::none(), View::none()), vec![]);
        assert_eq!(kinds(View::Exclude(s(&[])), View::none()), vec![LeaveAny]);
    }
}
