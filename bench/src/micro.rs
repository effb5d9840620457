//! Per-packet cost of mgm's ingress program, without traffic: BPF_PROG_TEST_RUN with repeat runs
//! the program on one frame many times and the kernel reports the mean time per run. Every case
//! is measured next to the parse-only program (`bench_parse`: the header validation any
//! forwarder does before its lookup) on the same frame, calls alternating, so that the ratio is
//! immune to drifts of the machine.
//!
//! What is reported is the steady-state cost of one more packet: each measurement is a pair of
//! calls, [`SHORT`] and [`LONG`] runs, and the cost per packet is the difference of their total
//! times over the difference of their runs, averaged over the middle half of many pairs. A
//! call's first runs are cold (the kernel patches the XDP dispatcher before each call, and caches
//! and branch predictors start cold): on the 2-vCPU test VM that costs a few microseconds per
//! call, the more the larger the program, which a mean over the 200 runs one call allows added
//! to every packet (~8 ns to an empty program, ~26 ns to one with a hash lookup, more to mgm's).
//! The difference cancels it on average, for both programs alike; where a run costs a few ns
//! and the cold start varies by more than 200 runs cost, the figures scatter (README,
//! Performance). The kernel's own loop around each run (bottom halves, the redirect context,
//! the timer; ~31 ns on that VM) stays in both columns; an empty program (`bench_empty`)
//! measured beside them on the same frame shows how much it is.
//!
//! The program rewrites the frame it forwards, and a repeated run sees its own rewrite: hit frames
//! start with TTL 255, so that [`LONG`] runs stay above TTL 1. A hit is counted up to the
//! redirect call: without live frames the kernel does not replicate (nor run the egress
//! program), so fan-out changes only what precedes it. A hit on a mirrored entry (issue 12) is
//! measured beside the plain one: the difference is the cost of the sample pass. IPv6 hits are
//! measured beside IPv4's (the parse-only program parses IPv4 only, so its time on an IPv6 frame is
//! a floor, not a like-for-like baseline).
use crate::{
    frame::{multicast_udp, multicast_udp6, GROUP, GROUP6, SOURCE6},
    mgm_router::{receiver_interfaces, MgmRouter},
    paths::UPSTREAM,
    programs::{BenchObject, EMPTY, PARSE},
};
use anyhow::{bail, Context as _, Result};
use aya::programs::{TestRun, TestRunOptions, Xdp};
use mgm_common::{limits, Sg6Key, SgKey};
use mgm_user::lab::{Host, Lab};
use serde::Serialize;
use std::{fmt::Write as _, net::Ipv4Addr};

/// The case of a hit on a mirrored entry (fan-out 1).
const MIRRORED_HIT: &str = "mirrored hit, fan-out 1";
/// The plain hit it is compared with.
const PLAIN_HIT: &str = "hit, fan-out 1";

/// Runs of the short call of a measurement.
const SHORT: u32 = 50;
/// Runs of the long call (below the 254 TTL decrements a hit frame allows).
const LONG: u32 = 250;
/// Receivers of the lab (the largest fan-out measured).
const MAX_FAN_OUT: u8 = 16;

/// One measured case.
#[derive(Clone, Debug, Serialize)]
pub struct Micro {
    /// What the frame meets.
    pub case: String,
    /// Entries installed when measured.
    pub entries: usize,
    /// mgm's ingress program, ns per packet.
    pub mgm_ns: f64,
    /// The parse-only program on the same frame, ns per packet.
    pub parse_only_ns: f64,
    /// A program that does nothing on the same frame, ns per packet: the part of both columns
    /// that is the kernel's test-run loop.
    pub empty_ns: f64,
    /// The program's verdict (XDP action number).
    pub verdict: u32,
}

/// Measures the cases with `calls` test-run calls per program and case; `scaling` lists the
/// table sizes of the scaling runs (sizes above the data plane's entry limit are skipped).
pub fn run(calls: u32, scaling: &[usize]) -> Result<Vec<Micro>> {
    let lab = Lab::star(MAX_FAN_OUT).context("building the micro-benchmark lab")?;
    let receivers = receiver_interfaces(&lab)?;
    let source = Lab::address_of(Host::Source);
    let upstream_mac = lab.mac(Host::Router, UPSTREAM)?;
    lab.in_ns(Host::Router, || -> Result<Vec<Micro>> {
        let mut router = MgmRouter::load(UPSTREAM, &receivers, false)?;
        let mut parse = BenchObject::load()?;
        parse.program(PARSE)?;
        parse.program(EMPTY)?;
        let mut bench = Bench {
            parse,
            calls,
            results: Vec::new(),
        };
        let upstream = router.upstream;
        let hit = multicast_udp(64, [2, 0, 0, 0, 0, 1], source, GROUP, 255);
        for fan_out in [1, 4, 16] {
            router.install(SgKey::new(source, GROUP), fan_out)?;
            bench.case(
                &mut router,
                &format!("hit, fan-out {fan_out}"),
                1,
                &hit,
                upstream,
            )?;
            if fan_out == 1 {
                bench.mirrored_hit(&mut router, upstream_mac, &hit)?;
            }
        }
        // IPv6 (the parse-only program does not parse it: its column is a floor only).
        let hit6 = multicast_udp6(64, [2, 0, 0, 0, 0, 1], SOURCE6, GROUP6, 255);
        for fan_out in [1, 4, 16] {
            router.install6(Sg6Key::new(SOURCE6, GROUP6), fan_out)?;
            let case = format!("IPv6 hit, fan-out {fan_out}");
            bench.case(&mut router, &case, 1, &hit6, upstream)?;
        }
        let receiver = router.oifs[0];
        bench.case(&mut router, "wrong interface", 1, &hit, receiver)?;
        let stranger = Ipv4Addr::new(10, 0, 0, 2);
        let miss = multicast_udp(64, [2, 0, 0, 0, 0, 1], stranger, GROUP, 255);
        bench.case(&mut router, "miss", 1, &miss, upstream)?;
        let unicast = Lab::address_of(Host::Receiver(1));
        let not_multicast = multicast_udp(64, [2, 0, 0, 0, 0, 1], source, unicast, 255);
        bench.case(&mut router, "not multicast", 1, &not_multicast, upstream)?;
        let mut installed = 1;
        for &entries in scaling {
            if entries > limits::MFES as usize {
                eprintln!(
                    "micro: {entries} entries skipped: the data plane holds at most {}",
                    limits::MFES
                );
                continue;
            }
            let start = std::time::Instant::now();
            let added = entries - installed;
            while installed < entries {
                router.install(SgKey::new(nth_source(installed), GROUP), 1)?;
                installed += 1;
            }
            eprintln!(
                "micro: {added} entries installed through the backend in {:.2} s",
                start.elapsed().as_secs_f64()
            );
            let frame = multicast_udp(64, [2, 0, 0, 0, 0, 1], nth_source(entries / 2), GROUP, 255);
            bench.case(&mut router, "hit, fan-out 1", entries, &frame, upstream)?;
        }
        Ok(bench.results)
    })?
}

/// The source address of the `n`th scaling entry (10.64.0.0 upwards, away from the lab's).
fn nth_source(n: usize) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 64, 0, 0)) + n as u32)
}

struct Bench {
    parse: BenchObject,
    calls: u32,
    results: Vec<Micro>,
}

impl Bench {
    /// Measures the hit on the installed entry once more with the interfaces mirrored (the
    /// entry then also checks the heartbeat and whether its sample is due), and checks that it
    /// still forwards; the interfaces are plain again afterwards.
    fn mirrored_hit(
        &mut self,
        router: &mut MgmRouter,
        upstream_mac: [u8; 6],
        frame: &[u8],
    ) -> Result<()> {
        let plain = self.results.last().map(|m| m.verdict);
        router.mirror(upstream_mac)?;
        let upstream = router.upstream;
        let measured = self.case(router, MIRRORED_HIT, 1, frame, upstream);
        router.unmirror(upstream_mac)?;
        measured?;
        let mirrored = self.results.last().map(|m| m.verdict);
        if mirrored != plain {
            bail!("a mirrored hit's verdict {mirrored:?} differs from the plain hit's {plain:?}");
        }
        Ok(())
    }

    /// Measures `frame` arriving on `ingress`, mgm's program and the parse-only one alternating.
    fn case(
        &mut self,
        router: &mut MgmRouter,
        case: &str,
        entries: usize,
        frame: &[u8],
        ingress: u32,
    ) -> Result<()> {
        let context = xdp_md(frame.len(), ingress);
        let (mut mgm_ns, mut parse_ns, mut empty_ns, mut verdict) =
            (Vec::new(), Vec::new(), Vec::new(), 0);
        for _ in 0..self.calls.max(1) {
            // Fresh, as mgmd keeps it: a mirrored entry forwards in XDP only then.
            router.heartbeat()?;
            let (ns, v) = per_packet(router.ingress()?, frame, &context)?;
            mgm_ns.push(ns);
            verdict = v;
            parse_ns.push(per_packet(self.parse.program(PARSE)?, frame, &context)?.0);
            empty_ns.push(per_packet(self.parse.program(EMPTY)?, frame, &context)?.0);
        }
        let micro = Micro {
            case: case.to_owned(),
            entries,
            mgm_ns: interquartile_mean(mgm_ns),
            parse_only_ns: interquartile_mean(parse_ns),
            empty_ns: interquartile_mean(empty_ns),
            verdict,
        };
        eprintln!(
            "micro: {:<16} {:>7} entries: mgm {:>5.1} ns, parse-only {:>5.1} ns ({:.2}×), empty {:>5.1} ns",
            micro.case,
            micro.entries,
            micro.mgm_ns,
            micro.parse_only_ns,
            micro.mgm_ns / micro.parse_only_ns.max(f64::MIN_POSITIVE),
            micro.empty_ns
        );
        self.results.push(micro);
        Ok(())
    }
}

/// The mean of the middle half of some (at least one) measurements: the calls a stall
/// lengthened (or a cold cache shortened the other call of) fall outside it, and, unlike the
/// median, it keeps what the kernel's whole-nanosecond means say below a nanosecond when taken
/// over many calls (the median of such values sits on their grid).
fn interquartile_mean(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let quarter = values.len() / 4;
    let middle = &values[quarter..values.len() - quarter];
    middle.iter().sum::<f64>() / middle.len() as f64
}

/// The steady-state ns per run of `program` on `frame` (a call of [`LONG`] runs against one of
/// [`SHORT`], see the module doc), and the verdict. One pair is within (LONG + SHORT) / (LONG -
/// SHORT) ns of the truth (see [`total_ns`]); the mean over many pairs is much closer.
fn per_packet(program: &Xdp, frame: &[u8], context: &[u8]) -> Result<(f64, u32)> {
    let (short, _) = total_ns(program, frame, context, SHORT)?;
    let (long, verdict) = total_ns(program, frame, context, LONG)?;
    Ok(((long - short) / f64::from(LONG - SHORT), verdict))
}

/// One test-run call of `repeat` runs: its total ns, and the verdict. The kernel reports the
/// mean per run rounded down to a whole nanosecond; half a nanosecond per run is added back,
/// what the rounding takes on average when calls' totals vary by more than `repeat` ns (they
/// do). Without it every column read ~0.5 ns low, 7–10 % of a parse-only run on a machine
/// where that costs 5–7 ns, and the ratios read high by as much.
fn total_ns(program: &Xdp, frame: &[u8], context: &[u8], repeat: u32) -> Result<(f64, u32)> {
    let result = program.test_run(TestRunOptions {
        data_in: Some(frame),
        ctx_in: Some(context),
        repeat,
        ..TestRunOptions::new()
    })?;
    let total = total_from_mean(result.duration.as_nanos() as f64, repeat);
    Ok((total, result.return_value))
}

/// A call's total ns from the kernel's rounded-down mean per run (see [`total_ns`]).
fn total_from_mean(mean_ns: f64, repeat: u32) -> f64 {
    (mean_ns + 0.5) * f64::from(repeat)
}

/// A `struct xdp_md` for BPF_PROG_TEST_RUN: the whole frame as data, arriving on `ingress`
/// (an ifindex of the calling thread's namespace), receive queue 0.
fn xdp_md(len: usize, ingress: u32) -> Vec<u8> {
    // data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    [0, len as u32, 0, ingress, 0, 0]
        .iter()
        .flat_map(|field: &u32| field.to_ne_bytes())
        .collect()
}

/// The micro-benchmark as a Markdown table.
pub fn table(micros: &[Micro]) -> String {
    let mut md = String::from(
        "Per-packet cost (BPF_PROG_TEST_RUN, steady state: mean of the middle half, over pairs of calls of 250 and 50 runs, of the difference per run; targets: hit ≤ 2×, miss ≤ 2.5× parse-only):\n\n| case | entries | mgm ns/packet | parse-only ns/packet | mgm / parse-only | empty program ns/packet |\n|---|---|---|---|---|---|\n",
    );
    for m in micros {
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {:.2} | {:.1} |",
            m.case,
            m.entries,
            m.mgm_ns,
            m.parse_only_ns,
            m.mgm_ns / m.parse_only_ns.max(f64::MIN_POSITIVE),
            m.empty_ns
        );
    }
    let single = |case: &str| micros.iter().find(|m| m.case == case && m.entries == 1);
    if let (Some(plain), Some(mirrored)) = (single(PLAIN_HIT), single(MIRRORED_HIT)) {
        let _ = writeln!(
            md,
            "\nThe sample pass (a mirrored entry reads the clock, the heartbeat and its sample \
             time) costs {:+.1} ns per packet: {:.1} ns against {:.1} ns for the plain hit.",
            mirrored.mgm_ns - plain.mgm_ns,
            mirrored.mgm_ns,
            plain.mgm_ns
        );
    }
    let _ = writeln!(
        md,
        "\nThe empty program (it only passes the frame) is the kernel's test-run loop by itself, \
         part of both other columns."
    );
    let _ = writeln!(
        md,
        "\nTables larger than the data plane's {} entries (`mgm_common::limits::MFES`) are not measured.",
        limits::MFES
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The estimate recovers a fraction of a nanosecond from means the kernel rounds down to
    /// whole nanoseconds, as long as calls vary by more than their runs in ns.
    #[test]
    fn whole_nanosecond_means_give_a_sub_nanosecond_estimate() {
        let (per_run, cold) = (7.3, 2_000.0);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut jitter = || {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 11) as f64 / (1u64 << 53) as f64 * 600.0
        };
        let mut kernel_mean = |repeat: u32| {
            ((cold + per_run * f64::from(repeat) + jitter()) / f64::from(repeat)).floor()
        };
        let pairs: Vec<f64> = (0..100)
            .map(|_| {
                let short = total_from_mean(kernel_mean(SHORT), SHORT);
                let long = total_from_mean(kernel_mean(LONG), LONG);
                (long - short) / f64::from(LONG - SHORT)
            })
            .collect();
        let estimate = interquartile_mean(pairs);
        assert!((estimate - per_run).abs() < 0.15, "estimate {estimate} ns");
    }
}
