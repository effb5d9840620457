//! Support shared by the daemon tests: mgmd running on a lab's router with its own
//! configuration file and API socket, mgmctl and API calls against it, `mcast` receivers and
//! senders on the lab's hosts, and bounded waits.
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

mod mgmd;
pub mod test_user;

// Some test binaries start no mgmd.
#[allow(unused_imports)]
pub use mgmd::Mgmd;

use anyhow::{bail, ensure, Context as _, Result};
pub use mgm_user::lab::Listener;
use mgm_user::{
    api::{
        client::Client,
        proto::{GroupRow, InterfaceRow, MfeRow, ProtocolRow, Request, Response},
    },
    lab::{lab_bpffs, Host, Lab, McastSend},
    rawio::{self, Framing, PacketSocket},
};
use std::{
    net::{IpAddr, Ipv4Addr},
    path::{Path, PathBuf},
    process::{Child, Output, Stdio},
    time::{Duration, Instant},
};

/// The daemon under test.
pub const MGMD: &str = env!("CARGO_BIN_EXE_mgmd");
/// The operator's tool.
pub const MGMCTL: &str = env!("CARGO_BIN_EXE_mgmctl");
/// The leaf hosts' tool.
pub const MCAST: &str = env!("CARGO_BIN_EXE_mcast");

/// The TTL test traffic is sent with (the router decrements it).
pub const TTL: u8 = 8;

/// `[[interface]]` tables for mgmd's configuration: each (name, further keys as TOML lines).
pub fn interfaces(list: &[(&str, &str)]) -> String {
    list.iter()
        .map(|(name, keys)| format!("[[interface]]\nname = {name:?}\n{keys}\n\n"))
        .collect()
}

/// IGMP off on an interface.
pub const NO_IGMP: &str = "igmp = false";
/// An interface where neither IGMP nor MLD runs.
pub const NO_LISTENERS: &str = "igmp = false\nmld = false";
/// An interface left to an external protocol.
pub const EXTERNAL: &str = "owner = \"external\"";

/// Polls `probe` every 100 ms until it returns `Some`, for at most `timeout`.
pub fn wait_for<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe()? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An `mcast send` of the tests' traffic: TTL (hop limit) [`TTL`], from eth0.
pub fn test_send(group: impl Into<IpAddr>, count: u32, interval_ms: u32) -> McastSend<'static> {
    McastSend {
        mcast: MCAST,
        group: group.into(),
        ttl: TTL,
        count,
        interval_ms,
    }
}

/// Writes an mgmd configuration file `dir/mgmd.toml`: a `[daemon]` table naming the API socket
/// `dir/api.sock`, with `daemon_keys` (TOML lines), then `body` (whose keys before any table
/// belong to `[daemon]` too). The paths of the file and of the socket.
pub fn write_config_in(dir: &Path, daemon_keys: &str, body: &str) -> Result<(PathBuf, PathBuf)> {
    let (config, socket) = (dir.join("mgmd.toml"), dir.join("api.sock"));
    let text = format!(
        "[daemon]\napi_socket = {:?}\n{daemon_keys}\n{body}",
        path_str(&socket)?
    );
    std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
    Ok((config, socket))
}

/// Sends `signal` to a process this test started.
pub fn signal_pid(pid: u32, signal: libc::c_int) -> Result<()> {
    let pid = i32::try_from(pid)?;
    // SAFETY: kill(2) on a child this test started and has not reaped.
    if unsafe { libc::kill(pid, signal) } != 0 {
        bail!("kill {pid}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Waits until the process `pid` (a child this test started and has not reaped) has exited:
/// it is a zombie or gone, so every descriptor it held is closed.
pub fn wait_exited(pid: u32) -> Result<()> {
    wait_for(
        &format!("process {pid} to exit"),
        Duration::from_secs(10),
        || {
            let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                Ok(stat) => stat,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(())),
                Err(e) => return Err(e.into()),
            };
            // "pid (comm) state ...": the state follows the last ')'.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next());
            Ok((state == Some("Z")).then_some(()))
        },
    )
}

/// Whether the mgmd `child` comes to serve its API socket `socket` (true) or exits first
/// (false), waiting at most 15 s.
pub fn serves_or_exits(child: &mut Child, socket: &Path) -> Result<bool> {
    wait_for("mgmd to serve or fail", Duration::from_secs(15), || {
        if child.try_wait()?.is_some() {
            return Ok(Some(false));
        }
        let out = std::process::Command::new(MGMCTL)
            .args(["--socket", path_str(socket)?, "show", "status"])
            .output()?;
        Ok(out.status.success().then_some(true))
    })
}

/// Runs mgmd with the configuration file `config` on the router of `lab` and checks that it
/// refuses to start (exits with an error within 15 s) saying each of `expected`; returns what
/// it said.
pub fn refused_to_start(lab: &Lab, config: &Path, expected: &[&str]) -> Result<String> {
    let mut child = lab
        .command(
            Host::Router,
            &[MGMD, "--config", path_str(config)?, "--log", "warn"],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let exited = wait_for("mgmd to give up", Duration::from_secs(15), || {
        Ok(child.try_wait()?)
    });
    if exited.is_err() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let status = exited?;
    let stderr = String::from_utf8_lossy(&child.wait_with_output()?.stderr).into_owned();
    ensure!(!status.success(), "mgmd started: {stderr}");
    ensure!(
        expected.iter().all(|words| stderr.contains(words)),
        "{expected:?} in {stderr:?}"
    );
    Ok(stderr)
}

/// A path as text, for argv.
pub fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

/// The map `name` mgmd pinned for the router of `lab`: `<bpffs>/net-<router namespace
/// inode>/<name>` (the inode as the calling thread sees it inside the router's namespace).
pub fn pinned_map(lab: &Lab, name: &str) -> Result<PathBuf> {
    let netns = lab.in_ns(Host::Router, mgm_user::netns::cookie)??;
    Ok(PathBuf::from(lab_bpffs()?)
        .join(format!("net-{netns}"))
        .join(name))
}

/// A capture of the packets of EtherType `protocol` (IPv4 or IPv6 datagrams, without the
/// Ethernet header) arriving on or leaving the eth0 of `host`; reads do not block.
pub fn capture(lab: &Lab, host: Host, protocol: libc::c_int) -> Result<PacketSocket> {
    lab.in_ns(host, || -> std::io::Result<PacketSocket> {
        let capture = PacketSocket::open(Framing::Cooked, protocol as u16)?;
        capture.socket().set_nonblocking(true)?;
        capture.socket().set_recv_buffer_size(4 << 20)?;
        capture.bind(rawio::ifindex("eth0")?)?;
        Ok(capture)
    })?
    .context("capture")
}

/// Whether the router's kernel holds a membership of `group` on `iface` (`/proc/net/igmp`
/// lists groups under their interface, as hex in network byte order read as a little-endian
/// word).
pub fn router_joined(lab: &Lab, iface: &str, group: Ipv4Addr) -> Result<bool> {
    let out = lab.run(Host::Router, &["cat", "/proc/net/igmp"])?;
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = format!("{:08X}", u32::from_le_bytes(group.octets()));
    let mut on_iface = false;
    for line in text.lines() {
        if !line.starts_with('\t') {
            on_iface = line.split_whitespace().nth(1) == Some(iface);
        } else if on_iface && line.trim_start().starts_with(&hex) {
            return Ok(true);
        }
    }
    Ok(false)
}
