//! The BPF operations aya 0.14 does not wrap: for the outgoing sets, creating a bare DEVMAP_HASH
//! (one outgoing set), a batch update of an outer map-in-map (many inner maps in one call), and
//! a single-element update of it that waits for an RCU grace period; for the adoption of pinned
//! maps, batched reads of a whole array or hash map ([`read_array`], [`read_hash`],
//! [`read_per_cpu_keys`]); for the pinned XDP links, the interface one is attached to
//! ([`pinned_xdp_link_ifindex`]).
//!
//! Which updates wait: the kernel's `BPF_MAP_UPDATE_ELEM` on an ARRAY_OF_MAPS or HASH_OF_MAPS
//! calls `synchronize_rcu()` before returning (`maybe_wait_bpf_programs()` in
//! kernel/bpf/syscall.c, present in every kernel mgm supports), so no XDP program still runs
//! with a value read before the call. Whether and how often `BPF_MAP_UPDATE_BATCH` waits is
//! not part of the documented interface and has changed between kernel versions, so mgm relies
//! on the single-element update alone for that guarantee (see `docs/design.md` §2).
use super::DataPlaneError;
use aya::maps::{Array, DevMapHash, HashMap, IterableMap, Map, MapData, PerCpuHashMap};
use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_link_info, bpf_link_type, bpf_map_type};
use std::{
    os::{
        fd::{AsFd, AsRawFd, FromRawFd, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

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

/// Bytes of keys and values a batched read ([`read_array`], [`read_hash`]) takes per system
/// call: its buffer, freed when it returns.
const READ_BATCH_BYTES: usize = 64 * 1024;

/// Reads every element of `array`, in index order, and hands each to `each` with its index:
/// `BPF_MAP_LOOKUP_BATCH` (Linux 5.6), one system call per [`READ_BATCH_BYTES`] instead of one
/// per element. A read that does not return each index once, in order, is an error: the caller
/// sees every element or fails.
pub fn read_array<V: aya::Pod>(
    array: &Array<MapData, V>,
    mut each: impl FnMut(u32, V) -> Result<(), DataPlaneError>,
) -> Result<(), DataPlaneError> {
    let len = array.len();
    let chunk = batch_len(size_of::<u32>() + size_of::<V>()).min(len.max(1) as usize);
    let (mut keys, mut values) = (zeroed_vec::<u32>(chunk), zeroed_vec::<V>(chunk));
    let mut cursor = None;
    let mut next = 0u32;
    loop {
        let (count, at_end, position) =
            lookup_batch(array.map(), cursor, &mut keys, &mut values, 1)?;
        for (&index, &value) in keys.iter().zip(&values).take(count) {
            if index != next {
                return Err(DataPlaneError::Invalid(format!(
                    "a batched read of an array returned element {index} where {next} was due"
                )));
            }
            each(index, value)?;
            next += 1;
        }
        if at_end || count == 0 {
            break;
        }
        cursor = Some(position);
    }
    if next != len {
        return Err(DataPlaneError::Invalid(format!(
            "a batched read of an array of {len} elements returned {next}"
        )));
    }
    Ok(())
}

/// Every entry of the hash map `map`, read as [`read_array`] reads an array (in the hash
/// map's order).
pub fn read_hash<K: aya::Pod, V: aya::Pod>(
    map: &HashMap<MapData, K, V>,
) -> Result<Vec<(K, V)>, DataPlaneError> {
    let mut entries = Vec::new();
    read_hash_batches::<K, V>(map.map(), 1, |key, value| entries.push((*key, value[0])))?;
    Ok(entries)
}

/// Every key of the per-CPU hash map `map`, whose values the kernel hands out for `cpus`
/// (possible) CPUs, read in batches as [`read_hash`] reads.
pub fn read_per_cpu_keys<K: aya::Pod, V: aya::Pod>(
    map: &PerCpuHashMap<MapData, K, V>,
    cpus: usize,
) -> Result<Vec<K>, DataPlaneError> {
    // The kernel's per-CPU value: each CPU's value rounded up to 8 bytes.
    let words = size_of::<V>().div_ceil(8) * cpus.max(1);
    let mut keys = Vec::new();
    read_hash_batches::<K, u64>(map.map(), words, |key, _| keys.push(*key))?;
    Ok(keys)
}

/// Reads every entry of the hash map `map`, whose values are `per_value` elements of `W`, and
/// hands each to `each`. A batch holds whole buckets of the hash table: one too large for the
/// buffer (`ENOSPC`) is read again with a buffer twice as large.
fn read_hash_batches<K: aya::Pod, W: aya::Pod>(
    map: &MapData,
    per_value: usize,
    mut each: impl FnMut(&K, &[W]),
) -> Result<(), DataPlaneError> {
    let mut chunk = batch_len(size_of::<K>() + per_value * size_of::<W>());
    let (mut keys, mut values) = (zeroed_vec::<K>(chunk), zeroed_vec::<W>(chunk * per_value));
    let mut cursor = None;
    loop {
        let read = lookup_batch(map, cursor, &mut keys, &mut values, per_value);
        let (count, at_end, position) = match read {
            Err(DataPlaneError::Sys { source, .. })
                if source.raw_os_error() == Some(libc::ENOSPC) =>
            {
                chunk *= 2;
                (keys, values) = (zeroed_vec::<K>(chunk), zeroed_vec::<W>(chunk * per_value));
                continue;
            }
            read => read?,
        };
        for (key, value) in keys.iter().zip(values.chunks_exact(per_value)).take(count) {
            each(key, value);
        }
        if at_end {
            return Ok(());
        }
        cursor = Some(position);
    }
}

/// Elements of `element_bytes` (key and value) that fit in [`READ_BATCH_BYTES`] (at least
/// one).
fn batch_len(element_bytes: usize) -> usize {
    (READ_BATCH_BYTES / element_bytes.max(1)).max(1)
}

/// `len` values of `T`, all zero bytes.
fn zeroed_vec<T: aya::Pod>(len: usize) -> Vec<T> {
    // SAFETY: a Pod value is plain old data: all-zero bytes are a value of it.
    vec![unsafe { std::mem::zeroed::<T>() }; len]
}

/// One `BPF_MAP_LOOKUP_BATCH` of `map` into `keys` (of the map's key type) and `values` (each
/// value `per_value` elements of `W`, the map's value size) from `cursor` (`None`: the start):
/// the elements read, whether the map's end was reached, and the cursor to go on from.
fn lookup_batch<K, W>(
    map: &MapData,
    cursor: Option<u32>,
    keys: &mut [K],
    values: &mut [W],
    per_value: usize,
) -> Result<(usize, bool, u32), DataPlaneError> {
    let room = keys.len().min(values.len() / per_value.max(1));
    let mut position = 0u32;
    // SAFETY: bpf_attr is plain old data; all-zero is its documented empty value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    if let Some(cursor) = &cursor {
        attr.batch.in_batch = cursor as *const u32 as u64;
    }
    attr.batch.out_batch = &mut position as *mut u32 as u64;
    attr.batch.keys = keys.as_mut_ptr() as u64;
    attr.batch.values = values.as_mut_ptr() as u64;
    attr.batch.count = u32::try_from(room).unwrap_or(u32::MAX);
    attr.batch.map_fd = map.fd().as_fd().as_raw_fd() as u32;
    // The attribute points at `cursor`, `position` (the cursor of an array, its u32 index, or
    // of a hash map, a u32 bucket number), `keys` and `values`, alive for the call, with room
    // for `count` keys and values of the map's sizes (the callers' typed maps checked them).
    let read = bpf(
        bpf_cmd::BPF_MAP_LOOKUP_BATCH,
        &mut attr,
        "BPF_MAP_LOOKUP_BATCH",
    );
    // ENOENT: the map's end was reached, `count` elements read before it.
    let at_end = match read {
        Ok(()) => false,
        Err(DataPlaneError::Sys { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => {
            true
        }
        Err(e) => return Err(e),
    };
    // SAFETY: the kernel wrote the batch's count into the `batch` member the call used.
    let count = unsafe { attr.batch.count } as usize;
    let count = count.min(room);
    Ok((count, at_end, position))
}

/// The ifindex of the interface that the XDP link pinned at `path` is attached to, 0 when that
/// interface is gone (the link outlived it); `None` when nothing is pinned there.
pub fn pinned_xdp_link_ifindex(path: &Path) -> Result<Option<u32>, DataPlaneError> {
    let name = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| DataPlaneError::Invalid(format!("{}: NUL in the path", path.display())))?;
    // SAFETY: bpf_attr is plain old data; all-zero is its documented empty value.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.__bindgen_anon_4.pathname = name.as_ptr() as u64;
    // SAFETY: `name` outlives the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            bpf_cmd::BPF_OBJ_GET as libc::c_long,
            &mut attr as *mut bpf_attr,
            size_of::<bpf_attr>(),
        )
    };
    if fd < 0 {
        let source = std::io::Error::last_os_error();
        if source.kind() == std::io::ErrorKind::NotFound {
            return Ok(None);
        }
        return Err(DataPlaneError::Sys {
            call: "BPF_OBJ_GET of a pinned XDP link",
            source,
        });
    }
    // SAFETY: BPF_OBJ_GET returned a new descriptor, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: bpf_link_info is plain old data; the kernel fills what it knows.
    let mut info: bpf_link_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    attr.info.bpf_fd = fd.as_raw_fd() as u32;
    attr.info.info = &mut info as *mut bpf_link_info as u64;
    attr.info.info_len = size_of::<bpf_link_info>() as u32;
    bpf(
        bpf_cmd::BPF_OBJ_GET_INFO_BY_FD,
        &mut attr,
        "BPF_OBJ_GET_INFO_BY_FD of a pinned XDP link",
    )?;
    if info.type_ != bpf_link_type::BPF_LINK_TYPE_XDP as u32 {
        return Err(DataPlaneError::Invalid(format!(
            "{}: pinned link of type {}, not XDP",
            path.display(),
            info.type_
        )));
    }
    // SAFETY: the kernel filled the union's XDP member for an XDP link.
    Ok(Some(unsafe { info.__bindgen_anon_1.xdp.ifindex }))
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
