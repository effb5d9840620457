//! One mgmd per pin directory: mgmd claims its pin directory's name in its network namespace
//! (an abstract Unix socket bound to it, released by the kernel when mgmd ends, also by
//! `kill -9`), so that a second mgmd that would adopt the same pins, and with them the links
//! and maps the first one drives, refuses to start instead.
use crate::config::SOCKET_PATH_MAX;
use anyhow::{bail, Context as _, Result};
use std::{
    hash::{DefaultHasher, Hash as _, Hasher as _},
    io::ErrorKind,
    os::{
        linux::net::SocketAddrExt as _,
        unix::net::{SocketAddr, UnixListener},
    },
    path::Path,
    time::{Duration, Instant},
};

/// How long a claim still held is tried again: the threads of a killed mgmd release their
/// descriptors a little after its main thread is gone (what a restart waits for).
pub(super) const RELEASE_WAIT: Duration = Duration::from_secs(2);
/// The pause between two tries.
pub(super) const RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Held for mgmd's lifetime: the claim on a pin directory.
pub(super) struct Claim {
    _listener: UnixListener,
}

/// Claims `pin_dir` for this mgmd, or fails if another mgmd of this network namespace holds it.
pub(super) fn claim(pin_dir: &Path) -> Result<Claim> {
    let mut name = format!("mgmd pins {}", pin_dir.display());
    if name.len() > SOCKET_PATH_MAX {
        let mut hasher = DefaultHasher::new();
        pin_dir.hash(&mut hasher);
        name = format!("mgmd pins #{:016x}", hasher.finish());
    }
    let address = SocketAddr::from_abstract_name(name.as_bytes())
        .context("naming the pin directory's claim")?;
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match UnixListener::bind_addr(&address) {
            Ok(listener) => {
                return Ok(Claim {
                    _listener: listener,
                })
            }
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                std::thread::sleep(RETRY_PAUSE)
            }
            Err(e) if e.kind() == ErrorKind::AddrInUse => bail!(
                "another mgmd uses the pin directory {} (this network namespace's): stop it \
                 first",
                pin_dir.display()
            ),
            Err(e) => return Err(e).context("claiming the pin directory"),
        }
    }
}
