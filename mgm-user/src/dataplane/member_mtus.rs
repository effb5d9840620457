//! The data-plane MTU of each interface (`IFACES`.mtu) as the outgoing sets need it: each
//! set's broadcast is limited to the smallest MTU of its members (`SetBroadcast::mtu`), since
//! the kernel's broadcast skips, uncounted, a member whose device MTU a frame exceeds. mgmd
//! keeps an interface's data-plane MTU at most its link's, so a frame within the limit reaches
//! every member; a longer one takes the TC program's path, where each member's MTU drop is
//! counted.
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

    /// The broadcast limit of a set of `oifs`: their smallest MTU, [`NO_LIMIT`] if none has one.
    pub fn limit(&self, oifs: &[u32]) -> u32 {
        oifs.iter()
            .filter_map(|oif| self.mtus.get(oif).copied())
            .min()
            .unwrap_or(NO_LIMIT)
    }
}

#[cfg(test)]
mod tests {
    use super::{MemberMtus, NO_LIMIT};

    #[test]
    fn a_sets_limit_is_its_members_smallest_mtu_and_follows_their_changes() {
        let mut mtus = MemberMtus::default();
        assert_eq!(mtus.limit(&[1, 2, 3]), NO_LIMIT, "no MTU known");
        assert!(mtus.set(1, 1500));
        assert!(mtus.set(2, 1300));
        assert!(!mtus.set(2, 1300), "unchanged");
        assert_eq!(mtus.limit(&[1, 2, 3]), 1300);
        assert_eq!(mtus.limit(&[1, 3]), 1500);
        assert!(mtus.set(2, 0), "no MTU any more");
        assert_eq!(mtus.limit(&[1, 2, 3]), 1500);
        mtus.forget(1);
        assert_eq!(mtus.limit(&[1, 2, 3]), NO_LIMIT);
    }
}
