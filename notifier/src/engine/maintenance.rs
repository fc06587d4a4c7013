//! Maintenance windows: one-off (`start_ms`..`end_ms`) and recurring (a cron expression for
//! each start, read in an IANA time zone, plus a duration). Built once per monitor version;
//! `active_until` says whether `now` is inside one and when that ends.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use lookout_proto::v1::MaintenanceWindow;

/// A window the monitor's stored spec holds but this notifier cannot read (validation
/// refuses these, so only a spec from a newer coordinator gets here).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaintenanceError {
    #[error("maintenance[{index}].cron: {reason}")]
    Cron { index: usize, reason: String },
    #[error("maintenance[{index}].time_zone: {name:?} is not an IANA time zone")]
    TimeZone { index: usize, name: String },
}

#[derive(Debug, Clone)]
enum Window {
    OneOff {
        start_ms: i64,
        end_ms: i64,
    },
    Recurring {
        cron: Box<Cron>,
        duration_ms: i64,
        tz: Tz,
    },
}

/// A monitor's maintenance windows, parsed.
#[derive(Debug, Clone, Default)]
pub struct Windows {
    items: Vec<Window>,
}

/// How far ahead overlapping recurring windows are chained into one (the longest window): a
/// chain that never ends by itself ends here, and is asked again then.
const CHAIN_HORIZON_MS: i64 = 7 * 86_400_000;

impl Windows {
    pub fn new(spec: &[MaintenanceWindow]) -> Result<Windows, MaintenanceError> {
        let mut items = Vec::with_capacity(spec.len());
        for (index, w) in spec.iter().enumerate() {
            if w.cron.is_empty() {
                items.push(Window::OneOff {
                    start_ms: w.start_ms,
                    end_ms: w.end_ms,
                });
                continue;
            }
            let cron = CronParser::builder()
                .seconds(Seconds::Disallowed)
                .year(Year::Disallowed)
                .build()
                .parse(&w.cron)
                .map_err(|e| MaintenanceError::Cron {
                    index,
                    reason: e.to_string(),
                })?;
            let name = if w.time_zone.is_empty() {
                "UTC"
            } else {
                &w.time_zone
            };
            let tz = Tz::from_str(name).map_err(|_| MaintenanceError::TimeZone {
                index,
                name: name.to_string(),
            })?;
            items.push(Window::Recurring {
                cron: Box::new(cron),
                duration_ms: i64::from(w.duration_minutes) * 60_000,
                tz,
            });
        }
        Ok(Windows { items })
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// When the maintenance covering `now_ms` ends (the latest end of the windows covering
    /// it, following windows that start before the previous one ends); `None` outside.
    pub fn active_until(&self, now_ms: i64) -> Option<i64> {
        let mut until: Option<i64> = None;
        for w in &self.items {
            let end = match w {
                Window::OneOff { start_ms, end_ms } => {
                    (*start_ms <= now_ms && now_ms < *end_ms).then_some(*end_ms)
                }
                Window::Recurring {
                    cron,
                    duration_ms,
                    tz,
                } => recurring_until(cron, *duration_ms, tz, now_ms),
            };
            until = until.max(end);
        }
        // A one-off window may start inside another and last longer: chase the overlap, as
        // far as the chain horizon.
        let horizon = now_ms.saturating_add(CHAIN_HORIZON_MS);
        while let Some(end) = until.filter(|e| *e < horizon) {
            match self.active_until_at(end) {
                Some(later) if later > end => until = Some(later),
                _ => break,
            }
        }
        until
    }

    /// `active_until` without chasing overlaps (one step of it).
    fn active_until_at(&self, at_ms: i64) -> Option<i64> {
        self.items
            .iter()
            .filter_map(|w| match w {
                Window::OneOff { start_ms, end_ms } => {
                    (*start_ms <= at_ms && at_ms < *end_ms).then_some(*end_ms)
                }
                Window::Recurring {
                    cron,
                    duration_ms,
                    tz,
                } => recurring_until(cron, *duration_ms, tz, at_ms),
            })
            .max()
    }
}

/// The end of the recurring window covering `now_ms`: the latest start at or before it plus
/// the duration, extended while the next start comes before that end.
fn recurring_until(cron: &Cron, duration_ms: i64, tz: &Tz, now_ms: i64) -> Option<i64> {
    let now = tz.from_utc_datetime(&DateTime::<Utc>::from_timestamp_millis(now_ms)?.naive_utc());
    let start = cron.find_previous_occurrence(&now, true).ok()?;
    let mut end = start.timestamp_millis().saturating_add(duration_ms);
    if end <= now_ms {
        return None;
    }
    let horizon = now_ms.saturating_add(CHAIN_HORIZON_MS);
    let mut at = start;
    while end < horizon {
        let Ok(next) = cron.find_next_occurrence(&at, false) else {
            break;
        };
        if next.timestamp_millis() > end {
            break;
        }
        end = end.max(next.timestamp_millis().saturating_add(duration_ms));
        at = next;
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        DateTime::parse_from_rfc3339(rfc3339)
            .expect("test time")
            .timestamp_millis()
    }

    fn recurring(cron: &str, minutes: u32, tz: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            cron: cron.into(),
            duration_minutes: minutes,
            time_zone: tz.into(),
            ..Default::default()
        }
    }

    fn one_off(start: &str, end: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            start_ms: ms(start),
            end_ms: ms(end),
            ..Default::default()
        }
    }

    #[test]
    fn windows_cover_their_time_and_say_when_they_end() {
        // (name, windows, now, expected end)
        let cases: Vec<(&str, Vec<MaintenanceWindow>, &str, Option<&str>)> = vec![
            (
                "one-off, inside",
                vec![one_off("2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z")],
                "2026-03-01T11:00:00Z",
                Some("2026-03-01T12:00:00Z"),
            ),
            (
                "one-off, end is outside",
                vec![one_off("2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z")],
                "2026-03-01T12:00:00Z",
                None,
            ),
            (
                "one-off, before",
                vec![one_off("2026-03-01T10:00:00Z", "2026-03-01T12:00:00Z")],
                "2026-03-01T09:59:59Z",
                None,
            ),
            (
                "Sundays 02:00 Berlin for an hour, in winter (UTC+1)",
                vec![recurring("0 2 * * 0", 60, "Europe/Berlin")],
                "2026-01-04T01:30:00Z",
                Some("2026-01-04T02:00:00Z"),
            ),
            (
                "the same window in summer (UTC+2)",
                vec![recurring("0 2 * * 0", 60, "Europe/Berlin")],
                "2026-07-05T00:30:00Z",
                Some("2026-07-05T01:00:00Z"),
            ),
            (
                "an hour later in UTC is outside",
                vec![recurring("0 2 * * 0", 60, "Europe/Berlin")],
                "2026-07-05T01:30:00Z",
                None,
            ),
            (
                "a weekday is outside",
                vec![recurring("0 2 * * 0", 60, "Europe/Berlin")],
                "2026-07-06T00:30:00Z",
                None,
            ),
            (
                "overlapping starts chain: every 10 minutes for 15",
                vec![recurring("*/10 * * * *", 15, "UTC")],
                "2026-03-01T10:03:00Z",
                // Each start comes before the previous window ends: it never ends by itself,
                // so the chain stops a week ahead.
                Some("2026-03-08T10:05:00Z"),
            ),
            (
                "a one-off inside a recurring one extends it",
                vec![
                    recurring("0 10 * * *", 60, "UTC"),
                    one_off("2026-03-01T10:30:00Z", "2026-03-01T13:00:00Z"),
                ],
                "2026-03-01T10:05:00Z",
                Some("2026-03-01T13:00:00Z"),
            ),
            ("no windows", vec![], "2026-03-01T10:05:00Z", None),
        ];
        for (name, spec, now, want) in cases {
            let w = Windows::new(&spec).expect(name);
            assert_eq!(w.active_until(ms(now)), want.map(ms), "{name}");
        }
    }

    #[test]
    fn unreadable_windows_name_the_field() {
        let e = Windows::new(&[recurring("0 2 * * *", 60, "Mars/Olympus")]).expect_err("tz");
        assert_eq!(
            e.to_string(),
            "maintenance[0].time_zone: \"Mars/Olympus\" is not an IANA time zone"
        );
        let e = Windows::new(&[recurring("nope", 60, "UTC")]).expect_err("cron");
        assert!(e.to_string().starts_with("maintenance[0].cron: "), "{e}");
    }
}
