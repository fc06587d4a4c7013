//! When to try a failed delivery again: exponential backoff with "equal" jitter (a delay drawn
//! from the upper half of the doubling ceiling), a retry budget, and the receiver's
//! `Retry-After` as a floor. Equal rather than full jitter keeps retries of many deliveries
//! apart while guaranteeing the schedule's span: with the defaults a delivery is retried for at
//! least 15 minutes, so a receiver's short outage does not lose an incident.

use std::time::Duration;

use rand::Rng;

use crate::config::DeliveryConfig;

/// The retry rules of one delivery pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub max: Duration,
    /// Retries after the first attempt; the delivery is dead after `max_retries + 1` attempts.
    pub max_retries: u32,
}

/// What to do after a retryable failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextAttempt {
    After(Duration),
    GiveUp,
}

impl From<&DeliveryConfig> for RetryPolicy {
    fn from(c: &DeliveryConfig) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(c.backoff_base_ms),
            max: Duration::from_millis(c.backoff_max_ms),
            max_retries: c.max_retries,
        }
    }
}

impl RetryPolicy {
    /// The decision after `attempts` attempts (1 = the first one failed).
    pub fn after_failure(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> NextAttempt {
        if attempts > self.max_retries {
            return NextAttempt::GiveUp;
        }
        let cap = millis(self.ceiling(attempts));
        let jittered = Duration::from_millis(rng.random_range(cap / 2..=cap));
        NextAttempt::After(jittered.max(retry_after.unwrap_or_default()))
    }

    /// `min(max, base * 2^(attempts-1))`: the upper bound of the jittered delay.
    fn ceiling(&self, attempts: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const P: RetryPolicy = RetryPolicy {
        base: Duration::from_millis(1000),
        max: Duration::from_millis(300_000),
        max_retries: 5,
    };

    #[test]
    fn ceilings_double_up_to_max() {
        let cases = [
            (1, 1_000),
            (2, 2_000),
            (3, 4_000),
            (6, 32_000),
            (9, 256_000),
            (10, 300_000),
            (40, 300_000),
            (u32::MAX, 300_000),
        ];
        for (attempts, want_ms) in cases {
            assert_eq!(
                P.ceiling(attempts),
                Duration::from_millis(want_ms),
                "attempt {attempts}"
            );
        }
    }

    #[test]
    fn the_default_schedule_spans_at_least_15_minutes() {
        let p = RetryPolicy::from(&DeliveryConfig::default());
        let mut shortest = Duration::MAX;
        let mut longest = Duration::ZERO;
        for seed in 0..500 {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut span = Duration::ZERO;
            let mut first = None;
            for attempts in 1..=p.max_retries {
                let NextAttempt::After(d) = p.after_failure(attempts, None, &mut rng) else {
                    panic!("retry {attempts} of {} is made", p.max_retries);
                };
                first.get_or_insert(d);
                span += d;
            }
            assert_eq!(
                p.after_failure(p.max_retries + 1, None, &mut rng),
                NextAttempt::GiveUp
            );
            let first = first.expect("at least one retry");
            assert!(
                (Duration::from_millis(2_500)..=Duration::from_secs(5)).contains(&first),
                "first retry after {first:?}"
            );
            shortest = shortest.min(span);
            longest = longest.max(span);
        }
        // What README.md documents: the last retry 17.5 to 35 minutes after the first attempt.
        assert!(shortest >= Duration::from_secs(15 * 60), "{shortest:?}");
        assert!(shortest >= Duration::from_secs(1_050), "{shortest:?}");
        assert!(longest <= Duration::from_secs(2_115), "{longest:?}");
    }

    #[test]
    fn jitter_stays_in_the_upper_half_of_the_ceiling_and_spreads() {
        let mut rng = StdRng::seed_from_u64(7);
        for attempts in 1..=5 {
            let mut seen = Vec::new();
            for _ in 0..200 {
                let NextAttempt::After(d) = P.after_failure(attempts, None, &mut rng) else {
                    panic!("attempt {attempts} must be retried");
                };
                assert!(d <= P.ceiling(attempts) && d >= P.ceiling(attempts) / 2);
                seen.push(d);
            }
            let lowest = seen.iter().min().copied().unwrap_or_default();
            let highest = seen.iter().max().copied().unwrap_or_default();
            assert!(
                lowest < P.ceiling(attempts) * 5 / 8 && highest > P.ceiling(attempts) * 7 / 8,
                "spread {lowest:?}..{highest:?}"
            );
        }
    }

    #[test]
    fn budget_and_retry_after() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(P.after_failure(6, None, &mut rng), NextAttempt::GiveUp);
        assert_eq!(
            RetryPolicy {
                max_retries: 0,
                ..P
            }
            .after_failure(1, None, &mut rng),
            NextAttempt::GiveUp
        );
        for _ in 0..50 {
            let NextAttempt::After(d) = P.after_failure(1, Some(Duration::from_secs(30)), &mut rng)
            else {
                panic!("must retry");
            };
            assert_eq!(
                d,
                Duration::from_secs(30),
                "retry-after above the ceiling wins"
            );
        }
    }
}
