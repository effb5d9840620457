//! One mgmd per pin directory: mgmd claims its pin directory's name in its network namespace
//! (an abstract Unix socket bound to it, released by the kernel when mgmd ends, also by
//! `kill -9`), so that a second mgmd that would adopt the same pins, and with them the links
//! and maps the first one drives, refuses to start instead. Abstract names have no
//! permissions: a name held by a process of another user (a squatter; an mgmd of another user
//! cannot use this user's pin directory) does not stop mgmd, which starts without the claim.
use super::start_wait::retry_while_held;
use crate::config::SOCKET_PATH_MAX;
use anyhow::{bail, Context as _, Result};
use std::{
    hash::{DefaultHasher, Hash as _, Hasher as _},
    io::ErrorKind,
    ops::ControlFlow::{Break, Continue},
    os::{
        linux::net::SocketAddrExt as _,
        unix::net::{SocketAddr, UnixListener},
    },
    path::{Path, PathBuf},
};
use tracing::error;

/// Held for mgmd's lifetime: the claim on a pin directory (none when another user's process
/// holds its name).
pub(super) struct Claim {
    _listener: Option<UnixListener>,
}

/// Claims `pin_dir` for this mgmd, or fails if another mgmd of this network namespace holds it
/// (after waiting for one just killed to release it, [`super::start_wait`]).
pub(super) async fn claim(pin_dir: &Path) -> Result<Claim> {
    let mut name = format!("mgmd pins {}", pin_dir.display());
    if name.len() > SOCKET_PATH_MAX {
        let mut hasher = DefaultHasher::new();
        pin_dir.hash(&mut hasher);
        name = format!("mgmd pins #{:016x}", hasher.finish());
    }
    let address = SocketAddr::from_abstract_name(name.as_bytes())
        .context("naming the pin directory's claim")?;
    let bound = retry_while_held(|| async {
        match UnixListener::bind_addr(&address) {
            Err(e) if e.kind() == ErrorKind::AddrInUse => match held_by_another_user(&name) {
                Some(uid) => {
                    error!(
                        uid,
                        name,
                        "a process of another user holds the name of the pin directory's claim: \
                         starting without the claim (a second mgmd on these pins is not \
                         refused while it holds it)"
                    );
                    Break(Ok(None))
                }
                None => Continue(()),
            },
            bound => Break(bound.map(Some)),
        }
    })
    .await;
    match bound {
        Break(bound) => Ok(Claim {
            _listener: bound.context("claiming the pin directory")?,
        }),
        Continue(()) => bail!(
            "another mgmd uses the pin directory {} (this network namespace's): stop it first",
            pin_dir.display()
        ),
    }
}

/// The uid of the processes holding the abstract Unix socket `name` (found through
/// `/proc/net/unix` and the processes' descriptors, without connecting to it), when none of
/// them is of this process's user.
fn held_by_another_user(name: &str) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let path = format!("@{name}");
    let sockets: Vec<PathBuf> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.len() > 7 && fields[7..].join(" ") == path)
                .then(|| PathBuf::from(format!("socket:[{}]", fields[6])))
        })
        .collect();
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut holders = std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter(|p| {
            p.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|p| {
            std::fs::read_dir(p.path().join("fd")).is_ok_and(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| sockets.contains(&l)))
            })
        })
        .filter_map(|p| effective_uid(&p.path()));
    let first = holders.next()?;
    (first != euid && holders.all(|uid| uid != euid)).then_some(first)
}

/// The effective uid of the process whose `/proc` directory is `proc_dir` (from its status: the
/// directory's owner is root for a process that made itself undumpable).
fn effective_uid(proc_dir: &Path) -> Option<u32> {
    let status = std::fs::read_to_string(proc_dir.join("status")).ok()?;
    let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    uids.split_whitespace().nth(1)?.parse().ok()
}
