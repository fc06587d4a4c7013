//! Event kinds by name, and the sample event templates are validated against.

use lookout_proto::v1::{
    EventIncident, EventKind, EventMonitor, EventRegion, EventResult, NotificationEvent,
};

/// The event kind's stored and shown name (`incident`, `recovery`, ...).
pub fn kind_label(kind: EventKind) -> &'static str {
    kind.label()
}

/// A complete incident event (every field set), for validating templates when they are saved
/// and for previews.
pub fn sample_event() -> NotificationEvent {
    NotificationEvent {
        kind: EventKind::Incident as i32,
        project_id: "prj_default".into(),
        monitor: Some(EventMonitor {
            id: "mon_sample".into(),
            name: "Sample API".into(),
            kind: "http".into(),
            target: "https://api.example.com/health".into(),
            version: 1,
        }),
        incident: Some(EventIncident {
            id: "inc_sample".into(),
            opened_at_ms: 1_705_314_615_000,
            resolved_at_ms: 0,
            regions: vec!["eu-west".into()],
            cause: "connection timed out after 10000 ms".into(),
            severity: "critical".into(),
            acknowledged_at_ms: 0,
        }),
        result: Some(EventResult {
            id: "res_sample".into(),
            region: "eu-west".into(),
            status: "DOWN".into(),
            started_at_ms: 1_705_314_615_000,
            scheduled_at_ms: 1_705_314_615_000,
            duration_us: 10_000_000,
            status_code: None,
            error_message: "connection timed out after 10000 ms".into(),
            failure: "timeout".into(),
        }),
        regions: vec![EventRegion {
            region: "eu-west".into(),
            status: "DOWN".into(),
            consecutive_failures: 3,
            down: true,
        }],
        status: "DOWN".into(),
        previous_status: "UP".into(),
        consecutive_failures: 3,
        level: 1,
        resolved_reason: String::new(),
        at_ms: 1_705_314_615_000,
        certificate: None,
        reminder: 0,
        caused_by_monitor_id: String::new(),
    }
}
