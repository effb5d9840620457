//! `daemon.realtime_priority`: every mgmd thread runs under `SCHED_FIFO`, so that entry
//! creation and the forwarding of held packets (the creation thread) are not queued behind
//! busy processes at normal priority. Threads started later inherit the policy from the
//! thread that starts them; a reload that changes the setting applies it to every thread.
use anyhow::{Context, Result};
use tracing::info;

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
