//! The native webhook body, in the StatusPageOne shape (`event_type`, `monitor`,
//! `check_result`, `context`). Field order is part of the format (golden-file tested).

use lookout_proto::v1::{EventKind, NotificationEvent};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::event::kind_label;

#[derive(Serialize)]
struct Payload<'a> {
    event_type: &'static str,
    monitor: MonitorPart<'a>,
    check_result: CheckResultPart<'a>,
    context: Context<'a>,
    /// Certificate events only.
    #[serde(skip_serializing_if = "Option::is_none")]
    certificate: Option<CertificatePart<'a>>,
}

#[derive(Serialize)]
struct CertificatePart<'a> {
    subject: &'a str,
    not_after: String,
    days_left: i32,
    /// The replaced certificate's expiry, for a renewal.
    #[serde(skip_serializing_if = "Option::is_none")]
    previous_not_after: Option<String>,
}

#[derive(Serialize)]
struct MonitorPart<'a> {
    id: &'a str,
    name: &'a str,
    url: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
struct CheckResultPart<'a> {
    status: &'a str,
    timestamp: String,
    region: &'a str,
    /// Absent when the result carries no error, as in the reference recovery payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    response_time_ms: u64,
    status_code: Option<u32>,
}

#[derive(Serialize)]
struct Context<'a> {
    consecutive_failures: u32,
    previous_status: &'a str,
    notification_level: u32,
    notification_type: &'static str,
    /// Why an incident resolved without a recovering result (`deleted`, `paused`,
    /// `manual`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_reason: Option<&'a str>,
    /// A reminder's ordinal (1 for the first reminder); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    reminder: Option<u32>,
    /// The parent monitor that was down when this event was raised; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    caused_by_monitor_id: Option<&'a str>,
}

/// `event_type` of each event kind: `monitor_alert` for everything about the monitor's
/// state (incidents, escalations, reminders, recoveries, degraded, tests), so StatusPageOne
/// receivers handle them; own types for the kinds StatusPageOne has none for.
pub fn event_type(kind: EventKind) -> &'static str {
    match kind {
        EventKind::NoData => "monitor_no_data",
        EventKind::DataResumed => "monitor_data_resumed",
        EventKind::CertExpiring | EventKind::CertRenewed => "monitor_certificate",
        EventKind::Flapping | EventKind::FlappingEnded => "monitor_flapping",
        _ => "monitor_alert",
    }
}

/// The native JSON body of `ev`.
pub fn body(ev: &NotificationEvent) -> Vec<u8> {
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    let monitor = ev.monitor.clone().unwrap_or_default();
    let result = ev.result.clone().unwrap_or_default();
    // Without a result (an event raised by time or by a lifecycle change), the monitor's own
    // status stands in for the result's.
    let result_status = if result.status.is_empty() {
        ev.status.as_str()
    } else {
        result.status.as_str()
    };
    let payload = Payload {
        event_type: event_type(kind),
        monitor: MonitorPart {
            id: &monitor.id,
            name: &monitor.name,
            url: &monitor.target,
            status: &ev.status,
        },
        check_result: CheckResultPart {
            status: result_status,
            timestamp: rfc3339_seconds(if result.started_at_ms > 0 {
                result.started_at_ms
            } else if result.scheduled_at_ms > 0 {
                result.scheduled_at_ms
            } else {
                ev.at_ms
            }),
            region: &result.region,
            error_message: Some(result.error_message.as_str()).filter(|m| !m.is_empty()),
            response_time_ms: result.duration_us / 1000,
            status_code: result.status_code,
        },
        context: Context {
            consecutive_failures: ev.consecutive_failures,
            previous_status: &ev.previous_status,
            notification_level: ev.level.max(1),
            notification_type: kind_label(kind),
            resolved_reason: Some(ev.resolved_reason.as_str()).filter(|r| !r.is_empty()),
            reminder: (kind == EventKind::Reminder).then(|| ev.reminder.saturating_add(1)),
            caused_by_monitor_id: Some(ev.caused_by_monitor_id.as_str()).filter(|m| !m.is_empty()),
        },
        certificate: ev.certificate.as_ref().map(|c| CertificatePart {
            subject: &c.subject,
            not_after: rfc3339_seconds(c.not_after_ms),
            days_left: c.days_left,
            previous_not_after: Some(c.previous_not_after_ms)
                .filter(|&t| t > 0)
                .map(rfc3339_seconds),
        }),
    };
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// `2024-01-15T10:30:15Z`: RFC 3339 in UTC, whole seconds.
pub fn rfc3339_seconds(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_whole_seconds_utc() {
        assert_eq!(rfc3339_seconds(1_705_314_615_999), "2024-01-15T10:30:15Z");
        assert_eq!(rfc3339_seconds(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_seconds(i64::MAX), "1970-01-01T00:00:00Z");
    }
}
