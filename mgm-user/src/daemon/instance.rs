//! One mgmd per pin directory: mgmd claims its pin directory's name in its network namespace
//! (an abstract Unix socket bound to it, released by the kernel when mgmd ends, also by
//! `kill -9`), so that a second mgmd that would adopt the same pins, and with them the links
//! and maps the first one drives, refuses to start instead.
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
    path::Path,
};

/// Held for mgmd's lifetime: the claim on a pin directory.
pub(super) struct Claim {
    _listener: UnixListener,
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
            Err(e) if e.kind() == ErrorKind::AddrInUse => Continue(()),
            bound => Break(bound),
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
