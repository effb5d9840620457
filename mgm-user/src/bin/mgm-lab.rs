//! mgm-lab: the demo, and a standing lab of network namespaces to try mgm by hand.
use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};
use mgm_user::{
    api::{
        client::Client,
        proto::{Request, Response},
    },
    lab::{self, Host, Lab},
};
use std::{
    net::{Ipv4Addr, UdpSocket},
    path::{Path, PathBuf},
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
        /// Packets the source sends.
        #[arg(long, default_value_t = 100)]
        packets: u32,
        /// The group the source sends to.
        #[arg(long, default_value = "239.1.1.1")]
        group: Ipv4Addr,
    },
    /// Bring up a standing lab (namespaces `mgmlab-*`) and leave it running.
    Up {
        /// Receiver hosts.
        #[arg(long, default_value_t = 3)]
        receivers: u8,
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
        } => demo(receivers, packets, group),
        Command::Up { receivers } => {
            let lab = Lab::star_named(STANDING_PREFIX, receivers)?;
            println!(
                "lab up: namespaces {}",
                lab.hosts()
                    .iter()
                    .map(|h| lab.ns(*h))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            println!("try: ip netns exec {} ip -br addr", lab.ns(Host::Router));
            lab.keep();
            Ok(())
        }
        Command::Down => {
            let n = lab::delete_namespaces(STANDING_PREFIX)?;
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

fn demo(receivers: u8, packets: u32, group: Ipv4Addr) -> Result<()> {
    let mut lab = Lab::star(receivers).context("building the lab (needs root)")?;
    println!(
        "lab: source, router and {receivers} receivers in namespaces {}-*",
        lab.prefix()
    );
    let socket = PathBuf::from(format!("/run/mgm/{}.sock", lab.prefix()));
    let mgmd = sibling("mgmd")?;
    let mut argv = vec![mgmd.to_str().context("mgmd path")?.to_owned()];
    for host in std::iter::once(Host::Source).chain((1..=receivers).map(Host::Receiver)) {
        argv.extend(["--iface".to_owned(), Lab::router_iface(host)]);
    }
    argv.extend(["--api-socket".to_owned(), socket.display().to_string()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    lab.spawn(Host::Router, &argv)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut client = runtime.block_on(connect(&socket))?;
    let before = runtime.block_on(counters(&mut client))?;
    lab.in_ns(Host::Source, || -> std::io::Result<()> {
        let sender = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        sender.set_multicast_ttl_v4(16)?;
        for seq in 0..packets {
            sender.send_to(&seq.to_be_bytes(), (group, 5000))?;
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    })??;
    std::thread::sleep(Duration::from_millis(300));
    let after = runtime.block_on(counters(&mut client))?;
    println!("\nsource 10.0.0.1 sent {packets} UDP packets to {group}");
    println!("\nrouter data plane (XDP) counters during the run:");
    println!("  {:<24} {:>10}", "COUNTER", "PACKETS");
    for (name, value) in &after {
        let delta = value - before.get(name).copied().unwrap_or(0);
        if delta > 0 {
            println!("  {name:<24} {delta:>10}");
        }
    }
    Ok(())
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
