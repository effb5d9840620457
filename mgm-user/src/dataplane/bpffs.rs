//! Finding a bpffs whose pins outlive mgmd.
//!
//! Pins live as long as the bpffs instance holding them stays mounted somewhere. `ip netns exec`
//! (how a router in a network namespace is run) gives the command a mount namespace of its own,
//! a copy of the host's, and mounts a fresh sysfs on `/sys` there: the configured
//! `/sys/fs/bpf/mgm` is then a plain sysfs directory, and a bpffs mounted inside that transient
//! namespace would vanish with it (taking the pins and the forwarding with them). So when the
//! configured path is not on a bpffs here, mgmd looks for the same path in a mount namespace
//! that outlives it, through `/proc/<pid>/root`: PID 1's (the host's), else that of the process
//! that started mgmd (`ip netns exec` replaces itself with mgmd, so that is whoever ran it,
//! normally in the host's namespace; some sandboxes deny access to PID 1); a parent between
//! `ip netns exec` and mgmd (`ip netns exec NS timeout 600 mgmd`) shares mgmd's mount namespace
//! and leads nowhere else. The directory found is held open by an `O_PATH` descriptor for
//! mgmd's lifetime and reached as `/proc/self/fd/<n>`, so later pins (links of interfaces that
//! appear later) still land there after that process has gone. Without such a bpffs,
//! [`locate`] fails with [`DataPlaneError::NoBpffs`] naming each place tried and why it gave
//! none ([`no_bpffs`]); mgmd refuses to start unless told to run unpinned.
use super::{pin_dir, DataPlaneError};
use std::{
    fs::File,
    io,
    os::{
        fd::{AsRawFd as _, OwnedFd},
        unix::fs::{MetadataExt as _, OpenOptionsExt as _},
    },
    path::{Path, PathBuf},
};

/// How mgmd reached its bpffs directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reach {
    /// At the configured path, in mgmd's own mount namespace.
    Here,
    /// Through `/proc/<pid>/root`: that process is in another mount namespace whose bpffs
    /// holds the configured path.
    Through {
        /// The process.
        pid: u32,
        /// Who it is ("the host's init", "mgmd's parent").
        who: &'static str,
    },
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reach::Here => f.write_str("in mgmd's mount namespace"),
            Reach::Through { pid, who } => write!(
                f,
                "in the mount namespace of {who} (PID {pid}, reached through /proc/{pid}/root)"
            ),
        }
    }
}

/// The bpffs directory that holds mgmd's per-namespace pin directories, prepared
/// ([`pin_dir::prepare_base`]).
#[derive(Debug)]
pub struct PinBase {
    /// The path mgmd uses.
    path: PathBuf,
    /// The configured path (as it is called where the bpffs is mounted).
    configured: PathBuf,
    /// How it was reached.
    reach: Reach,
    /// Keeps a directory reached through another process usable after that process exits.
    _held: Option<OwnedFd>,
}

impl PinBase {
    /// The path to use for pinning (valid while this value lives).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configured path, as named in the mount namespace that holds it.
    pub fn configured(&self) -> &Path {
        &self.configured
    }

    /// How mgmd reached it.
    pub fn reach(&self) -> &Reach {
        &self.reach
    }
}

/// Whether `path`, or its nearest existing ancestor, is on a bpffs. A symlink is judged where
/// it lies, not where it points, so that a symlink in the place of the configured directory is
/// refused as one ([`pin_dir::prepare_base`]) rather than reported as no bpffs.
pub fn on_bpffs(path: &Path) -> bool {
    let Some((existing, meta)) = path
        .ancestors()
        .find_map(|p| p.symlink_metadata().ok().map(|meta| (p, meta)))
    else {
        return false;
    };
    let existing = match existing.parent() {
        Some(parent) if meta.file_type().is_symlink() => parent,
        _ => existing,
    };
    let Ok(c_path) = std::ffi::CString::new(existing.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: `statfs` is plain data; all-zero is a valid value.
    let mut fs: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a valid out-pointer for the call's duration.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut fs) };
    rc == 0 && fs.f_type == libc::BPF_FS_MAGIC
}

/// The mount namespace of `/proc/<pid>` (`self` for this process), by device and inode.
fn mount_ns(pid: &str) -> io::Result<(u64, u64)> {
    let meta = std::fs::metadata(format!("/proc/{pid}/ns/mnt"))?;
    Ok((meta.dev(), meta.ino()))
}

/// Finds and prepares the bpffs directory `configured` (see the module's documentation).
pub fn locate(configured: &Path) -> Result<PinBase, DataPlaneError> {
    let base = |path: PathBuf, reach, held| PinBase {
        path,
        configured: configured.to_owned(),
        reach,
        _held: held,
    };
    if on_bpffs(configured) {
        pin_dir::prepare_base(configured)?;
        return Ok(base(configured.to_owned(), Reach::Here, None));
    }
    let mine = mount_ns("self").map_err(|source| DataPlaneError::Sys {
        call: "reading this process's mount namespace",
        source,
    })?;
    // SAFETY: getppid has no failure mode.
    let parent = unsafe { libc::getppid() } as u32;
    let mut misses = vec![Miss::Here];
    let candidates = [(1, HOST_INIT), (parent, PARENT)];
    for (i, (pid, who)) in candidates.into_iter().enumerate() {
        if pid == 0 || (i > 0 && pid == 1) {
            continue;
        }
        match mount_ns(&pid.to_string()) {
            Err(error) => misses.push(Miss::Unreadable { pid, who, error }),
            Ok(ns) if ns == mine => misses.push(Miss::Shared { pid, who }),
            Ok(_) => {
                let root = PathBuf::from(format!("/proc/{pid}/root"));
                let there = root.join(configured.strip_prefix("/").unwrap_or(configured));
                if !on_bpffs(&there) {
                    misses.push(Miss::NotThere { pid, who });
                    continue;
                }
                pin_dir::prepare_base(&there)?;
                let held: OwnedFd = File::options()
                    .read(true)
                    .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
                    .open(&there)
                    .map_err(|source| DataPlaneError::Sys {
                        call: "opening the bpffs directory",
                        source,
                    })?
                    .into();
                let path = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
                return Ok(base(path, Reach::Through { pid, who }, Some(held)));
            }
        }
    }
    Err(no_bpffs(configured, &misses))
}

/// Whose mount namespace [`locate`] looks in first, through `/proc/1/root`.
const HOST_INIT: &str = "the host's init";
/// Whose mount namespace [`locate`] looks in when PID 1's gives no bpffs.
const PARENT: &str = "mgmd's parent";

/// Why a place [`locate`] looked in gave no bpffs.
#[derive(Debug)]
enum Miss {
    /// The configured path is not on a bpffs in mgmd's own mount namespace.
    Here,
    /// The mount namespace of `who` could not be read.
    Unreadable {
        pid: u32,
        who: &'static str,
        error: io::Error,
    },
    /// `who` shares mgmd's mount namespace, so it shows nothing more.
    Shared { pid: u32, who: &'static str },
    /// `who` is in another mount namespace, where the path is not on a bpffs either.
    NotThere { pid: u32, who: &'static str },
}

/// The ways out of [`DataPlaneError::NoBpffs`] whatever was tried.
const REMEDIES: &str = "mount one (`mount -t bpf bpf /sys/fs/bpf` in the host's mount \
    namespace, which `cargo xtask setup` does), set [daemon] bpffs to a directory on one (under \
    `ip netns exec`, one mounted outside /sys, which it replaces), or run unpinned (--unpinned \
    or [daemon] unpinned = true: forwarding then stops with mgmd)";

/// The error for `misses`, naming each place tried and why it gave no bpffs. When PID 1 is
/// unreadable and mgmd's parent shares its mount namespace, as `ip netns exec NS timeout 600
/// mgmd` makes it, the first way out is to make `ip netns exec` mgmd's parent.
fn no_bpffs(configured: &Path, misses: &[Miss]) -> DataPlaneError {
    let tried: Vec<String> = misses
        .iter()
        .map(|miss| match miss {
            Miss::Here => format!("{} is not on a bpffs here", configured.display()),
            Miss::Unreadable { pid, who, error } => {
                format!("the mount namespace of {who} (PID {pid}) is unreadable: {error}")
            }
            Miss::Shared { pid, who } => format!("{who} (PID {pid}) shares mgmd's mount namespace"),
            Miss::NotThere { pid, who } => format!("not on a bpffs for {who} (PID {pid}) either"),
        })
        .collect();
    let host_unreadable = misses
        .iter()
        .any(|miss| matches!(miss, Miss::Unreadable { who: HOST_INIT, .. }));
    let parent_shares = misses
        .iter()
        .any(|miss| matches!(miss, Miss::Shared { who: PARENT, .. }));
    let remedies = if host_unreadable && parent_shares {
        format!(
            "make `ip netns exec` mgmd's parent (`timeout 600 ip netns exec NS mgmd ...`, not \
             `ip netns exec NS timeout 600 mgmd ...`) so that mgmd reaches the host's bpffs \
             through it, {REMEDIES}"
        )
    } else {
        REMEDIES.to_owned()
    };
    DataPlaneError::NoBpffs {
        path: configured.to_owned(),
        tried: tried.join("; "),
        remedies,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_directory_is_not_a_bpffs_and_is_refused() {
        let dir = std::env::temp_dir().join(format!("mgm-bpffs-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(!on_bpffs(&dir));
        assert!(!on_bpffs(&dir.join("not/yet/there")));
        // In this process's own mount namespace (PID 1 and the parent, when readable, share
        // it or have no bpffs at this path), nothing can hold pins there.
        match locate(&dir.join("mgm")) {
            Err(DataPlaneError::NoBpffs { path, tried, .. }) => {
                assert_eq!(path, dir.join("mgm"));
                assert!(tried.contains("is not on a bpffs here"), "{tried}");
            }
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `ip netns exec NS timeout 600 mgmd` where PID 1 is unreadable: mgmd's parent (timeout)
    /// shares its mount namespace, and the error says so and how to start mgmd instead.
    #[test]
    fn a_parent_sharing_mgmds_mount_namespace_is_named_with_the_way_out() {
        let configured = Path::new("/sys/fs/bpf/mgm");
        let host_unreadable = Miss::Unreadable {
            pid: 1,
            who: HOST_INIT,
            error: io::Error::from_raw_os_error(libc::EACCES),
        };
        let parent_shares = Miss::Shared {
            pid: 4242,
            who: PARENT,
        };
        let DataPlaneError::NoBpffs {
            tried, remedies, ..
        } = no_bpffs(configured, &[Miss::Here, host_unreadable, parent_shares])
        else {
            panic!("not NoBpffs");
        };
        assert_eq!(
            tried,
            "/sys/fs/bpf/mgm is not on a bpffs here; the mount namespace of the host's init \
             (PID 1) is unreadable: Permission denied (os error 13); mgmd's parent (PID 4242) \
             shares mgmd's mount namespace"
        );
        assert_eq!(
            remedies,
            format!(
                "make `ip netns exec` mgmd's parent (`timeout 600 ip netns exec NS mgmd ...`, \
                 not `ip netns exec NS timeout 600 mgmd ...`) so that mgmd reaches the host's \
                 bpffs through it, {REMEDIES}"
            )
        );
        assert!(REMEDIES.contains("set [daemon] bpffs to a directory on one"));
        // In the host's mount namespace, or with the host's init readable, a parent sharing
        // mgmd's mount namespace is not what is in the way.
        let host_shares = Miss::Shared {
            pid: 1,
            who: HOST_INIT,
        };
        let host_without_bpffs = Miss::NotThere {
            pid: 1,
            who: HOST_INIT,
        };
        for host in [host_shares, host_without_bpffs] {
            let parent_shares = Miss::Shared {
                pid: 4242,
                who: PARENT,
            };
            let e = no_bpffs(configured, &[Miss::Here, host, parent_shares]);
            assert!(
                matches!(&e, DataPlaneError::NoBpffs { remedies, .. } if remedies == REMEDIES),
                "{e}"
            );
        }
    }
}
