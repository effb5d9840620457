//! IPv6 entries: the `MFES6` map and its bookkeeping, with the same operations and semantics as
//! the IPv4 entries of [`ForwardingBackend`](super::ForwardingBackend) (the shared logic is
//! generic over [`super::Family`]), and the per-interface admin-scope boundary.
use super::{Installed, XdpBackend};
use crate::dataplane::{
    backend::{InstalledMfe, MfeStats},
    loader::map_name,
    DataPlane, DataPlaneError,
};
use aya::maps::{HashMap, MapData};
use mgm_common::{MfeValue, Sg6Key, IFACE_FLAG_CONFIGURED, MAX_SCOPE_BOUNDARY};
use std::collections::{HashMap as StdHashMap, HashSet};

/// The IPv6 table of the backend.
pub(super) struct Table6 {
    pub(super) mfes: HashMap<MapData, Sg6Key, MfeValue>,
    pub(super) entries: StdHashMap<Sg6Key, Installed>,
    /// Entries to create in hold mode (see [`XdpBackend::hold_on_create6`]).
    pub(super) hold_on_create: HashSet<Sg6Key>,
}

/// The entries found in `MFES6`.
type Found6 = Vec<(Sg6Key, MfeValue)>;

impl Table6 {
    /// Takes `MFES6` from `plane`, with the entries an earlier run left in it.
    pub(super) fn open(
        plane: &mut DataPlane,
    ) -> Result<(HashMap<MapData, Sg6Key, MfeValue>, Found6), DataPlaneError> {
        let mfes: HashMap<MapData, Sg6Key, MfeValue> =
            plane.take_map(map_name::MFES6)?.try_into()?;
        let found = mfes.iter().collect::<Result<Vec<_>, _>>()?;
        Ok((mfes, found))
    }

    /// The table over `mfes`, adopting the entries `found` in it.
    pub(super) fn adopt(mfes: HashMap<MapData, Sg6Key, MfeValue>, found: Found6) -> Self {
        let entries = found
            .into_iter()
            .map(|(sg, value)| (sg, Installed::adopt(&value)))
            .collect();
        Self {
            mfes,
            entries,
            hold_on_create: HashSet::new(),
        }
    }
}

/// IPv6 entries: each operation has the semantics of its IPv4 counterpart of
/// [`ForwardingBackend`](super::ForwardingBackend).
impl XdpBackend {
    /// Installs the IPv6 entry for `sg`, or replaces it if it exists.
    pub fn install_mfe6(
        &mut self,
        sg: Sg6Key,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), DataPlaneError> {
        self.install(sg, iif, oifs)
    }

    /// Changes an existing IPv6 entry, atomically from the packets' point of view.
    pub fn update_mfe6(
        &mut self,
        sg: Sg6Key,
        iif: u32,
        oifs: &[u32],
    ) -> Result<(), DataPlaneError> {
        self.update(sg, iif, oifs)
    }

    /// Removes the IPv6 entry for `sg` (later packets are misses again).
    pub fn delete_mfe6(&mut self, sg: Sg6Key) -> Result<(), DataPlaneError> {
        self.delete(sg)
    }

    /// The counters of the IPv6 entry for `sg` (`ttl_expired`: hop limit ≤ 1).
    pub fn mfe6_stats(&self, sg: Sg6Key) -> Result<MfeStats, DataPlaneError> {
        self.stats(sg)
    }

    /// Makes the next creation of `sg` start in hold mode (until [`Self::release_hold6`]).
    pub fn hold_on_create6(&mut self, sg: Sg6Key) {
        self.v6.hold_on_create.insert(sg);
    }

    /// Ends hold mode of the IPv6 entry for `sg`.
    pub fn release_hold6(&mut self, sg: Sg6Key) -> Result<(), DataPlaneError> {
        self.release(sg)
    }

    /// The IPv6 entry for `sg` as the bookkeeping has it.
    pub fn installed6(&self, sg: Sg6Key) -> Option<InstalledMfe<Sg6Key>> {
        self.v6
            .entries
            .get(&sg)
            .map(|e| e.to_installed(sg, &self.sets))
    }

    /// Every IPv6 entry of the bookkeeping (after a restart: those adopted).
    pub fn installed6_all(&self) -> Vec<InstalledMfe<Sg6Key>> {
        self.installed_of()
    }

    /// Every IPv6 entry as `MFES6` holds it (read back from the data plane).
    pub fn read_back6(&self) -> Result<Vec<InstalledMfe<Sg6Key>>, DataPlaneError> {
        self.read_back_of()
    }

    /// Sets the IPv6 admin-scope boundary of interface `ifindex` (configured before with
    /// [`configure_interface`](super::ForwardingBackend::configure_interface), whose later
    /// calls keep it): packets of groups of scope `scope` or smaller are neither accepted from
    /// the interface nor sent out of it; 0 removes the boundary. Scopes above
    /// [`MAX_SCOPE_BOUNDARY`] are refused (the global scope has no boundary).
    pub fn set_scope_boundary(&mut self, ifindex: u32, scope: u8) -> Result<(), DataPlaneError> {
        if scope > MAX_SCOPE_BOUNDARY {
            return Err(DataPlaneError::Invalid(format!(
                "scope boundary {scope}: at most {MAX_SCOPE_BOUNDARY} (the global scope, 14, \
                 has no boundary)"
            )));
        }
        let mut iface = self.iface(ifindex)?;
        if iface.flags & IFACE_FLAG_CONFIGURED == 0 {
            return Err(DataPlaneError::NoEntry(format!("interface {ifindex}")));
        }
        iface.scope_boundary = scope;
        self.ifaces.set(ifindex, iface, 0)?;
        Ok(())
    }
}
