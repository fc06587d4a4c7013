//! Reconnect delays: exponential with jitter ("equal jitter": half fixed, half random, so
//! agents restarted together spread out but never retry in a tight loop).

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call doubles the ceiling up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.attempt.min(16))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// After a session that got its Welcome: start again from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_within_bounds_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let ceilings = [100, 200, 400, 800, 1600, 2000, 2000, 2000];
        for c in ceilings {
            let d = b.next_delay();
            assert!(
                d >= Duration::from_millis(c / 2) && d <= Duration::from_millis(c),
                "{d:?} outside {}..={c} ms",
                c / 2
            );
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        for _ in 0..100 {
            b.next_delay();
        }
        assert!(
            b.next_delay() <= Duration::from_secs(2),
            "no overflow after many attempts"
        );
    }
}
