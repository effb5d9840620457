//! A network lab of Linux network namespaces and veth pairs, for tests, the demo and benchmarks.
//!
//! The standard topology ([`Lab::star`]) is one source host, one router and N receiver hosts:
//!
//! ```text
//!  src [eth0 10.0.0.1/24] ── [up0 10.0.0.254/24] rtr [rcvI 10.I.0.254/24] ── [eth0 10.I.0.1/24] rcvI
//! ```
//!
//! A dual-stack star ([`Lab::star_with`] and [`Stack::Dual`]) keeps IPv6 on and gives every
//! link the prefix 2001:db8:I::/64 as well (hosts ::1, the router ::fe; the source's link is
//! I = 0, the upstream's I = ff with the upstream ::1 and the router ::2) beside the kernel's
//! link-local addresses, without duplicate address detection (addresses are usable at once) and
//! without router advertisements or solicitations. Otherwise, and in the PIM chain, IPv6 is off
//! in every namespace.
//!
//! The PIM topology ([`Lab::pim_chain`], [`Lab::start_frr`]) chains three routers running FRR
//! (zebra and pimd) between the source and the receivers.
//!
//! Every namespace name carries a per-run unique prefix (`mgm<pid>n<counter>`), so labs of
//! parallel tests never collide; interface names live inside the namespaces and are therefore
//! fixed. Dropping a [`Lab`] deletes its namespaces (which destroys their links) and ends the
//! processes it started, also while a failing test unwinds. A lab whose process died without
//! unwinding is swept by the next lab created on the machine (its PID no longer exists).
//!
//! Namespaces and links are made with iproute2 (`ip netns`, `ip link`): `ip netns` names a
//! namespace by a bind mount under `/run/netns`, which is exactly what an operator uses to look
//! into a lab by hand (`ip netns exec ... `), so the lab stays inspectable.
mod ipv6;
mod listen;
mod pim;
mod pins;
mod queues;

pub use listen::{Listener, McastSend, Received};
pub use pim::PIM_RP;

use std::{
    fs::File,
    io,
    net::Ipv4Addr,
    os::fd::AsRawFd,
    process::{Child, Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

/// Errors of the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A command could not be started.
    #[error("running {command}: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why it could not start.
        source: io::Error,
    },
    /// A command ran and failed.
    #[error("{command} failed: {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Entering a namespace failed.
    #[error("entering network namespace {name}: {source}")]
    Setns {
        /// The namespace.
        name: String,
        /// Why.
        source: io::Error,
    },
    /// The lab needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN).
    #[error("the lab needs root")]
    NotRoot,
}

/// A host of the lab.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// The host that sends multicast.
    Source,
    /// The router, where mgm runs.
    Router,
    /// Receiver number `n` (1-based).
    Receiver(u8),
    /// The upstream router of a proxy topology.
    Upstream,
    /// Router number `n` (1-based) of the PIM chain ([`Lab::pim_chain`]).
    PimRouter(u8),
}

/// The address families of a lab's links.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Stack {
    /// IPv4 only: IPv6 is disabled in every namespace.
    #[default]
    V4,
    /// IPv4 and IPv6 on every link (see the module documentation for the addresses).
    Dual,
}

/// The prefix shared by the namespaces of every lab made by this library.
pub const NAME_PREFIX: &str = "mgm";

/// A running lab; dropping it tears everything down.
pub struct Lab {
    prefix: String,
    receivers: u8,
    stack: Stack,
    namespaces: Vec<String>,
    children: Vec<Child>,
    /// Directories of the daemons the lab runs (FRR's), removed with the lab.
    dirs: Vec<std::path::PathBuf>,
    /// Routers of a PIM chain (0 for the star).
    pim_routers: u8,
    /// Receive and transmit queues of each veth (`lab/queues.rs`).
    queues: u16,
    keep: bool,
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A namespace prefix no other lab of this machine has.
fn unique_prefix() -> String {
    format!(
        "{NAME_PREFIX}{}n{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Lab {
    /// Builds the standard star topology with `receivers` receiver hosts (1 to 200), IPv4 only.
    pub fn star(receivers: u8) -> Result<Self, LabError> {
        Self::star_with(receivers, Stack::V4)
    }

    /// Builds the standard star topology with `receivers` receiver hosts (1 to 200) and the
    /// address families of `stack`.
    pub fn star_with(receivers: u8, stack: Stack) -> Result<Self, LabError> {
        Self::star_named_with(&unique_prefix(), receivers, stack)
    }

    /// Builds the IPv4 star topology under a chosen prefix.
    pub fn star_named(prefix: &str, receivers: u8) -> Result<Self, LabError> {
        Self::star_named_with(prefix, receivers, Stack::V4)
    }

    /// Builds the star topology under a chosen prefix (for `cargo xtask lab up`). A dual-stack
    /// lab returns once every link-local address is usable.
    pub fn star_named_with(prefix: &str, receivers: u8, stack: Stack) -> Result<Self, LabError> {
        Self::build_star(prefix, receivers, stack, 1)
    }

    /// The star topology with `queues` receive and transmit queues on every veth.
    fn build_star(
        prefix: &str,
        receivers: u8,
        stack: Stack,
        queues: u16,
    ) -> Result<Self, LabError> {
        if !is_root() {
            return Err(LabError::NotRoot);
        }
        sweep_stale()?;
        let mut lab = Self {
            prefix: prefix.to_owned(),
            receivers,
            stack,
            namespaces: Vec::new(),
            children: Vec::new(),
            dirs: Vec::new(),
            pim_routers: 0,
            queues,
            keep: false,
        };
        lab.add_namespace(Host::Source)?;
        lab.add_namespace(Host::Router)?;
        lab.sysctl(Host::Router, "net.ipv4.ip_forward", "1")?;
        lab.link(Host::Source, "eth0", Host::Router, "up0")?;
        // A veth hands locally generated UDP on with the checksum left to "offload"; XDP
        // forwards frames as they are, so the source must finish its checksums itself, as a
        // real NIC's sender does on the wire.
        lab.run(Host::Source, &["ethtool", "-K", "eth0", "tx", "off"])?;
        lab.address(Host::Source, "eth0", "10.0.0.1/24")?;
        lab.address(Host::Router, "up0", "10.0.0.254/24")?;
        lab.ip(
            Host::Source,
            &["route", "add", "default", "via", "10.0.0.254"],
        )?;
        lab.ipv6_link(Host::Source, "eth0", "up0")?;
        for n in 1..=receivers {
            let host = Host::Receiver(n);
            let rif = format!("rcv{n}");
            lab.add_namespace(host)?;
            lab.link(host, "eth0", Host::Router, &rif)?;
            lab.address(host, "eth0", &format!("10.{n}.0.1/24"))?;
            lab.address(Host::Router, &rif, &format!("10.{n}.0.254/24"))?;
            lab.ip(
                host,
                &["route", "add", "default", "via", &format!("10.{n}.0.254")],
            )?;
            // Redirected frames reach a veth only if its peer runs NAPI (docs/design.md §2).
            lab.run(host, &["ethtool", "-K", "eth0", "gro", "on"])?;
            lab.ipv6_link(host, "eth0", &rif)?;
        }
        lab.wait_for_link_locals()?;
        Ok(lab)
    }

    /// Adds an upstream router namespace linked to the router's `wan0` (10.255.0.0/24), for
    /// proxy topologies: the router is 10.255.0.2, the upstream 10.255.0.1 (in a dual-stack lab
    /// also 2001:db8:ff::2 and 2001:db8:ff::1).
    pub fn add_upstream(&mut self) -> Result<(), LabError> {
        self.add_namespace(Host::Upstream)?;
        self.link_upstream()
    }

    /// Links the upstream host's eth0 to the router's wan0, with their addresses: for
    /// [`Lab::add_upstream`], and to create wan0 anew after a test deleted it.
    pub fn link_upstream(&self) -> Result<(), LabError> {
        self.link(Host::Upstream, "eth0", Host::Router, "wan0")?;
        self.address(Host::Upstream, "eth0", "10.255.0.1/24")?;
        self.address(Host::Router, "wan0", "10.255.0.2/24")?;
        self.run(Host::Upstream, &["ethtool", "-K", "eth0", "gro", "on"])?;
        // The upstream host sends too: finished checksums, as for the source host.
        self.run(Host::Upstream, &["ethtool", "-K", "eth0", "tx", "off"])?;
        self.ipv6_link(Host::Upstream, "eth0", "wan0")?;
        self.wait_for_link_locals()
    }

    /// Keeps the namespaces, and the daemons started in them, after drop (for `cargo xtask lab
    /// up`).
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// The address families of the lab's links.
    pub fn stack(&self) -> Stack {
        self.stack
    }

    /// Number of receiver hosts.
    pub fn receivers(&self) -> u8 {
        self.receivers
    }

    /// The per-run prefix of the namespace names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The namespace name of a host.
    pub fn ns(&self, host: Host) -> String {
        let suffix = match host {
            Host::Source => "src".to_owned(),
            Host::Router => "rtr".to_owned(),
            Host::Receiver(n) => format!("rcv{n}"),
            Host::Upstream => "ups".to_owned(),
            Host::PimRouter(n) => format!("r{n}"),
        };
        format!("{}-{suffix}", self.prefix)
    }

    /// The router's interface towards a host.
    pub fn router_iface(host: Host) -> String {
        match host {
            Host::Source => "up0".to_owned(),
            Host::Receiver(n) => format!("rcv{n}"),
            Host::Upstream => "wan0".to_owned(),
            Host::Router | Host::PimRouter(_) => "lo".to_owned(),
        }
    }

    /// The address of a host on its link to the router.
    pub fn address_of(host: Host) -> Ipv4Addr {
        match host {
            Host::Source => Ipv4Addr::new(10, 0, 0, 1),
            Host::Receiver(n) => Ipv4Addr::new(10, n, 0, 1),
            Host::Upstream => Ipv4Addr::new(10, 255, 0, 1),
            Host::Router => Ipv4Addr::new(10, 0, 0, 254),
            Host::PimRouter(n) => pim::loopback(n),
        }
    }

    /// Every host of the lab.
    pub fn hosts(&self) -> Vec<Host> {
        let mut hosts = vec![Host::Source];
        match self.pim_routers {
            0 => hosts.push(Host::Router),
            n => hosts.extend((1..=n).map(Host::PimRouter)),
        }
        hosts.extend((1..=self.receivers).map(Host::Receiver));
        hosts
    }

    /// A command that runs `argv` inside the namespace of `host`.
    pub fn command(&self, host: Host, argv: &[&str]) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns(host)]).args(argv);
        cmd
    }

    /// Runs `argv` in `host` to completion; fails with its stderr if it fails.
    pub fn run(&self, host: Host, argv: &[&str]) -> Result<Output, LabError> {
        run_checked(self.command(host, argv))
    }

    /// Starts `argv` in `host` in the background; the lab ends it (by PID) when dropped.
    pub fn spawn(&mut self, host: Host, argv: &[&str]) -> Result<u32, LabError> {
        let mut cmd = self.command(host, argv);
        cmd.stdin(Stdio::null());
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            command: argv.join(" "),
            source,
        })?;
        let pid = child.id();
        self.children.push(child);
        Ok(pid)
    }

    /// Starts a prepared command in the background; the lab ends it when dropped.
    pub fn adopt(&mut self, child: Child) -> u32 {
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// Runs `f` on a thread that has entered the network namespace of `host`: sockets it
    /// opens, and interfaces it names, are those of that host.
    pub fn in_ns<T: Send>(&self, host: Host, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
        in_named_ns(&self.ns(host), f)
    }

    /// Runs `ip ARGS` in `host`.
    pub fn ip(&self, host: Host, args: &[&str]) -> Result<Output, LabError> {
        let mut argv = vec!["ip"];
        argv.extend_from_slice(args);
        self.run(host, &argv)
    }

    /// Sets a sysctl in `host`.
    pub fn sysctl(&self, host: Host, key: &str, value: &str) -> Result<(), LabError> {
        self.run(host, &["sysctl", "-qw", &format!("{key}={value}")])
            .map(drop)
    }

    /// The ifindex of `iface` in `host`.
    pub fn ifindex(&self, host: Host, iface: &str) -> Result<u32, LabError> {
        let out = self.run(host, &["cat", &format!("/sys/class/net/{iface}/ifindex")])?;
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .map_err(|_| LabError::Failed {
                command: format!("ifindex of {iface}"),
                stderr: "not a number".into(),
            })
    }

    /// The MAC address of `iface` in `host`.
    pub fn mac(&self, host: Host, iface: &str) -> Result<[u8; 6], LabError> {
        let out = self.run(host, &["cat", &format!("/sys/class/net/{iface}/address")])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let mut mac = [0u8; 6];
        let mut parts = text.trim().split(':');
        for byte in &mut mac {
            *byte = parts
                .next()
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| LabError::Failed {
                    command: format!("MAC of {iface}"),
                    stderr: text.to_string(),
                })?;
        }
        Ok(mac)
    }

    fn add_namespace(&mut self, host: Host) -> Result<(), LabError> {
        let name = self.ns(host);
        run_checked({
            let mut c = Command::new("ip");
            c.args(["netns", "add", &name]);
            c
        })?;
        self.namespaces.push(name);
        self.ip(host, &["link", "set", "lo", "up"])?;
        self.sysctl(host, "net.ipv4.conf.all.rp_filter", "0")?;
        self.sysctl(host, "net.ipv4.conf.default.rp_filter", "0")?;
        match self.stack {
            Stack::V4 => self.sysctl(host, "net.ipv6.conf.all.disable_ipv6", "1"),
            Stack::Dual => self.ipv6_defaults(host),
        }
    }

    /// Creates a veth pair `a_if`@`a` ↔ `b_if`@`b`, both up.
    pub fn link(&self, a: Host, a_if: &str, b: Host, b_if: &str) -> Result<(), LabError> {
        let (na, nb) = (self.ns(a), self.ns(b));
        let queues = self.queues.to_string();
        let queues = ["numtxqueues", &queues, "numrxqueues", &queues];
        run_checked({
            let mut c = Command::new("ip");
            c.args(["link", "add", a_if, "netns", &na])
                .args(queues)
                .args(["type", "veth", "peer", "name", b_if, "netns", &nb])
                .args(queues);
            c
        })?;
        self.ip(a, &["link", "set", a_if, "up"])?;
        self.ip(b, &["link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Adds an address (CIDR) to an interface.
    pub fn address(&self, host: Host, iface: &str, cidr: &str) -> Result<(), LabError> {
        self.ip(host, &["addr", "add", cidr, "dev", iface])
            .map(drop)
    }

    fn teardown(&mut self) {
        if self.keep {
            // The daemons go on with the namespaces ([`delete_namespaces`] ends them).
            self.children.clear();
            return;
        }
        for child in self.children.drain(..) {
            stop(child);
        }
        for dir in self.dirs.drain(..) {
            let _ = std::fs::remove_dir_all(dir);
        }
        for name in self.namespaces.drain(..).rev() {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// Ends a process this lab started, by PID: SIGTERM so it can clean up, SIGKILL after 3 s.
/// `ip netns exec` passes the signal on by exec'ing the command in its own process.
fn stop(mut child: Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: signalling a child we own and have not reaped, so the PID is still ours.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// A bpffs for daemons the lab runs: `ip netns exec` remounts `/sys` in a private mount
/// namespace, which hides `/sys/fs/bpf`, so lab daemons pin under this directory instead. It is
/// mounted once, in this process's mount namespace, before any daemon starts, so every daemon
/// (and a restarted one) sees the same instance.
pub const LAB_BPFFS: &str = "/run/mgm/bpffs";

/// Mounts [`LAB_BPFFS`] if it is not a bpffs yet.
pub fn lab_bpffs() -> Result<&'static str, LabError> {
    let mounted = std::fs::read_to_string("/proc/mounts")
        .unwrap_or_default()
        .lines()
        .any(|l| {
            let mut fields = l.split_whitespace();
            fields.nth(1) == Some(LAB_BPFFS) && fields.next() == Some("bpf")
        });
    if !mounted {
        std::fs::create_dir_all(LAB_BPFFS).map_err(|source| LabError::Spawn {
            command: format!("mkdir {LAB_BPFFS}"),
            source,
        })?;
        run_checked({
            let mut c = Command::new("mount");
            c.args(["-t", "bpf", "bpf", LAB_BPFFS]);
            c
        })?;
    }
    Ok(LAB_BPFFS)
}

/// Runs `f` on a thread that has entered the network namespace `name`.
fn in_named_ns<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, LabError> {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter_ns(name)?;
                Ok(f())
            })
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Moves the calling thread into the named network namespace.
pub fn enter_ns(name: &str) -> Result<(), LabError> {
    let setns_err = |source| LabError::Setns {
        name: name.to_owned(),
        source,
    };
    let file = File::open(format!("/run/netns/{name}")).map_err(setns_err)?;
    // SAFETY: a valid namespace fd; only this thread's network namespace changes.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(setns_err(io::Error::last_os_error()));
    }
    Ok(())
}

/// Namespaces of this library on this machine, by name.
pub fn list_namespaces() -> Result<Vec<String>, LabError> {
    let out = run_checked({
        let mut c = Command::new("ip");
        c.args(["netns", "list"]);
        c
    })?;
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(NAME_PREFIX))
        .map(str::to_owned)
        .collect())
}

/// Deletes every namespace whose name starts with `prefix`, after ending the processes a
/// standing lab left running in it and removing the pins of its mgmd ([`pins::end_standing`]).
pub fn delete_namespaces(prefix: &str) -> Result<usize, LabError> {
    let mut deleted = 0;
    for name in list_namespaces()? {
        if name.starts_with(prefix) {
            pins::end_standing(&name)?;
            run_checked({
                let mut c = Command::new("ip");
                c.args(["netns", "del", &name]);
                c
            })?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

/// Deletes namespaces left by labs of processes that no longer exist (`mgm<pid>n<k>-...`).
fn sweep_stale() -> Result<(), LabError> {
    for name in list_namespaces()? {
        let Some(pid) = name
            .strip_prefix(NAME_PREFIX)
            .and_then(|rest| rest.split('n').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = Command::new("ip")
                .args(["netns", "del", &name])
                .stderr(Stdio::null())
                .status();
        }
    }
    Ok(())
}

fn run_checked(mut cmd: Command) -> Result<Output, LabError> {
    let command = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| LabError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(LabError::Failed {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(out)
}
