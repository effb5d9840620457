//! Support shared by the daemon tests: mgmd running on a lab's router with its own
//! configuration file and API socket, mgmctl and API calls against it, `mcast` receivers and
//! senders on the lab's hosts, and bounded waits.
//!
//! Each test binary uses a part of it.
#![allow(dead_code)]

pub mod test_user;

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

/// A lab whose router runs mgmd; dropping it stops mgmd (SIGTERM, by PID), deletes the lab and
/// the private directory holding the configuration file and the API socket.
pub struct Mgmd {
    /// The lab (public so that tests can run commands on its hosts).
    pub lab: Lab,
    dir: PathBuf,
    /// The configured `bpffs` (`None`: mgmd's default).
    bpffs: Option<String>,
    pid: u32,
    runtime: tokio::runtime::Runtime,
    /// Where mgmd's output goes (inherited when `None`).
    log: Option<PathBuf>,
}

impl Mgmd {
    /// Starts mgmd on the router of `lab` with the configuration `body` (the `[daemon]` table
    /// naming the API socket is added), and waits until every configured interface that
    /// exists is in service.
    pub fn start(lab: Lab, body: &str) -> Result<Self> {
        Self::start_with(lab, body, Some(lab_bpffs()?), false)
    }

    /// Like [`Mgmd::start`], with mgmd's log (its stdout and stderr) written to the file
    /// [`Mgmd::log_path`] in its private directory.
    pub fn start_logged(lab: Lab, body: &str) -> Result<Self> {
        Self::start_with(lab, body, Some(lab_bpffs()?), true)
    }

    /// Like [`Mgmd::start`], with mgmd's bpffs directory chosen by the test.
    pub fn start_pinned_under(lab: Lab, body: &str, bpffs: &str) -> Result<Self> {
        Self::start_with(lab, body, Some(bpffs), false)
    }

    /// Like [`Mgmd::start`], with mgmd's default pin settings (no `bpffs` key).
    pub fn start_with_default_pins(lab: Lab, body: &str) -> Result<Self> {
        Self::start_with(lab, body, None, false)
    }

    fn start_with(lab: Lab, body: &str, bpffs: Option<&str>, logged: bool) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("{}-mgmd", lab.prefix()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let log = logged.then(|| dir.join("mgmd.log"));
        let mut mgmd = Self {
            lab,
            dir,
            bpffs: bpffs.map(str::to_owned),
            pid: 0,
            runtime,
            log,
        };
        mgmd.write_config(body)?;
        mgmd.spawn_daemon()?;
        Ok(mgmd)
    }

    /// Starts (another) mgmd with the current configuration file and waits until every
    /// configured interface that exists is in service.
    pub fn spawn_daemon(&mut self) -> Result<()> {
        self.spawn_daemon_behind(&[])?;
        self.wait_in_service()
    }

    /// Starts (another) mgmd with the current configuration file as the command `wrapper`
    /// runs (empty: none; e.g. a tracer followed by its options) and returns at once;
    /// [`Mgmd::pid`] is then the wrapper's.
    pub fn spawn_daemon_behind(&mut self, wrapper: &[&str]) -> Result<()> {
        let config = self.config_path();
        let config = path_str(&config)?;
        // mgmd logs warnings unless MGM_LOG asks for more (e.g. MGM_LOG=debug cargo test).
        let log = std::env::var("MGM_LOG").unwrap_or_else(|_| "warn".to_owned());
        let argv: Vec<&str> = wrapper
            .iter()
            .copied()
            .chain([MGMD, "--config", config, "--log", &log])
            .collect();
        self.pid = match &self.log {
            None => self.lab.spawn(Host::Router, &argv)?,
            Some(path) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?;
                let mut cmd = self.lab.command(Host::Router, &argv);
                cmd.stdin(Stdio::null())
                    .stdout(file.try_clone()?)
                    .stderr(file);
                let child = cmd.spawn().context("starting mgmd")?;
                self.lab.adopt(child)
            }
        };
        Ok(())
    }

    /// Waits until every configured interface of mgmd is in service.
    pub fn wait_in_service(&self) -> Result<()> {
        wait_for(
            "mgmd's interfaces in service",
            Duration::from_secs(15),
            || {
                let Ok(rows) = self.try_interfaces() else {
                    return Ok(None);
                };
                let in_service = |r: &InterfaceRow| r.ifindex == 0 || r.xdp.is_some();
                Ok(rows.iter().all(in_service).then_some(()))
            },
        )
    }

    /// mgmd's log file, when started with [`Mgmd::start_logged`].
    pub fn log_path(&self) -> Option<&Path> {
        self.log.as_deref()
    }

    /// Lines of mgmd's log (started with [`Mgmd::start_logged`]) containing `words`.
    pub fn log_lines(&self, words: &str) -> Result<usize> {
        self.log_lines_with(&[words])
    }

    /// Lines of mgmd's log containing each of `words`.
    pub fn log_lines_with(&self, words: &[&str]) -> Result<usize> {
        let text = std::fs::read_to_string(self.log_path().context("no log")?)?;
        Ok(text
            .lines()
            .filter(|l| words.iter().all(|w| l.contains(w)))
            .count())
    }

    /// The API socket.
    pub fn socket(&self) -> PathBuf {
        self.dir.join("api.sock")
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("mgmd.toml")
    }

    /// The data plane's counters (XDP and hold queues), by name.
    pub fn stats(&self) -> Result<std::collections::BTreeMap<String, u64>> {
        match self.call(&Request::Stats)? {
            Response::Stats { counters } => Ok(counters),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// mgmd's PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes the configuration file: `body` after a `[daemon]` table naming the socket and
    /// the lab's bpffs (so mgmd pins its maps as in service). Keys at the top of `body`, before
    /// any table, belong to that `[daemon]` table.
    pub fn write_config(&self, body: &str) -> Result<()> {
        let bpffs = match &self.bpffs {
            Some(path) => format!("bpffs = {path:?}\n"),
            None => String::new(),
        };
        write_config_in(&self.dir, &bpffs, body).map(drop)
    }

    /// Rewrites the configuration file and sends mgmd SIGHUP.
    pub fn reload(&self, body: &str) -> Result<()> {
        self.write_config(body)?;
        self.signal(libc::SIGHUP)
    }

    /// Sends `signal` to mgmd.
    pub fn signal(&self, signal: libc::c_int) -> Result<()> {
        signal_pid(self.pid, signal)
    }

    /// One API request on a fresh connection.
    pub fn call(&self, request: &Request) -> Result<Response> {
        let socket = self.socket();
        self.runtime.block_on(async {
            let mut client = Client::connect(&socket).await?;
            Ok(client.call(request).await?)
        })
    }

    /// Runs mgmctl against this mgmd (as root).
    pub fn mgmctl(&self, args: &[&str]) -> Result<Output> {
        let socket = self.socket();
        Ok(std::process::Command::new(MGMCTL)
            .args(["--socket", path_str(&socket)?])
            .args(args)
            .stdin(Stdio::null())
            .output()?)
    }

    /// Runs mgmctl and fails unless it exits 0; returns its stdout.
    pub fn mgmctl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.mgmctl(args)?;
        if !out.status.success() {
            bail!(
                "mgmctl {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn try_interfaces(&self) -> Result<Vec<InterfaceRow>> {
        match self.call(&Request::ShowInterfaces)? {
            Response::Interfaces { rows } => Ok(rows),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// `show interfaces`.
    pub fn interfaces(&self) -> Result<Vec<InterfaceRow>> {
        self.try_interfaces()
    }

    /// Waits until mgmd shows `name` in service (returning its ifindex) or out of it; in
    /// service, also until its punt sockets are open (the kernel releases the sockets of an
    /// interface that left service a moment later, and mgmd retries until it does).
    pub fn wait_for_service(&self, name: &str, in_service: bool) -> Result<u32> {
        let ifindex = wait_for(
            &format!("{name} in service: {in_service}"),
            Duration::from_secs(30),
            || {
                let rows = self.interfaces()?;
                let row = rows.iter().find(|r| r.name == name).context("no row")?;
                Ok((row.xdp.is_some() == in_service).then_some(row.ifindex))
            },
        )?;
        if in_service {
            wait_for("punt sockets open", Duration::from_secs(10), || {
                let waiting = self.stats()?.get("punt_waiting_now").copied();
                Ok((waiting == Some(0)).then_some(()))
            })?;
        }
        Ok(ifindex)
    }

    /// `show mfe`.
    pub fn mfes(&self) -> Result<Vec<MfeRow>> {
        match self.call(&Request::ShowMfe)? {
            Response::Mfes { rows } => Ok(rows.into_iter().map(|r| r.entry).collect()),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// The MFE of (`source`, `group`), of either family, if any.
    pub fn mfe(
        &self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
    ) -> Result<Option<MfeRow>> {
        let (source, group) = (source.into(), group.into());
        Ok(self
            .mfes()?
            .into_iter()
            .find(|m| m.source == source && m.group == group))
    }

    /// The outgoing interfaces of the MFE of (`source`, `group`) (empty when there is none).
    pub fn oifs(&self, source: impl Into<IpAddr>, group: impl Into<IpAddr>) -> Result<Vec<String>> {
        Ok(self
            .mfe(source, group)?
            .map(|m| m.oifs.into_iter().map(|o| o.iface).collect())
            .unwrap_or_default())
    }

    /// Waits until the entry of (`source`, `group`) is established: at least `copies` copies
    /// went out of each of its outgoing interfaces, and the XDP program has forwarded at least
    /// `copies` packets. (A new entry starts in hold mode, in which mgmd itself sends the
    /// punted packets on, for up to a second; `show mfe` counts those copies per interface
    /// too, so the XDP program's own global `forwarded` counter tells that hold mode is over —
    /// exactly so when this entry is the only one forwarding.)
    pub fn wait_for_forwarded(
        &self,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        copies: u64,
    ) -> Result<()> {
        let (source, group) = (source.into(), group.into());
        wait_for(
            &format!("{copies} copies of ({source}, {group}) forwarded by XDP on every interface"),
            Duration::from_secs(30),
            || {
                let entry = self.mfe(source, group)?;
                let sent = entry.is_some_and(|m| {
                    !m.oifs.is_empty() && m.oifs.iter().all(|o| o.packets >= copies)
                });
                let by_xdp = self.stats()?.get("forwarded").copied().unwrap_or(0) >= copies;
                Ok((sent && by_xdp).then_some(()))
            },
        )
    }

    /// `show groups`.
    pub fn groups(&self) -> Result<Vec<GroupRow>> {
        match self.call(&Request::ShowGroups)? {
            Response::Groups { rows } => Ok(rows),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// `show protocols`.
    pub fn protocols(&self) -> Result<Vec<ProtocolRow>> {
        match self.call(&Request::ShowProtocols)? {
            Response::Protocols { rows } => Ok(rows),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// Waits until IGMP holds a membership of `group` on each of `ifaces`.
    pub fn wait_for_igmp_members(&self, group: Ipv4Addr, ifaces: &[&str]) -> Result<()> {
        self.wait_for_members("igmp", group, ifaces)
    }

    /// Waits until `protocol` (as `show groups` names it: "igmp", "mld") holds a membership
    /// of `group` on each of `ifaces`.
    pub fn wait_for_members(
        &self,
        protocol: &str,
        group: impl Into<IpAddr>,
        ifaces: &[&str],
    ) -> Result<()> {
        let group = group.into();
        wait_for(
            &format!("{protocol} members of {group} on {ifaces:?}"),
            Duration::from_secs(10),
            || {
                let rows = self.groups()?;
                Ok(ifaces
                    .iter()
                    .all(|i| {
                        rows.iter()
                            .any(|r| r.group == group && r.iface == *i && r.protocol == protocol)
                    })
                    .then_some(()))
            },
        )
    }

    /// Starts `mcast join` for `group` (IPv6 in a dual-stack lab) on the eth0 of `host`: it
    /// stops after `count` datagrams or `timeout_s` seconds. Returns once the host has joined.
    pub fn listen(
        &mut self,
        host: Host,
        group: impl Into<IpAddr>,
        count: u32,
        timeout_s: f64,
    ) -> Result<Listener> {
        Ok(self.lab.listen(host, MCAST, group, count, timeout_s)?)
    }

    /// [`Mgmd::listen`] for `source` only (a source-specific join).
    pub fn listen_to(
        &mut self,
        host: Host,
        source: impl Into<IpAddr>,
        group: impl Into<IpAddr>,
        count: u32,
        timeout_s: f64,
    ) -> Result<Listener> {
        let (group, source) = (group.into(), Some(source.into()));
        Ok(self
            .lab
            .listen_to(host, MCAST, group, source, count, timeout_s)?)
    }

    /// Sends `count` packets to `group` from the source while every receiver listens, and
    /// checks that exactly the receivers in `expected` got `0..count`, once each and in order,
    /// and the others nothing.
    pub fn expect_delivery(
        &mut self,
        group: impl Into<IpAddr>,
        count: u32,
        expected: &[u8],
        step: &str,
    ) -> Result<()> {
        let receivers: Vec<u8> = (1..=self.lab.receivers()).collect();
        self.expect_delivery_among(&receivers, group, count, expected, step)
    }

    /// [`Mgmd::expect_delivery`] with only the `receivers` listening.
    pub fn expect_delivery_among(
        &mut self,
        receivers: &[u8],
        group: impl Into<IpAddr>,
        count: u32,
        expected: &[u8],
        step: &str,
    ) -> Result<()> {
        let group = group.into();
        // Expected receivers stop at `count`: their long timeout only bounds a failure. The
        // others have 2 s to show a stray copy (a loaded machine may hide one, never fail).
        let listeners = receivers
            .iter()
            .map(|&n| {
                let timeout = if expected.contains(&n) { 30.0 } else { 2.0 };
                self.listen(Host::Receiver(n), group, count, timeout)
            })
            .collect::<Result<Vec<_>>>()?;
        self.send(Host::Source, group, count, 5)?;
        for (&n, listener) in receivers.iter().zip(listeners) {
            let received = listener.finish()?;
            if expected.contains(&n) {
                ensure!(
                    received.is_complete(u64::from(count)),
                    "{step}: rcv{n} should get 0..{count} once each, in order, got {:?}",
                    received.seqs
                );
            } else {
                ensure!(
                    received.seqs.is_empty(),
                    "{step}: rcv{n} should get nothing, got {:?}",
                    received.seqs
                );
            }
        }
        Ok(())
    }

    /// Sends `count` numbered datagrams to `group` from `host`'s eth0, one every
    /// `interval_ms`, and returns when they are sent.
    pub fn send(
        &self,
        host: Host,
        group: impl Into<IpAddr>,
        count: u32,
        interval_ms: u32,
    ) -> Result<()> {
        self.lab.send(host, test_send(group, count, interval_ms))?;
        Ok(())
    }

    /// Starts sending in the background (see [`Mgmd::send`]).
    pub fn send_in_background(
        &mut self,
        host: Host,
        group: impl Into<IpAddr>,
        count: u32,
        interval_ms: u32,
    ) -> Result<()> {
        self.lab
            .send_in_background(host, test_send(group, count, interval_ms))?;
        Ok(())
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

impl Drop for Mgmd {
    fn drop(&mut self) {
        // A test that killed mgmd (-9) leaves its pins: stop the last mgmd (its clean stop
        // removes them) and remove what is left, so that no test leaves maps behind.
        let pins = self.bpffs.as_ref().and_then(|bpffs| {
            let cookie = self
                .lab
                .in_ns(Host::Router, mgm_user::netns::cookie)
                .ok()?
                .ok()?;
            Some(PathBuf::from(bpffs).join(format!("net-{cookie}")))
        });
        if signal_pid(self.pid, libc::SIGTERM).is_ok() {
            let _ = wait_exited(self.pid);
        }
        if let Some(pins) = pins {
            let _ = std::fs::remove_dir_all(pins);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
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
