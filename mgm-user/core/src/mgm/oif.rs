//! [`OifSet`]: an MFE's outgoing-interface list, kept sorted so equal lists compare equal and
//! the backend can share one forwarding set between them.

use std::net::Ipv4Addr;

use super::address::Address;
use super::types::IfId;
use crate::compact::OneOrMany;

/// A sorted, duplicate-free set of interfaces. Most sets hold one interface, kept inline;
/// others a slice of exactly their length (16 bytes for IPv4 either way): every MFE holds
/// two of them, and lists change rarely.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OifSet<A: Address = Ipv4Addr>(OneOrMany<IfId<A>>);

impl<A: Address> OifSet<A> {
    /// The empty set (a negative entry when used as an MFE's list).
    pub fn new() -> Self {
        OifSet(OneOrMany::new())
    }

    /// Number of interfaces.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no interface is in the set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ifid` is in the set.
    pub fn contains(&self, ifid: IfId<A>) -> bool {
        self.0.binary_search(&ifid).is_ok()
    }

    /// Adds `ifid`; true if it was not there.
    pub fn insert(&mut self, ifid: IfId<A>) -> bool {
        match self.0.binary_search(&ifid) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, ifid);
                true
            }
        }
    }

    /// Removes `ifid`; true if it was there.
    pub fn remove(&mut self, ifid: IfId<A>) -> bool {
        match self.0.binary_search(&ifid) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// The interfaces in ascending (ifindex, next hop) order.
    pub fn as_slice(&self) -> &[IfId<A>] {
        &self.0
    }

    /// Iterates in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = IfId<A>> + '_ {
        self.0.iter().copied()
    }
}

/// An [`OifSet`] that is almost always empty (an MFE's forward-disabled interfaces): one
/// pointer, no allocation while empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RareOifSet<A: Address>(Option<Box<OifSet<A>>>);

impl<A: Address> RareOifSet<A> {
    /// The set's interfaces.
    pub(crate) fn get(&self) -> OifSet<A> {
        self.0.as_deref().cloned().unwrap_or_default()
    }

    /// Whether `ifid` is in the set.
    pub(crate) fn contains(&self, ifid: IfId<A>) -> bool {
        self.0.as_ref().is_some_and(|set| set.contains(ifid))
    }

    /// Adds `ifid`; true if it was not there.
    pub(crate) fn insert(&mut self, ifid: IfId<A>) -> bool {
        self.0.get_or_insert_default().insert(ifid)
    }

    /// Removes `ifid`; true if it was there.
    pub(crate) fn remove(&mut self, ifid: IfId<A>) -> bool {
        let removed = self.0.as_mut().is_some_and(|set| set.remove(ifid));
        if self.0.as_ref().is_some_and(|set| set.is_empty()) {
            self.0 = None;
        }
        removed
    }
}

impl<A: Address> Default for RareOifSet<A> {
    fn default() -> Self {
        RareOifSet(None)
    }
}

impl<A: Address> From<OifSet<A>> for RareOifSet<A> {
    fn from(set: OifSet<A>) -> Self {
        RareOifSet((!set.is_empty()).then(|| Box::new(set)))
    }
}

impl<A: Address> Default for OifSet<A> {
    fn default() -> Self {
        OifSet::new()
    }
}

impl<A: Address> FromIterator<IfId<A>> for OifSet<A> {
    fn from_iter<T: IntoIterator<Item = IfId<A>>>(iter: T) -> Self {
        let mut v: Vec<IfId<A>> = iter.into_iter().collect();
        v.sort_unstable();
        v.dedup();
        OifSet(v.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_keep_order() {
        let mut s: OifSet = [IfId::index(3), IfId::index(1), IfId::index(3)]
            .into_iter()
            .collect();
        assert_eq!(s.as_slice(), &[IfId::index(1), IfId::index(3)]);
        assert!(s.insert(IfId::index(2)));
        assert!(!s.insert(IfId::index(2)));
        assert!(s.remove(IfId::index(1)));
        assert!(!s.remove(IfId::index(1)));
        assert_eq!(s.as_slice(), &[IfId::index(2), IfId::index(3)]);
        assert_eq!(size_of::<OifSet>(), 16);
    }

    #[test]
    fn a_rare_set_is_a_pointer_and_holds_nothing_while_empty() {
        let mut rare = RareOifSet::<Ipv4Addr>::default();
        assert!(rare.insert(IfId::index(4)));
        assert!(rare.contains(IfId::index(4)));
        assert_eq!(rare.get().as_slice(), &[IfId::index(4)]);
        assert!(rare.remove(IfId::index(4)));
        assert_eq!(rare, RareOifSet::default());
        assert_eq!(RareOifSet::from(OifSet::new()), rare);
        assert_eq!(size_of::<RareOifSet<Ipv4Addr>>(), 8);
    }
}
