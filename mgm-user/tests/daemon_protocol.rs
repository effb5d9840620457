//! Root lab test of an external routing protocol over mgmd's API socket: the
//! `veto_protocol` example registers, takes the interfaces the configuration leaves to
//! external protocols, adds a membership of its own, hears join and local-join alerts when
//! receivers join with IGMP, vetoes one interface in the creation alert (so one receiver gets
//! the flow and the other not), hears prune and local-leave alerts when they leave; killed with
//! SIGKILL, it is deregistered: its interfaces go back to IGMP alone and its membership is gone.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use serde_json::Value;
use std::{
    io::{BufRead as _, BufReader},
    net::Ipv4Addr,
    path::PathBuf,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};
use support::{path_str, signal_pid, wait_for, Mgmd, EXTERNAL, MGMD, NO_IGMP};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 3, 0, 1);
/// The group the protocol joins itself.
const OWN_GROUP: &str = "239.3.9.9";

fn config() -> String {
    support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL), ("rcv2", EXTERNAL)])
}

/// The example protocol's stdout, one JSON object per line, read on a thread.
struct Log {
    lines: mpsc::Receiver<Value>,
    seen: Vec<Value>,
}

impl Log {
    /// Waits for a line `matches` accepts (looking at lines already seen first).
    fn expect(&mut self, what: &str, matches: impl Fn(&Value) -> bool) -> Result<Value> {
        if let Some(line) = self.seen.iter().find(|l| matches(l)) {
            return Ok(line.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).with_context(|| {
                format!("the protocol printed no {what}; it printed {:?}", self.seen)
            })?;
            self.seen.push(line.clone());
            if matches(&line) {
                return Ok(line);
            }
        }
    }
}

/// The `veto_protocol` example, built by `cargo test` beside the binaries.
fn example() -> PathBuf {
    let bin_dir = std::path::Path::new(MGMD)
        .parent()
        .unwrap_or(std::path::Path::new("."));
    bin_dir.join("examples").join("veto_protocol")
}

/// Starts the example protocol (ended by the lab, by PID); returns its PID and its log.
fn start_protocol(mgmd: &mut Mgmd) -> Result<(u32, Log)> {
    let socket = mgmd.socket();
    let own = format!("{OWN_GROUP}@rcv1");
    let mut child = Command::new(example())
        .args(["--socket", path_str(&socket)?])
        .args([
            "--take", "rcv1", "--take", "rcv2", "--veto", "rcv2", "--join", &own,
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting the veto_protocol example (built by cargo test)")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let pid = mgmd.lab.adopt(child);
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
            if tx.send(value).is_err() {
                return;
            }
        }
    });
    Ok((
        pid,
        Log {
            lines,
            seen: Vec::new(),
        },
    ))
}

fn is_callback(line: &Value, callback: &str) -> bool {
    line["callback"] == callback
}

fn is_group(line: &Value, group: Ipv4Addr) -> bool {
    line["sg"]["group"] == group.to_string()
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn external_protocol_vetoes_hears_alerts_and_is_deregistered_when_killed() -> Result<()> {
    let mut mgmd = Mgmd::start(Lab::star(2)?, &config())?;
    let ifindex = |name: &str| -> Result<u64> {
        let rows = mgmd.interfaces()?;
        let row = rows.iter().find(|r| r.name == name).context("no row")?;
        Ok(u64::from(row.ifindex))
    };
    let (rcv1, rcv2) = (ifindex("rcv1")?, ifindex("rcv2")?);
    let (pid, mut log) = start_protocol(&mut mgmd)?;
    log.expect("ready", |l| l["action"] == "ready")?;
    let protocols = mgmd.protocols()?;
    let row = protocols
        .iter()
        .find(|p| p.name.starts_with("external"))
        .with_context(|| format!("not registered: {protocols:?}"))?;
    ensure!(row.interfaces == ["rcv1", "rcv2"], "owned: {row:?}");
    let own_group: Ipv4Addr = OWN_GROUP.parse()?;
    ensure!(
        mgmd.groups()?
            .iter()
            .any(|g| g.group == own_group && g.protocol == row.name),
        "its own membership is missing"
    );

    // Receivers join with IGMP on its interfaces: a join alert and local joins.
    let count = 40;
    let listener1 = mgmd.listen(Host::Receiver(1), GROUP, count, 30.0)?;
    let listener2 = mgmd.listen(Host::Receiver(2), GROUP, count, 3.0)?;
    log.expect("join alert", |l| {
        is_callback(l, "join_alert") && is_group(l, GROUP)
    })?;
    for ifindex in [rcv1, rcv2] {
        log.expect("local join", |l| {
            is_callback(l, "local_join") && is_group(l, GROUP) && l["ifid"]["ifindex"] == ifindex
        })?;
    }

    // The flow starts: the creation alert offers both interfaces, the protocol vetoes rcv2.
    mgmd.send(Host::Source, GROUP, count, 10)?;
    let alert = log.expect("creation alert", |l| {
        is_callback(l, "creation_alert") && is_group(l, GROUP)
    })?;
    let offered: Vec<u64> = alert["entries"]
        .as_array()
        .context("no entries")?
        .iter()
        .filter_map(|e| e["ifid"]["ifindex"].as_u64())
        .collect();
    ensure!(
        offered.contains(&rcv1) && offered.contains(&rcv2),
        "offered {offered:?}"
    );
    log.expect("answer", |l| l["action"] == "answer")?;
    let oifs = mgmd.oifs(Ipv4Addr::new(10, 0, 0, 1), GROUP)?;
    ensure!(oifs == ["rcv1"], "outgoing interfaces {oifs:?}");
    let got1 = listener1.finish()?;
    let got2 = listener2.finish()?;
    ensure!(
        got1.is_complete(u64::from(count)),
        "rcv1 should get 0..{count}, got {:?}",
        got1.seqs
    );
    ensure!(
        got2.seqs.is_empty(),
        "rcv2 was vetoed yet got {:?}",
        got2.seqs
    );

    // The receivers have left: local leaves and a prune alert for the group.
    for ifindex in [rcv1, rcv2] {
        log.expect("local leave", |l| {
            is_callback(l, "local_leave") && is_group(l, GROUP) && l["ifid"]["ifindex"] == ifindex
        })?;
    }
    log.expect("prune alert", |l| {
        is_callback(l, "prune_alert") && is_group(l, GROUP)
    })?;

    // SIGKILL: no goodbye, yet mgmd deregisters it and undoes what it did.
    signal_pid(pid, libc::SIGKILL)?;
    wait_for("the deregistration", Duration::from_secs(30), || {
        Ok(mgmd
            .protocols()?
            .iter()
            .all(|p| !p.name.starts_with("external"))
            .then_some(()))
    })?;
    if let Some(g) = mgmd.groups()?.iter().find(|g| g.group == own_group) {
        bail!("its membership outlived it: {g:?}");
    }
    for row in mgmd.interfaces()? {
        ensure!(
            !row.owner.starts_with("external"),
            "{} still owned by the dead protocol",
            row.name
        );
    }
    mgmd.mgmctl_ok(&["show", "status"])?;
    Ok(())
}
