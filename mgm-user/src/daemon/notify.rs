//! systemd integration: readiness, reload and stop notifications, and the watchdog, sent to
//! `$NOTIFY_SOCKET` (a no-op when mgmd does not run under a `Type=notify` unit).
//!
//! mgmd says `READY=1` once the data plane is loaded, the configured interfaces present at
//! start are in service and the API listens: from then on it forwards. With `WatchdogSec=` in
//! the unit, the main loop pings at half the interval, so a stuck loop gets mgmd restarted
//! (hitlessly: forwarding goes on from the pinned maps).
use sd_notify::NotifyState;
use std::time::Duration;
use tracing::debug;

/// Tells systemd what mgmd is doing.
fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!(error = %e, "sd_notify failed");
    }
}

/// Forwarding is up: the unit's start job completes.
pub fn ready() {
    send(&[NotifyState::Ready, NotifyState::Status("forwarding")]);
}

/// A SIGHUP reload begins.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// A reload ended (applied or refused): ready again.
pub fn reloaded(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// mgmd is stopping.
pub fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// How often the main loop must ping the watchdog, if the unit asks for one.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled().map(|timeout| timeout / 2)
}

/// The main loop is alive.
pub fn watchdog_ping() {
    send(&[NotifyState::Watchdog]);
}
