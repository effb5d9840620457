//! `daemon.realtime_priority`: every mgmd thread runs under `SCHED_FIFO`, so that entry
//! creation and the forwarding of held packets (the creation thread) are not queued behind
//! busy processes at normal priority. Threads started later inherit the policy from the
//! thread that starts them; a reload that changes the setting applies it to every thread.
//!
//! The creation thread steps down to the normal scheduler between a new flow's held packets
//! leaving and the entry's install ([`step_down`], [`step_up`]): the send wakes the flow's
//! receivers on this CPU, and a real-time thread would keep it from them until it sleeps.
use anyhow::{Context, Result};
use std::{
    cell::Cell,
    sync::atomic::{AtomicU8, Ordering},
};
use tracing::{info, warn};

/// The configured priority, 0 for none (the normal scheduler).
static PRIORITY: AtomicU8 = AtomicU8::new(0);

thread_local! {
    /// This thread steps down after a held send (see the module's doc).
    static STEPS_DOWN: Cell<bool> = const { Cell::new(false) };
    /// This thread has stepped down and not yet back up.
    static STEPPED_DOWN: Cell<bool> = const { Cell::new(false) };
}

/// Makes the calling thread one that [`step_down`] applies to.
pub fn steps_down_after_sends() {
    STEPS_DOWN.with(|s| s.set(true));
}

/// Held packets have just left: the calling thread, if it steps down and runs real-time,
/// goes under the normal scheduler until [`step_up`], so that a task the send woke on this
/// CPU runs before the rest of its work.
pub fn step_down() {
    if !STEPS_DOWN.with(Cell::get)
        || STEPPED_DOWN.with(Cell::get)
        || PRIORITY.load(Ordering::Acquire) == 0
    {
        return;
    }
    if set_own_policy(libc::SCHED_OTHER, 0).is_ok() {
        STEPPED_DOWN.with(|s| s.set(true));
    }
}

/// Back to the configured priority after [`step_down`] (none if a reload removed it).
pub fn step_up() {
    if !STEPPED_DOWN.with(|s| s.replace(false)) {
        return;
    }
    let priority = PRIORITY.load(Ordering::Acquire);
    if priority == 0 {
        return;
    }
    if let Err(error) = set_own_policy(libc::SCHED_FIFO, priority) {
        warn!(%error, priority, "SCHED_FIFO refused after a held send: this thread stays under SCHED_OTHER");
    }
}

/// Sets the calling thread's policy.
fn set_own_policy(policy: libc::c_int, priority: u8) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: i32::from(priority),
    };
    // SAFETY: `param` is a valid sched_param for the call's duration; 0 is this thread.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Puts every thread of this process under `SCHED_FIFO` at `priority`, or back under the
/// normal scheduler for `None`.
pub fn apply(priority: Option<u8>) -> Result<()> {
    let (policy, name) = match priority {
        Some(_) => (libc::SCHED_FIFO, "SCHED_FIFO"),
        None => (libc::SCHED_OTHER, "SCHED_OTHER"),
    };
    let param = libc::sched_param {
        sched_priority: priority.map_or(0, i32::from),
    };
    // Before the threads, so that a thread stepping back up meanwhile takes the new setting.
    PRIORITY.store(priority.unwrap_or(0), Ordering::Release);
    let mut threads = 0;
    for task in std::fs::read_dir("/proc/self/task").context("listing mgmd's threads")? {
        let Some(tid) = task?
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // SAFETY: `param` is a valid sched_param for the call's duration.
        if unsafe { libc::sched_setscheduler(tid, policy, &param) } != 0 {
            let error = std::io::Error::last_os_error();
            // A thread that ended meanwhile needs no policy.
            if error.raw_os_error() != Some(libc::ESRCH) {
                return Err(error).with_context(|| {
                    format!("daemon.realtime_priority = {priority:?}: {name} refused")
                });
            }
        }
        threads += 1;
    }
    info!(?priority, threads, "running under {name}");
    Ok(())
}
