//! The data-plane MTU of each interface (`IFACES`.mtu) as the outgoing sets need it: each
//! set's broadcast is limited to the smallest MTU of its members (`SetBroadcast::mtu`), since
//! the kernel's broadcast skips, uncounted, a member whose device MTU a frame exceeds. mgmd
//! keeps an interface's data-plane MTU at most its link's, so a frame within the limit reaches
//! every member; a longer one takes the TC program's path, where each member's MTU drop is
//! counted. The broadcast leaves out the interface a packet came in on, so a set also tells
//! the member that alone has the smallest MTU and the others' smallest: a packet that came in
//! on that member is limited by the others' alone.
use mgm_common::SetBroadcast;
use std::collections::HashMap;

/// `SetBroadcast::mtu` of a set none of whose members has an MTU.
pub const NO_LIMIT: u32 = u32::MAX;

/// The MTUs of the configured interfaces.
#[derive(Debug, Default)]
pub struct MemberMtus {
    /// Interface → its data-plane MTU (none: not configured, or no MTU).
    mtus: HashMap<u32, u32>,
}

impl MemberMtus {
    /// Records interface `ifindex`'s MTU (0: none); whether it changed.
    pub fn set(&mut self, ifindex: u32, mtu: u32) -> bool {
        let old = if mtu == 0 {
            self.mtus.remove(&ifindex)
        } else {
            self.mtus.insert(ifindex, mtu)
        };
        old.unwrap_or(0) != mtu
    }

    /// Forgets interface `ifindex` (gone).
    pub fn forget(&mut self, ifindex: u32) {
        self.mtus.remove(&ifindex);
    }

    /// The `SET_BROADCASTS` element of a set of `oifs` with bare member `bare_member`: their
    /// smallest MTU ([`NO_LIMIT`] if none has one), and the member that alone has it with the
    /// smallest MTU of the others, for a packet that came in on that member (the broadcast
    /// leaves it out).
    pub fn broadcast(&self, bare_member: u32, oifs: &[u32]) -> SetBroadcast {
        let mut known: Vec<(u32, u32)> = oifs
            .iter()
            .filter_map(|&oif| self.mtus.get(&oif).map(|&mtu| (mtu, oif)))
            .collect();
        known.sort_unstable();
        let mtu_of = |at: usize| known.get(at).map_or(NO_LIMIT, |&(mtu, _)| mtu);
        let (mtu, second) = (mtu_of(0), mtu_of(1));
        let mtu_member = match known.first() {
            Some(&(_, oif)) if second > mtu => oif,
            _ => 0,
        };
        SetBroadcast {
            bare_member,
            mtu,
            mtu_member,
            mtu_without_member: if mtu_member == 0 { mtu } else { second },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MemberMtus, NO_LIMIT};

    /// The MTUs of a set of `oifs`: (smallest, the member alone with it, the others' smallest).
    fn limits(mtus: &MemberMtus, oifs: &[u32]) -> (u32, u32, u32) {
        let b = mtus.broadcast(7, oifs);
        assert_eq!(b.bare_member, 7);
        (b.mtu, b.mtu_member, b.mtu_without_member)
    }

    #[test]
    fn a_sets_limit_is_its_members_smallest_mtu_and_follows_their_changes() {
        let mut mtus = MemberMtus::default();
        assert_eq!(
            limits(&mtus, &[1, 2, 3]),
            (NO_LIMIT, 0, NO_LIMIT),
            "no MTU known"
        );
        assert!(mtus.set(1, 1500));
        assert!(mtus.set(2, 1300));
        assert!(!mtus.set(2, 1300), "unchanged");
        assert_eq!(limits(&mtus, &[1, 2, 3]), (1300, 2, 1500));
        assert_eq!(limits(&mtus, &[1, 3]), (1500, 1, NO_LIMIT));
        assert!(mtus.set(3, 1300), "two members share the smallest");
        assert_eq!(limits(&mtus, &[1, 2, 3]), (1300, 0, 1300));
        assert!(mtus.set(3, 0));
        assert!(mtus.set(2, 0), "no MTU any more");
        assert_eq!(limits(&mtus, &[1, 2, 3]), (1500, 1, NO_LIMIT));
        mtus.forget(1);
        assert_eq!(limits(&mtus, &[1, 2, 3]), (NO_LIMIT, 0, NO_LIMIT));
    }
}
