//! `bench`: mgm's benchmarks, run by `cargo xtask bench [--quick]` (root needed: they build
//! network namespaces and load XDP programs). Line rate of mgm's XDP forwarder and of its
//! mirror of the kernel's routes against the kernel's ipmr and two ceilings (IPv6: against
//! ip6mr and the broadcast ceiling, in the same labs), per-packet cost, and end-to-end latency;
//! results go to `bench/results/` as Markdown, JSON and SVG.
mod first_packet;
mod frame;
mod generator;
mod jumbo;
mod latency;
mod linerate;
mod load;
mod mgm_router;
mod mgmd;
mod micro;
mod mirror;
mod paths;
mod plot;
mod programs;
mod report;
mod scale;
mod tail;

use anyhow::{bail, Result};
use clap::{Parser, ValueEnum};
use frame::Family;
use paths::Path;
use std::{path::PathBuf, time::Duration};

/// The parts of the benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Part {
    /// Line-rate runs against the kernel and the ceilings.
    LineRate,
    /// IPv6 line-rate runs against the kernel's ip6mr and the broadcast ceiling (in the same
    /// labs as the IPv4 runs when both are measured).
    LineRate6,
    /// Per-packet cost with BPF_PROG_TEST_RUN.
    Micro,
    /// End-to-end latency.
    Latency,
    /// Miss to first forwarded packet of new flows.
    FirstPacket,
    /// Line rate on one and on two CPUs (two receive queues, a flow per CPU).
    Scale,
    /// Jumbo frames (8000-byte packets, 9000-byte MTU) against the kernel at fan-out 1 and 4
    /// (or `--fan-outs`).
    Jumbo,
}

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "mgm benchmarks against the kernel's multicast routing")]
struct Cli {
    /// Short smoke run: fan-out 1 and 4 (IPv4 and IPv6), 64-byte frames, short windows, fewer
    /// samples.
    #[arg(long)]
    quick: bool,
    /// Parts to run (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Option<Vec<Part>>,
    /// Fan-outs (receivers) of the line-rate runs, IPv4 and IPv6 (default: 1, 2, 4, 8 and 16
    /// for IPv4, 1, 4 and 8 for IPv6).
    #[arg(long, value_delimiter = ',')]
    fan_outs: Option<Vec<u8>>,
    /// Frame lengths in bytes (without FCS) of the line-rate runs.
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Paths compared in the line-rate runs (IPv6: those of them that carry it; default mgm,
    /// kernel and broadcast).
    #[arg(long, value_delimiter = ',')]
    paths: Option<Vec<Path>>,
    /// Seconds of each line-rate measurement window.
    #[arg(long)]
    window: Option<f64>,
    /// Frames per second the line-rate generator offers at most (default: as many as the path
    /// takes); above a path's capacity the excess shows as loss.
    #[arg(long)]
    rate: Option<f64>,
    /// Rounds of every line-rate configuration (the best window is reported; ratios are the
    /// median of per-round ratios).
    #[arg(long)]
    rounds: Option<u32>,
    /// CPU the generator is pinned to (-1: not pinned). Pinned, the generator, the router and
    /// the receivers all run on that CPU (veth hands frames over in the sender's softirq), so
    /// a rate is the inverse of the whole path's cost per frame.
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    cpu: i64,
    /// Datagrams per second of the latency runs.
    #[arg(long, default_value_t = 10_000.0)]
    latency_rate: f64,
    /// Measure latency and miss-to-first-packet a second time with a CPU hog on every core
    /// at normal priority (started before and stopped after those runs).
    #[arg(long)]
    background_load: bool,
    /// New flows of the miss-to-first-packet runs.
    #[arg(long)]
    flows: Option<u32>,
    /// Where the results go.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/results"))]
    out: PathBuf,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if !mgm_user::lab::is_root() {
        bail!("the benchmarks need root (network namespaces, XDP)");
    }
    let quick = cli.quick;
    let wanted = |part: Part| cli.only.as_ref().is_none_or(|only| only.contains(&part));
    let all_paths = vec![
        Path::Mgm,
        Path::Mirror,
        Path::Kernel,
        Path::Tc,
        Path::Broadcast,
        Path::Drop,
    ];
    let mut sweeps = Vec::new();
    if wanted(Part::LineRate) {
        sweeps.push(linerate::Sweep {
            family: Family::V4,
            fan_outs: cli.fan_outs.clone().unwrap_or_else(|| {
                if quick {
                    vec![1, 4]
                } else {
                    vec![1, 2, 4, 8, 16]
                }
            }),
            paths: cli.paths.clone().unwrap_or_else(|| all_paths.clone()),
        });
    }
    if wanted(Part::LineRate6) {
        sweeps.push(linerate::Sweep {
            family: Family::V6,
            fan_outs: cli.fan_outs.clone().unwrap_or_else(|| {
                if quick {
                    vec![1, 4]
                } else {
                    vec![1, 4, 8]
                }
            }),
            paths: cli.paths.clone().map_or_else(
                || vec![Path::Mgm, Path::Kernel, Path::Broadcast],
                |paths| {
                    paths
                        .into_iter()
                        .filter(|path| path.carries(Family::V6))
                        .collect()
                },
            ),
        });
    }
    let settings = linerate::Settings {
        sweeps,
        sizes: cli
            .sizes
            .clone()
            .unwrap_or_else(|| if quick { vec![64] } else { vec![64, 1500] }),
        warmup: Duration::from_millis(300),
        window: Duration::from_secs_f64(cli.window.unwrap_or(if quick { 0.7 } else { 1.5 })),
        cpu: usize::try_from(cli.cpu).ok(),
        batch: 64,
        rounds: cli.rounds.unwrap_or(if quick { 2 } else { 3 }),
        rate: cli.rate,
    };
    let method = format!(
        "Line rate: BPF_PROG_RUN live frames ({}-frame batches{}) sent out of the source's veth{}; \
         the router forwards by each path in turn; every receiver counts and drops with XDP. \
         {:.1} s warm-up, {:.1} s window, best of {} rounds with the paths taking turns (in \
         reverse order every other round). Figures are frames per second per receiver (the \
         drop ceiling: frames per second the router took); ratios are the median of the two \
         paths' per-round ratios.{}",
        settings.batch,
        settings
            .rate
            .map_or(String::new(), |rate| format!(", at most {rate:.0} per second")),
        settings.cpu.map_or(String::new(), |cpu| format!(
            ", generator pinned to CPU {cpu}"
        )),
        settings.warmup.as_secs_f64(),
        settings.window.as_secs_f64(),
        settings.rounds,
        if wanted(Part::LineRate6) {
            format!(
                " IPv6 runs share the labs (dual-stack) and rounds of the IPv4 runs at their \
                 fan-outs: UDP from {} to {}, mgm with one (S,G) entry installed as mgmd does, \
                 the kernel with one ip6mr entry (MRT6_ADD_MFC).",
                frame::SOURCE6,
                frame::GROUP6
            )
        } else {
            String::new()
        }
    );
    let line_rate = if settings.sweeps.is_empty() {
        Vec::new()
    } else {
        linerate::run(&settings, |run, round| {
            eprintln!(
                "line rate (round {round}): fan-out {:>2}, {:>4} B, {:<22} offered {:>6.0} kpps, {:>6.0} kpps per receiver (slowest {:.0}), loss {:>5.1} %",
                run.fan_out,
                run.size,
                run.path.label_in(run.family),
                run.offered_pps / 1e3,
                run.delivered_pps / 1e3,
                run.min_receiver_pps / 1e3,
                run.loss * 100.0
            )
        })?
    };
    let micro = if wanted(Part::Micro) {
        let scaling: &[usize] = if quick {
            &[1_000, 10_000]
        } else {
            &[1_000, 10_000, 100_000, 1_000_000]
        };
        micro::run(if quick { 30 } else { 100 }, scaling)?
    } else {
        Vec::new()
    };
    let scale = if wanted(Part::Scale) {
        let settings = scale::Settings {
            paths: cli
                .paths
                .clone()
                .unwrap_or_else(|| vec![Path::Mgm, Path::Kernel]),
            size: settings.sizes.first().copied().unwrap_or(64),
            // Time for both generators to be inside their one test-run call (`generator`).
            warmup: Duration::from_secs(1),
            window: settings.window,
            rounds: settings.rounds,
            batch: settings.batch,
        };
        scale::run(&settings, |run, round| {
            eprintln!(
                "scale (round {round}): {:<18} {} CPU(s) offered {:>6.0} kpps, delivered {:>6.0} kpps, frames by receive queue {:?}",
                run.path.label(),
                run.cpus,
                run.offered_pps / 1e3,
                run.delivered_pps / 1e3,
                run.per_queue
            )
        })?
    } else {
        Vec::new()
    };
    let latency = if wanted(Part::Latency) {
        let duration = Duration::from_secs(if quick { 1 } else { 3 });
        let runs = load::idle_then_loaded(cli.background_load, |load| {
            latency::run(&[Path::Mgm, Path::Kernel], cli.latency_rate, duration, load)
        })?;
        for l in &runs {
            eprintln!("latency: {}", l.row());
        }
        runs
    } else {
        Vec::new()
    };
    let first_packet = if wanted(Part::FirstPacket) {
        let flows = cli.flows.unwrap_or(if quick { 50 } else { 500 });
        let runs = load::idle_then_loaded(cli.background_load, |load| {
            first_packet::run(&[Path::Mgm, Path::Kernel], flows, load)
        })?;
        for f in &runs {
            eprintln!("first packet: {}", f.row());
        }
        runs
    } else {
        Vec::new()
    };
    let jumbo = if wanted(Part::Jumbo) {
        let fan_outs = cli.fan_outs.clone().unwrap_or_else(|| vec![1, 4]);
        let window = Duration::from_secs_f64(cli.window.unwrap_or(if quick { 0.7 } else { 1.5 }));
        let rounds = cli.rounds.unwrap_or(if quick { 2 } else { 3 });
        jumbo::run(&fan_outs, window, rounds, |run| {
            eprintln!(
                "jumbo: {:<12} fan-out {:>2}, offered {:>6.1} kpps, {:>6.1} kpps per receiver (slowest {:.1})",
                run.path.label(),
                run.fan_out,
                run.offered_pps / 1e3,
                run.delivered_pps / 1e3,
                run.min_receiver_pps / 1e3
            )
        })?
    } else {
        Vec::new()
    };
    let report = report::Report {
        machine: report::Machine::describe(),
        quick,
        method,
        line_rate,
        micro,
        scale,
        latency,
        first_packet,
        jumbo,
    };
    let markdown = report.write(&cli.out)?;
    println!("{markdown}");
    eprintln!("results written to {}", cli.out.display());
    Ok(())
}
