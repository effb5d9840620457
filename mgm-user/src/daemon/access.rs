//! Who may use the API, and how: root and the configured control uids/gids may do everything,
//! the read-only uids/gids may only read ([`Request::is_read_only`]), everybody else is
//! refused. Callers are identified by the kernel (SO_PEERCRED, SO_PEERGROUPS), and the socket
//! file's group and mode decide who can connect at all.
//!
//! [`Request::is_read_only`]: crate::api::proto::Request::is_read_only
use crate::config::DaemonConfig;
use std::{
    ffi::CString,
    io,
    os::{fd::AsRawFd, unix::ffi::OsStrExt as _},
    path::Path,
};

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing: its first request is answered with a refusal, then the connection closes.
    Denied,
    /// Read-only requests.
    Read,
    /// Every request.
    Control,
}

/// The process at the other end of an API connection, as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Effective uid at connect time.
    pub uid: u32,
    /// Effective primary gid.
    pub gid: u32,
    /// Supplementary gids.
    pub groups: Vec<u32>,
}

impl Peer {
    /// The credentials of the peer of a connected Unix socket.
    pub fn of(socket: &impl AsRawFd) -> io::Result<Self> {
        let fd = socket.as_raw_fd();
        // SAFETY: ucred is plain data; all-zero is a valid value.
        let mut cred: libc::ucred = unsafe { std::mem::zeroed() };
        getsockopt(fd, libc::SO_PEERCRED, &mut cred, size_of::<libc::ucred>())
            .map_err(|(e, _)| e)?;
        let mut groups = vec![0 as libc::gid_t; 64];
        loop {
            let size = groups.len() * size_of::<libc::gid_t>();
            match getsockopt(fd, libc::SO_PEERGROUPS, groups.as_mut_slice(), size) {
                Ok(len) => {
                    groups.truncate(len / size_of::<libc::gid_t>());
                    break;
                }
                // The kernel says how much it needs (at most NGROUPS_MAX, 65536).
                Err((e, needed)) if e.raw_os_error() == Some(libc::ERANGE) => {
                    groups.resize(needed / size_of::<libc::gid_t>() + 1, 0);
                }
                Err((e, _)) => return Err(e),
            }
        }
        Ok(Self {
            uid: cred.uid,
            gid: cred.gid,
            groups,
        })
    }

    fn in_any(&self, gids: &[u32]) -> bool {
        gids.contains(&self.gid) || self.groups.iter().any(|g| gids.contains(g))
    }
}

/// getsockopt(SOL_SOCKET, `name`) into `value` of `size` bytes: the length the kernel wrote,
/// or the error with the length it asked for.
fn getsockopt<T: ?Sized>(
    fd: i32,
    name: i32,
    value: &mut T,
    size: usize,
) -> Result<usize, (io::Error, usize)> {
    let mut len = size as libc::socklen_t;
    // SAFETY: `value` is valid for writes of `size` bytes; `len` says so.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (value as *mut T).cast(),
            &mut len,
        )
    };
    if rc < 0 {
        Err((io::Error::last_os_error(), len as usize))
    } else {
        Ok(len as usize)
    }
}

/// The access rules of `[daemon]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    control_uids: Vec<u32>,
    control_gids: Vec<u32>,
    read_uids: Vec<u32>,
    read_gids: Vec<u32>,
}

impl Policy {
    /// The rules configured in `daemon`.
    pub fn new(daemon: &DaemonConfig) -> Self {
        Self {
            control_uids: daemon.api_allow_uids.clone(),
            control_gids: daemon.api_allow_gids.clone(),
            read_uids: daemon.api_read_uids.clone(),
            read_gids: daemon.api_read_gids.clone(),
        }
    }

    /// What `peer` may do.
    pub fn access(&self, peer: &Peer) -> Access {
        if peer.uid == 0 || self.control_uids.contains(&peer.uid) || peer.in_any(&self.control_gids)
        {
            Access::Control
        } else if self.read_uids.contains(&peer.uid) || peer.in_any(&self.read_gids) {
            Access::Read
        } else {
            Access::Denied
        }
    }
}

/// Gives the socket file at `path` the configured group (root's when none) and mode.
pub fn set_socket_permissions(path: &Path, daemon: &DaemonConfig) -> io::Result<()> {
    let name = CString::new(path.as_os_str().as_bytes())?;
    let gid = daemon.api_group.unwrap_or(0);
    // SAFETY: `name` is a valid C string; uid -1 leaves the owner unchanged.
    if unsafe { libc::lchown(name.as_ptr(), u32::MAX, gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(daemon.api_mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(uid: u32, gid: u32, groups: &[u32]) -> Peer {
        Peer {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn uids_and_groups_give_control_or_read_access() {
        let daemon = DaemonConfig {
            api_allow_uids: vec![1000],
            api_allow_gids: vec![50],
            api_read_uids: vec![2000],
            api_read_gids: vec![60],
            ..DaemonConfig::default()
        };
        let policy = Policy::new(&daemon);
        assert_eq!(policy.access(&peer(0, 0, &[])), Access::Control);
        assert_eq!(policy.access(&peer(1000, 1000, &[])), Access::Control);
        assert_eq!(policy.access(&peer(1001, 50, &[])), Access::Control);
        assert_eq!(policy.access(&peer(1002, 1002, &[7, 50])), Access::Control);
        assert_eq!(policy.access(&peer(2000, 2000, &[])), Access::Read);
        assert_eq!(policy.access(&peer(2001, 60, &[])), Access::Read);
        assert_eq!(policy.access(&peer(2002, 2002, &[60])), Access::Read);
        assert_eq!(policy.access(&peer(3000, 3000, &[1, 2])), Access::Denied);
        assert_eq!(
            Policy::new(&DaemonConfig::default()).access(&peer(1000, 1000, &[])),
            Access::Denied
        );
    }

    #[test]
    fn the_kernel_names_the_peer() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let me = Peer::of(&a).unwrap();
        // SAFETY: plain getters.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        assert_eq!((me.uid, me.gid), (uid, gid));
    }
}
