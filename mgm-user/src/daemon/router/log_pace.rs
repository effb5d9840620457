//! Log lines about refusals and misses a client or host can cause at any rate: one line per
//! [`LOG_INTERVAL`] at most, by the core's clock (each refusal is counted elsewhere).
use std::time::{Duration, Instant};

/// The shortest time between two lines of one [`LogPace`].
pub(super) const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// When one kind of line was last logged.
#[derive(Debug, Default)]
pub(super) struct LogPace(Option<Instant>);

impl LogPace {
    /// Whether a line is due at `now` (the next one then only after [`LOG_INTERVAL`]).
    pub(super) fn due(&mut self, now: Instant) -> bool {
        if self
            .0
            .is_some_and(|at| now.saturating_duration_since(at) < LOG_INTERVAL)
        {
            return false;
        }
        self.0 = Some(now);
        true
    }
}
