//! The native webhook payload, in the StatusPageOne shape (`event_type`, `monitor`,
//! `check_result`, `context`). Field order is part of the format (golden-file tested).

use lookout_proto::v1::MonitorLifecycle;
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::notifier::OutboxEvent;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

#[derive(Serialize)]
struct Payload<'a> {
    event_type: &'static str,
    monitor: MonitorPart<'a>,
    check_result: CheckResultPart<'a>,
    context: Context,
}

#[derive(Serialize)]
struct MonitorPart<'a> {
    id: &'a str,
    name: &'a str,
    url: String,
    status: &'static str,
}

#[derive(Serialize)]
struct CheckResultPart<'a> {
    status: &'static str,
    timestamp: String,
    region: &'a str,
    /// Absent when the result carries no error, as in the reference recovery payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    response_time_ms: u64,
    status_code: Option<u32>,
}

#[derive(Serialize)]
struct Context {
    consecutive_failures: u32,
    previous_status: &'static str,
    notification_level: u32,
    notification_type: &'static str,
    /// Why an incident resolved without a recovering result (`deleted`, `paused`); absent
    /// otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    resolved_reason: Option<&'static str>,
}

/// The JSON body announcing `event` for `monitor`, triggered by `result`.
/// `consecutive_failures` is the triggering region's count (0 for a recovery).
/// No-data events are rendered by [`data_body`], which knows the monitor's incident state.
pub fn webhook_body(
    monitor: &Monitor,
    result: &CheckResult,
    event: OutboxEvent,
    consecutive_failures: u32,
) -> Vec<u8> {
    let (monitor_status, previous_status) = match event {
        OutboxEvent::Incident => ("DOWN", "UP"),
        OutboxEvent::Recovery => ("UP", "DOWN"),
        OutboxEvent::NoData | OutboxEvent::DataResumed => {
            return data_body(monitor, result, event, false, consecutive_failures);
        }
    };
    render(
        "monitor_alert",
        (monitor_status, previous_status),
        monitor,
        result,
        event,
        consecutive_failures,
        None,
    )
}

/// The recovery that resolves `monitor`'s open incident because it was deleted or paused
/// (`event` is the coordinator's lifecycle event): `monitor.status` and `check_result.status`
/// are `DELETED` or `PAUSED`, `check_result.region` is empty (no region recovered) and
/// `context.resolved_reason` is `deleted` or `paused`.
pub fn lifecycle_body(monitor: &Monitor, event: &CheckResult, what: MonitorLifecycle) -> Vec<u8> {
    let (status, reason) = match what {
        MonitorLifecycle::Paused => ("PAUSED", "paused"),
        MonitorLifecycle::Deleted | MonitorLifecycle::Unspecified => ("DELETED", "deleted"),
    };
    render(
        "monitor_alert",
        (status, "DOWN"),
        monitor,
        event,
        OutboxEvent::Recovery,
        0,
        Some((status, reason)),
    )
}

/// The JSON body of a no-data event: `monitor_no_data` when a region of `monitor` stopped
/// yielding data (`result` is the coordinator's `NO_DATA` result, its message says why), or
/// `monitor_data_resumed` when `result` is the first usable one after that. The monitor's
/// status is `NO_DATA` while a region has none, and `DOWN` or `UP` by its incident otherwise.
pub fn data_body(
    monitor: &Monitor,
    result: &CheckResult,
    event: OutboxEvent,
    incident_open: bool,
    consecutive_failures: u32,
) -> Vec<u8> {
    let by_incident = if incident_open { "DOWN" } else { "UP" };
    let (event_type, statuses) = match event {
        OutboxEvent::DataResumed => ("monitor_data_resumed", (by_incident, "NO_DATA")),
        _ => ("monitor_no_data", ("NO_DATA", by_incident)),
    };
    render(
        event_type,
        statuses,
        monitor,
        result,
        event,
        consecutive_failures,
        None,
    )
}

fn render(
    event_type: &'static str,
    (monitor_status, previous_status): (&'static str, &'static str),
    monitor: &Monitor,
    result: &CheckResult,
    event: OutboxEvent,
    consecutive_failures: u32,
    lifecycle: Option<(&'static str, &'static str)>,
) -> Vec<u8> {
    let payload = Payload {
        event_type,
        monitor: MonitorPart {
            id: &monitor.id,
            name: &monitor.name,
            url: monitor.target(),
            status: monitor_status,
        },
        check_result: CheckResultPart {
            status: lifecycle.map_or_else(
                || {
                    CheckStatus::try_from(result.status)
                        .unwrap_or(CheckStatus::Unspecified)
                        .label()
                },
                |(status, _)| status,
            ),
            timestamp: rfc3339_seconds(result_time_ms(result)),
            region: &result.region,
            error_message: Some(result.error_message.as_str()).filter(|m| !m.is_empty()),
            response_time_ms: result.duration_us / 1000,
            status_code: result.status_code,
        },
        context: Context {
            consecutive_failures,
            previous_status,
            notification_level: 1,
            notification_type: event.as_str(),
            resolved_reason: lifecycle.map(|(_, reason)| reason),
        },
    };
    serde_json::to_vec(&payload).expect("payload holds only strings and integers")
}

/// When the result happened: its start, or when it was due if it never started.
pub fn result_time_ms(r: &CheckResult) -> i64 {
    if r.started_at_ms > 0 {
        r.started_at_ms
    } else {
        r.scheduled_at_ms
    }
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
