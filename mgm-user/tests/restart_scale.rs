//! Root lab tests (restarts with many entries): a new mgmd adopts every entry an earlier run
//! left in the pinned maps (none, 1 000, 10 000), clears a stale probe bucket planted while no
//! mgmd ran, and a new flow gets forwarded. Each prints how long the new mgmd took from its
//! exec until its API answered and until the new flow's first packet reached its receiver, and,
//! where `strace` is installed, how many bpf(2) calls a start made (the restart figures of
//! `docs/design.md`, "The lookup that calls nothing").
mod support;

use anyhow::{ensure, Context as _, Result};
use aya::maps::{Array, HashMap as BpfHashMap, Map, MapData};
use mgm_common::{MfeValue, ProbeBucket, ProbeWay, SgKey, NO_OIF_SET};
use mgm_user::{
    dataplane::map_name,
    lab::{Host, Lab},
};
use std::{
    collections::HashSet,
    net::Ipv4Addr,
    os::unix::net::UnixStream,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};
use support::{capture, interfaces, pinned_map, signal_pid, wait_exited, Mgmd, NO_IGMP};

/// The new flow's group, routed from up0 to rcv1.
const GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 5, 5);
/// The group of the entries planted in the pinned hash map.
const PLANTED_GROUP: Ipv4Addr = Ipv4Addr::new(239, 5, 5, 6);

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_restart_without_pinned_entries_forwards_new_flows() -> Result<()> {
    restart_with(0)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_restart_adopts_a_thousand_pinned_entries_and_clears_a_stale_bucket() -> Result<()> {
    restart_with(1_000)
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_restart_adopts_ten_thousand_pinned_entries_and_clears_a_stale_bucket() -> Result<()> {
    restart_with(10_000)
}

/// The source of planted entry `n`.
fn planted_source(n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 99, 0, 0)) + n)
}

/// Runs mgmd once (it pins its maps), plants `entries` entries to rcv1 in its pinned hash map
/// while it is down, runs it again (it adopts them and writes their buckets), plants a stale
/// bucket, then measures a third start with a new flow waiting.
fn restart_with(entries: u32) -> Result<()> {
    let config = format!(
        "adopt_window_s = 600\n\n{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    );
    let mut mgmd = Mgmd::start(Lab::star(1)?, &config)?;
    let ifindex = |name: &str| -> Result<u32> {
        let rows = mgmd.interfaces()?;
        let row = rows
            .iter()
            .find(|r| r.name == name)
            .context(name.to_owned())?;
        Ok(row.ifindex)
    };
    let (up0, rcv1) = (ifindex("up0")?, ifindex("rcv1")?);
    kill_9(&mgmd)?;
    let open =
        |name: &str| -> Result<MapData> { Ok(MapData::from_pin(pinned_map(&mgmd.lab, name)?)?) };
    // The same maps through every run (each adopts its predecessor's).
    let mut mfes: BpfHashMap<MapData, SgKey, MfeValue> =
        Map::HashMap(open(map_name::MFES)?).try_into()?;
    let mut buckets: Array<MapData, ProbeBucket<SgKey>> =
        Map::Array(open(map_name::MFE_PROBE)?).try_into()?;
    let value = |slot: u32| MfeValue {
        iif: up0,
        oif_set: NO_OIF_SET,
        stats_slot: slot,
        flags: 0,
        oif: rcv1,
    };
    for n in 0..entries {
        mfes.insert(SgKey::new(planted_source(n), PLANTED_GROUP), value(n), 0)?;
    }
    mgmd.spawn_daemon()?;
    kill_9(&mgmd)?;

    // A bucket holding an (S,G) the hash map does not have, where no entry hashes: the
    // program would forward it from there.
    let source = Lab::address_of(Host::Source);
    let used: HashSet<u32> = (0..entries)
        .map(|n| SgKey::new(planted_source(n), PLANTED_GROUP).probe_bucket())
        .chain([SgKey::new(source, GROUP).probe_bucket()])
        .collect();
    let stale = (entries..)
        .map(|n| SgKey::new(planted_source(n), PLANTED_GROUP))
        .find(|key| !used.contains(&key.probe_bucket()))
        .expect("a free bucket");
    let mut planted = ProbeBucket {
        seq: 8,
        used: 1,
        ..ProbeBucket::default()
    };
    planted.ways[0] = ProbeWay {
        key: stale,
        value: value(entries),
    };
    buckets.set(stale.probe_bucket(), planted, 0)?;

    // The new flow sends one packet a millisecond from before mgmd starts.
    let receiver = capture(&mgmd.lab, Host::Receiver(1), libc::ETH_P_IP)?;
    mgmd.send_in_background(Host::Source, GROUP, 60_000, 1)?;
    let started = Instant::now();
    mgmd.spawn_daemon_behind(&[])?;
    // Which comes first is mgmd's business: both are watched from its exec.
    let (mut answered, mut forwarded) = (None, None);
    let mut frame = [0u8; 2048];
    poll(
        started,
        "mgmd's API and the new flow's first packet at rcv1",
        || {
            // A connection, not a request: the API client waits for the socket to appear.
            if answered.is_none() && UnixStream::connect(mgmd.socket()).is_ok() {
                answered = Some(started.elapsed());
            }
            while let Ok((len, arrival)) = receiver.recv_from(&mut frame) {
                if !arrival.outgoing && len >= 20 && frame[16..20] == GROUP.octets() {
                    forwarded = forwarded.or(Some(started.elapsed()));
                }
            }
            Ok(answered.is_some() && forwarded.is_some())
        },
    )?;
    let (answered, forwarded) = (answered.unwrap_or_default(), forwarded.unwrap_or_default());
    let after_start = started.elapsed();
    let rows = mgmd.mfes()?;
    let adopted = rows.iter().filter(|m| m.origin == "adopted").count();
    eprintln!(
        "restart with {entries} pinned entries: API accepting connections after {} ms, the new flow \
         forwarded after {} ms (from mgmd's exec); {adopted} entries adopted",
        answered.as_millis(),
        forwarded.as_millis()
    );
    ensure!(
        adopted == entries as usize,
        "{adopted} of {entries} entries adopted ({after_start:?} after the start)"
    );
    let cleared = buckets.get(&stale.probe_bucket(), 0)?;
    ensure!(
        cleared.used == 0 && cleared.seq % 2 == 0,
        "the stale bucket was left as {cleared:?}"
    );
    ensure!(
        cleared.seq > planted.seq,
        "the stale bucket was not rewritten"
    );
    count_bpf_calls(&mut mgmd, entries)
}

/// Kills mgmd (-9) and waits until it is gone.
fn kill_9(mgmd: &Mgmd) -> Result<()> {
    signal_pid(mgmd.pid(), libc::SIGKILL)?;
    wait_exited(mgmd.pid())
}

/// How long after `started` `what` was seen true, polled every millisecond for at most 60 s.
fn poll(started: Instant, what: &str, mut done: impl FnMut() -> Result<bool>) -> Result<Duration> {
    loop {
        if done()? {
            return Ok(started.elapsed());
        }
        ensure!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Where `strace` is installed: restarts mgmd under it once its interfaces are in service,
/// stops it (TERM) and prints the bpf(2) calls of the whole run.
fn count_bpf_calls(mgmd: &mut Mgmd, entries: u32) -> Result<()> {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("strace not installed: bpf(2) calls not counted");
        return Ok(());
    }
    kill_9(mgmd)?;
    let summary = std::env::temp_dir().join(format!("{}-strace", mgmd.lab.prefix()));
    let summary_arg = summary.to_str().context("path")?.to_owned();
    mgmd.spawn_daemon_behind(&[
        "strace",
        "-f",
        "-c",
        "-e",
        "trace=bpf",
        "-o",
        summary_arg.as_str(),
    ])?;
    // Traced, a start takes longer than `Mgmd::wait_in_service` waits.
    poll(Instant::now(), "mgmd under strace in service", || {
        let rows = mgmd.interfaces();
        Ok(rows.is_ok_and(|rows| rows.iter().all(|r| r.xdp.is_some())))
    })?;
    let tracer = mgmd.pid();
    let children = std::fs::read_to_string(format!("/proc/{tracer}/task/{tracer}/children"))?;
    let daemon: u32 = children
        .split_whitespace()
        .next()
        .context("mgmd under strace")?
        .parse()?;
    signal_pid(daemon, libc::SIGTERM)?;
    wait_exited(tracer)?;
    let calls = bpf_calls(&summary);
    let _ = std::fs::remove_file(&summary);
    let calls = calls?;
    eprintln!("restart with {entries} pinned entries: {calls} bpf(2) calls (start, then a TERM)");
    // The maps are read in batches and an adopted entry costs no call of its own: a start
    // with 10 000 entries made 247 062 calls when it read an element per call, 20 842 when it
    // wrote every adopted entry again.
    ensure!(
        calls < u64::from(entries) / 10 + 2_000,
        "{calls} bpf(2) calls for a start with {entries} entries"
    );
    Ok(())
}

/// The bpf(2) calls of an `strace -c` summary.
fn bpf_calls(summary: &Path) -> Result<u64> {
    let text = std::fs::read_to_string(summary)?;
    let row = text
        .lines()
        .find(|line| line.split_whitespace().last() == Some("bpf"))
        .with_context(|| format!("no bpf row in {text}"))?;
    // % time, seconds, usecs/call, calls, [errors,] syscall
    let calls = row.split_whitespace().nth(3).context("calls column")?;
    Ok(calls.parse()?)
}
