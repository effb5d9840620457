//! Root lab test of a monitor that reads too slowly (what a read-only API user can do): it
//! loses the oldest events and is told how many, the losses are counted in
//! `api_monitor_events_lost`, and mgmd logs them at most once per 10 s, not once per lag.
mod support;

use anyhow::{ensure, Result};
use mgm_user::{api::protocol::ProtocolClient, lab::Lab};
use std::{
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    time::Duration,
};
use support::{Mgmd, EXTERNAL, NO_IGMP};

/// Takes and releases of an interface with IGMP each round makes: each brackets the change
/// with two IGMP callbacks the monitor shows, well past its backlog of 4096 events.
const CYCLES_PER_ROUND: u32 = 4096;
const ROUNDS: u32 = 4;

/// Sends one request frame.
fn send(stream: &mut UnixStream, request: &[u8]) -> Result<()> {
    stream.write_all(&u32::try_from(request.len())?.to_be_bytes())?;
    Ok(stream.write_all(request)?)
}

/// Reads frames until none comes for a while: the `missed` counts of its `lagged` messages.
fn drain(stream: &mut UnixStream) -> Result<Vec<u64>> {
    stream.set_read_timeout(Some(Duration::from_millis(500)))?;
    let mut lags = Vec::new();
    loop {
        let mut len = [0u8; 4];
        match stream.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(lags),
            Err(e) => return Err(e.into()),
        }
        let mut body = vec![0u8; usize::try_from(u32::from_be_bytes(len))?];
        stream.set_read_timeout(None)?;
        stream.read_exact(&mut body)?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        let message: serde_json::Value = serde_json::from_slice(&body)?;
        if message["monitor"] == "lagged" {
            lags.push(message["missed"].as_u64().unwrap_or(0));
        }
    }
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn a_slow_monitor_loses_events_counted_and_logged_once() -> Result<()> {
    let body = support::interfaces(&[("up0", NO_IGMP), ("rcv1", EXTERNAL)]);
    let mgmd = Mgmd::start_logged(Lab::star(1)?, &body)?;
    let socket = mgmd.socket();
    let mut monitor = UnixStream::connect(&socket)?;
    send(&mut monitor, br#"{"request":"monitor"}"#)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut lags = Vec::new();
    let started = std::time::Instant::now();
    runtime.block_on(async {
        let mut busy = ProtocolClient::register(&socket, 0x0137_0095, 0, &[]).await?;
        let rcv1 = busy.interface_index("rcv1").await?;
        // Each round the monitor reads nothing while a burst of callbacks passes, then all it
        // has.
        for _ in 0..ROUNDS {
            for _ in 0..CYCLES_PER_ROUND {
                busy.take_interface(rcv1).await?;
                busy.release_interface(rcv1).await?;
            }
            lags.extend(drain(&mut monitor)?);
        }
        anyhow::Ok(())
    })?;
    // The rounds take 5–25 s, by the machine's load: a line per 10 s begun.
    let most_lines = 1 + started.elapsed().as_secs() / 10;
    ensure!(
        lags.len() >= ROUNDS as usize,
        "the monitor fell behind in every round: {lags:?}"
    );
    let lost = mgmd.stats()?.get("api_monitor_events_lost").copied();
    ensure!(
        lost == Some(lags.iter().sum()),
        "api_monitor_events_lost {lost:?}, lagged messages {lags:?}"
    );
    let lines = mgmd.log_lines("a monitor fell behind")?;
    ensure!(
        (1..=most_lines).contains(&(lines as u64)),
        "{lines} log lines for {} lags (at most {most_lines})",
        lags.len()
    );
    Ok(())
}
