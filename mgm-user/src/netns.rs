//! Which network namespace this process is in: its inode (what the default API socket is named
//! after), its cookie (what mgmd's pin directory is named after), whether it is the host's, and
//! its name under `/run/netns` (what `ip netns` calls it).
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
    fn this_process_has_a_namespace_that_is_its_own() {
        let ns = Netns::current().expect("/proc/self/ns/net");
        assert_eq!(Netns::current().unwrap(), ns);
        assert_ne!(ns.inode, 0);
    }
}
