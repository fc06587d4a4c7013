//! When a monitor is due: fixed intervals and 5-field cron, each shifted by a stable
//! per-monitor phase so that many monitors with the same schedule spread evenly.

use std::hash::Hasher;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use lookout_proto::Monitor;

/// Cron monitors are shifted by at most this much: less than the shortest gap between two
/// occurrences of a 5-field expression (one minute), so the order of occurrences is kept.
const CRON_MAX_PHASE_MS: u64 = 60_000;
const MAX_INTERVAL_SECS: u32 = 86_400;

/// A monitor whose schedule cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("cron {pattern:?} is invalid: {reason}")]
    Cron { pattern: String, reason: String },
    #[error("interval_secs {0} is invalid, must be 1..=86400")]
    Interval(u32),
}

/// The due times of one monitor, in Unix epoch milliseconds.
#[derive(Debug, Clone)]
pub enum Schedule {
    /// Due at every `k * period_ms + phase_ms`.
    Interval { period_ms: i64, phase_ms: i64 },
    /// Due `phase_ms` after every occurrence of `cron` (UTC).
    Cron {
        cron: Box<Cron>,
        pattern: String,
        phase_ms: i64,
    },
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Schedule) -> bool {
        match (self, other) {
            (
                Schedule::Interval {
                    period_ms: a,
                    phase_ms: pa,
                },
                Schedule::Interval {
                    period_ms: b,
                    phase_ms: pb,
                },
            ) => a == b && pa == pb,
            (
                Schedule::Cron {
                    pattern: a,
                    phase_ms: pa,
                    ..
                },
                Schedule::Cron {
                    pattern: b,
                    phase_ms: pb,
                    ..
                },
            ) => a == b && pa == pb,
            _ => false,
        }
    }
}

/// Parses a 5-field cron expression (minute hour day-of-month month day-of-week).
pub fn parse_cron(pattern: &str) -> Result<Cron, ScheduleError> {
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| ScheduleError::Cron {
            pattern: pattern.to_string(),
            reason: e.to_string(),
        })
}

impl Schedule {
    /// The schedule of `monitor`: its cron expression when set, otherwise its interval.
    pub fn for_monitor(monitor: &Monitor) -> Result<Schedule, ScheduleError> {
        let hash = phase_hash(&monitor.id);
        if !monitor.cron.trim().is_empty() {
            let pattern = monitor.cron.trim().to_string();
            let cron = parse_cron(&pattern)?;
            let phase_ms = (hash % CRON_MAX_PHASE_MS) as i64;
            return Ok(Schedule::Cron {
                cron: Box::new(cron),
                pattern,
                phase_ms,
            });
        }
        if monitor.interval_secs == 0 || monitor.interval_secs > MAX_INTERVAL_SECS {
            return Err(ScheduleError::Interval(monitor.interval_secs));
        }
        let period = u64::from(monitor.interval_secs) * 1000;
        Ok(Schedule::Interval {
            period_ms: period as i64,
            phase_ms: (hash % period) as i64,
        })
    }

    /// The first due time strictly after `after_ms`; `None` when a cron expression never
    /// matches again.
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        match self {
            Schedule::Interval {
                period_ms,
                phase_ms,
            } => {
                let k = (after_ms - phase_ms).div_euclid(*period_ms) + 1;
                Some(k * period_ms + phase_ms)
            }
            Schedule::Cron { cron, phase_ms, .. } => {
                // `after - phase` itself is excluded: a monitor that just ran is not due again.
                let from = DateTime::<Utc>::from_timestamp_millis(after_ms - phase_ms)?;
                let next = cron.find_next_occurrence(&from, false).ok()?;
                Some(next.timestamp_millis() + phase_ms)
            }
        }
    }
}

/// A stable 64-bit hash of a monitor id (FNV-1a, then a SplitMix64 finaliser so that
/// `hash % period` is uniform). Stable across processes, builds and agents.
pub fn phase_hash(id: &str) -> u64 {
    let mut h = IdHasher::default();
    h.write(id.as_bytes());
    h.finish()
}

/// FNV-1a with a SplitMix64 finaliser: `phase_hash`, and the scheduler's hash of ids.
pub(super) struct IdHasher(u64);

impl Default for IdHasher {
    fn default() -> IdHasher {
        IdHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 30;
        h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h ^= h >> 27;
        h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^ (h >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interval(id: &str, secs: u32) -> Schedule {
        let m = Monitor {
            id: id.into(),
            interval_secs: secs,
            ..Default::default()
        };
        Schedule::for_monitor(&m).expect("valid interval")
    }

    fn cron(id: &str, pattern: &str) -> Schedule {
        let m = Monitor {
            id: id.into(),
            cron: pattern.into(),
            ..Default::default()
        };
        Schedule::for_monitor(&m).expect("valid cron")
    }

    fn phase(s: &Schedule) -> i64 {
        match s {
            Schedule::Interval { phase_ms, .. } | Schedule::Cron { phase_ms, .. } => *phase_ms,
        }
    }

    /// 2026-01-31T23:59:00Z, a minute before a month (and day) boundary.
    const JAN31_2359: i64 = 1_769_903_940_000;

    #[test]
    fn phases_are_stable_and_spread_evenly() {
        assert_eq!(phase(&interval("mon_a", 10)), phase(&interval("mon_a", 10)));
        assert_ne!(phase(&interval("mon_a", 10)), phase(&interval("mon_b", 10)));
        // 100,000 monitors at 10 s: every 100 ms slot of the period holds close to 1,000.
        let mut slots = vec![0u32; 100];
        for i in 0..100_000 {
            let p = phase(&interval(&format!("mon_{i}"), 10));
            assert!((0..10_000).contains(&p));
            slots[(p / 100) as usize] += 1;
        }
        let (min, max) = (slots.iter().min().copied(), slots.iter().max().copied());
        assert!(
            min >= Some(880) && max <= Some(1120),
            "uneven spread: {min:?}..{max:?}"
        );
    }

    #[test]
    fn interval_due_times_follow_the_phase() {
        let s = interval("mon_x", 60);
        let p = phase(&s);
        let first = s.next_after(0).expect("interval always has a next");
        assert_eq!(first, if p > 0 { p } else { 60_000 });
        assert_eq!(s.next_after(first), Some(first + 60_000));
        assert_eq!(s.next_after(first - 1), Some(first));
        assert_eq!(s.next_after(first + 59_999), Some(first + 60_000));
        // before the epoch too (a clock set far back must not break scheduling)
        assert_eq!(
            s.next_after(-1_000_000).map(|d| (d - p).rem_euclid(60_000)),
            Some(0)
        );
    }

    #[test]
    fn cron_edges() {
        let every_minute = cron("mon_c", "* * * * *");
        let p = phase(&every_minute);
        assert!((0..60_000).contains(&p));
        // exactly at a due time: the next one is a minute later
        let due = JAN31_2359 + p;
        assert_eq!(every_minute.next_after(due - 1), Some(due));
        assert_eq!(every_minute.next_after(due), Some(due + 60_000));
        // month boundary: "0 0 1 * *" after Jan 31 23:59 is Feb 1 00:00
        let monthly = cron("mon_c", "0 0 1 * *");
        assert_eq!(
            monthly.next_after(JAN31_2359),
            Some(JAN31_2359 + 60_000 + p)
        );
        // Feb 29 only exists in 2028
        let leap = cron("mon_c", "0 12 29 2 *");
        let feb29_2028_noon = 1_835_438_400_000;
        assert_eq!(leap.next_after(JAN31_2359), Some(feb29_2028_noon + p));
        // weekday names and steps
        let weekdays = cron("mon_c", "*/15 9-17 * * MON-FRI");
        let next = weekdays.next_after(JAN31_2359).expect("matches");
        // Jan 31 2026 is a Saturday: the next match is Monday Feb 2, 09:00
        assert_eq!(next, JAN31_2359 + 60_000 + 33 * 3_600_000 + p);
    }

    #[test]
    fn refuses_bad_schedules() {
        let bad_cron = Monitor {
            id: "m".into(),
            cron: "61 * * * *".into(),
            ..Default::default()
        };
        assert!(matches!(
            Schedule::for_monitor(&bad_cron),
            Err(ScheduleError::Cron { .. })
        ));
        let six_fields = Monitor {
            id: "m".into(),
            cron: "0 * * * * *".into(),
            ..Default::default()
        };
        assert!(matches!(
            Schedule::for_monitor(&six_fields),
            Err(ScheduleError::Cron { .. })
        ));
        let zero = Monitor {
            id: "m".into(),
            interval_secs: 0,
            ..Default::default()
        };
        assert_eq!(
            Schedule::for_monitor(&zero).err(),
            Some(ScheduleError::Interval(0))
        );
    }
}
