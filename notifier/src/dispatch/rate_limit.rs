//! Per-integration rate limit: a token bucket per key on tokio's clock (so tests can pause
//! time), answering either "go" or how long until the next token. Each key has its own rate
//! (the integration's `rate_limit_per_minute`); a changed rate applies from the next call.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_ABOVE: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
    /// Tokens per minute, which is also the burst.
    capacity: f64,
}

impl Bucket {
    fn per_sec(&self) -> f64 {
        self.capacity / 60.0
    }
}

/// A token bucket per key: `per_minute` requests per minute, in bursts of at most `per_minute`.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub fn new() -> RateLimiter {
        RateLimiter::default()
    }

    /// Takes a token for `key` at `per_minute`, or says how long until one is available.
    pub fn try_acquire(
        &mut self,
        key: &str,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        if self.buckets.len() > PRUNE_ABOVE {
            self.prune(now);
        }
        let capacity = f64::from(per_minute.max(1));
        let b = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
            capacity,
        });
        b.capacity = capacity;
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * b.per_sec()).min(capacity);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - b.tokens) / b.per_sec()))
    }

    /// Drops buckets that have refilled completely: they behave exactly like new ones.
    fn prune(&mut self, now: Instant) {
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * b.per_sec()
                < b.capacity
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_refills_at_the_rate() {
        let mut rl = RateLimiter::new();
        for i in 0..60 {
            assert_eq!(
                rl.try_acquire("a", 60, Instant::now()),
                Ok(()),
                "burst token {i}"
            );
        }
        let wait = rl
            .try_acquire("a", 60, Instant::now())
            .expect_err("bucket empty");
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        // Another destination has its own bucket.
        assert_eq!(rl.try_acquire("b", 60, Instant::now()), Ok(()));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(rl.try_acquire("a", 60, Instant::now()).is_err());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(rl.try_acquire("a", 60, Instant::now()), Ok(()));
        assert!(rl.try_acquire("a", 60, Instant::now()).is_err());
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..60 {
            assert_eq!(
                rl.try_acquire("a", 60, Instant::now()),
                Ok(()),
                "refilled to capacity, not beyond"
            );
        }
        assert!(rl.try_acquire("a", 60, Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_pruned() {
        let mut rl = RateLimiter::new();
        for i in 0..=PRUNE_ABOVE {
            assert_eq!(rl.try_acquire(&format!("k{i}"), 1, Instant::now()), Ok(()));
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(rl.try_acquire("fresh", 60, Instant::now()), Ok(()));
        assert_eq!(rl.buckets.len(), 1);
    }
}
