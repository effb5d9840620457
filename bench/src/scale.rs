//! Scaling over CPUs: a lab whose veths have two queues, one receiver, and one generator thread
//! per CPU used, each pinned to its CPU and sending a flow (group) of its own.
//!
//! An XDP redirect into a veth takes the receive queue of the sending CPU and schedules that
//! queue's NAPI there, so the router's path runs in the softirq of the generator's CPU: with
//! two generators the router's two receive queues are served by two CPUs, as a NIC's RSS
//! spreads flows over its queues and their interrupts over CPUs. The kernel's copies leave the
//! router by the transmit queue of the forwarding CPU (XPS), mgm's by the queue of that CPU as
//! well (its redirect). Per path: frames per second the receiver gets with one generator
//! (CPU 0) and with two (CPUs 0 and 1), the best window of several rounds, and their ratio.
use crate::{
    frame::{self, Family, GROUP},
    generator::{real_time, Generator, GENERATOR_PRIORITY},
    linerate::attach_counters,
    paths::{Installed, Path, UPSTREAM},
    programs::BenchObject,
};
use anyhow::{anyhow, bail, Context as _, Result};
use mgm_user::lab::{enter_ns, Host, Lab};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

/// The flows, one per generator (CPU): the line-rate group and the next one.
const GROUPS: [Ipv4Addr; 2] = [GROUP, Ipv4Addr::new(239, 1, 1, 2)];
/// Receive and transmit queues of every veth of the lab.
const QUEUES: u16 = GROUPS.len() as u16;
/// The target: mgm's rate on two CPUs at least this many times its rate on one.
pub const TARGET_RATIO: f64 = 1.8;

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Paths measured (each in turn, in every round).
    pub paths: Vec<Path>,
    /// Frame length (bytes, without FCS).
    pub size: usize,
    /// Traffic before the measurement window.
    pub warmup: Duration,
    /// The measurement window.
    pub window: Duration,
    /// Rounds (the best window of each configuration is kept).
    pub rounds: u32,
    /// Frames per kernel batch of each generator.
    pub batch: u32,
}

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Scale {
    /// The path at the router.
    pub path: Path,
    /// CPUs (generators, receive queues) carrying traffic.
    pub cpus: usize,
    /// Frame length (bytes, without FCS).
    pub size: usize,
    /// Frames per second the receiver got, all flows together (the drop ceiling: the router
    /// took).
    pub delivered_pps: f64,
    /// Frames per second the generators offered, all together.
    pub offered_pps: f64,
    /// Frames the router's upstream receive queues took during the run (warm-up included),
    /// by queue: how the flows were spread.
    pub per_queue: Vec<u64>,
}

/// Runs every path on one and on two CPUs in each round, calling `progress` after each window
/// (with its round); returns the best window of each configuration.
pub fn run(settings: &Settings, mut progress: impl FnMut(&Scale, u32)) -> Result<Vec<Scale>> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < GROUPS.len() {
        bail!(
            "the scaling runs need {} CPUs, this machine has {cpus}",
            GROUPS.len()
        );
    }
    let lab = Lab::star_queues(1, QUEUES).context("building the lab with two queues")?;
    lab.run(Host::Router, &["ethtool", "-K", UPSTREAM, "gro", "on"])?;
    lab.steer_tx_queues_by_cpu(Host::Router, &Lab::router_iface(Host::Receiver(1)))?;
    let receivers = attach_counters(&lab)?;
    let source_mac = lab.mac(Host::Source, "eth0")?;
    let source = Lab::address_of(Host::Source);
    let frames: Vec<Vec<u8>> = GROUPS
        .iter()
        .map(|group| frame::multicast_udp(settings.size, source_mac, source, *group, frame::TTL))
        .collect();
    let mut best: BTreeMap<(Path, usize), Scale> = BTreeMap::new();
    for round in 1..=settings.rounds {
        for &path in &settings.paths {
            let installed = Installed::new_for(&lab, path, Family::V4, &GROUPS)?;
            for cpus in 1..=GROUPS.len() {
                let queued = lab.rx_queue_xdp_packets(Host::Router, UPSTREAM)?;
                let (delivered_pps, offered_pps) =
                    measure(&lab, &receivers, &installed, &frames[..cpus], settings)?;
                let per_queue = lab
                    .rx_queue_xdp_packets(Host::Router, UPSTREAM)?
                    .iter()
                    .zip(&queued)
                    .map(|(after, before)| after.saturating_sub(*before))
                    .collect();
                let run = Scale {
                    path,
                    cpus,
                    size: frames[0].len(),
                    delivered_pps,
                    offered_pps,
                    per_queue,
                };
                progress(&run, round);
                if best
                    .get(&(path, cpus))
                    .is_none_or(|kept| kept.delivered_pps < run.delivered_pps)
                {
                    best.insert((path, cpus), run);
                }
            }
        }
    }
    Ok(best.into_values().collect())
}

/// Sends `frames[i]` from a generator pinned to CPU `i`, for every `i`, and returns the frames
/// per second the receivers got (the drop ceiling: the router took) and the generators offered.
fn measure(
    lab: &Lab,
    receivers: &[BenchObject],
    installed: &Installed,
    frames: &[Vec<u8>],
    settings: &Settings,
) -> Result<(f64, f64)> {
    let source_ns = lab.ns(Host::Source);
    let duration = settings.warmup + settings.window + Duration::from_millis(200);
    // The counters are read by a thread of a higher real-time priority than the generators',
    // so that their CPUs do not keep it from reading them on time.
    let counted = || -> Result<(Instant, u64)> {
        let count = match installed.router_count()? {
            Some(count) => count,
            None => receivers
                .iter()
                .map(BenchObject::counted)
                .sum::<Result<u64>>()?,
        };
        Ok((Instant::now(), count))
    };
    std::thread::scope(|scope| -> Result<(f64, f64)> {
        let generators: Vec<_> = frames
            .iter()
            .enumerate()
            .map(|(cpu, frame)| {
                let generator = Generator {
                    frame: frame.clone(),
                    duration,
                    rate: None,
                    cpu: Some(cpu),
                    real_time: true,
                    batch: settings.batch,
                    // One call for the whole run (see `generator`).
                    call_target: duration,
                };
                let source_ns = &source_ns;
                scope.spawn(move || {
                    enter_ns(source_ns)?;
                    generator.run("eth0")
                })
            })
            .collect();
        let window = scope.spawn(|| -> Result<_> {
            real_time(GENERATOR_PRIORITY + 10)?;
            std::thread::sleep(settings.warmup);
            let before = counted()?;
            std::thread::sleep(settings.window);
            Ok((before, counted()?))
        });
        let mut offered_pps = 0.0;
        for generator in generators {
            let generated = generator
                .join()
                .map_err(|_| anyhow!("a generator thread panicked"))??;
            offered_pps += generated.frames as f64 / generated.elapsed.as_secs_f64();
        }
        let ((t0, n0), (t1, n1)) = window
            .join()
            .map_err(|_| anyhow!("the counting thread panicked"))??;
        let delivered_pps = n1.saturating_sub(n0) as f64 / t1.duration_since(t0).as_secs_f64();
        Ok((delivered_pps, offered_pps))
    })
}

/// Rate on two CPUs over the rate on one, of `path`.
fn ratio(runs: &[Scale], path: Path) -> Option<f64> {
    let rate = |cpus: usize| {
        runs.iter()
            .find(|r| r.path == path && r.cpus == cpus)
            .map(|r| r.delivered_pps)
    };
    Some(rate(2)? / rate(1)?)
}

/// The scaling target's row (target, measured, met), if mgm was measured.
pub fn target(runs: &[Scale]) -> Option<(String, String, bool)> {
    let mgm = ratio(runs, Path::Mgm)?;
    let kernel = ratio(runs, Path::Kernel).map_or(String::new(), |k| format!(" (kernel {k:.2}×)"));
    Some((
        format!("mgm ≥ {TARGET_RATIO}× pps from 1 to 2 CPUs (2 receive queues)"),
        format!("{mgm:.2}×{kernel}"),
        mgm >= TARGET_RATIO,
    ))
}

/// The scaling runs as a Markdown table.
pub fn table(runs: &[Scale]) -> String {
    let size = runs.first().map_or(0, |r| r.size);
    let mut md = format!(
        "Scaling over CPUs ({QUEUES} receive queues, one flow and one pinned generator per CPU, \
         {size}-byte frames, fan-out 1; frames per second the receiver got, k):\n\n\
         | path | 1 CPU | 2 CPUs | 2 CPUs / 1 CPU |\n|---|---|---|---|\n"
    );
    let mut paths: Vec<Path> = runs.iter().map(|r| r.path).collect();
    paths.dedup();
    for path in paths {
        let kpps = |cpus: usize| {
            runs.iter()
                .find(|r| r.path == path && r.cpus == cpus)
                .map_or("-".to_owned(), |r| format!("{:.0}", r.delivered_pps / 1e3))
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            path.label(),
            kpps(1),
            kpps(2),
            ratio(runs, path).map_or("-".to_owned(), |r| format!("{r:.2}"))
        );
    }
    md
}
