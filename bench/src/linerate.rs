//! Line-rate runs: the live-frames generator floods the lab's source link with one multicast
//! flow, the router forwards it by one of the [`Path`]s, and every receiver counts what arrives
//! with an XDP count-and-drop program. Rates are measured over a window after a warm-up.
//! The generator runs pinned under `SCHED_FIFO` (as the scale runs' generators do), the thread
//! reading the window's counters above it: nice −20 ranks a thread only within its session's
//! autogroup, so other sessions' work on the machine took its CPU from it.
//!
//! IPv4 and IPv6 are swept in the same labs: a lab that has IPv6 runs is dual-stack, and the
//! configurations of both families take turns in each of its rounds.
//!
//! On a machine shared with other work, a window can lose the CPU to it and read low. Each
//! configuration is therefore measured in several rounds, the paths taking turns within a
//! round (in reverse order every other round, [`in_turn_order`]), and the best window of each
//! is kept: the closest to what the path does on a CPU of
//! its own. Every round's rate is kept too ([`Run::round_pps`]): two paths are compared by the
//! median of their per-round ratios (`report::paired_ratio`), which a window that lost the CPU
//! moves less than it moves one path's best.
use crate::{
    frame::{self, Family},
    generator::{real_time, Generated, Generator, CALL_TARGET, GENERATOR_PRIORITY},
    paths::{Installed, Path, UPSTREAM},
    programs::{BenchObject, COUNT},
};
use anyhow::{anyhow, Context as _, Result};
use mgm_user::lab::{enter_ns, Host, Lab, Stack};
use serde::Serialize;
use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

/// The configurations of one IP version.
#[derive(Clone, Debug)]
pub struct Sweep {
    /// The traffic's IP version.
    pub family: Family,
    /// Receivers per lab.
    pub fan_outs: Vec<u8>,
    /// Paths compared (each must carry the family).
    pub paths: Vec<Path>,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The sweeps, one per IP version measured.
    pub sweeps: Vec<Sweep>,
    /// Frame lengths (bytes, without FCS), for every sweep.
    pub sizes: Vec<usize>,
    /// Traffic before the measurement window.
    pub warmup: Duration,
    /// The measurement window.
    pub window: Duration,
    /// CPU of the generator (`None`: not pinned).
    pub cpu: Option<usize>,
    /// Frames per kernel batch of the generator.
    pub batch: u32,
    /// Rounds per configuration (the best is kept).
    pub rounds: u32,
    /// Frames per second the generator offers at most (`None`: as many as the path takes).
    pub rate: Option<f64>,
}

/// One measured configuration.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The traffic's IP version.
    pub family: Family,
    /// The path under test.
    pub path: Path,
    /// Receivers.
    pub fan_out: u8,
    /// Frame length (bytes, without FCS).
    pub size: usize,
    /// Frames per second the generator offered to the source link (sent and dropped).
    pub offered_pps: f64,
    /// Frames per second the source link delivered to the router.
    pub accepted_pps: f64,
    /// Frames per second each receiver got, on average (for the drop ceiling: frames per second
    /// the router's program took).
    pub delivered_pps: f64,
    /// The slowest receiver's frames per second.
    pub min_receiver_pps: f64,
    /// Copies per second out of the router, all receivers together.
    pub copies_pps: f64,
    /// `1 - delivered / offered`.
    pub loss: f64,
    /// The generator's own rate over its whole run.
    pub generator_pps: f64,
    /// `delivered_pps` of every round, in round order (the run above is the best of them).
    pub round_pps: Vec<f64>,
}

/// Runs every configuration of `settings`, calling `progress` after each window (with its
/// round); returns the best window of each configuration.
pub fn run(settings: &Settings, mut progress: impl FnMut(&Run, u32)) -> Result<Vec<Run>> {
    let mut best: BTreeMap<(Family, u8, Path, usize), Run> = BTreeMap::new();
    let mut fan_outs: Vec<u8> = settings
        .sweeps
        .iter()
        .flat_map(|sweep| sweep.fan_outs.iter().copied())
        .collect();
    fan_outs.sort_unstable();
    fan_outs.dedup();
    for fan_out in fan_outs {
        let turns: Vec<(Family, Path)> = settings
            .sweeps
            .iter()
            .filter(|sweep| sweep.fan_outs.contains(&fan_out))
            .flat_map(|sweep| sweep.paths.iter().map(|path| (sweep.family, *path)))
            .collect();
        let stack = if turns.iter().any(|(family, _)| *family == Family::V6) {
            Stack::Dual
        } else {
            Stack::V4
        };
        let lab = Lab::star_with(fan_out, stack).context("building the lab")?;
        lab.run(Host::Router, &["ethtool", "-K", UPSTREAM, "gro", "on"])?;
        let receivers = attach_counters(&lab)?;
        let source_mac = lab.mac(Host::Source, "eth0")?;
        for (round, &(family, path)) in (1..=settings.rounds).flat_map(|round| {
            in_turn_order(&turns, round)
                .into_iter()
                .map(move |turn| (round, turn))
        }) {
            let installed = Installed::new(&lab, path, family)?;
            for &size in &settings.sizes {
                let generator = Generator {
                    frame: frame::line_rate(family, size, source_mac),
                    duration: settings.warmup + settings.window + Duration::from_millis(200),
                    rate: settings.rate,
                    cpu: settings.cpu,
                    real_time: true,
                    batch: settings.batch,
                    call_target: CALL_TARGET,
                };
                let run = measure(
                    &lab,
                    &receivers,
                    &installed,
                    (family, path),
                    &generator,
                    settings,
                )?;
                let label = path.label_in(family);
                let account = installed
                    .check()
                    .with_context(|| format!("{label} at fan-out {fan_out}"))?;
                if let Some(account) = account {
                    eprintln!("{label} (fan-out {fan_out}): {account}");
                }
                progress(&run, round);
                let key = (family, fan_out, path, size);
                let mut rounds = best
                    .get(&key)
                    .map(|kept| kept.round_pps.clone())
                    .unwrap_or_default();
                rounds.push(run.delivered_pps);
                if best
                    .get(&key)
                    .is_none_or(|kept| kept.delivered_pps < run.delivered_pps)
                {
                    best.insert(key, run);
                }
                if let Some(kept) = best.get_mut(&key) {
                    kept.round_pps = rounds;
                }
            }
        }
    }
    Ok(best.into_values().collect())
}

/// The turns of round `round` (from 1): in the given order in odd rounds, reversed in even
/// ones. What a path leaves behind when it is torn down (maps and programs the kernel frees
/// after an RCU grace period, on the CPUs the next path is measured on) falls on the path
/// after it; alternating the order spreads that over the paths instead of always charging
/// the same one.
fn in_turn_order<T>(turns: &[T], round: u32) -> Vec<&T> {
    if round % 2 == 1 {
        turns.iter().collect()
    } else {
        turns.iter().rev().collect()
    }
}

/// Attaches a counting program to every receiver's `eth0`.
pub fn attach_counters(lab: &Lab) -> Result<Vec<BenchObject>> {
    (1..=lab.receivers())
        .map(|n| {
            lab.in_ns(Host::Receiver(n), || -> Result<BenchObject> {
                let mut object = BenchObject::load()?;
                object.attach(COUNT, "eth0")?;
                Ok(object)
            })?
        })
        .collect()
}

/// Counters read at one instant.
struct Snapshot {
    at: Instant,
    receivers: Vec<u64>,
    router: Option<u64>,
    tx_packets: u64,
    tx_dropped: u64,
}

fn snapshot(lab: &Lab, receivers: &[BenchObject], installed: &Installed) -> Result<Snapshot> {
    let (tx_packets, tx_dropped) = lab.in_ns(Host::Source, || tx_counters("eth0"))??;
    let at = Instant::now();
    let receivers = receivers
        .iter()
        .map(BenchObject::counted)
        .collect::<Result<Vec<_>>>()?;
    Ok(Snapshot {
        at,
        receivers,
        router: installed.router_count()?,
        tx_packets,
        tx_dropped,
    })
}

fn measure(
    lab: &Lab,
    receivers: &[BenchObject],
    installed: &Installed,
    (family, path): (Family, Path),
    generator: &Generator,
    settings: &Settings,
) -> Result<Run> {
    let source_ns = lab.ns(Host::Source);
    let (before, after, generated) = std::thread::scope(|scope| -> Result<_> {
        let sender = scope.spawn(|| -> Result<Generated> {
            enter_ns(&source_ns)?;
            generator.run("eth0")
        });
        // Above the generator's priority when it runs real-time, as the scale runs do: the
        // window's ends are read when due, not when a busy machine gets round to them.
        let window = scope.spawn(|| -> Result<_> {
            if generator.real_time && generator.cpu.is_some() {
                real_time(GENERATOR_PRIORITY + 10)?;
            }
            std::thread::sleep(settings.warmup);
            let before = snapshot(lab, receivers, installed);
            std::thread::sleep(settings.window);
            Ok((before, snapshot(lab, receivers, installed)))
        });
        let generated = sender
            .join()
            .map_err(|_| anyhow!("the generator thread panicked"))??;
        let (before, after) = window
            .join()
            .map_err(|_| anyhow!("the window thread panicked"))??;
        Ok((before?, after?, generated))
    })?;
    let seconds = after.at.duration_since(before.at).as_secs_f64();
    let rate = |a: u64, b: u64| b.saturating_sub(a) as f64 / seconds;
    let per_receiver: Vec<f64> = before
        .receivers
        .iter()
        .zip(&after.receivers)
        .map(|(a, b)| rate(*a, *b))
        .collect();
    let copies_pps: f64 = per_receiver.iter().sum();
    let offered_pps = rate(
        before.tx_packets + before.tx_dropped,
        after.tx_packets + after.tx_dropped,
    );
    let (delivered_pps, min_receiver_pps) = match (before.router, after.router) {
        (Some(a), Some(b)) => (rate(a, b), rate(a, b)),
        _ => (
            copies_pps / per_receiver.len().max(1) as f64,
            per_receiver.iter().copied().fold(f64::INFINITY, f64::min),
        ),
    };
    Ok(Run {
        family,
        path,
        fan_out: lab.receivers(),
        size: generator.frame.len(),
        offered_pps,
        accepted_pps: rate(before.tx_packets, after.tx_packets),
        delivered_pps,
        min_receiver_pps,
        copies_pps,
        loss: if offered_pps > 0.0 {
            (1.0 - delivered_pps / offered_pps).max(0.0)
        } else {
            1.0
        },
        generator_pps: generated.frames as f64 / generated.elapsed.as_secs_f64(),
        round_pps: Vec::new(),
    })
}

/// Transmitted and dropped-on-transmit packets of `iface` in the calling thread's network
/// namespace (`/proc/thread-self/net/dev` shows the thread's namespace; a veth counts frames
/// redirected into it by XDP there too).
fn tx_counters(iface: &str) -> Result<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/thread-self/net/dev")?;
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(&format!("{iface}:")))
        .ok_or_else(|| anyhow!("{iface} not in /proc/net/dev"))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    match (fields.get(9), fields.get(11)) {
        (Some(packets), Some(dropped)) => Ok((*packets, *dropped)),
        _ => Err(anyhow!("short /proc/net/dev line for {iface}")),
    }
}

#[cfg(test)]
mod tests {
    use super::in_turn_order;

    #[test]
    fn every_other_round_takes_the_turns_in_reverse() {
        let turns = ["mgm", "mirror", "broadcast"];
        assert_eq!(in_turn_order(&turns, 1), [&"mgm", &"mirror", &"broadcast"]);
        assert_eq!(in_turn_order(&turns, 2), [&"broadcast", &"mirror", &"mgm"]);
        assert_eq!(in_turn_order(&turns, 3), in_turn_order(&turns, 1));
    }
}
