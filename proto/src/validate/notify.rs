//! Validation of the incident engine's monitor settings (fields 40..=59): quorum mode,
//! escalation levels, reminders, maintenance windows, the parent monitor, certificate expiry
//! and flapping. Defaults are filled in here, so the notifier reads every field as given.

use std::str::FromStr;

use super::schedule::cron_expression;
use super::text::{bounded, bounded_list};
use super::{FieldError, MAX_CRON_BYTES, MAX_ID_BYTES, MAX_INTEGRATIONS, err};
use crate::bounds::quote;
use crate::v1::monitor::Check;
use crate::v1::{Monitor, QuorumMode};

/// Escalation levels per monitor (levels 2..=9).
pub const MAX_ESCALATION_LEVELS: usize = 8;
/// Largest `after_failures` of an escalation level.
pub const MAX_ESCALATION_FAILURES: u32 = 10_000;
/// Largest `after_secs` of an escalation level (a week).
pub const MAX_ESCALATION_SECS: u32 = 604_800;
/// Largest `reminders.every_minutes` (a week).
pub const MAX_REMINDER_MINUTES: u32 = 10_080;
/// Largest `reminders.max`, and its default.
pub const MAX_REMINDERS: u32 = 1_000;
pub const DEFAULT_MAX_REMINDERS: u32 = 10;
/// Maintenance windows per monitor.
pub const MAX_MAINTENANCE_WINDOWS: usize = 16;
/// Longest one-off maintenance window (366 days), in milliseconds.
pub const MAX_ONE_OFF_WINDOW_MS: i64 = 366 * 86_400_000;
/// Longest recurring maintenance window (a week), in minutes.
pub const MAX_WINDOW_MINUTES: u32 = 10_080;
/// Bytes of an IANA time zone name.
pub const MAX_TIME_ZONE_BYTES: usize = 64;
/// Certificate expiry threshold: default (as Checkly) and largest, in days.
pub const DEFAULT_CERT_DAYS: u32 = 30;
pub const MAX_CERT_DAYS: u32 = 365;
/// Flapping: changes in a window (2..=100) and the window (60..=86400 s, default 3600).
pub const MIN_FLAP_CHANGES: u32 = 2;
pub const MAX_FLAP_CHANGES: u32 = 100;
pub const MIN_FLAP_WINDOW_SECS: u32 = 60;
pub const MAX_FLAP_WINDOW_SECS: u32 = 86_400;
pub const DEFAULT_FLAP_WINDOW_SECS: u32 = 3_600;

/// The number of regions a quorum mode means for `regions` regions (`count` for COUNT).
pub fn quorum_count(mode: QuorumMode, count: u32, regions: usize) -> u32 {
    let n = u32::try_from(regions).unwrap_or(u32::MAX).max(1);
    match mode {
        QuorumMode::Unspecified | QuorumMode::Count => count.clamp(1, n),
        QuorumMode::Majority => n / 2 + 1,
        QuorumMode::All => n,
    }
}

/// Checks every incident engine field of `m` (regions already sorted and deduplicated) and
/// fills in the defaults. In MAJORITY and ALL modes `region_quorum` is filled with the count
/// the mode means, so the admin API shows it; a different count is refused.
pub(super) fn engine(m: &mut Monitor) -> Result<(), FieldError> {
    quorum(m)?;
    escalation(m)?;
    reminders(m)?;
    maintenance(m)?;
    parent(m)?;
    certificate(m)?;
    flapping(m)
}

fn quorum(m: &mut Monitor) -> Result<(), FieldError> {
    let mode = QuorumMode::try_from(m.quorum_mode).map_err(|_| {
        err(
            "quorum_mode",
            format!("{} is not a known quorum mode (0..=3)", m.quorum_mode),
        )
    })?;
    if matches!(mode, QuorumMode::Majority | QuorumMode::All) {
        let means = quorum_count(mode, 0, m.regions.len());
        if m.region_quorum != 0 && m.region_quorum != means {
            return Err(err(
                "region_quorum",
                format!(
                    "{} conflicts with quorum_mode {} ({means} of the {} regions); leave it unset",
                    m.region_quorum,
                    mode.as_str_name(),
                    m.regions.len()
                ),
            ));
        }
        m.region_quorum = means;
    }
    Ok(())
}

fn integration_ids(field: &str, ids: &[String]) -> Result<(), FieldError> {
    bounded_list(field, ids.len(), MAX_INTEGRATIONS)?;
    for (i, id) in ids.iter().enumerate() {
        let f = format!("{field}[{i}]");
        if id.is_empty() {
            return Err(err(f, "must not be empty"));
        }
        bounded(f.clone(), id, MAX_ID_BYTES)?;
        if ids[..i].contains(id) {
            return Err(err(f, format!("{} is listed twice", quote(id))));
        }
    }
    Ok(())
}

fn escalation(m: &Monitor) -> Result<(), FieldError> {
    bounded_list("escalation", m.escalation.len(), MAX_ESCALATION_LEVELS)?;
    for (i, l) in m.escalation.iter().enumerate() {
        let f = format!("escalation[{i}]");
        if l.after_failures == 0 && l.after_secs == 0 {
            return Err(err(
                &f,
                "needs after_failures or after_secs: when the level is reached",
            ));
        }
        if l.after_failures > MAX_ESCALATION_FAILURES {
            return Err(err(
                format!("{f}.after_failures"),
                format!(
                    "{} is invalid, must be 0..={MAX_ESCALATION_FAILURES}",
                    l.after_failures
                ),
            ));
        }
        if l.after_secs > MAX_ESCALATION_SECS {
            return Err(err(
                format!("{f}.after_secs"),
                format!(
                    "{} is invalid, must be 0..={MAX_ESCALATION_SECS}",
                    l.after_secs
                ),
            ));
        }
        if l.integration_ids.is_empty() {
            return Err(err(
                format!("{f}.integration_ids"),
                "must name at least one integration",
            ));
        }
        integration_ids(&format!("{f}.integration_ids"), &l.integration_ids)?;
        let Some(prev) = i.checked_sub(1).map(|p| &m.escalation[p]) else {
            continue;
        };
        let earlier = |a: u32, b: u32| a != 0 && b != 0 && b <= a;
        if earlier(prev.after_failures, l.after_failures) {
            return Err(err(
                format!("{f}.after_failures"),
                format!(
                    "{} must be more than the previous level's {}",
                    l.after_failures, prev.after_failures
                ),
            ));
        }
        if earlier(prev.after_secs, l.after_secs) {
            return Err(err(
                format!("{f}.after_secs"),
                format!(
                    "{} must be more than the previous level's {}",
                    l.after_secs, prev.after_secs
                ),
            ));
        }
    }
    Ok(())
}

fn reminders(m: &mut Monitor) -> Result<(), FieldError> {
    let Some(r) = m.reminders.as_mut() else {
        return Ok(());
    };
    if r.every_minutes > MAX_REMINDER_MINUTES {
        return Err(err(
            "reminders.every_minutes",
            format!(
                "{} is invalid, must be 0..={MAX_REMINDER_MINUTES} (0: no reminders)",
                r.every_minutes
            ),
        ));
    }
    if r.max == 0 {
        r.max = DEFAULT_MAX_REMINDERS;
    }
    if r.max > MAX_REMINDERS {
        return Err(err(
            "reminders.max",
            format!("{} is invalid, must be 1..={MAX_REMINDERS}", r.max),
        ));
    }
    Ok(())
}

fn maintenance(m: &mut Monitor) -> Result<(), FieldError> {
    bounded_list("maintenance", m.maintenance.len(), MAX_MAINTENANCE_WINDOWS)?;
    for (i, w) in m.maintenance.iter_mut().enumerate() {
        let f = format!("maintenance[{i}]");
        let one_off = w.start_ms != 0 || w.end_ms != 0;
        w.cron = w.cron.trim().to_string();
        let recurring = !w.cron.is_empty() || w.duration_minutes != 0;
        match (one_off, recurring) {
            (true, true) => {
                return Err(err(
                    f,
                    "set either start_ms/end_ms (one-off) or cron/duration_minutes (recurring), not both",
                ));
            }
            (false, false) => {
                return Err(err(
                    f,
                    "needs start_ms and end_ms (one-off) or cron and duration_minutes (recurring)",
                ));
            }
            (true, false) => {
                if w.start_ms <= 0 {
                    return Err(err(
                        format!("{f}.start_ms"),
                        format!(
                            "{} is invalid, must be a Unix time in milliseconds",
                            w.start_ms
                        ),
                    ));
                }
                if w.end_ms <= w.start_ms {
                    return Err(err(
                        format!("{f}.end_ms"),
                        format!("{} must be after start_ms {}", w.end_ms, w.start_ms),
                    ));
                }
                if w.end_ms - w.start_ms > MAX_ONE_OFF_WINDOW_MS {
                    return Err(err(
                        format!("{f}.end_ms"),
                        "the window is longer than 366 days",
                    ));
                }
                if !w.time_zone.is_empty() {
                    return Err(err(
                        format!("{f}.time_zone"),
                        "applies to recurring windows only (start_ms and end_ms are UTC instants)",
                    ));
                }
            }
            (false, true) => {
                bounded(format!("{f}.cron"), &w.cron, MAX_CRON_BYTES)?;
                if w.cron.is_empty() {
                    return Err(err(
                        format!("{f}.cron"),
                        "a recurring window needs a cron expression for its start",
                    ));
                }
                cron_expression(&w.cron).map_err(|r| err(format!("{f}.cron"), r))?;
                if w.duration_minutes == 0 || w.duration_minutes > MAX_WINDOW_MINUTES {
                    return Err(err(
                        format!("{f}.duration_minutes"),
                        format!(
                            "{} is invalid, must be 1..={MAX_WINDOW_MINUTES}",
                            w.duration_minutes
                        ),
                    ));
                }
                bounded(format!("{f}.time_zone"), &w.time_zone, MAX_TIME_ZONE_BYTES)?;
                w.time_zone = w.time_zone.trim().to_string();
                if w.time_zone.is_empty() {
                    w.time_zone = "UTC".into();
                }
                chrono_tz::Tz::from_str(&w.time_zone).map_err(|_| {
                    err(
                        format!("{f}.time_zone"),
                        format!(
                            "{} is not an IANA time zone (such as Europe/Berlin or UTC)",
                            quote(&w.time_zone)
                        ),
                    )
                })?;
            }
        }
    }
    Ok(())
}

fn parent(m: &mut Monitor) -> Result<(), FieldError> {
    m.parent_monitor_id = m.parent_monitor_id.trim().to_string();
    bounded("parent_monitor_id", &m.parent_monitor_id, MAX_ID_BYTES)?;
    if !m.parent_monitor_id.is_empty() && m.parent_monitor_id == m.id {
        return Err(err(
            "parent_monitor_id",
            "a monitor cannot depend on itself",
        ));
    }
    Ok(())
}

/// Whether the monitor's check presents a certificate: an https URL or a TLS check.
pub fn has_certificate(m: &Monitor) -> bool {
    match &m.check {
        Some(Check::Http(h)) => h
            .url
            .trim_start()
            .get(..8)
            .is_some_and(|s| s.eq_ignore_ascii_case("https://")),
        Some(Check::Tls(_)) => true,
        _ => false,
    }
}

fn certificate(m: &mut Monitor) -> Result<(), FieldError> {
    let has = has_certificate(m);
    let Some(c) = m.certificate_expiry.as_mut() else {
        return Ok(());
    };
    if c.enabled == Some(true) && !has {
        return Err(err(
            "certificate_expiry",
            "only https and tls monitors have a certificate",
        ));
    }
    if c.days == 0 {
        c.days = DEFAULT_CERT_DAYS;
    }
    if c.days > MAX_CERT_DAYS {
        return Err(err(
            "certificate_expiry.days",
            format!("{} is invalid, must be 1..={MAX_CERT_DAYS}", c.days),
        ));
    }
    Ok(())
}

fn flapping(m: &mut Monitor) -> Result<(), FieldError> {
    let Some(f) = m.flapping.as_mut() else {
        return Ok(());
    };
    if f.changes == 0 {
        // Off: the window means nothing.
        return Ok(());
    }
    if !(MIN_FLAP_CHANGES..=MAX_FLAP_CHANGES).contains(&f.changes) {
        return Err(err(
            "flapping.changes",
            format!(
                "{} is invalid, must be {MIN_FLAP_CHANGES}..={MAX_FLAP_CHANGES} (0: off)",
                f.changes
            ),
        ));
    }
    if f.window_secs == 0 {
        f.window_secs = DEFAULT_FLAP_WINDOW_SECS;
    }
    if !(MIN_FLAP_WINDOW_SECS..=MAX_FLAP_WINDOW_SECS).contains(&f.window_secs) {
        return Err(err(
            "flapping.window_secs",
            format!(
                "{} is invalid, must be {MIN_FLAP_WINDOW_SECS}..={MAX_FLAP_WINDOW_SECS}",
                f.window_secs
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "notify_tests.rs"]
mod tests;
