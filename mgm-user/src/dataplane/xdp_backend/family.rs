//! The two address families' tables of the backend: the same entry logic over `MFES` (IPv4,
//! [`SgKey`]) and `MFES6` (IPv6, [`Sg6Key`]). Both share the counter slots, the outgoing sets
//! and the per-interface counters.
use super::{Installed, XdpBackend};
use aya::maps::{HashMap, MapData};
use mgm_common::{MfeValue, Sg6Key, SgKey};
use std::{
    collections::{HashMap as StdHashMap, HashSet},
    fmt::Display,
    hash::Hash,
};

/// An (S,G) key of one family, and where the backend keeps that family's entries.
pub(super) trait Family: aya::Pod + Eq + Hash + Display {
    /// The family's MFE map.
    fn map(backend: &XdpBackend) -> &HashMap<MapData, Self, MfeValue>;
    /// The family's MFE map, to change it.
    fn map_mut(backend: &mut XdpBackend) -> &mut HashMap<MapData, Self, MfeValue>;
    /// The family's bookkeeping of installed entries.
    fn entries(backend: &XdpBackend) -> &StdHashMap<Self, Installed>;
    /// The family's bookkeeping of installed entries, to change it.
    fn entries_mut(backend: &mut XdpBackend) -> &mut StdHashMap<Self, Installed>;
    /// The (S,G)s whose next creation starts in hold mode.
    fn hold_on_create(backend: &mut XdpBackend) -> &mut HashSet<Self>;
    /// The key standing for the (S,G) in the report budget (`REPORTED_SGS`).
    fn budget_key(&self) -> SgKey;
}

impl Family for SgKey {
    fn map(backend: &XdpBackend) -> &HashMap<MapData, Self, MfeValue> {
        &backend.mfes
    }
    fn map_mut(backend: &mut XdpBackend) -> &mut HashMap<MapData, Self, MfeValue> {
        &mut backend.mfes
    }
    fn entries(backend: &XdpBackend) -> &StdHashMap<Self, Installed> {
        &backend.entries
    }
    fn entries_mut(backend: &mut XdpBackend) -> &mut StdHashMap<Self, Installed> {
        &mut backend.entries
    }
    fn hold_on_create(backend: &mut XdpBackend) -> &mut HashSet<Self> {
        &mut backend.hold_on_create
    }
    fn budget_key(&self) -> SgKey {
        *self
    }
}

impl Family for Sg6Key {
    fn map(backend: &XdpBackend) -> &HashMap<MapData, Self, MfeValue> {
        &backend.v6.mfes
    }
    fn map_mut(backend: &mut XdpBackend) -> &mut HashMap<MapData, Self, MfeValue> {
        &mut backend.v6.mfes
    }
    fn entries(backend: &XdpBackend) -> &StdHashMap<Self, Installed> {
        &backend.v6.entries
    }
    fn entries_mut(backend: &mut XdpBackend) -> &mut StdHashMap<Self, Installed> {
        &mut backend.v6.entries
    }
    fn hold_on_create(backend: &mut XdpBackend) -> &mut HashSet<Self> {
        &mut backend.v6.hold_on_create
    }
    fn budget_key(&self) -> SgKey {
        self.digest()
    }
}
