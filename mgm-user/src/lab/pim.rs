//! The PIM-SM chain: a source, three routers running FRR (zebra and pimd) with r2 the
//! rendezvous point, and receivers behind r3; mgmd runs under each router when a test or the
//! lab starts it (its configuration: [`Lab::pim_interfaces`]).
//!
//! ```text
//!  src [eth0 10.0.0.1] ── [up0 10.0.0.254] r1 [dn0 10.0.12.1] ── [up0 10.0.12.2] r2 (RP, lo 10.255.0.2)
//!      [dn0 10.0.23.2] ── [up0 10.0.23.3] r3 [rcvI 10.I.0.254] ── [eth0 10.I.0.1] rcvI
//! ```
//! Unicast routing is kernel static routes, specific ones (FRR's next-hop tracking ignores a
//! default route for RPF and RP reachability); each router's loopback is 10.255.0.N/32.
use super::{Host, Lab, LabError, Stack, COUNTER, NAME_PREFIX};
use std::{net::Ipv4Addr, process::Stdio, time::Duration};

/// The rendezvous point (r2's loopback).
pub const PIM_RP: Ipv4Addr = Ipv4Addr::new(10, 255, 0, 2);
/// Routers in the chain.
const ROUTERS: u8 = 3;
/// How long a daemon may take to open its socket.
const DAEMON_START: Duration = Duration::from_secs(10);

/// The loopback address of router `n`.
pub(super) fn loopback(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 255, 0, n)
}

/// The subnet between router `n` and router `n + 1`: 10.0.N(N+1).0/24.
fn transit(n: u8) -> [u8; 3] {
    [10, 0, n * 10 + n + 1]
}

impl Lab {
    /// Builds the PIM chain with `receivers` receivers behind r3 (1 to 200), FRR not started.
    pub fn pim_chain(receivers: u8) -> Result<Self, LabError> {
        let prefix = format!(
            "{NAME_PREFIX}{}n{}",
            std::process::id(),
            COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Self::pim_chain_named(&prefix, receivers)
    }

    /// [`Lab::pim_chain`] under a chosen prefix (for `cargo xtask lab up --pim`).
    pub fn pim_chain_named(prefix: &str, receivers: u8) -> Result<Self, LabError> {
        if !super::is_root() {
            return Err(LabError::NotRoot);
        }
        super::sweep_stale()?;
        let mut lab = Self {
            prefix: prefix.to_owned(),
            receivers,
            namespaces: Vec::new(),
            children: Vec::new(),
            dirs: Vec::new(),
            pim_routers: ROUTERS,
            queues: 1,
            stack: Stack::V4,
            keep: false,
        };
        lab.add_namespace(Host::Source)?;
        for n in 1..=ROUTERS {
            let router = Host::PimRouter(n);
            lab.add_namespace(router)?;
            lab.sysctl(router, "net.ipv4.ip_forward", "1")?;
            lab.address(router, "lo", &format!("{}/32", loopback(n)))?;
        }
        let r = Host::PimRouter;
        lab.link(Host::Source, "eth0", r(1), "up0")?;
        lab.run(Host::Source, &["ethtool", "-K", "eth0", "tx", "off"])?;
        lab.address(Host::Source, "eth0", "10.0.0.1/24")?;
        lab.address(r(1), "up0", "10.0.0.254/24")?;
        lab.ip(
            Host::Source,
            &["route", "add", "default", "via", "10.0.0.254"],
        )?;
        for n in 1..ROUTERS {
            let [a, b, c] = transit(n);
            lab.link(r(n), "dn0", r(n + 1), "up0")?;
            lab.address(r(n), "dn0", &format!("{a}.{b}.{c}.{n}/24"))?;
            lab.address(r(n + 1), "up0", &format!("{a}.{b}.{c}.{}/24", n + 1))?;
        }
        for n in 1..=receivers {
            let host = Host::Receiver(n);
            let port = format!("rcv{n}");
            lab.add_namespace(host)?;
            lab.link(host, "eth0", r(ROUTERS), &port)?;
            lab.address(host, "eth0", &format!("10.{n}.0.1/24"))?;
            lab.address(r(ROUTERS), &port, &format!("10.{n}.0.254/24"))?;
            let gateway = format!("10.{n}.0.254");
            lab.ip(host, &["route", "add", "default", "via", &gateway])?;
            lab.run(host, &["ethtool", "-K", "eth0", "gro", "on"])?;
        }
        // XDP redirects into a veth only while its peer is ready: GRO on every router port.
        for n in 1..=ROUTERS {
            for port in lab.pim_interfaces(n) {
                lab.run(r(n), &["ethtool", "-K", &port, "gro", "on"])?;
            }
        }
        lab.pim_static_routes()?;
        Ok(lab)
    }

    /// The interfaces of router `n` (those mgmd runs on).
    pub fn pim_interfaces(&self, n: u8) -> Vec<String> {
        let mut ports = vec!["up0".to_owned()];
        if n < ROUTERS {
            ports.push("dn0".to_owned());
        } else {
            ports.extend((1..=self.receivers).map(|i| format!("rcv{i}")));
        }
        ports
    }

    /// The configuration of mgmd on router `n`: its API socket, the lab's bpffs, every
    /// interface of the router, and `[mirror]`, which forwards FRR's kernel routes in XDP.
    /// The pins of that mgmd are removed when the lab ends ([`Lab::remove_pins_at_end`]).
    pub fn pim_mgmd_config(&mut self, n: u8, api_socket: &str) -> Result<String, LabError> {
        let bpffs = super::lab_bpffs()?;
        self.remove_pins_at_end(Host::PimRouter(n), std::path::Path::new(bpffs))?;
        let mut config = format!("[daemon]\napi_socket = {api_socket:?}\nbpffs = {bpffs:?}\n");
        for iface in self.pim_interfaces(n) {
            config += &format!("\n[[interface]]\nname = {iface:?}\n");
        }
        config += "\n[mirror]\nenabled = true\n";
        Ok(config)
    }

    /// Specific routes to every subnet and loopback of the chain, towards it.
    fn pim_static_routes(&self) -> Result<(), LabError> {
        // Each destination with the routers attached to it.
        let mut destinations: Vec<(String, Vec<u8>)> = vec![("10.0.0.0/24".to_owned(), vec![1])];
        for n in 1..ROUTERS {
            let [a, b, c] = transit(n);
            destinations.push((format!("{a}.{b}.{c}.0/24"), vec![n, n + 1]));
        }
        for n in 1..=ROUTERS {
            destinations.push((format!("{}/32", loopback(n)), vec![n]));
        }
        for i in 1..=self.receivers {
            destinations.push((format!("10.{i}.0.0/24"), vec![ROUTERS]));
        }
        for n in 1..=ROUTERS {
            for (destination, attached) in &destinations {
                let gateway = if attached.contains(&n) {
                    continue;
                } else if attached.iter().all(|&a| a > n) {
                    let [a, b, c] = transit(n);
                    format!("{a}.{b}.{c}.{}", n + 1)
                } else {
                    let [a, b, c] = transit(n - 1);
                    format!("{a}.{b}.{c}.{}", n - 1)
                };
                self.ip(
                    Host::PimRouter(n),
                    &["route", "add", destination, "via", &gateway],
                )?;
            }
        }
        Ok(())
    }

    /// Starts FRR's zebra and pimd on every router (r2 the RP, IGMP on r3's receiver ports),
    /// with the keep-alive timer `keep_alive_s` when given. The lab ends them when dropped.
    pub fn start_frr(&mut self, keep_alive_s: Option<u32>) -> Result<(), LabError> {
        for n in 1..=ROUTERS {
            let dir = self.frr_dir(n);
            std::fs::create_dir_all(&dir).map_err(|source| LabError::Spawn {
                command: format!("mkdir {}", dir.display()),
                source,
            })?;
            self.dirs.push(dir.clone());
            let mut pimd = format!("hostname r{n}\nip pim rp {PIM_RP} 224.0.0.0/4\n");
            if let Some(k) = keep_alive_s {
                pimd.push_str(&format!("ip pim keep-alive-timer {k}\n"));
            }
            pimd.push_str("interface lo\n ip pim\n");
            for port in self.pim_interfaces(n) {
                pimd.push_str(&format!("interface {port}\n ip pim\n"));
                if port.starts_with("rcv") {
                    pimd.push_str(" ip igmp\n");
                }
            }
            let write = |name: &str, text: &str| {
                std::fs::write(dir.join(name), text).map_err(|source| LabError::Spawn {
                    command: format!("writing {name}"),
                    source,
                })
            };
            write("zebra.conf", &format!("hostname r{n}\n"))?;
            write("pimd.conf", &pimd)?;
            self.run(Host::Source, &["chown", "-R", "frr:frr", &path(&dir)])?;
            self.frr_daemon(n, &dir, "zebra")?;
            wait_for_file(&dir.join("zserv.api"))?;
            self.frr_daemon(n, &dir, "pimd")?;
            wait_for_file(&dir.join("pimd.vty"))?;
        }
        Ok(())
    }

    fn frr_daemon(&mut self, n: u8, dir: &std::path::Path, daemon: &str) -> Result<(), LabError> {
        let d = path(dir);
        let binary = format!("/usr/lib/frr/{daemon}");
        let (conf, pid, zserv, log) = (
            format!("{d}/{daemon}.conf"),
            format!("{d}/{daemon}.pid"),
            format!("{d}/zserv.api"),
            format!("file:{d}/{daemon}.log"),
        );
        let argv = [
            binary.as_str(),
            "-f",
            &conf,
            "-i",
            &pid,
            "-z",
            &zserv,
            "--vty_socket",
            &d,
            "-P",
            "0",
            "--log",
            &log,
        ];
        // They log to their files; what they print at start (kernel features they go
        // without) is left out of the output of tests and the demo.
        let mut cmd = self.command(Host::PimRouter(n), &argv);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            command: argv.join(" "),
            source,
        })?;
        self.adopt(child);
        Ok(())
    }

    /// The directory of router `n`'s FRR daemons (configuration, sockets, logs).
    pub fn frr_dir(&self, n: u8) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("{}-frr-r{n}", self.prefix))
    }

    /// Runs a vtysh command on router `n` and returns its output.
    pub fn vtysh(&self, n: u8, command: &str) -> Result<String, LabError> {
        let dir = self.frr_dir(n);
        let out = self.run(
            Host::PimRouter(n),
            &["vtysh", "--vty_socket", &path(&dir), "-c", command],
        )?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Whether every router has its PIM neighbours in the chain (FRR's `show ip pim
    /// neighbor`): r1 and r3 one, the routers between two.
    pub fn pim_neighbours_up(&self) -> Result<bool, LabError> {
        for n in 1..=ROUTERS {
            let text = self.vtysh(n, "show ip pim neighbor json")?;
            let by_iface: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| LabError::Failed {
                    command: format!("show ip pim neighbor json on r{n}"),
                    stderr: format!("not JSON ({e}): {text}"),
                })?;
            let neighbours: usize = by_iface
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
                .filter_map(|v| v.as_object().map(|m| m.len()))
                .sum();
            let expected = if n == 1 || n == ROUTERS { 1 } else { 2 };
            if neighbours < expected {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

fn path(dir: &std::path::Path) -> String {
    dir.display().to_string()
}

fn wait_for_file(file: &std::path::Path) -> Result<(), LabError> {
    let deadline = std::time::Instant::now() + DAEMON_START;
    while !file.exists() {
        if std::time::Instant::now() > deadline {
            return Err(LabError::Failed {
                command: format!("waiting for {}", file.display()),
                stderr: "the daemon did not start".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}
