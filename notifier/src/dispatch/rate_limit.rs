//! Per-destination rate limit: a token bucket per key on tokio's clock (so tests can pause
//! time), answering either "go" or how long until the next token.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// Buckets kept before idle (full) ones are dropped.
const PRUNE_ABOVE: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// `per_minute` requests per key and minute, in bursts of at most `per_minute`.
#[derive(Debug)]
pub struct RateLimiter {
    capacity: f64,
    per_sec: f64,
    buckets: HashMap<String, Bucket>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        let capacity = f64::from(per_minute.max(1));
        RateLimiter {
            capacity,
            per_sec: capacity / 60.0,
            buckets: HashMap::new(),
        }
    }

    /// Takes a token for `key`, or says how long until one is available.
    pub fn try_acquire(&mut self, key: &str, now: Instant) -> Result<(), Duration> {
        if self.buckets.len() > PRUNE_ABOVE {
            self.prune(now);
        }
        let capacity = self.capacity;
        let b = self.buckets.entry(key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_sec).min(capacity);
        b.updated = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - b.tokens) / self.per_sec))
    }

    /// Drops buckets that have refilled completely: they behave exactly like new ones.
    fn prune(&mut self, now: Instant) {
        let (capacity, per_sec) = (self.capacity, self.per_sec);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.updated).as_secs_f64() * per_sec < capacity
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bursts_then_refills_at_the_rate() {
        let mut rl = RateLimiter::new(60);
        for i in 0..60 {
            assert_eq!(
                rl.try_acquire("a", Instant::now()),
                Ok(()),
                "burst token {i}"
            );
        }
        let wait = rl
            .try_acquire("a", Instant::now())
            .expect_err("bucket empty");
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        // Another destination has its own bucket.
        assert_eq!(rl.try_acquire("b", Instant::now()), Ok(()));
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(rl.try_acquire("a", Instant::now()).is_err());
        tokio::time::advance(Duration::from_millis(500)).await;
        assert_eq!(rl.try_acquire("a", Instant::now()), Ok(()));
        assert!(rl.try_acquire("a", Instant::now()).is_err());
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..60 {
            assert_eq!(
                rl.try_acquire("a", Instant::now()),
                Ok(()),
                "refilled to capacity, not beyond"
            );
        }
        assert!(rl.try_acquire("a", Instant::now()).is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn idle_buckets_are_pruned() {
        let mut rl = RateLimiter::new(1);
        for i in 0..=PRUNE_ABOVE {
            assert_eq!(rl.try_acquire(&format!("k{i}"), Instant::now()), Ok(()));
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        assert_eq!(rl.try_acquire("fresh", Instant::now()), Ok(()));
        assert_eq!(rl.buckets.len(), 1);
    }
}
