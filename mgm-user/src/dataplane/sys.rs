//! The BPF operations aya 0.14 does not wrap for the outgoing sets: creating a bare DEVMAP_HASH
//! (one outgoing set), a batch update of an outer map-in-map (many inner maps in one call), and
//! a single-element update of it that waits for an RCU grace period.
//!
//! Which updates wait: the kernel's `BPF_MAP_UPDATE_ELEM` on an ARRAY_OF_MAPS or HASH_OF_MAPS
//! calls `synchronize_rcu()` before returning (`maybe_wait_bpf_programs()` in
//! kernel/bpf/syscall.c, present in every kernel mgm supports), so no XDP program still runs
//! with a value read before the call. Whether and how often `BPF_MAP_UPDATE_BATCH` waits is
//! not part of the documented interface and has changed between kernel versions, so mgm relies
//! on the single-element update alone for that guarantee (see `docs/design.md` §2).
use super::DataPlaneError;
use aya::maps::{DevMapHash, IterableMap, Map, MapData};
use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_map_type};
use std::os::fd::{AsFd, AsRawFd};

/// Bytes of a devmap value (`struct bpf_devmap_val`: ifindex and program fd/id).
const DEVMAP_VALUE_SIZE: u32 = 8;

/// A second handle of `map` (a duplicated descriptor), for a second owner; `what` names it in
/// the error.
pub fn duplicate(map: &MapData, what: &'static str) -> Result<MapData, DataPlaneError> {
    let fd = map
        .fd()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| DataPlaneError::Sys { call: what, source })?;
    Ok(MapData::from_fd(fd)?)
}

/// Creates an empty DEVMAP_HASH of `max_entries` interfaces, keyed by ifindex.
pub fn create_devmap_hash(max_entries: u32) -> Result<DevMapHash<MapData>, DataPlaneError> {
    let definition = aya_obj::Map::new_from_params(
        bpf_map_type::BPF_MAP_TYPE_DEVMAP_HASH as u32,
        size_of::<u32>() as u32,
        DEVMAP_VALUE_SIZE,
        max_entries,
        0,
    );
    let data = MapData::create(definition, "mgm_oif_set", None)?;
    Ok(DevMapHash::try_from(Map::DevMapHash(data))?)
}

/// Stores `inner` at `key` of the map-in-map `outer` and returns after an RCU grace period:
/// no XDP program still runs with a value read before the call.
pub fn update_outer_and_wait(
    outer: &MapData,
    key: u32,
    inner: &DevMapHash<MapData>,
) -> Result<(), DataPlaneError> {
    let fd = inner.map().fd().as_fd().as_raw_fd() as u32;
    // SAFETY: bpf_attr is plain old data; all-zero is its documented empty value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.__bindgen_anon_2.map_fd = outer.fd().as_fd().as_raw_fd() as u32;
    attr.__bindgen_anon_2.key = &key as *const u32 as u64;
    attr.__bindgen_anon_2.__bindgen_anon_1.value = &fd as *const u32 as u64;
    bpf(
        bpf_cmd::BPF_MAP_UPDATE_ELEM,
        &mut attr,
        "BPF_MAP_UPDATE_ELEM",
    )
}

/// Stores `inner[i]` at `keys[i]` of the map-in-map `outer`, in one system call (for filling
/// empty slots: callers do not rely on it waiting for a grace period).
pub fn update_outer_batch(
    outer: &MapData,
    keys: &[u32],
    inner: &[&DevMapHash<MapData>],
) -> Result<(), DataPlaneError> {
    if keys.len() != inner.len() {
        return Err(DataPlaneError::Invalid(format!(
            "{} keys for {} maps",
            keys.len(),
            inner.len()
        )));
    }
    let fds: Vec<u32> = inner
        .iter()
        .map(|map| map.map().fd().as_fd().as_raw_fd() as u32)
        .collect();
    let count =
        u32::try_from(keys.len()).map_err(|_| DataPlaneError::Invalid("batch too large".into()))?;
    // SAFETY: bpf_attr is plain old data; all-zero is its documented empty value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.batch.keys = keys.as_ptr() as u64;
    attr.batch.values = fds.as_ptr() as u64;
    attr.batch.count = count;
    attr.batch.map_fd = outer.fd().as_fd().as_raw_fd() as u32;
    // The attribute points at `keys` and `fds`, both alive for the call, with `count` elements
    // of the map's key and value sizes (u32 each).
    bpf(
        bpf_cmd::BPF_MAP_UPDATE_BATCH,
        &mut attr,
        "BPF_MAP_UPDATE_BATCH",
    )
}

/// The bpf(2) system call with `attr`, whose pointers must be valid for `cmd`.
fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr, call: &'static str) -> Result<(), DataPlaneError> {
    // SAFETY: the callers fill `attr` for `cmd` with pointers alive for the call.
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd as libc::c_long,
            attr as *mut bpf_attr,
            size_of::<bpf_attr>(),
        )
    };
    if result < 0 {
        return Err(DataPlaneError::Sys {
            call,
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}
