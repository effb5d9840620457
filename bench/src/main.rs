//! `bench`: mgm's benchmarks, run by `cargo xtask bench [--quick]` (root needed: they build
//! network namespaces and load XDP programs).
mod frame;
mod generator;
mod linerate;
mod paths;
mod programs;

use anyhow::{bail, Result};
use clap::Parser;
use paths::Path;
use std::time::Duration;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "mgm benchmarks against the kernel's multicast routing")]
struct Cli {
    /// Short smoke run (fan-out 1 and 4, 64-byte frames, short windows).
    #[arg(long)]
    quick: bool,
    /// Fan-outs (receivers) of the line-rate runs.
    #[arg(long, value_delimiter = ',')]
    fan_outs: Option<Vec<u8>>,
    /// Frame lengths in bytes (without FCS) of the line-rate runs.
    #[arg(long, value_delimiter = ',')]
    sizes: Option<Vec<usize>>,
    /// Paths compared in the line-rate runs.
    #[arg(long, value_delimiter = ',')]
    paths: Option<Vec<Path>>,
    /// Seconds of each measurement window.
    #[arg(long)]
    window: Option<f64>,
    /// CPU the generator is pinned to (-1: not pinned).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    cpu: i64,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    if !mgm_user::lab::is_root() {
        bail!("the benchmarks need root (network namespaces, XDP)");
    }
    let quick = cli.quick;
    let settings = linerate::Settings {
        fan_outs: cli.fan_outs.unwrap_or_else(|| {
            if quick {
                vec![1, 4]
            } else {
                vec![1, 2, 4, 8, 16]
            }
        }),
        sizes: cli
            .sizes
            .unwrap_or_else(|| if quick { vec![64] } else { vec![64, 1500] }),
        paths: cli
            .paths
            .unwrap_or_else(|| vec![Path::Kernel, Path::Broadcast, Path::Drop]),
        warmup: Duration::from_millis(if quick { 300 } else { 500 }),
        window: Duration::from_secs_f64(cli.window.unwrap_or(if quick { 1.0 } else { 2.0 })),
        cpu: usize::try_from(cli.cpu).ok(),
        batch: 64,
    };
    let runs = linerate::run(&settings, |run| {
        eprintln!(
            "line rate: fan-out {:>2}, {:>4} B, {:<18} offered {:>6.0} kpps, delivered {:>6.0} kpps per receiver (min {:.0}), loss {:>5.1} %",
            run.fan_out,
            run.size,
            run.path.label(),
            run.offered_pps / 1e3,
            run.delivered_pps / 1e3,
            run.min_receiver_pps / 1e3,
            run.loss * 100.0
        )
    })?;
    println!("{}", serde_json::to_string_pretty(&runs)?);
    Ok(())
}
