//! Which network namespace this process is in: its inode (what the default API socket is named
//! after), its cookie (what mgmd's pin directory is named after), whether it is the host's, and
//! its name under `/run/netns` (what `ip netns` calls it); and whether a namespace known by its
//! cookie and inode still exists ([`presence`]).
use std::{
    io,
    os::{
        fd::{AsRawFd as _, FromRawFd as _},
        unix::fs::MetadataExt as _,
    },
    path::Path,
};

/// Where `ip netns` keeps a bind mount of each named network namespace.
pub const NAMED_DIR: &str = "/run/netns";

/// The inode Linux (from 6.x) gives the initial network namespace; on older kernels it is
/// allocated like any other, and only PID 1's namespace tells.
const INITIAL_INODE: u64 = 0xEFFF_FFF9;

/// A network namespace, as `stat` of its nsfs file sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Netns {
    /// Device of nsfs.
    pub dev: u64,
    /// Inode: unique among the namespaces that exist.
    pub inode: u64,
}

impl Netns {
    /// The namespace of the nsfs file (or bind mount of one) at `path`.
    pub fn of(path: impl AsRef<Path>) -> io::Result<Self> {
        let meta = std::fs::metadata(path)?;
        Ok(Self {
            dev: meta.dev(),
            inode: meta.ino(),
        })
    }

    /// This process's namespace.
    pub fn current() -> io::Result<Self> {
        Self::of("/proc/self/ns/net")
    }

    /// Whether this is the host's (initial) namespace: PID 1's when that can be read, else the
    /// kernel's fixed inode of the initial namespace.
    pub fn is_initial(&self) -> bool {
        match Self::of("/proc/1/ns/net") {
            Ok(init) => init == *self,
            Err(_) => self.inode == INITIAL_INODE,
        }
    }

    /// Its name under [`NAMED_DIR`] (the first in byte order when it has several), if any.
    pub fn name(&self) -> Option<String> {
        let mut names: Vec<String> = std::fs::read_dir(NAMED_DIR)
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name().into_string().ok()?;
                (Self::of(entry.path()).ok()? == *self).then_some(name)
            })
            .collect();
        names.sort_unstable();
        names.into_iter().next()
    }
}

/// The cookie of the calling thread's network namespace: unique for the boot and never given
/// to another namespace (an inode is reused once its namespace is gone), so state named after
/// it cannot be taken for another namespace's (`SO_NETNS_COOKIE`, Linux 5.14).
pub fn cookie() -> io::Result<u64> {
    // SAFETY: plain socket(2); the descriptor is owned right away.
    let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    let mut cookie = 0u64;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: `cookie` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

/// A network namespace as the kernel identifies it: its cookie (never reused) and its inode
/// (reused after it is gone, but fixed while it lives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `SO_NETNS_COOKIE` (also its namespace id, `NS_GET_ID`).
    pub cookie: u64,
    /// Its nsfs inode.
    pub inode: u64,
}

impl Identity {
    /// The calling thread's network namespace.
    pub fn current() -> io::Result<Self> {
        Ok(Self {
            cookie: cookie()?,
            inode: Netns::of("/proc/thread-self/ns/net")?.inode,
        })
    }
}

/// Whether a network namespace exists, as the kernel answers [`presence`].
#[derive(Debug)]
pub enum Presence {
    /// It exists (anything holds it: a process, a bind mount, a descriptor, a socket).
    Alive,
    /// No namespace has this identity any more.
    Gone,
    /// The kernel could not say (too old to open namespaces by id, or not permitted).
    Unknown(io::Error),
}

/// The inode of the initial user namespace (fixed since Linux 3.8).
const INITIAL_USER_INODE: u64 = 0xEFFF_FFFD;

/// Checks that [`presence`] can answer for namespaces other than the caller's: a caller
/// without `CAP_SYS_ADMIN` over a namespace's owner is answered as if it were gone (tried:
/// `ESTALE` for a live one, while its own namespace is always found), so this asks for the
/// initial user namespace (where that capability covers every namespace) and then looks up a
/// namespace it has just made, which a thread holds meanwhile (creating one needs the same
/// capability).
pub fn check_lookup() -> io::Result<()> {
    if Netns::of("/proc/self/ns/user")?.inode != INITIAL_USER_INODE {
        return Err(io::Error::other(
            "in a user namespace of its own, its capabilities do not cover every namespace",
        ));
    }
    std::thread::scope(|scope| {
        let (made_tx, made) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        scope.spawn(move || {
            // SAFETY: plain unshare(2) of this thread's network namespace alone.
            let made = match unsafe { libc::unshare(libc::CLONE_NEWNET) } {
                0 => Identity::current(),
                _ => Err(io::Error::last_os_error()),
            };
            let _ = made_tx.send(made);
            // Holds the namespace until it has been looked up.
            let _ = released.recv();
        });
        let made = made
            .recv()
            .map_err(|_| io::Error::other("the thread making a namespace ended"))??;
        let found = presence(made);
        drop(release);
        match found {
            Presence::Alive => Ok(()),
            Presence::Gone => Err(io::Error::other(
                "a namespace that lives was not found by its identity",
            )),
            Presence::Unknown(e) => Err(e),
        }
    })
}

/// Stands for the root of nsfs in `open_by_handle_at` (`FD_NSFS_ROOT`, Linux 6.18).
const FD_NSFS_ROOT: libc::c_int = -10003;
/// The file handle type of nsfs (`FILEID_NSFS`).
const FILEID_NSFS: libc::c_int = 0xf1;

/// `struct file_handle` carrying nsfs's `struct nsfs_file_handle`.
#[repr(C)]
struct NsHandle {
    handle_bytes: u32,
    handle_type: libc::c_int,
    ns_id: u64,
    ns_type: u32,
    ns_inum: u32,
}

/// Asks the kernel whether the network namespace `id` exists, by opening it by its id and
/// inode (nsfs file handles, Linux 6.18): the kernel finds any namespace that is still
/// referenced, whoever holds it, and since a cookie is never given to another namespace,
/// not finding it proves it is gone. Older kernels (or a caller without the privilege)
/// answer [`Presence::Unknown`]; so does any failure other than "no such namespace".
pub fn presence(id: Identity) -> Presence {
    let Ok(ns_inum) = u32::try_from(id.inode) else {
        return Presence::Unknown(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an nsfs inode beyond 32 bits",
        ));
    };
    let mut handle = NsHandle {
        handle_bytes: (std::mem::size_of::<NsHandle>() - 8) as u32,
        handle_type: FILEID_NSFS,
        ns_id: id.cookie,
        ns_type: libc::CLONE_NEWNET as u32,
        ns_inum,
    };
    // SAFETY: `handle` is a `struct file_handle` whose `handle_bytes` bytes follow its header.
    let fd = unsafe {
        libc::open_by_handle_at(
            FD_NSFS_ROOT,
            (&mut handle as *mut NsHandle).cast(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: a fresh descriptor nobody else owns; closed right away.
        drop(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) });
        return Presence::Alive;
    }
    let error = io::Error::last_os_error();
    match error.raw_os_error() {
        Some(libc::ESTALE) => Presence::Gone,
        _ => Presence::Unknown(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_of_a_namespace_is_stable_and_set() {
        let cookie = cookie().expect("SO_NETNS_COOKIE");
        assert_ne!(cookie, 0);
        assert_eq!(super::cookie().expect("again"), cookie);
    }

    #[test]
    #[ignore = "needs root and Linux 6.18 (nsfs file handles): cargo xtask test runs it as root"]
    fn an_identity_names_a_live_namespace_only_while_it_is_the_same() {
        let me = Identity::current().expect("this namespace");
        match presence(me) {
            Presence::Alive => {}
            other => panic!("this namespace not found: {other:?}"),
        }
        let never_given = Identity {
            cookie: u64::MAX,
            ..me
        };
        assert!(matches!(presence(never_given), Presence::Gone));
        let other_inode = Identity {
            inode: me.inode ^ 1,
            ..me
        };
        assert!(matches!(presence(other_inode), Presence::Gone));
    }

    #[test]
    #[ignore = "needs root in the host's user namespace and Linux 6.18: cargo xtask test runs it as root"]
    fn the_lookup_check_passes_with_the_privilege_it_needs() {
        check_lookup().expect("a namespace made here is found");
    }

    #[test]
    fn this_process_has_a_namespace_that_is_its_own() {
        let ns = Netns::current().expect("/proc/self/ns/net");
        assert_eq!(Netns::current().unwrap(), ns);
        assert_ne!(ns.inode, 0);
    }
}
