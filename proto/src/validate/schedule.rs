//! Validation of when a monitor runs: a fixed interval or a cron expression that fires, and a
//! timeout that ends before the next run starts.

use super::text::bounded;
use super::{
    DEFAULT_TIMEOUT_MS, FieldError, MAX_CRON_BYTES, MAX_INTERVAL_SECS, MAX_TIMEOUT_MS, err,
};
use crate::bounds::quote;
use crate::v1::Monitor;

/// The interval or cron schedule and the timeout, which must fit in one interval: a longer
/// one would be cut to the interval without anyone being told.
pub(super) fn schedule(m: &mut Monitor) -> Result<(), FieldError> {
    bounded("cron", &m.cron, MAX_CRON_BYTES)?;
    m.cron = m.cron.trim().to_string();
    if !m.cron.is_empty() {
        if m.interval_secs != 0 {
            return Err(err("cron", "set either cron or interval_secs, not both"));
        }
        cron_expression(&m.cron).map_err(|reason| err("cron", reason))?;
    } else if m.interval_secs == 0 {
        // An empty (or blank) cron is no schedule: say what is missing, not that 0 is bad.
        return Err(err(
            "interval_secs",
            format!("one of interval_secs (1..={MAX_INTERVAL_SECS}) or cron is required"),
        ));
    } else if m.interval_secs > MAX_INTERVAL_SECS {
        return Err(err(
            "interval_secs",
            format!(
                "{} is invalid, must be 1..={MAX_INTERVAL_SECS}",
                m.interval_secs
            ),
        ));
    }
    let interval_ms = (m.interval_secs != 0).then(|| u64::from(m.interval_secs) * 1000);
    if m.timeout_ms == 0 {
        let fits = interval_ms.map_or(u64::from(DEFAULT_TIMEOUT_MS), |i| {
            i.min(u64::from(DEFAULT_TIMEOUT_MS))
        });
        m.timeout_ms = u32::try_from(fits).expect("at most DEFAULT_TIMEOUT_MS");
    }
    if m.timeout_ms > MAX_TIMEOUT_MS {
        return Err(err(
            "timeout_ms",
            format!("{} is invalid, must be 1..={MAX_TIMEOUT_MS}", m.timeout_ms),
        ));
    }
    if let Some(i) = interval_ms.filter(|i| u64::from(m.timeout_ms) > *i) {
        return Err(err(
            "timeout_ms",
            format!(
                "{} ms is longer than the interval (interval_secs: {}, {i} ms); a check \
                 must end before the next one starts",
                m.timeout_ms, m.interval_secs
            ),
        ));
    }
    Ok(())
}

/// A 5-field cron expression (minute hour day-of-month month day-of-week, UTC) that matches
/// at least once: one that never fires would silently never check.
pub fn cron_expression(pattern: &str) -> Result<(), String> {
    use croner::parser::{CronParser, Seconds, Year};
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| {
            format!(
                "{} is not a valid 5-field cron expression: {e}",
                quote(pattern)
            )
        })?;
    let reference = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
    cron.find_next_occurrence(&reference, false)
        .map(|_| ())
        .map_err(|_| format!("{} never matches a date", quote(pattern)))
}
