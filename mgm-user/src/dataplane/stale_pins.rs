//! The pin directories of network namespaces that are gone: found and removed.
//!
//! mgmd pins under `<bpffs>/net-<cookie>`, named after its network namespace, and a stop that
//! keeps forwarding (or `kill -9`) leaves them for the next mgmd of that namespace. Once the
//! namespace is deleted nothing can adopt them (a cookie is never given to another namespace),
//! yet they hold a full set of maps in kernel memory until removed: nothing else frees them (a
//! pinned map or link holds no reference to a namespace).
//!
//! Each pin directory records the inode of its namespace as an empty subdirectory
//! `netns-inode-<inode>` ([`record`]): with the cookie of its name that is the identity the
//! kernel opens a namespace by ([`crate::netns::presence`]). A directory is removed only when
//! the kernel answers that no namespace has that identity, which (cookies never being reused)
//! proves that its namespace is gone; while anything at all holds the namespace the kernel
//! finds it, and its pins stay. Kept too, whatever their age: directories without a record (an
//! older mgmd made them and none has adopted them since), directories that are not this
//! user's alone or not named like mgm's, and everything when the kernel cannot answer for this
//! very namespace (older than Linux 6.18). The caller checks first that the kernel answers it
//! for other namespaces too ([`crate::netns::check_lookup`]): without the privilege it would
//! take a live one for gone.
use crate::netns::{Identity, Presence};
use std::{
    fs::{DirBuilder, Metadata},
    io,
    os::unix::fs::{DirBuilderExt as _, MetadataExt as _},
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

/// The name of a pin directory starts so, followed by its namespace's cookie.
const DIR_PREFIX: &str = "net-";
/// The name of the record of a pin directory's namespace starts so, followed by its inode.
const RECORD_PREFIX: &str = "netns-inode-";
/// Most entries of the bpffs directory looked at in one pass; the rest wait for a later pass
/// (only live namespaces' directories stay, so this is only reached with that many mgmds).
pub const MAX_LISTED: usize = 4096;

/// The pin directory name of the network namespace whose cookie is `cookie`.
pub fn dir_name(cookie: u64) -> String {
    format!("{DIR_PREFIX}{cookie}")
}

/// Records in the pin directory `dir` that it belongs to the namespace whose inode is
/// `inode` (the cookie is in its name); a record already there is kept.
pub fn record(dir: &Path, inode: u64) -> io::Result<()> {
    match DirBuilder::new()
        .mode(0o700)
        .create(dir.join(format!("{RECORD_PREFIX}{inode}")))
    {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Why a pin directory that is not this namespace's stays.
#[derive(Debug)]
pub enum Kept {
    /// Its namespace lives.
    Alive,
    /// It records no namespace (or more than one): an older mgmd made it.
    NoRecord,
    /// The kernel could not say whether its namespace lives.
    Unknown(io::Error),
}

/// A removed pin directory.
#[derive(Debug)]
pub struct Removed {
    /// Its path.
    pub dir: PathBuf,
    /// Time since it was recorded (`None`: the clock went back).
    pub age: Option<Duration>,
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Pin directories of namespaces that are gone, removed.
    pub removed: Vec<Removed>,
    /// Pin directories of other namespaces that stay, and why.
    pub kept: Vec<(PathBuf, Kept)>,
    /// Pin directories of namespaces that are gone that could not be removed.
    pub failed: Vec<(PathBuf, io::Error)>,
    /// Whether the bpffs directory had more than [`MAX_LISTED`] entries (the rest were not
    /// looked at).
    pub truncated: bool,
}

/// Why a pass removed nothing at all.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    /// The kernel cannot find this very namespace by its identity, so its silence about
    /// another proves nothing.
    #[error("the kernel cannot look up network namespaces by id (Linux 6.18 is needed): {0}")]
    NoLookup(io::Error),
    /// The bpffs directory could not be listed.
    #[error("listing the bpffs directory: {0}")]
    List(io::Error),
}

/// Removes, under `base`, the pin directories of network namespaces that are gone (see the
/// module's documentation), looked up with `presence`; `own` is this mgmd's namespace (its
/// directory is never looked at).
pub fn collect(
    base: &Path,
    own: Identity,
    presence: impl Fn(Identity) -> Presence,
) -> Result<Pass, PassError> {
    match presence(own) {
        Presence::Alive => {}
        Presence::Unknown(e) => return Err(PassError::NoLookup(e)),
        Presence::Gone => {
            return Err(PassError::NoLookup(io::Error::other(
                "this namespace was not found by its own identity",
            )))
        }
    }
    let mut entries = std::fs::read_dir(base).map_err(PassError::List)?;
    let mut pass = Pass::default();
    for entry in entries.by_ref().take(MAX_LISTED) {
        let entry = entry.map_err(PassError::List)?;
        let Some(cookie) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(DIR_PREFIX))
            .and_then(|c| c.parse::<u64>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        if cookie == own.cookie || !own_private_dir(&dir) {
            continue;
        }
        let Some((inode, recorded)) = recorded_inode(&dir) else {
            pass.kept.push((dir, Kept::NoRecord));
            continue;
        };
        match presence(Identity { cookie, inode }) {
            Presence::Alive => pass.kept.push((dir, Kept::Alive)),
            Presence::Unknown(e) => pass.kept.push((dir, Kept::Unknown(e))),
            Presence::Gone => match std::fs::remove_dir_all(&dir) {
                Ok(()) => pass.removed.push(Removed {
                    dir,
                    age: recorded
                        .modified()
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok()),
                }),
                // Another mgmd's pass removed it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => pass.failed.push((dir, e)),
            },
        }
    }
    pass.truncated = entries.next().is_some();
    Ok(pass)
}

fn euid() -> u32 {
    // SAFETY: geteuid has no failure mode.
    unsafe { libc::geteuid() }
}

/// Whether `path` itself (not a symlink's target) is a directory of this user's that nobody
/// else may write in, as mgm makes them ([`super::pin_dir`]).
fn own_private_dir(path: &Path) -> bool {
    path.symlink_metadata()
        .is_ok_and(|m| m.is_dir() && m.uid() == euid() && m.mode() & 0o022 == 0)
}

/// The namespace inode recorded in the pin directory `dir`, with the record's metadata: one
/// record, a directory of this user's, or none.
fn recorded_inode(dir: &Path) -> Option<(u64, Metadata)> {
    let mut found = None;
    for entry in std::fs::read_dir(dir).ok()? {
        let entry = entry.ok()?;
        let Some(inode) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.strip_prefix(RECORD_PREFIX))
            .map(str::parse::<u64>)
        else {
            continue;
        };
        let meta = entry.path().symlink_metadata().ok()?;
        if found.is_some() || !meta.is_dir() || meta.uid() != euid() {
            return None;
        }
        found = Some((inode.ok()?, meta));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const OWN: Identity = Identity {
        cookie: 1,
        inode: 100,
    };

    /// A plain directory standing for the bpffs one, removed when dropped.
    struct Base(PathBuf);

    impl Base {
        fn new(test: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("mgm-stale-pins-{test}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }

        /// A pin directory of namespace `cookie` holding a file, recording `inode` if given.
        fn pins(&self, cookie: u64, inode: Option<u64>) -> PathBuf {
            let dir = self.0.join(dir_name(cookie));
            DirBuilder::new().mode(0o700).create(&dir).unwrap();
            std::fs::write(dir.join("map"), b"").unwrap();
            if let Some(inode) = inode {
                record(&dir, inode).unwrap();
            }
            dir
        }
    }

    impl Drop for Base {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Namespaces 1 (inode 100) and 2 (inode 200) live; the others are gone.
    fn two_alive(id: Identity) -> Presence {
        match (id.cookie, id.inode) {
            (1, 100) | (2, 200) => Presence::Alive,
            _ => Presence::Gone,
        }
    }

    #[test]
    fn only_the_directories_of_namespaces_that_are_gone_are_removed() {
        let base = Base::new("gone");
        let own = base.pins(1, Some(100));
        let alive = base.pins(2, Some(200));
        let gone = base.pins(3, Some(300));
        let legacy = base.pins(4, None);
        let other = base.0.join("not-mgm");
        std::fs::create_dir(&other).unwrap();
        let asked = RefCell::new(Vec::new());
        let pass = collect(&base.0, OWN, |id| {
            asked.borrow_mut().push(id.cookie);
            two_alive(id)
        })
        .unwrap();
        assert_eq!(pass.removed.len(), 1, "{pass:?}");
        assert_eq!(pass.removed[0].dir, gone);
        assert!(pass.removed[0].age.is_some());
        assert!(!gone.exists());
        for kept in [&own, &alive, &legacy, &other] {
            assert!(kept.exists(), "{} removed", kept.display());
        }
        assert!(matches!(
            pass.kept.iter().find(|(d, _)| *d == legacy),
            Some((_, Kept::NoRecord))
        ));
        assert!(matches!(
            pass.kept.iter().find(|(d, _)| *d == alive),
            Some((_, Kept::Alive))
        ));
        // Its own namespace is asked first (can the kernel answer?), its own directory never.
        asked.borrow_mut().sort_unstable();
        assert_eq!(*asked.borrow(), [1, 2, 3]);
        assert!(pass.failed.is_empty() && !pass.truncated);
    }

    #[test]
    fn nothing_is_removed_when_the_kernel_cannot_find_this_namespace() {
        let base = Base::new("nolookup");
        let gone = base.pins(3, Some(300));
        let unknown = |_| Presence::Unknown(io::Error::from_raw_os_error(libc::EBADF));
        assert!(matches!(
            collect(&base.0, OWN, unknown),
            Err(PassError::NoLookup(_))
        ));
        assert!(matches!(
            collect(&base.0, OWN, |_| Presence::Gone),
            Err(PassError::NoLookup(_))
        ));
        assert!(gone.exists());
    }

    #[test]
    fn a_directory_that_others_may_write_in_or_with_two_records_stays() {
        use std::os::unix::fs::PermissionsExt as _;
        let base = Base::new("unsafe");
        let open = base.pins(3, Some(300));
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let twice = base.pins(5, Some(500));
        record(&twice, 501).unwrap();
        let unknown = base.pins(6, Some(600));
        let pass = collect(&base.0, OWN, |id| match id.cookie {
            6 => Presence::Unknown(io::Error::from_raw_os_error(libc::EPERM)),
            _ => two_alive(id),
        })
        .unwrap();
        assert!(pass.removed.is_empty(), "{pass:?}");
        assert!(open.exists() && twice.exists() && unknown.exists());
        assert!(matches!(
            pass.kept.iter().find(|(d, _)| *d == unknown),
            Some((_, Kept::Unknown(_)))
        ));
    }
}
