//! Map updates that allocate kernel memory as they run: hashes that are not preallocated
//! (`MFES`, `MFES6`, `OIF_STATS`, `SET_MEMBERS`) and the outgoing sets' devmap hashes. The
//! kernel hands their elements out of per-CPU caches that it refills in the background, and a
//! burst of updates can find a cache empty (or the per-CPU allocator's ready pages used up)
//! and fail with ENOMEM while memory is plentiful. Such an update is tried again after a short
//! sleep that lets the refill run; any other error (a full map is E2BIG) is returned at once.
use super::DataPlaneError;
use aya::maps::{xdp::XdpMapError, MapError};
use std::time::Duration;
use tracing::debug;

/// The sleeps before the retries of an update that found no kernel memory ready: at most
/// 15 ms in all, after which the error goes to the caller (the daemon retries the entry later).
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(1),
    Duration::from_millis(2),
    Duration::from_millis(4),
    Duration::from_millis(8),
];

/// Runs `update`, again after each sleep of [`BACKOFF`] while it fails with ENOMEM.
pub(crate) fn allocating<T>(
    what: &str,
    mut update: impl FnMut() -> Result<T, DataPlaneError>,
) -> Result<T, DataPlaneError> {
    let mut result = update();
    for (attempt, pause) in (1..).zip(BACKOFF) {
        if !result.as_ref().is_err_and(no_memory) {
            break;
        }
        debug!(
            map = what,
            attempt,
            pause_ms = pause.as_millis() as u64,
            "map update found no kernel memory ready (ENOMEM): trying again"
        );
        std::thread::sleep(pause);
        result = update();
    }
    result
}

/// Whether the kernel had no memory ready for a map update (ENOMEM).
fn no_memory(e: &DataPlaneError) -> bool {
    let map = match e {
        DataPlaneError::Map(e) | DataPlaneError::DevMap(XdpMapError::MapError(e)) => e,
        _ => return false,
    };
    matches!(map, MapError::SyscallError(s) if s.io_error.raw_os_error() == Some(libc::ENOMEM))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map error as `bpf_map_update_elem` failing with `errno`.
    fn update_failed(errno: i32) -> DataPlaneError {
        DataPlaneError::Map(MapError::SyscallError(aya::sys::SyscallError {
            call: "bpf_map_update_elem",
            io_error: std::io::Error::from_raw_os_error(errno),
        }))
    }

    /// Runs `allocating` over the outcomes in order, returning its result and how many
    /// attempts it made.
    fn attempts(outcomes: &[Option<i32>]) -> (Result<(), DataPlaneError>, usize) {
        let mut made = 0;
        let result = allocating("test", || {
            made += 1;
            match outcomes[made - 1] {
                None => Ok(()),
                Some(errno) => Err(update_failed(errno)),
            }
        });
        (result, made)
    }

    #[test]
    fn an_update_short_of_kernel_memory_is_tried_again_until_it_succeeds() {
        let (result, made) = attempts(&[Some(libc::ENOMEM), Some(libc::ENOMEM), None]);
        assert!(result.is_ok());
        assert_eq!(made, 3);
    }

    #[test]
    fn an_update_short_of_memory_every_time_fails_after_the_last_retry() {
        let (result, made) = attempts(&[Some(libc::ENOMEM); 5]);
        assert!(result.is_err_and(|e| no_memory(&e)));
        assert_eq!(made, 1 + BACKOFF.len());
    }

    #[test]
    fn a_full_map_is_not_tried_again() {
        let (result, made) = attempts(&[Some(libc::E2BIG)]);
        assert!(result.is_err());
        assert_eq!(made, 1);
    }
}
