//! mgm-lab: the demo, and a standing lab of network namespaces to try mgm by hand.
#[path = "mgm-lab/pim_demo.rs"]
mod pim_demo;

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use mgm_user::{
    api::{
        client::Client,
        proto::{Request, Response},
    },
    lab::{self, Host, Lab, McastSend, Stack},
};
use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

/// The mgm demo and lab.
#[derive(Parser)]
#[command(about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a lab, run mgmd on its router, send multicast, and report what happened.
    Demo {
        /// Receiver hosts.
        #[arg(long, default_value_t = 3)]
        receivers: u8,
        /// Packets the source sends [default: 100; 500 with --pim].
        #[arg(long)]
        packets: Option<u32>,
        /// The group the source sends to.
        #[arg(long, default_value = "239.1.1.1")]
        group: Ipv4Addr,
        /// The IPv6 group the source sends to beside it (not with --pim).
        #[arg(long, default_value = "ff0e::1:1")]
        group6: Ipv6Addr,
        /// The PIM-SM chain instead of the star: FRR's zebra and pimd run the protocol on three
        /// routers (source - r1 - r2, the RP - r3 - receivers) and mgmd under each mirrors
        /// FRR's routes into XDP; reports per receiver and, per router, `mgmctl show mfe` and
        /// how many packets XDP and the kernel forwarded.
        #[arg(long)]
        pim: bool,
    },
    /// Bring up a standing lab (namespaces `mgmlab-*`) and leave it running.
    Up {
        /// Receiver hosts.
        #[arg(long, default_value_t = 3)]
        receivers: u8,
        /// The PIM-SM chain instead of the star: source, r1, r2 (the RP), r3 and the receivers
        /// behind r3, FRR's zebra and pimd on each router and mgmd under each, mirroring
        /// FRR's routes into XDP.
        #[arg(long)]
        pim: bool,
        /// Dual-stack star: every link also gets IPv6 (2001:db8:I::/64, hosts ::1, the router
        /// ::fe, link-local addresses usable at once, no router advertisements).
        #[arg(long, conflicts_with = "pim")]
        ipv6: bool,
    },
    /// Delete the standing lab.
    Down,
    /// List the lab namespaces on this machine.
    Status,
}

const STANDING_PREFIX: &str = "mgmlab";

fn main() -> Result<()> {
    match Args::parse().command {
        Command::Demo {
            receivers,
            packets,
            group,
            group6,
            pim: false,
        } => demo(receivers, packets.unwrap_or(100), group, group6),
        Command::Demo {
            receivers,
            packets,
            group,
            pim: true,
            ..
        } => pim_demo::run(receivers, packets.unwrap_or(500), group),
        Command::Up {
            receivers,
            pim: true,
            ipv6: _,
        } => pim_up(receivers),
        Command::Up {
            receivers,
            pim: false,
            ipv6,
        } => {
            let stack = if ipv6 { Stack::Dual } else { Stack::V4 };
            let lab = Lab::star_named_with(STANDING_PREFIX, receivers, stack)?;
            println!(
                "lab up: namespaces {}",
                lab.hosts()
                    .iter()
                    .map(|h| lab.ns(*h))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            println!("try: ip netns exec {} ip -br addr", lab.ns(Host::Router));
            if ipv6 {
                println!(
                    "     ip netns exec {} mcast join ff0e::10:1 --iface eth0\n     \
                     ip netns exec {} mcast send ff0e::10:1 --iface rcv1 --count 10",
                    lab.ns(Host::Receiver(1)),
                    lab.ns(Host::Router),
                );
            }
            lab.keep();
            Ok(())
        }
        Command::Down => {
            let n = lab::delete_namespaces(STANDING_PREFIX)?;
            for dir in [std::env::temp_dir(), PathBuf::from("/run/mgm")] {
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    if entry
                        .file_name()
                        .to_string_lossy()
                        .starts_with(STANDING_PREFIX)
                    {
                        let path = entry.path();
                        let _ =
                            std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
                    }
                }
            }
            println!("lab down: {n} namespaces deleted");
            Ok(())
        }
        Command::Status => {
            let names = lab::list_namespaces()?;
            if names.is_empty() {
                println!("no lab namespaces");
            }
            for name in names {
                println!("{name}");
            }
            Ok(())
        }
    }
}

/// The standing PIM lab: the chain, FRR, and mgmd mirroring FRR's routes on each router.
fn pim_up(receivers: u8) -> Result<()> {
    let mut lab = Lab::pim_chain_named(STANDING_PREFIX, receivers)?;
    lab.start_frr(None)?;
    let mgmd = sibling("mgmd")?;
    std::fs::create_dir_all("/run/mgm")?;
    for n in 1..=3u8 {
        let base = format!("/run/mgm/{STANDING_PREFIX}-r{n}");
        let config = lab.pim_mgmd_config(n, &format!("{base}.sock"))?;
        let config_path = format!("{base}.toml");
        std::fs::write(&config_path, config)?;
        lab.spawn(
            Host::PimRouter(n),
            &[path_str(&mgmd)?, "--config", &config_path, "--log", "warn"],
        )?;
    }
    println!(
        "PIM lab up: namespaces {}",
        lab.hosts()
            .iter()
            .map(|h| lab.ns(*h))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "try: ip netns exec {} mcast join 239.1.1.1 --iface eth0\n     \
         ip netns exec {} mcast send 239.1.1.1 --iface eth0 --ttl 16 --count 1000\n     \
         ip netns exec {} vtysh --vty_socket {} -c 'show ip mroute'\n     \
         mgmctl --socket /run/mgm/{STANDING_PREFIX}-r3.sock show mfe",
        lab.ns(Host::Receiver(1)),
        lab.ns(Host::Source),
        lab.ns(Host::PimRouter(3)),
        lab.frr_dir(3).display(),
    );
    lab.keep();
    Ok(())
}

fn demo(receivers: u8, packets: u32, group: Ipv4Addr, group6: Ipv6Addr) -> Result<()> {
    let mut lab =
        Lab::star_with(receivers, Stack::Dual).context("building the lab (needs root)")?;
    println!(
        "lab: source, router and {receivers} receivers in namespaces {}-*, IPv4 and IPv6",
        lab.prefix()
    );
    let socket = PathBuf::from(format!("/run/mgm/{}.sock", lab.prefix()));
    let config_path = PathBuf::from(format!("/run/mgm/{}.toml", lab.prefix()));
    let mut config = format!(
        "[daemon]\napi_socket = {:?}\nbpffs = {:?}\n",
        socket.display().to_string(),
        lab::lab_bpffs()?
    );
    for host in std::iter::once(Host::Source).chain((1..=receivers).map(Host::Receiver)) {
        config += &format!("\n[[interface]]\nname = {:?}\n", Lab::router_iface(host));
    }
    std::fs::create_dir_all("/run/mgm")?;
    std::fs::write(&config_path, &config)?;
    let _config_file = RemoveOnDrop(config_path.clone());
    let mgmd = sibling("mgmd")?;
    let mcast = sibling("mcast")?;
    let (mgmd, mcast) = (path_str(&mgmd)?, path_str(&mcast)?);
    let config_arg = path_str(&config_path)?;
    lab.spawn(
        Host::Router,
        &[mgmd, "--config", config_arg, "--log", "warn"],
    )?;
    lab.remove_pins_at_end(Host::Router, Path::new(lab::LAB_BPFFS))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut client = runtime.block_on(connect(&socket))?;

    // Every receiver but the last joins both groups with its kernel's IGMP and MLD.
    let joined: Vec<u8> = (1..receivers.max(2)).collect();
    let groups: [IpAddr; 2] = [group.into(), group6.into()];
    let timeout = (packets / 500 + 5).to_string();
    let mut listeners = Vec::new();
    for n in joined.iter().copied().filter(|n| *n <= receivers) {
        for (family, group) in groups.iter().enumerate() {
            let mut cmd = lab.command(
                Host::Receiver(n),
                &[
                    mcast,
                    "join",
                    &group.to_string(),
                    "--iface",
                    "eth0",
                    "--json",
                    "--timeout",
                    &timeout,
                    "--count",
                    &packets.to_string(),
                ],
            );
            cmd.stdout(Stdio::piped()).stderr(Stdio::null());
            listeners.push(((n, family), cmd.spawn().context("starting a receiver")?));
        }
    }
    println!(
        "receivers {} join {group} (IGMP) and {group6} (MLD); receiver {receivers} does not",
        joined
            .iter()
            .map(|n| format!("rcv{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    runtime.block_on(wait_for_members(
        &mut client,
        group.into(),
        "igmp",
        joined.len(),
    ))?;
    runtime.block_on(wait_for_members(
        &mut client,
        group6.into(),
        "mld",
        joined.len(),
    ))?;

    let source6 = Lab::address6_of(Host::Source).context("the source's IPv6 address")?;
    println!(
        "source 10.0.0.1 sends {packets} UDP packets to {group} (TTL 16), {source6} as many \
         to {group6} (hop limit 16)"
    );
    let before = runtime.block_on(counters(&mut client))?;
    for group in groups {
        lab.send(
            Host::Source,
            McastSend {
                mcast,
                group,
                ttl: 16,
                count: packets,
                interval_ms: 1,
            },
        )?;
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = runtime.block_on(counters(&mut client))?;

    println!("\nper receiver:");
    println!(
        "  {:<8} {:<8} {:>10} {:>8} {:>10} {:>8}",
        "HOST", "JOINED", "IPv4", "TTL", "IPv6", "HOPS"
    );
    let mut delivered = BTreeMap::new();
    for (key, child) in listeners {
        let output = child.wait_with_output()?;
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_default();
        let received = report["received"].as_u64().unwrap_or(0);
        let ttl = report["packets"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| p["ttl"].as_u64())
            .map_or("-".to_owned(), |t| t.to_string());
        delivered.insert(key, (received, ttl));
    }
    for n in 1..=receivers {
        let [(v4, ttl), (v6, hops)] = [0, 1].map(|family| {
            delivered
                .remove(&(n, family))
                .unwrap_or((0, "-".to_owned()))
        });
        let joined = if joined.contains(&n) { "yes" } else { "no" };
        println!("  rcv{n:<5} {joined:<8} {v4:>10} {ttl:>8} {v6:>10} {hops:>8}");
    }
    println!("\nrouter: mgmctl show mfe");
    match runtime.block_on(client.call(&Request::ShowMfe))? {
        Response::Mfes { rows } => {
            for r in rows.into_iter().map(|r| r.entry) {
                let oifs: Vec<String> = r
                    .oifs
                    .iter()
                    .map(|o| format!("{}({})", o.iface, o.packets))
                    .collect();
                println!(
                    "  ({}, {}) in {} packets {} -> {}",
                    r.source,
                    r.group,
                    r.iif,
                    r.packets,
                    if oifs.is_empty() {
                        "dropped".to_owned()
                    } else {
                        oifs.join(" ")
                    }
                );
            }
        }
        other => bail!("unexpected answer {other:?}"),
    }
    println!("\nrouter data plane (XDP) counters during the run:");
    for (name, value) in &after {
        let delta = value - before.get(name).copied().unwrap_or(0);
        if delta > 0 {
            println!("  {name:<24} {delta:>10}");
        }
    }
    Ok(())
}

/// Deletes a file when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("non-UTF-8 path")
}

/// Waits until mgmd has `count` memberships of `protocol` (IGMP or MLD) for `group` (bounded).
async fn wait_for_members(
    client: &mut Client,
    group: IpAddr,
    protocol: &str,
    count: usize,
) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Response::Groups { rows } = client.call(&Request::ShowGroups).await? {
            if rows
                .iter()
                .filter(|r| r.group == group && r.protocol == protocol)
                .count()
                >= count
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the receivers' {protocol} reports did not reach mgmd within 10 s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn connect(socket: &Path) -> Result<Client> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match Client::connect(socket).await {
            Ok(client) => return Ok(client),
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => bail!("mgmd did not open {}: {e}", socket.display()),
        }
    }
}

async fn counters(client: &mut Client) -> Result<std::collections::BTreeMap<String, u64>> {
    match client.call(&Request::Stats).await? {
        Response::Stats { counters } => Ok(counters),
        other => bail!("unexpected answer {other:?}"),
    }
}

/// A binary installed beside this one.
fn sibling(name: &str) -> Result<PathBuf> {
    let me = std::env::current_exe()?;
    let path = me.parent().context("no parent")?.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo xtask build)",
            path.display()
        );
    }
    Ok(path)
}
