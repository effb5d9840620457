//! The real daemon in a bench lab: `mgmd` (beside the bench binary) on the router, attached to
//! the upstream and the first receiver's interface, with a static route for the benchmark's
//! groups, under `SCHED_FIFO` (`daemon.realtime_priority`). Its entries come from the XDP
//! misses of the traffic (creation alert → MGM core → static protocol → entry installed), and
//! its periodic work (statistics refresh, housekeeping) runs while it is measured.
use crate::paths::UPSTREAM;
use anyhow::{anyhow, bail, Result};
use mgm_user::{
    dataplane::DEFAULT_PIN_DIR,
    lab::{Host, Lab},
};
use std::path::{Path, PathBuf};

/// mgmd's `daemon.realtime_priority` here, as the README recommends for a busy router.
const REALTIME_PRIORITY: u8 = 50;

/// mgmd running on the router of a lab.
pub struct Mgmd {
    files: [PathBuf; 2],
}

impl Mgmd {
    /// Starts mgmd on the router of `lab` with a static route from upstream to `rcv1` for
    /// `groups` (a prefix such as `"239.2.0.0/16"`); the lab ends the process when dropped,
    /// and then removes its pins.
    pub fn start(lab: &mut Lab, groups: &str) -> Result<Self> {
        let binary = std::env::current_exe()?
            .parent()
            .ok_or_else(|| anyhow!("no directory"))?
            .join("mgmd");
        if !binary.exists() {
            bail!(
                "{} not found: build it (cargo xtask bench does)",
                binary.display()
            );
        }
        std::fs::create_dir_all("/run/mgm")?;
        let base = format!("/run/mgm/{}-bench", lab.prefix());
        let files = [
            PathBuf::from(format!("{base}.toml")),
            PathBuf::from(format!("{base}.sock")),
        ];
        let config = format!(
            "[daemon]\napi_socket = {:?}\nrealtime_priority = {REALTIME_PRIORITY}\n\n[[interface]]\nname = \"{UPSTREAM}\"\n\n[[interface]]\nname = \"rcv1\"\n\n[[route]]\nfrom = \"{UPSTREAM}\"\ngroup = \"{groups}\"\nto = [\"rcv1\"]\n",
            files[1].display().to_string()
        );
        std::fs::write(&files[0], config)?;
        let daemon = Self { files };
        let binary = binary.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let config = daemon.files[0]
            .to_str()
            .ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        lab.spawn(
            Host::Router,
            &[binary, "--config", config, "--log", "error"],
        )?;
        // mgmd pins in the host's bpffs (its default); one that the lab has to kill, or that
        // is signalled while still starting, would leave them there for good.
        lab.remove_pins_at_end(Host::Router, Path::new(DEFAULT_PIN_DIR))?;
        Ok(daemon)
    }
}

impl Drop for Mgmd {
    /// Removes the files (the lab ends the process).
    fn drop(&mut self) {
        for file in &self.files {
            let _ = std::fs::remove_file(file);
        }
    }
}
