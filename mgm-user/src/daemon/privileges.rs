//! What mgmd checks of its own privileges before it touches anything: without the
//! capabilities no part of it works without (root has them), it says so instead of failing
//! later on whichever kernel call comes first.
use anyhow::{bail, Context as _, Result};

/// The capabilities mgmd cannot run without, by number (linux/capability.h) and name:
/// attaching XDP and rtnetlink changes, raw and AF_XDP sockets.
const NEEDED: [(u32, &str); 2] = [(12, "CAP_NET_ADMIN"), (13, "CAP_NET_RAW")];
/// Loading BPF programs and maps: either of these (CAP_BPF, CAP_SYS_ADMIN).
const BPF: [u32; 2] = [39, 21];

/// Fails, naming what is missing, unless this process holds the capabilities mgmd needs.
pub fn check() -> Result<()> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let effective = effective_capabilities(&status).context("no CapEff in /proc/self/status")?;
    let held = |cap: u32| effective & (1u64 << cap) != 0;
    let mut missing: Vec<&str> = NEEDED
        .iter()
        .filter(|(cap, _)| !held(*cap))
        .map(|(_, name)| *name)
        .collect();
    if !BPF.into_iter().any(held) {
        missing.push("CAP_BPF (or CAP_SYS_ADMIN)");
    }
    if !missing.is_empty() {
        bail!(
            "mgmd needs root (or at least the capabilities CAP_NET_ADMIN, CAP_NET_RAW and \
             CAP_BPF); it lacks {}",
            missing.join(", ")
        );
    }
    Ok(())
}

/// The effective capability set in the text of `/proc/<pid>/status`.
fn effective_capabilities(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_effective_set_is_read_from_the_status_text() {
        let status = "Name:\tmgmd\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
        assert_eq!(effective_capabilities(status), Some(0x1ff_ffff_ffff));
        assert_eq!(effective_capabilities("Name:\tmgmd\n"), None);
    }
}
