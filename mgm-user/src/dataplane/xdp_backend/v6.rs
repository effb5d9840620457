//! IPv6 entries: the `MFES6` map and its bookkeeping, behind the `*6` operations of
//! [`ForwardingBackend`](super::ForwardingBackend) with the same semantics as the IPv4 ones (the
//! shared logic is generic over [`super::Family`]), and the per-interface admin-scope boundary.
use super::{Installed, Probe, XdpBackend};
use crate::dataplane::{loader::map_name, oif_sets::drops_nothing, sys, DataPlane, DataPlaneError};
use aya::maps::{HashMap, MapData};
use mgm_common::{MfeValue, Sg6Key, IFACE_FLAG_CONFIGURED, MAX_SCOPE_BOUNDARY};
use std::collections::{HashMap as StdHashMap, HashSet};

/// The IPv6 table of the backend.
pub(super) struct Table6 {
    pub(super) mfes: HashMap<MapData, Sg6Key, MfeValue>,
    /// The probe array in front of `mfes`.
    pub(super) probe: Probe<Sg6Key>,
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
        let found = sys::read_hash(&mfes)?;
        Ok((mfes, found))
    }

    /// The table over `mfes` and its `probe`, adopting the entries `found` in it.
    pub(super) fn adopt(
        mfes: HashMap<MapData, Sg6Key, MfeValue>,
        probe: Probe<Sg6Key>,
        found: Found6,
    ) -> Self {
        let entries = found
            .into_iter()
            .map(|(sg, value)| (sg, Installed::adopt(&value)))
            .collect();
        Self {
            mfes,
            probe,
            entries,
            hold_on_create: HashSet::new(),
        }
    }
}

/// The IPv6 admin-scope boundary (the IPv6 entries are
/// [`ForwardingBackend`](super::ForwardingBackend)'s `*6` operations).
impl XdpBackend {
    /// [`XdpBackend::bare_member`] of IPv6 entry `sg`.
    pub fn bare_member6(&self, sg: Sg6Key) -> Result<Option<(u32, Vec<u32>)>, DataPlaneError> {
        self.bare_member_of(self.v6.entries.get(&sg))
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
        self.sets.set_rule_free(ifindex, drops_nothing(&iface))
    }
}
