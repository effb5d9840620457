//! Mirrored interfaces and entries (the XDP side is `mgm-ebpf/src/mirror.rs`): an entry is
//! mirrored when its incoming interface is, and the `CONFIG` array holds the sample interval,
//! the heartbeat, its timeout and the wrong-interface pass rate.
use super::{Family, XdpBackend};
use crate::dataplane::DataPlaneError;
use mgm_common::{config, Sg6Key, SgKey, MFE_FLAG_MIRRORED};
use std::time::Duration;

/// The longest sample interval: FRR's pimd counts an (S,G) as used when the kernel saw it
/// within the last 30 s, so a longer interval would let it expire flows that are forwarding.
pub const MAX_SAMPLE_INTERVAL: Duration = Duration::from_secs(30);

/// Default sample interval (until [`XdpBackend::set_mirror_timing`]).
const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);
/// Default heartbeat timeout.
const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(3);
/// Default pass rate of wrong-interface packets of mirrored entries, per CPU...
const DEFAULT_WRONG_IF_PASSES_PER_SEC: u64 = 10;
/// ...after a burst of this many.
const DEFAULT_WRONG_IF_BURST: u64 = 10;

impl XdpBackend {
    /// `MFE_FLAG_MIRRORED` if `iif` is a mirrored interface, else 0.
    pub(super) fn mirror_flag(&self, iif: u32) -> u32 {
        if self.mirrored.contains(&iif) {
            MFE_FLAG_MIRRORED
        } else {
            0
        }
    }

    /// Records whether `ifindex` is mirrored and, when that changed, rewrites the entries
    /// arriving on it with their new flag.
    pub(super) fn set_mirrored(
        &mut self,
        ifindex: u32,
        mirrored: bool,
    ) -> Result<(), DataPlaneError> {
        let changed = if mirrored {
            self.mirrored.insert(ifindex)
        } else {
            self.mirrored.remove(&ifindex)
        };
        if !changed {
            return Ok(());
        }
        self.rewrite_arriving::<SgKey>(ifindex)?;
        self.rewrite_arriving::<Sg6Key>(ifindex)
    }

    /// Writes every entry of family `K` arriving on `ifindex` again (with its mirror flag).
    fn rewrite_arriving<K: Family>(&mut self, ifindex: u32) -> Result<(), DataPlaneError> {
        let arriving: Vec<_> = K::entries(self)
            .iter()
            .filter(|(_, entry)| entry.iif == ifindex)
            .map(|(sg, entry)| (*sg, entry.clone()))
            .collect();
        for (sg, entry) in arriving {
            self.write_entry(sg, &entry)?;
        }
        Ok(())
    }

    pub(super) fn set_mirror_defaults(&mut self) -> Result<(), DataPlaneError> {
        self.set_mirror_timing(DEFAULT_SAMPLE_INTERVAL, DEFAULT_HEARTBEAT_TIMEOUT)?;
        self.set_mirror_wrong_if_limit(DEFAULT_WRONG_IF_PASSES_PER_SEC, DEFAULT_WRONG_IF_BURST)
    }

    /// Sets how often (per CPU) a mirrored entry hands a packet to the kernel instead of
    /// forwarding it (zero: never; above [`MAX_SAMPLE_INTERVAL`]: refused), and how old the
    /// heartbeat may grow before mirrored entries fall back to the kernel (zero: refused).
    pub fn set_mirror_timing(
        &mut self,
        sample_interval: Duration,
        heartbeat_timeout: Duration,
    ) -> Result<(), DataPlaneError> {
        if sample_interval > MAX_SAMPLE_INTERVAL {
            return Err(DataPlaneError::Invalid(format!(
                "a sample interval of {sample_interval:?} exceeds {MAX_SAMPLE_INTERVAL:?}"
            )));
        }
        if heartbeat_timeout.is_zero() {
            return Err(DataPlaneError::Invalid(
                "a heartbeat timeout of zero".into(),
            ));
        }
        self.config
            .set(config::MIRROR_SAMPLE_NS, nanos(sample_interval), 0)?;
        self.config
            .set(config::MIRROR_TIMEOUT_NS, nanos(heartbeat_timeout), 0)?;
        Ok(())
    }

    /// Limits the packets of mirrored entries that arrive on another interface and go to the
    /// kernel to `per_second` per CPU after a burst of `burst` (0 per second = unlimited); the
    /// rest are dropped.
    pub fn set_mirror_wrong_if_limit(
        &mut self,
        per_second: u64,
        burst: u64,
    ) -> Result<(), DataPlaneError> {
        let interval = 1_000_000_000u64.checked_div(per_second).unwrap_or(0);
        self.config
            .set(config::MIRROR_WRONG_IF_INTERVAL_NS, interval, 0)?;
        self.config
            .set(config::MIRROR_WRONG_IF_BURST, burst.max(1), 0)?;
        Ok(())
    }

    /// Writes the heartbeat: `now_ns` on the clock of `bpf_ktime_get_ns` (CLOCK_MONOTONIC,
    /// see [`monotonic_ns`]). Until the next one is older than the timeout, mirrored entries
    /// forward here.
    pub fn mirror_heartbeat(&mut self, now_ns: u64) -> Result<(), DataPlaneError> {
        self.config.set(config::MIRROR_HEARTBEAT_NS, now_ns, 0)?;
        Ok(())
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// The current time on the XDP program's clock (`bpf_ktime_get_ns`, CLOCK_MONOTONIC), in ns.
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(rc, 0, "CLOCK_MONOTONIC is always readable");
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
