//! The scheduler's time: Unix epoch milliseconds derived from the monotonic clock, so a
//! wall-clock jump never bunches or skips checks, and tests can pause and advance it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Maps between epoch milliseconds and `tokio::time::Instant`, anchored once.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base: Instant,
    base_ms: i64,
}

impl Clock {
    /// Anchored at the current system time.
    pub fn system() -> Clock {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        Clock::starting_at(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
    }

    /// Anchored so that now is `epoch_ms` (tests pick the instant they need).
    pub fn starting_at(epoch_ms: i64) -> Clock {
        Clock {
            base: Instant::now(),
            base_ms: epoch_ms,
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.ms_at(Instant::now())
    }

    pub fn ms_at(&self, at: Instant) -> i64 {
        let elapsed = at.saturating_duration_since(self.base).as_millis();
        self.base_ms
            .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX))
    }

    /// The instant at `epoch_ms` (the anchor itself for times before it).
    pub fn instant_at(&self, epoch_ms: i64) -> Instant {
        let offset = u64::try_from(epoch_ms.saturating_sub(self.base_ms)).unwrap_or(0);
        self.base + Duration::from_millis(offset)
    }
}
