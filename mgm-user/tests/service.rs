//! mgmd under systemd's notify protocol: with NOTIFY_SOCKET pointing at the test's socket,
//! mgmd says READY=1 only once its interfaces forward, pings WATCHDOG=1 at half of
//! WATCHDOG_USEC, and brackets a SIGHUP reload with RELOADING=1 … READY=1.
mod support;

use anyhow::{bail, ensure, Context as _, Result};
use mgm_user::{
    api::{
        client::Client,
        proto::{Request, Response},
    },
    lab::Lab,
};
use std::{
    os::unix::net::UnixDatagram,
    path::Path,
    time::{Duration, Instant},
};
use support::{interfaces, Mgmd, NO_IGMP};

const GROUP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(239, 6, 6, 6);

/// The next notification that contains `what`, within `timeout`; every line seen on the way.
fn next_with(socket: &UnixDatagram, what: &str, timeout: Duration) -> Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("no {what} within {timeout:?}; seen {seen:?}");
        }
        socket.set_read_timeout(Some(left))?;
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        let done = message.lines().any(|l| l == what);
        seen.push(message);
        if done {
            return Ok(seen);
        }
    }
}

/// Whether every configured interface has XDP attached, asked over the API right now.
fn all_attached(api: &Path) -> Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = Client::connect(api).await?;
        match client.call(&Request::ShowInterfaces).await? {
            Response::Interfaces { rows } => Ok(rows.iter().all(|r| r.xdp.is_some())),
            other => bail!("unexpected answer {other:?}"),
        }
    })
}

#[test]
#[ignore = "needs root: cargo xtask test runs it as root"]
fn mgmd_is_ready_only_when_forwarding_and_feeds_the_watchdog() -> Result<()> {
    let lab = Lab::star(1)?;
    let dir = RemovedOnDrop(std::env::temp_dir().join(format!("{}-notify", lab.prefix())));
    std::fs::create_dir_all(&dir.0)?;
    let notify_path = dir.0.join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).context("binding the notify socket")?;
    // This test binary has this one test: the variables reach only the mgmd it starts.
    std::env::set_var("NOTIFY_SOCKET", &notify_path);
    std::env::set_var("WATCHDOG_USEC", "400000");
    let api = std::env::temp_dir()
        .join(format!("{}-mgmd", lab.prefix()))
        .join("api.sock");
    let config = format!(
        "{}[[route]]\nfrom = \"up0\"\ngroup = \"{GROUP}\"\nto = [\"rcv1\"]\n",
        interfaces(&[("up0", NO_IGMP), ("rcv1", NO_IGMP)])
    );
    let watcher = std::thread::spawn(move || -> Result<(Vec<String>, bool, UnixDatagram)> {
        let seen = next_with(&notify, "READY=1", Duration::from_secs(30))?;
        let attached = all_attached(&api)?;
        Ok((seen, attached, notify))
    });
    let mut mgmd = Mgmd::start(lab, &config)?;
    let (seen, attached, notify) = watcher.join().expect("watcher thread")?;
    ensure!(
        attached,
        "READY=1 came before every interface forwarded: {seen:?}"
    );
    ensure!(
        !seen.iter().any(|m| m.contains("WATCHDOG=1")),
        "watchdog pings before readiness: {seen:?}"
    );
    mgmd.expect_delivery(GROUP, 20, &[1], "once ready")?;

    // Pings at half of WATCHDOG_USEC: several within a second.
    for _ in 0..3 {
        next_with(&notify, "WATCHDOG=1", Duration::from_secs(2))?;
    }
    mgmd.signal(libc::SIGHUP)?;
    let reload = next_with(&notify, "RELOADING=1", Duration::from_secs(5))?;
    ensure!(
        reload
            .last()
            .is_some_and(|m| m.lines().any(|l| l.starts_with("MONOTONIC_USEC="))),
        "RELOADING=1 without MONOTONIC_USEC: {reload:?}"
    );
    next_with(&notify, "READY=1", Duration::from_secs(5))?;
    Ok(())
}

/// A directory removed when the test ends, failed or not.
struct RemovedOnDrop(std::path::PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
