//! The pins of the mgmds a lab runs. A clean stop of mgmd removes its pin directory, but one
//! killed (`kill -9` in a test, the lab's SIGKILL when it has not stopped within 3 s) or
//! signalled while still starting leaves it behind: a full set of maps, about 110 MB of kernel
//! memory, that no mgmd can adopt once the lab's namespaces are deleted. So a lab removes the
//! pin directories of its mgmds itself once its processes have ended.
use super::{in_named_ns, run_checked, Host, Lab, LabError, LAB_BPFFS};
use crate::dataplane::stale_pins;
use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

/// How long the processes of a standing lab have to end after SIGTERM before SIGKILL (as
/// those of a lab ending with its process, `stop` in the parent module).
const GRACE: Duration = Duration::from_secs(3);

impl Lab {
    /// Has the pin directory of the mgmd on `host` pinned under `bpffs` removed when the lab
    /// ends, after its processes; returns that directory.
    pub fn remove_pins_at_end(&mut self, host: Host, bpffs: &Path) -> Result<PathBuf, LabError> {
        let dir = bpffs.join(pin_dir_name(&self.ns(host))?);
        self.dirs.push(dir.clone());
        Ok(dir)
    }
}

/// The name of the pin directory of an mgmd in the namespace `name`: `net-<its cookie>`.
fn pin_dir_name(name: &str) -> Result<String, LabError> {
    let cookie = in_named_ns(name, crate::netns::cookie)?.map_err(|source| LabError::Setns {
        name: name.to_owned(),
        source,
    })?;
    Ok(stale_pins::dir_name(cookie))
}

/// Ends the processes running in the namespace `name` of a standing lab (SIGTERM, by PID;
/// SIGKILL to those left after [`GRACE`]), then removes the pin directory its mgmd has under
/// [`LAB_BPFFS`] (where lab daemons pin), if any.
pub(super) fn end_standing(name: &str) -> Result<(), LabError> {
    let pins = pin_dir_name(name).map(|dir| Path::new(LAB_BPFFS).join(dir));
    let pids: Vec<i32> = String::from_utf8_lossy(
        &run_checked({
            let mut c = Command::new("ip");
            c.args(["netns", "pids", name]);
            c
        })?
        .stdout,
    )
    .split_whitespace()
    .filter_map(|p| p.parse().ok())
    .collect();
    // A process that has exited (a zombie too) has no network namespace left.
    let running = |pid: &&i32| Path::new(&format!("/proc/{pid}/ns/net")).exists();
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        for pid in pids.iter().filter(running) {
            // SAFETY: plain kill(2) of a process of the lab's own namespace.
            unsafe { libc::kill(*pid, signal) };
        }
        let deadline = Instant::now() + GRACE;
        while pids.iter().any(|p| running(&p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    if let Ok(pins) = pins {
        let _ = std::fs::remove_dir_all(pins);
    }
    Ok(())
}
