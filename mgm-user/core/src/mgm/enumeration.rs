//! Enumeration, idiomatic form: MFEs in (group, source) order (§4.8–4.12) and group
//! enumerations with a snapshot taken at start (§4.13–4.15, A-20).

use std::collections::{BTreeSet, HashMap};
use std::net::Ipv4Addr;

use super::address::Address;
use super::error::MgmError;
use super::mfe::Mfe;
use super::types::{EnumHandle, EnumType, ProtocolHandle, Sg};
use super::Mgm;

/// One open group enumeration.
#[derive(Debug)]
struct GroupEnum<A: Address> {
    owner: ProtocolHandle,
    entries: Vec<Sg<A>>,
    cursor: usize,
}

/// Open group enumerations.
#[derive(Debug)]
pub(crate) struct GroupEnums<A: Address> {
    open: HashMap<EnumHandle, GroupEnum<A>>,
}

/// Empty (derived `Default` would ask it of the address type).
impl<A: Address> Default for GroupEnums<A> {
    fn default() -> Self {
        GroupEnums {
            open: Default::default(),
        }
    }
}

impl<A: Address> GroupEnums<A> {
    /// Invalidates the enumerations of a deregistered protocol.
    pub(crate) fn drop_owner(&mut self, h: ProtocolHandle) {
        self.open.retain(|_, e| e.owner != h);
    }
}

/// A batch from [`Mgm::group_enumeration_next`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupBatch<A: Address = Ipv4Addr> {
    /// `SOURCE_GROUP_ENTRY`s: wildcards are 0 with mask 0.
    pub entries: Vec<Sg<A>>,
    /// Nothing remains (`ERROR_NO_MORE_ITEMS`).
    pub done: bool,
}

impl<A: Address> Mgm<A> {
    /// `MgmGetMfe`, idiomatic: the MFE of an exact (S,G).
    pub fn mfe(&self, sg: Sg<A>) -> Option<&Mfe<A>> {
        self.mfes.get(sg)
    }

    /// Every MFE, ordered by group then source (`MgmGetFirstMfe` onward).
    pub fn mfes(&self) -> impl Iterator<Item = &Mfe<A>> {
        self.mfes.iter()
    }

    /// MFEs strictly after `start` in (group, source) order (`MgmGetNextMfe`, A-27).
    pub fn mfes_after(&self, start: Sg<A>) -> impl Iterator<Item = &Mfe<A>> {
        self.mfes.after(start)
    }

    /// Number of MFEs.
    pub fn mfe_count(&self) -> usize {
        self.mfes.len()
    }

    /// `MgmGroupEnumerationStart`: snapshots the router-wide, deduplicated membership keys
    /// . `AnySource` yields one (\*,G) entry per joined group ((\*,\*) as 0/0);
    /// `AllSources` every (S,G), (\*,G) and (\*,\*) key.
    pub fn group_enumeration_start(
        &mut self,
        h: ProtocolHandle,
        kind: EnumType,
    ) -> Result<EnumHandle, MgmError> {
        self.registry.client(h)?;
        let entries: BTreeSet<Sg<A>> = match kind {
            EnumType::AllSources => self.members.keys().collect(),
            EnumType::AnySource => self.members.keys().map(|k| Sg::star_g(k.group)).collect(),
        };
        let eh = EnumHandle(self.serial());
        let e = GroupEnum {
            owner: h,
            entries: entries.into_iter().collect(),
            cursor: 0,
        };
        self.enums.open.insert(eh, e);
        Ok(eh)
    }

    /// `MgmGroupEnumerationGetNext`, idiomatic: up to `max` entries. `InsufficientBuffer`
    /// (needing one entry of four addresses: a 16-byte `SOURCE_GROUP_ENTRY` for IPv4, 64 bytes
    /// for IPv6) when `max` is 0 and entries remain; after the end, empty batches with `done`.
    pub fn group_enumeration_next(
        &mut self,
        eh: EnumHandle,
        max: usize,
    ) -> Result<GroupBatch<A>, MgmError> {
        let rest = self.group_enumeration_rest(eh)?;
        if max == 0 && !rest.is_empty() {
            return Err(MgmError::InsufficientBuffer {
                needed: (4 * A::OCTETS) as u32,
            });
        }
        let entries: Vec<Sg<A>> = rest.iter().take(max).copied().collect();
        self.group_enumeration_advance(eh, entries.len());
        let done = self.group_enumeration_rest(eh)?.is_empty();
        Ok(GroupBatch { entries, done })
    }

    /// `MgmGroupEnumerationEnd`: destroys the handle; later use is `InvalidParameter`.
    pub fn group_enumeration_end(&mut self, eh: EnumHandle) -> Result<(), MgmError> {
        self.enums
            .open
            .remove(&eh)
            .map(|_| ())
            .ok_or(MgmError::InvalidParameter)
    }

    /// Number of group enumerations `h` has open.
    pub fn group_enumerations_of(&self, h: ProtocolHandle) -> usize {
        self.enums.open.values().filter(|e| e.owner == h).count()
    }

    /// Keys the open group enumerations of every protocol hold in their snapshots together.
    pub fn group_enumeration_keys(&self) -> usize {
        self.enums.open.values().map(|e| e.entries.len()).sum()
    }

    /// Whether `eh` is an open group enumeration started by `h`.
    pub fn group_enumeration_of(&self, eh: EnumHandle, h: ProtocolHandle) -> bool {
        self.enums.open.get(&eh).is_some_and(|e| e.owner == h)
    }

    /// The entries not yet returned.
    pub(crate) fn group_enumeration_rest(&self, eh: EnumHandle) -> Result<&[Sg<A>], MgmError> {
        let e = self.enums.open.get(&eh).ok_or(MgmError::InvalidParameter)?;
        Ok(&e.entries[e.cursor..])
    }

    /// Moves the cursor past `n` returned entries.
    pub(crate) fn group_enumeration_advance(&mut self, eh: EnumHandle, n: usize) {
        if let Some(e) = self.enums.open.get_mut(&eh) {
            e.cursor = (e.cursor + n).min(e.entries.len());
        }
    }
}
