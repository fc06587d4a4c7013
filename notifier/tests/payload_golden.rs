//! The native webhook body, as a receiver gets it from the running notifier, against the
//! render crate's golden files (render/tests/golden/native/; regenerate with
//! `LOOKOUT_UPDATE_GOLDEN=1`): incident, recovery, no data, data resumed, and the recoveries of
//! a paused and of a deleted monitor. The events the notifier builds render exactly as the
//! render crate's own samples of them.

mod common;

use std::path::PathBuf;

use common::{Receiver, eventually, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::v1::MonitorLifecycle;
use lookout_proto::v1::{HttpCheck, monitor::Check};
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::testing::TestDb;

const ID: &str = "mon_abc123xyz789";
const REGION: &str = "us-east-1";

async fn monitor(db: &TestDb, url: &str) {
    let hook = webhook_integration(&db.store, "int_golden", url).await;
    let m = Monitor {
        id: ID.into(),
        name: "API Server".into(),
        regions: vec![REGION.into()],
        interval_secs: 30,
        failure_threshold: 3,
        integration_ids: vec![hook.id],
        check: Some(Check::Http(HttpCheck {
            url: "https://api.example.com/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    db.store.insert_monitor(m).await.expect("monitor");
}

/// A result of the monitor, started at `at_ms` (also its schedule, so later ones count).
fn at(status: CheckStatus, at_ms: i64) -> CheckResult {
    CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: ID.into(),
        monitor_version: 1,
        region: REGION.into(),
        status: status as i32,
        scheduled_at_ms: at_ms,
        started_at_ms: at_ms,
        check_kind: "http".into(),
        ..Default::default()
    }
}

fn timeouts(from_ms: i64) -> Vec<CheckResult> {
    (0..3)
        .map(|i| CheckResult {
            duration_us: 30_000_000,
            error_message: "Connection timeout after 30 seconds".into(),
            ..at(CheckStatus::Down, from_ms + i * 1000)
        })
        .collect()
}

fn healthy(at_ms: i64) -> CheckResult {
    CheckResult {
        duration_us: 245_000,
        status_code: Some(200),
        ..at(CheckStatus::Up, at_ms)
    }
}

/// The coordinator's event after the monitor was paused or deleted.
fn lifecycle(what: MonitorLifecycle) -> CheckResult {
    CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: ID.into(),
        monitor_version: 4,
        scheduled_at_ms: 1_705_316_000_000,
        lifecycle: what as i32,
        ..Default::default()
    }
}

/// Golden files hold the exact bytes sent (signatures cover them), plus a final newline.
fn check(golden: &str, body: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../render/tests/golden/native")
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

/// Publishes `batches` one after another, each once the receiver has accepted the number of
/// requests given with it; returns every accepted body in order.
async fn deliveries(
    db: &TestDb,
    rx: &Receiver,
    batches: Vec<(Vec<CheckResult>, usize)>,
) -> Vec<Vec<u8>> {
    let (publisher, running) = common::start_in_process(&db.store);
    for (results, expect) in batches {
        publisher.publish(&results).await.expect("publish");
        eventually("the deliveries", || async { rx.accepted().len() >= expect }).await;
    }
    running.stop().await;
    rx.accepted().into_iter().map(|h| h.body.to_vec()).collect()
}

/// The deliveries of a fresh monitor sent `batches` (see [`deliveries`]).
async fn scenario(batches: Vec<(Vec<CheckResult>, usize)>) -> Vec<Vec<u8>> {
    let db = TestDb::sqlite().await;
    let rx = Receiver::start(200).await;
    monitor(&db, &rx.url).await;
    deliveries(&db, &rx, batches).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_and_recovery_bodies_match_the_golden_files() {
    let got = scenario(vec![
        (timeouts(1_705_314_613_000), 1),
        (vec![healthy(1_705_315_350_000)], 2),
    ])
    .await;
    check("incident.json", &got[0]);
    check("recovery.json", &got[1]);
    // Key order on the wire is the documented one.
    let text = String::from_utf8(got[0].clone()).expect("utf-8");
    let pos: Vec<usize> = [
        "\"event_type\"",
        "\"monitor\"",
        "\"check_result\"",
        "\"context\"",
    ]
    .iter()
    .map(|k| text.find(k).expect("key present"))
    .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_data_bodies_match_the_golden_files() {
    // The coordinator's NO_DATA result for a region without agents, then data again.
    let no_data = CheckResult {
        error_message: "no agent connected in region us-east-1".into(),
        ..at(CheckStatus::NoData, 1_705_315_000_000)
    };
    let got = scenario(vec![
        (vec![no_data], 1),
        (vec![healthy(1_705_315_350_000)], 2),
    ])
    .await;
    check("no_data.json", &got[0]);
    check("data_resumed.json", &got[1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recoveries_of_paused_and_deleted_monitors_match_the_golden_files() {
    for (what, golden) in [
        (MonitorLifecycle::Paused, "resolved_paused.json"),
        (MonitorLifecycle::Deleted, "resolved_deleted.json"),
    ] {
        let db = TestDb::sqlite().await;
        let rx = Receiver::start(200).await;
        monitor(&db, &rx.url).await;
        let got = deliveries(
            &db,
            &rx,
            vec![(timeouts(1_705_314_613_000), 1), (vec![lifecycle(what)], 2)],
        )
        .await;
        check(golden, &got[1]);
    }
}
