//! `mgm-lab demo --pim`: the PIM-SM chain (source, r1, r2 the RP, r3, receivers) with FRR's
//! zebra and pimd running the protocol on every router and mgmd under each mirroring FRR's
//! kernel routes into XDP; a numbered stream, then what each receiver got and, per router,
//! how many packets XDP forwarded and how many the kernel did (the mirror's samples).
use super::{connect, counters, path_str, sibling, RemoveOnDrop};
use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::{
    api::{
        client::Client,
        proto::{MfeRow, Request, Response},
    },
    lab::{Host, Lab, Listener, McastSend, Received, PIM_RP},
};
use std::{
    net::Ipv4Addr,
    path::PathBuf,
    time::{Duration, Instant},
};

/// Routers of the chain.
const ROUTERS: u8 = 3;
/// The source host's address.
const SOURCE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// How long FRR may take for each step: neighbours, the receivers' joins, the tree.
const FRR_WAIT: Duration = Duration::from_secs(90);
/// Pause between the numbered packets.
const INTERVAL_MS: u32 = 5;

/// One router's counters of the flow.
#[derive(Default)]
struct FlowCounters {
    /// Packets mgm's entry accepted.
    packets: u64,
    /// Copies XDP sent out of the first outgoing interface.
    xdp_out: u64,
    /// The kernel's own counter of its (S,G) route (`ip -s mroute`).
    kernel: u64,
    /// Packets the mirror handed to the kernel (`mirror_sampled`).
    sampled: u64,
}

/// The running demo: the lab (which ends its daemons and namespaces when dropped) and an API
/// client per router.
struct PimDemo {
    lab: Lab,
    runtime: tokio::runtime::Runtime,
    clients: Vec<Client>,
    sockets: Vec<PathBuf>,
    group: Ipv4Addr,
    mcast: PathBuf,
    mgmctl: PathBuf,
}

pub fn run(receivers: u8, packets: u32, group: Ipv4Addr) -> Result<()> {
    ensure!(receivers >= 1, "--pim needs at least one receiver");
    ensure!(group.is_multicast(), "{group} is not a multicast group");
    let mut lab = Lab::pim_chain(receivers).context("building the lab (needs root)")?;
    println!(
        "lab: source, r1, r2 (the RP, {PIM_RP}), r3 and {receivers} receivers behind r3 in \
         namespaces {}-*",
        lab.prefix()
    );
    lab.start_frr(None)
        .context("starting FRR's zebra and pimd (apt-get install frr)")?;
    let mgmd = sibling("mgmd")?;
    std::fs::create_dir_all("/run/mgm")?;
    let mut sockets = Vec::new();
    let mut _configs = Vec::new();
    for n in 1..=ROUTERS {
        let base = format!("/run/mgm/{}-r{n}", lab.prefix());
        let socket = PathBuf::from(format!("{base}.sock"));
        let config_path = PathBuf::from(format!("{base}.toml"));
        std::fs::write(&config_path, lab.pim_mgmd_config(n, path_str(&socket)?)?)?;
        _configs.push(RemoveOnDrop(config_path.clone()));
        lab.spawn(
            Host::PimRouter(n),
            &[
                path_str(&mgmd)?,
                "--config",
                path_str(&config_path)?,
                "--log",
                "warn",
            ],
        )?;
        sockets.push(socket);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let clients = sockets
        .iter()
        .map(|s| runtime.block_on(connect(s)))
        .collect::<Result<_>>()?;
    println!("FRR (zebra, pimd) and mgmd with [mirror] run on r1, r2 and r3");
    let mut demo = PimDemo {
        lab,
        runtime,
        clients,
        sockets,
        group,
        mcast: sibling("mcast")?,
        mgmctl: sibling("mgmctl")?,
    };
    demo.report(receivers, packets)
}

impl PimDemo {
    fn report(&mut self, receivers: u8, packets: u32) -> Result<()> {
        let start = Instant::now();
        wait("PIM neighbours r1-r2 and r2-r3", || {
            Ok(self.lab.pim_neighbours_up()?)
        })?;
        println!(
            "PIM neighbours up after {:.1} s",
            start.elapsed().as_secs_f64()
        );

        // Every receiver but the last joins (as in the default demo). A long-lived member on
        // each keeps the join standing while the tree is built and the measured listeners
        // come and go.
        let joined: Vec<u8> = (1..receivers.max(2)).collect();
        let mut members = Vec::new();
        for &n in &joined {
            members.push(self.listen(n, u32::MAX, 600.0)?);
        }
        wait("the receivers' IGMP joins in r3's pimd", || {
            self.igmp_joined(&joined)
        })?;
        println!(
            "receivers {} joined {} (IGMP, seen by r3's pimd){}",
            joined
                .iter()
                .map(|n| format!("rcv{n}"))
                .collect::<Vec<_>>()
                .join(", "),
            self.group,
            if joined.len() < usize::from(receivers) {
                format!("; rcv{receivers} did not")
            } else {
                String::new()
            }
        );

        // The first packets of a stream take FRR's register path and build the tree; a few
        // until the (S,G) is mirrored on every router and goes out to every joined receiver.
        let ports: Vec<String> = joined.iter().map(|n| format!("rcv{n}")).collect();
        let start = Instant::now();
        wait("the (S,G) mirrored into XDP on r1, r2 and r3", || {
            let mirrored = self.tree_mirrored(&ports)?;
            if !mirrored {
                self.send(5, 20)?;
            }
            Ok(mirrored)
        })?;
        println!(
            "(S,G) built by FRR and mirrored into XDP on r1, r2 and r3 after {:.1} s of warm-up \
             traffic",
            start.elapsed().as_secs_f64()
        );

        let timeout = f64::from(packets) * f64::from(INTERVAL_MS) / 1000.0 + 30.0;
        let mut listeners = Vec::new();
        for &n in &joined {
            listeners.push((n, self.listen(n, packets, timeout)?));
        }
        let before = self.flow_counters()?;
        println!(
            "\nsource {SOURCE} sends {packets} numbered UDP packets to {} (TTL 16)",
            self.group
        );
        self.send(packets, INTERVAL_MS)?;
        let mut received = Vec::new();
        for (n, listener) in listeners {
            received.push((n, listener.finish()?));
        }
        let after = self.flow_counters()?;
        drop(members);
        print_receivers(receivers, &received);
        self.print_routers(&before, &after)
    }

    /// Per router: `mgmctl show mfe`, then how many of the run's packets XDP forwarded and
    /// how many the kernel did.
    fn print_routers(&self, before: &[FlowCounters], after: &[FlowCounters]) -> Result<()> {
        for n in 1..=ROUTERS {
            let role = match n {
                1 => "first hop",
                ROUTERS => "last hop",
                _ => "RP",
            };
            println!("\nr{n} ({role}): mgmctl show mfe");
            for line in self.mgmctl_show_mfe(n)?.lines() {
                println!("  {line}");
            }
            let (b, a) = (&before[usize::from(n) - 1], &after[usize::from(n) - 1]);
            let packets_in = a.packets - b.packets;
            let xdp = a.xdp_out - b.xdp_out;
            println!(
                "  this run: {packets_in} packets in, {xdp} forwarded by XDP, {} by the kernel \
                 (mirror_sampled +{}, ip -s mroute +{})",
                packets_in - xdp.min(packets_in),
                a.sampled - b.sampled,
                a.kernel - b.kernel
            );
        }
        Ok(())
    }

    /// Starts `mcast join` on receiver `n` for `count` packets or `timeout_s` seconds.
    fn listen(&mut self, n: u8, count: u32, timeout_s: f64) -> Result<Listener> {
        let mcast = path_str(&self.mcast)?.to_owned();
        Ok(self
            .lab
            .listen(Host::Receiver(n), &mcast, self.group, count, timeout_s)?)
    }

    /// Sends `count` numbered packets from the source, `interval_ms` apart.
    fn send(&self, count: u32, interval_ms: u32) -> Result<()> {
        self.lab.send(
            Host::Source,
            McastSend {
                mcast: path_str(&self.mcast)?,
                group: self.group.into(),
                ttl: 16,
                count,
                interval_ms,
            },
        )?;
        Ok(())
    }

    /// Whether r3's pimd has an IGMP membership of the group on every joined receiver's port.
    fn igmp_joined(&self, joined: &[u8]) -> Result<bool> {
        let text = self.lab.vtysh(ROUTERS, "show ip igmp groups")?;
        let group = self.group.to_string();
        Ok(joined.iter().all(|n| {
            let port = format!("rcv{n}");
            text.lines().any(|line| {
                let mut fields = line.split_whitespace();
                fields.next() == Some(port.as_str()) && fields.any(|f| f == group)
            })
        }))
    }

    /// Whether every router forwards the (S,G) in XDP as a mirrored (kernel) entry, r3 out
    /// of exactly `ports`.
    fn tree_mirrored(&mut self, ports: &[String]) -> Result<bool> {
        for n in 1..=ROUTERS {
            let Some(row) = self.flow(n)? else {
                return Ok(false);
            };
            let oifs: Vec<&String> = row.oifs.iter().map(|o| &o.iface).collect();
            if row.origin != "kernel"
                || oifs.is_empty()
                || (n == ROUTERS && oifs != ports.iter().collect::<Vec<_>>())
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Router `n`'s entry of the (SOURCE, group) flow.
    fn flow(&mut self, n: u8) -> Result<Option<MfeRow>> {
        let client = &mut self.clients[usize::from(n) - 1];
        match self.runtime.block_on(client.call(&Request::ShowMfe))? {
            Response::Mfes { rows } => Ok(rows
                .into_iter()
                .map(|r| r.entry)
                .find(|r| r.source == SOURCE && r.group == self.group)),
            other => bail!("unexpected answer {other:?}"),
        }
    }

    /// Every router's counters of the flow.
    fn flow_counters(&mut self) -> Result<Vec<FlowCounters>> {
        (1..=ROUTERS)
            .map(|n| {
                let row = self.flow(n)?.context("the (S,G) entry")?;
                let stats = {
                    let client = &mut self.clients[usize::from(n) - 1];
                    self.runtime.block_on(counters(client))?
                };
                Ok(FlowCounters {
                    packets: row.packets,
                    xdp_out: row.oifs.first().map_or(0, |o| o.packets),
                    kernel: self
                        .lab
                        .kernel_mroute_packets(Host::PimRouter(n), SOURCE, self.group)?
                        .unwrap_or(0),
                    sampled: stats.get("mirror_sampled").copied().unwrap_or(0),
                })
            })
            .collect()
    }

    /// `mgmctl show mfe` on router `n`, as an operator sees it.
    fn mgmctl_show_mfe(&self, n: u8) -> Result<String> {
        let socket = &self.sockets[usize::from(n) - 1];
        let out = std::process::Command::new(&self.mgmctl)
            .args(["--socket", path_str(socket)?, "show", "mfe"])
            .stdin(std::process::Stdio::null())
            .output()
            .context("running mgmctl")?;
        ensure!(out.status.success(), "mgmctl on r{n}: {}", out.status);
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// Per receiver: whether it joined, the distinct packets it received and the duplicates.
fn print_receivers(receivers: u8, received: &[(u8, Received)]) {
    println!("\nper receiver:");
    println!(
        "  {:<8} {:<8} {:>10} {:>11}",
        "HOST", "JOINED", "RECEIVED", "DUPLICATES"
    );
    for n in 1..=receivers {
        match received.iter().find(|(r, _)| *r == n) {
            Some((_, got)) => println!(
                "  rcv{n:<5} {:<8} {:>10} {:>11}",
                "yes",
                got.distinct(),
                got.duplicates()
            ),
            None => println!("  rcv{n:<5} {:<8} {:>10} {:>11}", "no", "-", "-"),
        }
    }
}

/// Polls `done` every 200 ms for at most [`FRR_WAIT`].
fn wait(what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + FRR_WAIT;
    while !done()? {
        if Instant::now() > deadline {
            bail!("{what}: not within {} s", FRR_WAIT.as_secs());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Ok(())
}
