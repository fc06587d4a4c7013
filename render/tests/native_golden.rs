//! The native (StatusPageOne-shaped) and Uptinio bodies of every event kind against golden
//! files. The native files of incident, recovery, no_data, data_resumed and the deleted and
//! paused resolutions are byte for byte the notifier's from before integrations.

mod webhook_support;

use lookout_proto::v1::{BodyFormat, EventKind};
use serde_json::Value;
use webhook_support::*;

const ALL_KINDS: [(EventKind, &str); 13] = [
    (EventKind::Incident, "incident"),
    (EventKind::Escalation, "escalation"),
    (EventKind::Reminder, "reminder"),
    (EventKind::Recovery, "recovery"),
    (EventKind::Degraded, "degraded"),
    (EventKind::DegradedRecovery, "degraded_recovery"),
    (EventKind::NoData, "no_data"),
    (EventKind::DataResumed, "data_resumed"),
    (EventKind::CertExpiring, "cert_expiring"),
    (EventKind::CertRenewed, "cert_renewed"),
    (EventKind::Flapping, "flapping"),
    (EventKind::FlappingEnded, "flapping_ended"),
    (EventKind::Test, "test"),
];

fn resolved_by(reason: &str, status: &str) -> lookout_proto::v1::NotificationEvent {
    let mut ev = event(EventKind::Recovery);
    ev.result = None;
    ev.regions.clear();
    ev.status = status.into();
    ev.previous_status = "DOWN".into();
    ev.resolved_reason = reason.into();
    ev.at_ms = 1_705_316_000_000;
    ev
}

#[test]
fn native_body_of_every_kind_matches_its_golden_file() {
    let w = webhook("https://hooks.example.com/in");
    for (kind, name) in ALL_KINDS {
        let r = render(&w, &event(kind));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        golden(&format!("native/{name}.json"), &r.body);
        let v: Value = serde_json::from_slice(&r.body).expect("JSON");
        assert_eq!(v["context"]["notification_type"], name, "{name}");
    }
    golden(
        "native/resolved_deleted.json",
        &render(&w, &resolved_by("deleted", "DELETED")).body,
    );
    golden(
        "native/resolved_paused.json",
        &render(&w, &resolved_by("paused", "PAUSED")).body,
    );
}

#[test]
fn native_event_types_and_extra_context() {
    let w = webhook("https://hooks.example.com/in");
    let of =
        |kind| -> Value { serde_json::from_slice(&render(&w, &event(kind)).body).expect("JSON") };
    for (kind, event_type) in [
        (EventKind::Incident, "monitor_alert"),
        (EventKind::Escalation, "monitor_alert"),
        (EventKind::Reminder, "monitor_alert"),
        (EventKind::Degraded, "monitor_alert"),
        (EventKind::DegradedRecovery, "monitor_alert"),
        (EventKind::Test, "monitor_alert"),
        (EventKind::NoData, "monitor_no_data"),
        (EventKind::DataResumed, "monitor_data_resumed"),
        (EventKind::CertExpiring, "monitor_certificate"),
        (EventKind::CertRenewed, "monitor_certificate"),
        (EventKind::Flapping, "monitor_flapping"),
        (EventKind::FlappingEnded, "monitor_flapping"),
    ] {
        assert_eq!(of(kind)["event_type"], event_type, "{kind:?}");
    }
    let escalation = of(EventKind::Escalation);
    assert_eq!(escalation["context"]["notification_level"], 2);
    assert_eq!(escalation["context"]["consecutive_failures"], 8);
    // Raised by time: no result, the monitor's status stands in, the event's time is used.
    assert_eq!(escalation["check_result"]["status"], "DOWN");
    assert_eq!(
        escalation["check_result"]["timestamp"],
        "2024-01-15T10:35:15Z"
    );
    assert_eq!(of(EventKind::Reminder)["context"]["reminder"], 2);
    assert!(of(EventKind::Incident)["context"].get("reminder").is_none());
    let cert = of(EventKind::CertRenewed);
    assert_eq!(cert["certificate"]["days_left"], 89);
    assert_eq!(
        cert["certificate"]["previous_not_after"],
        "2024-02-14T10:30:15Z"
    );
    let mut child = event(EventKind::Incident);
    child.caused_by_monitor_id = "mon_parent".into();
    let v: Value = serde_json::from_slice(&render(&w, &child).body).expect("JSON");
    assert_eq!(v["context"]["caused_by_monitor_id"], "mon_parent");
}

#[test]
fn uptinio_body_of_every_kind_matches_its_golden_file() {
    let mut w = webhook("https://hooks.example.com/in");
    w.body = BodyFormat::Uptinio as i32;
    for (kind, name) in ALL_KINDS {
        let r = render(&w, &event(kind));
        assert_eq!(header(&r, "content-type"), Some("application/json"));
        golden(&format!("uptinio/{name}.json"), &r.body);
        // Exactly the document's keys, in its order.
        let text = body_text(&r);
        let keys = [
            "resource_name",
            "resource_url",
            "resource_type",
            "incident_type",
            "incident_status",
            "incident_duration",
            "incident_message",
        ];
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| {
                text.find(&format!("\"{k}\":"))
                    .unwrap_or_else(|| panic!("{k} in {text}"))
            })
            .collect();
        assert!(pos.windows(2).all(|p| p[0] < p[1]), "{text}");
        let v: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(v.as_object().map(|o| o.len()), Some(keys.len()));
    }
    let v =
        |kind| -> Value { serde_json::from_slice(&render(&w, &event(kind)).body).expect("JSON") };
    let incident = v(EventKind::Incident);
    assert_eq!(incident["resource_name"], "API Server");
    assert_eq!(incident["resource_url"], "https://api.example.com/health");
    assert_eq!(incident["resource_type"], "NetworkMonitor");
    assert_eq!(incident["incident_type"], "timeout");
    assert_eq!(incident["incident_status"], "ongoing");
    assert_eq!(incident["incident_duration"], Value::Null);
    assert_eq!(
        incident["incident_message"],
        "Connection timeout after 30 seconds"
    );
    let recovery = v(EventKind::Recovery);
    assert_eq!(recovery["incident_status"], "resolved");
    assert_eq!(recovery["incident_duration"], 735);
    assert_eq!(
        v(EventKind::CertExpiring)["incident_type"],
        "certificate_expiry"
    );
}
