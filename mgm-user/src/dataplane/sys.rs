//! The two BPF operations aya 0.14 does not wrap: creating a bare DEVMAP_HASH (one outgoing
//! set) and a batch update of an outer map-in-map (one RCU wait for many inner maps).
use super::DataPlaneError;
use aya::maps::{DevMapHash, IterableMap, Map, MapData};
use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_map_type};
use std::os::fd::{AsFd, AsRawFd};

/// Bytes of a devmap value (`struct bpf_devmap_val`: ifindex and program fd/id).
const DEVMAP_VALUE_SIZE: u32 = 8;

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

/// Stores `inner[i]` at `keys[i]` of the map-in-map `outer`, in one system call. Like every
/// update of an outer map from userspace, it returns only after an RCU grace period, so no
/// XDP program still runs with a value it replaced (or with any value read before the call).
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
    // SAFETY: the attribute points at `keys` and `fds`, both alive for the call, with `count`
    // elements of the map's key and value sizes (u32 each).
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_MAP_UPDATE_BATCH as libc::c_long,
            &mut attr as *mut bpf_attr,
            size_of::<bpf_attr>(),
        )
    };
    if result < 0 {
        return Err(DataPlaneError::Sys {
            call: "BPF_MAP_UPDATE_BATCH",
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(())
}
