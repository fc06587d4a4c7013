//! The Uptinio webhook body: `resource_name`, `resource_url`, `resource_type`,
//! `incident_type`, `incident_status`, `incident_duration`, `incident_message`, each mapped
//! from a Lookout event (the mapping is documented in docs/webhook-formats.md).

use lookout_proto::v1::{EventKind, NotificationEvent};
use serde::Serialize;

#[derive(Serialize)]
struct Payload<'a> {
    resource_name: &'a str,
    resource_url: &'a str,
    resource_type: &'static str,
    incident_type: &'a str,
    incident_status: &'static str,
    /// Whole seconds from opening to resolution; null while ongoing.
    incident_duration: Option<i64>,
    incident_message: String,
}

/// Whether `kind` ends something (`resolved`) or starts or continues it (`ongoing`).
fn resolved(kind: EventKind, ev: &NotificationEvent) -> bool {
    match kind {
        EventKind::Recovery
        | EventKind::DegradedRecovery
        | EventKind::DataResumed
        | EventKind::CertRenewed
        | EventKind::FlappingEnded => true,
        EventKind::Test => ev.status == "UP",
        _ => false,
    }
}

/// `incident_type`: the triggering failure's class (`timeout`, `dns`, `http_status`, ...,
/// as Uptinio's `timeout`), or what the event is about when no failing result carries one.
fn incident_type(kind: EventKind, ev: &NotificationEvent) -> &str {
    if let Some(r) = ev.result.as_ref().filter(|r| !r.failure.is_empty()) {
        return &r.failure;
    }
    match kind {
        EventKind::Degraded | EventKind::DegradedRecovery => "degraded",
        EventKind::NoData | EventKind::DataResumed => "no_data",
        EventKind::CertExpiring | EventKind::CertRenewed => "certificate_expiry",
        EventKind::Flapping | EventKind::FlappingEnded => "flapping",
        _ => "down",
    }
}

fn message(kind: EventKind, ev: &NotificationEvent) -> String {
    let result_error = ev
        .result
        .as_ref()
        .map(|r| r.error_message.as_str())
        .unwrap_or_default();
    let cause = ev
        .incident
        .as_ref()
        .map(|i| i.cause.as_str())
        .unwrap_or_default();
    match kind {
        EventKind::CertExpiring | EventKind::CertRenewed => {
            let c = ev.certificate.clone().unwrap_or_default();
            if kind == EventKind::CertRenewed {
                format!(
                    "Certificate of {} renewed: {} days left",
                    c.subject, c.days_left
                )
            } else {
                format!(
                    "Certificate of {} expires in {} days",
                    c.subject, c.days_left
                )
            }
        }
        EventKind::Flapping => "Changing state too often".into(),
        EventKind::FlappingEnded => "No longer flapping".into(),
        _ if !ev.resolved_reason.is_empty() => format!("Resolved: monitor {}", ev.resolved_reason),
        _ if resolved(kind, ev) => "Recovered".into(),
        _ if !result_error.is_empty() => result_error.to_string(),
        _ => cause.to_string(),
    }
}

/// The Uptinio JSON body of `ev`.
pub fn body(ev: &NotificationEvent) -> Vec<u8> {
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    let monitor = ev.monitor.clone().unwrap_or_default();
    let is_resolved = resolved(kind, ev);
    let duration = ev.incident.as_ref().filter(|_| is_resolved).and_then(|i| {
        let end = if i.resolved_at_ms > 0 {
            i.resolved_at_ms
        } else {
            ev.at_ms
        };
        (i.opened_at_ms > 0 && end >= i.opened_at_ms).then(|| (end - i.opened_at_ms) / 1000)
    });
    let name = if monitor.name.is_empty() {
        &monitor.target
    } else {
        &monitor.name
    };
    let payload = Payload {
        resource_name: name,
        resource_url: &monitor.target,
        resource_type: "NetworkMonitor",
        incident_type: incident_type(kind, ev),
        incident_status: if is_resolved { "resolved" } else { "ongoing" },
        incident_duration: duration,
        incident_message: message(kind, ev),
    };
    serde_json::to_vec(&payload).unwrap_or_default()
}
