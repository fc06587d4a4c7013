//! The webhook payload against golden files (regenerate with `LOOKOUT_UPDATE_GOLDEN=1`).

use std::path::PathBuf;

use lookout_notifier::payload::{data_body, lifecycle_body, webhook_body};
use lookout_proto::v1::MonitorLifecycle;
use lookout_proto::v1::{HttpCheck, monitor::Check};
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::notifier::OutboxEvent;

fn monitor() -> Monitor {
    Monitor {
        id: "mon_abc123xyz789".into(),
        name: "API Server".into(),
        regions: vec!["us-east-1".into()],
        check: Some(Check::Http(HttpCheck {
            url: "https://api.example.com/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Golden files hold the exact bytes sent (signatures cover them), plus a final newline.
fn check(golden: &str, body: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(golden);
    let mut got = String::from_utf8(body.to_vec()).expect("utf-8 body");
    got.push('\n');
    if std::env::var_os("LOOKOUT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden file");
    }
    let want = std::fs::read_to_string(&path).expect("golden file exists");
    assert_eq!(
        got, want,
        "{golden} differs; rerun with LOOKOUT_UPDATE_GOLDEN=1 if intended"
    );
}

#[test]
fn incident_payload() {
    let r = CheckResult {
        monitor_id: "mon_abc123xyz789".into(),
        region: "us-east-1".into(),
        status: CheckStatus::Down as i32,
        started_at_ms: 1_705_314_615_000,
        duration_us: 30_000_000,
        error_message: "Connection timeout after 30 seconds".into(),
        ..Default::default()
    };
    let body = webhook_body(&monitor(), &r, OutboxEvent::Incident, 3);
    check("incident.json", &body);
    // Key order on the wire is the documented one.
    let text = String::from_utf8(body).expect("utf-8");
    let order = [
        "\"event_type\"",
        "\"monitor\"",
        "\"check_result\"",
        "\"context\"",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|k| text.find(k).expect("key present"))
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn recovery_payload() {
    let r = CheckResult {
        monitor_id: "mon_abc123xyz789".into(),
        region: "us-east-1".into(),
        status: CheckStatus::Up as i32,
        started_at_ms: 1_705_315_350_000,
        duration_us: 245_000,
        status_code: Some(200),
        ..Default::default()
    };
    check(
        "recovery.json",
        &webhook_body(&monitor(), &r, OutboxEvent::Recovery, 0),
    );
}

/// The coordinator's NO_DATA result for a region without agents.
fn no_data_result() -> CheckResult {
    CheckResult {
        monitor_id: "mon_abc123xyz789".into(),
        region: "us-east-1".into(),
        status: CheckStatus::NoData as i32,
        scheduled_at_ms: 1_705_315_000_000,
        error_message: "no agent connected in region us-east-1".into(),
        check_kind: "http".into(),
        ..Default::default()
    }
}

#[test]
fn no_data_payload() {
    check(
        "no_data.json",
        &data_body(&monitor(), &no_data_result(), OutboxEvent::NoData, false, 0),
    );
}

#[test]
fn data_resumed_payload() {
    let r = CheckResult {
        monitor_id: "mon_abc123xyz789".into(),
        region: "us-east-1".into(),
        status: CheckStatus::Up as i32,
        started_at_ms: 1_705_315_350_000,
        duration_us: 245_000,
        status_code: Some(200),
        ..Default::default()
    };
    check(
        "data_resumed.json",
        &data_body(&monitor(), &r, OutboxEvent::DataResumed, false, 0),
    );
}

/// The coordinator's lifecycle event after the monitor was paused or deleted.
fn lifecycle_event(what: MonitorLifecycle) -> CheckResult {
    CheckResult {
        monitor_id: "mon_abc123xyz789".into(),
        monitor_version: 4,
        scheduled_at_ms: 1_705_316_000_000,
        lifecycle: what as i32,
        ..Default::default()
    }
}

#[test]
fn resolved_by_pause_payload() {
    let what = MonitorLifecycle::Paused;
    check(
        "resolved_paused.json",
        &lifecycle_body(&monitor(), &lifecycle_event(what), what),
    );
}

#[test]
fn resolved_by_delete_payload() {
    let what = MonitorLifecycle::Deleted;
    check(
        "resolved_deleted.json",
        &lifecycle_body(&monitor(), &lifecycle_event(what), what),
    );
}
