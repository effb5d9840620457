//! Root lab test of the punt sockets' memory per interface (README, "Memory"): each interface
//! in service holds `daemon.punt_umem_frames` frames of 2 KiB of UMEM, pinned by the kernel.
//! A real mgmd on eight interfaces reports the UMEM it holds (`punt_umem_bytes_now` in `show
//! stats`): 64 MiB with the default 4096 frames, 4 MiB with 256; and its resident size drops
//! by about the difference. A UMEM all taken drops what comes next, counted
//! (`punt_umem_dropped`).
mod support;

use anyhow::{ensure, Result};
use mgm_user::lab::{Host, Lab};
use std::{net::Ipv4Addr, time::Duration};
use support::{wait_for, Mgmd, NO_IGMP};

/// Receivers of the lab: with the upstream interface, eight interfaces in service.
const RECEIVERS: u8 = 7;
const INTERFACES: u64 = RECEIVERS as u64 + 1;
const FRAME: u64 = 2048;
const MIB: u64 = 1024 * 1024;

/// mgmd's resident size, in bytes.
fn rss_bytes(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for mgmd {pid}"))?;
    Ok(kib * 1024)
}

/// Starts mgmd on eight interfaces with `daemon_keys` and returns (the UMEM it reports, its
/// resident size), in bytes.
fn umem_and_rss(daemon_keys: &str) -> Result<(u64, u64)> {
    let names: Vec<String> = std::iter::once("up0".to_owned())
        .chain((1..=RECEIVERS).map(|r| format!("rcv{r}")))
        .collect();
    let list: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), NO_IGMP)).collect();
    let mgmd = Mgmd::start(
        Lab::star(RECEIVERS)?,
        &format!("{daemon_keys}\n{}", support::interfaces(&list)),
    )?;
    let umem = mgmd.stats()?.get("punt_umem_bytes_now").copied();
    let umem = umem.ok_or_else(|| anyhow::anyhow!("show stats has no punt_umem_bytes_now"))?;
    Ok((umem, rss_bytes(mgmd.pid())?))
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn the_punt_umem_per_interface_is_the_configured_size() -> Result<()> {
    let (default_umem, default_rss) = umem_and_rss("")?;
    ensure!(
        default_umem == INTERFACES * 4096 * FRAME,
        "default: {default_umem} B of UMEM, not 8 MiB per interface"
    );
    let (small_umem, small_rss) = umem_and_rss("punt_umem_frames = 256")?;
    ensure!(
        small_umem == INTERFACES * 256 * FRAME,
        "256 frames: {small_umem} B of UMEM, not 512 KiB per interface"
    );
    // The UMEM is resident (pinned): the smaller one shows in mgmd's resident size, 60 MiB
    // less here, whatever else the two runs hold differently (a few MiB at most).
    let saved = default_umem - small_umem;
    eprintln!(
        "resident: {} MiB with 4096 frames, {} MiB with 256 ({} MiB of UMEM less)",
        default_rss / MIB,
        small_rss / MIB,
        saved / MIB
    );
    ensure!(
        default_rss.saturating_sub(small_rss) >= saved - saved / 10,
        "mgmd's resident size went from {default_rss} B to {small_rss} B, not down by \
         about the {saved} B of UMEM"
    );
    Ok(())
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_full_punt_umem_counts_what_the_kernel_drops() -> Result<()> {
    const FRAMES: u32 = 64;
    const COUNT: u32 = 300;
    let body = format!(
        "punt_umem_frames = {FRAMES}\n{}",
        support::interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    );
    let mgmd = Mgmd::start(Lab::star(1)?, &body)?;
    let dropped = |mgmd: &Mgmd| -> Result<u64> {
        Ok(mgmd.stats()?.get("punt_umem_dropped").copied().unwrap_or(0))
    };
    ensure!(dropped(&mgmd)? == 0, "drops before any packet");
    // mgmd stopped reads nothing: the first packets of the new flow take every frame of
    // up0's UMEM, and the kernel drops the rest.
    mgmd.signal(libc::SIGSTOP)?;
    let sent = mgmd.send(Host::Source, Ipv4Addr::new(239, 8, 8, 8), COUNT, 0);
    mgmd.signal(libc::SIGCONT)?;
    sent?;
    let expected = u64::from(COUNT - FRAMES);
    let counted = wait_for(
        "the drops of a full UMEM counted",
        Duration::from_secs(10),
        || Ok(Some(dropped(&mgmd)?).filter(|&d| d >= expected)),
    )?;
    ensure!(
        counted == expected,
        "{counted} counted dropped, {expected} expected ({COUNT} sent into {FRAMES} frames)"
    );
    Ok(())
}
