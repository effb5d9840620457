//! mgmd with no more than the packaged systemd unit's capabilities (`dist/mgmd.service`, its
//! `CapabilityBoundingSet` applied with setpriv): a configuration that asks for
//! `realtime_priority` starts, serves and runs under SCHED_FIFO, and the unit does not forbid
//! real-time scheduling (`RestrictRealtime`).
mod support;

use anyhow::{ensure, Context as _, Result};
use mgm_user::lab::{Host, Lab};
use std::process::Stdio;
use support::{interfaces, path_str, serves_or_exits, signal_pid, write_config_in, MGMD, NO_IGMP};

const UNIT: &str = include_str!("../dist/mgmd.service");

/// The value of the unit's `key`, if it sets it.
fn unit_setting(key: &str) -> Option<&'static str> {
    UNIT.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
}

/// setpriv's `--bounding-set` argument keeping exactly the unit's capabilities.
fn units_bounding_set() -> Result<String> {
    let caps = unit_setting("CapabilityBoundingSet").context("the unit sets no bounding set")?;
    let keep: Vec<String> = caps
        .split_whitespace()
        .map(|cap| format!("+{}", cap.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    Ok(format!("-all,{}", keep.join(",")))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn realtime_priority_works_with_the_units_capabilities() -> Result<()> {
    ensure!(
        unit_setting("RestrictRealtime") != Some("yes"),
        "the unit forbids the SCHED_FIFO that realtime_priority asks for"
    );
    let lab = Lab::star(1)?;
    let dir = std::env::temp_dir().join(format!("{}-unit", lab.prefix()));
    std::fs::create_dir_all(&dir)?;
    let (config, socket) = write_config_in(
        &dir,
        "unpinned = true\nrealtime_priority = 10\n",
        &interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)]),
    )?;
    let bounding = units_bounding_set()?;
    let mut child = lab
        .command(
            Host::Router,
            &[
                "setpriv",
                "--bounding-set",
                &bounding,
                MGMD,
                "--config",
                path_str(&config)?,
                "--log",
                "warn",
            ],
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let served = serves_or_exits(&mut child, &socket);
    // SAFETY: a plain query of another process's policy.
    let policy = unsafe { libc::sched_getscheduler(child.id() as libc::pid_t) };
    if matches!(served, Ok(true)) {
        signal_pid(child.id(), libc::SIGTERM)?;
    } else {
        let _ = child.kill();
    }
    let output = child.wait_with_output()?;
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        served?,
        "mgmd with the unit's capabilities ({bounding}) did not start: {stderr}"
    );
    ensure!(
        policy == libc::SCHED_FIFO,
        "mgmd runs under policy {policy}, not SCHED_FIFO"
    );
    Ok(())
}
