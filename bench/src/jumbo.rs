//! Jumbo frames (`--only jumbo`): a lab whose links carry a 9000-byte MTU, one flow of
//! [`PACKET_LEN`]-byte UDP packets, mgm against the kernel's ipmr at each fan-out. At fan-out 1
//! mgm redirects them in XDP; above it, its TC slow path replicates them (the devmap broadcast
//! cannot clone frames larger than a page).
//!
//! The live-frames generator cannot send such frames (BPF_PROG_RUN refuses multi-buffer frames
//! in that mode), so a UDP socket in the source's namespace sends as fast as it can; the
//! sender, not the router, may then be what limits a rate, which the offered rate shows. Every
//! receiver counts with the frags-aware count-and-drop program.
use crate::{
    frame::{Family, GROUP, PORT},
    linerate::attach_counters,
    paths::{Installed, Path, UPSTREAM},
    programs::BenchObject,
};
use anyhow::{anyhow, Context as _, Result};
use mgm_user::lab::{enter_ns, Host, Lab};
use serde::Serialize;
use std::{
    net::{SocketAddrV4, UdpSocket},
    sync::atomic::{AtomicBool, AtomicU64, Ordering},
    time::{Duration, Instant},
};

/// The links' MTU.
pub const MTU: u32 = 9000;
/// Bytes of each IP packet sent (UDP header and payload included).
pub const PACKET_LEN: usize = 8000;
/// Traffic before the measurement window.
const WARMUP: Duration = Duration::from_millis(300);

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Jumbo {
    /// The path under test.
    pub path: Path,
    /// Receivers.
    pub fan_out: u8,
    /// IP packet length (bytes).
    pub packet_len: usize,
    /// Packets per second the sender handed to its socket.
    pub offered_pps: f64,
    /// Packets per second each receiver got, on average.
    pub delivered_pps: f64,
    /// The slowest receiver's packets per second.
    pub min_receiver_pps: f64,
}

impl Jumbo {
    /// The row of [`table`].
    pub fn row(&self) -> String {
        format!(
            "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            self.path.label(),
            self.fan_out,
            self.offered_pps / 1e3,
            self.delivered_pps / 1e3,
            self.min_receiver_pps / 1e3,
            self.delivered_pps * (self.packet_len * 8) as f64 / 1e9,
        )
    }
}

/// The Markdown table of `runs`, with mgm / ipmr per fan-out.
pub fn table(runs: &[Jumbo]) -> String {
    let mut md = format!(
        "Jumbo frames ({PACKET_LEN}-byte IP packets over {MTU}-byte MTU veths; UDP socket \
         sender, see bench/src/jumbo.rs):\n\n| path | fan-out | offered kpps | kpps per \
         receiver | slowest kpps | Gbit/s per receiver |\n|---|---|---|---|---|---|\n"
    );
    for run in runs {
        md.push_str(&run.row());
        md.push('\n');
    }
    let rate = |path: Path, fan_out: u8| {
        runs.iter()
            .find(|r| r.path == path && r.fan_out == fan_out)
            .map(|r| r.delivered_pps)
    };
    let mut fan_outs: Vec<u8> = runs.iter().map(|r| r.fan_out).collect();
    fan_outs.dedup();
    for fan_out in fan_outs {
        if let (Some(mgm), Some(kernel)) = (rate(Path::Mgm, fan_out), rate(Path::Kernel, fan_out)) {
            md.push_str(&format!(
                "\nmgm / ipmr at fan-out {fan_out}: {:.2}",
                mgm / kernel.max(1.0)
            ));
        }
    }
    md.push('\n');
    md
}

/// Measures mgm and the kernel at each of `fan_outs`, `rounds` times each (the paths taking
/// turns; the best window is kept), calling `progress` after each window.
pub fn run(
    fan_outs: &[u8],
    window: Duration,
    rounds: u32,
    mut progress: impl FnMut(&Jumbo),
) -> Result<Vec<Jumbo>> {
    let mut best: Vec<Jumbo> = Vec::new();
    for &fan_out in fan_outs {
        let lab = Lab::star(fan_out).context("building the jumbo lab")?;
        set_mtus(&lab)?;
        lab.run(Host::Router, &["ethtool", "-K", UPSTREAM, "gro", "on"])?;
        let receivers = attach_counters(&lab)?;
        for _ in 0..rounds {
            for path in [Path::Mgm, Path::Kernel] {
                let _installed = Installed::new(&lab, path, Family::V4)?;
                let run = measure(&lab, &receivers, path, window)?;
                progress(&run);
                match best
                    .iter_mut()
                    .find(|kept| kept.path == path && kept.fan_out == fan_out)
                {
                    Some(kept) if kept.delivered_pps >= run.delivered_pps => {}
                    Some(kept) => *kept = run,
                    None => best.push(run),
                }
            }
        }
    }
    Ok(best)
}

/// Sets every link of the lab to [`MTU`].
fn set_mtus(lab: &Lab) -> Result<()> {
    let mtu = MTU.to_string();
    let mut links = vec![
        (Host::Source, "eth0".to_owned()),
        (Host::Router, UPSTREAM.to_owned()),
    ];
    for n in 1..=lab.receivers() {
        links.push((Host::Receiver(n), "eth0".to_owned()));
        links.push((Host::Router, Lab::router_iface(Host::Receiver(n))));
    }
    for (host, iface) in links {
        lab.ip(host, &["link", "set", "dev", &iface, "mtu", &mtu])?;
    }
    Ok(())
}

fn measure(lab: &Lab, receivers: &[BenchObject], path: Path, window: Duration) -> Result<Jumbo> {
    let source_ns = lab.ns(Host::Source);
    let source = Lab::address_of(Host::Source);
    let sent = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let counted = || -> Result<Vec<u64>> { receivers.iter().map(BenchObject::counted).collect() };
    let (before, after, seconds, offered) = std::thread::scope(|scope| -> Result<_> {
        let sender = scope.spawn(|| -> Result<()> {
            enter_ns(&source_ns)?;
            let socket = UdpSocket::bind(SocketAddrV4::new(source, 0))?;
            socket.set_multicast_ttl_v4(64)?;
            socket.connect(SocketAddrV4::new(GROUP, PORT))?;
            let payload = vec![0x5a; PACKET_LEN - 28];
            while !stop.load(Ordering::Relaxed) {
                // A full socket buffer (ENOBUFS) is the sender's limit, not a failure.
                if socket.send(&payload).is_ok() {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
            Ok(())
        });
        std::thread::sleep(WARMUP);
        let (before, sent_before, start) =
            (counted(), sent.load(Ordering::Relaxed), Instant::now());
        std::thread::sleep(window);
        let (after, sent_after) = (counted(), sent.load(Ordering::Relaxed));
        let seconds = start.elapsed().as_secs_f64();
        stop.store(true, Ordering::Relaxed);
        sender
            .join()
            .map_err(|_| anyhow!("the sender thread panicked"))??;
        Ok((
            before?,
            after?,
            seconds,
            (sent_after - sent_before) as f64 / seconds,
        ))
    })?;
    let per_receiver: Vec<f64> = before
        .iter()
        .zip(&after)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / seconds)
        .collect();
    Ok(Jumbo {
        path,
        fan_out: lab.receivers(),
        packet_len: PACKET_LEN,
        offered_pps: offered,
        delivered_pps: per_receiver.iter().sum::<f64>() / per_receiver.len().max(1) as f64,
        min_receiver_pps: per_receiver.iter().copied().fold(f64::INFINITY, f64::min),
    })
}
