//! Deleting or pausing a monitor resolves its open incident through the coordinator's
//! lifecycle event on the bus: receivers get a signed recovery saying why, late results never
//! reopen it, and a resumed monitor starts with no counters. On SQLite and PostgreSQL.

mod common;

use common::{Receiver, SECRET, eventually, monitor, publish_down, result};
use lookout_bus::{InProcBus, InProcPublisher, ResultPublisher};
use lookout_proto::CheckResult;
use lookout_proto::CheckStatus::Down;
use lookout_proto::v1::MonitorLifecycle;
use lookout_store::Store;
use lookout_store::notifier::IncidentStatus;
use lookout_store::testing::TestDb;

fn lifecycle(monitor_id: &str, version: u64, what: MonitorLifecycle) -> CheckResult {
    CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: monitor_id.into(),
        monitor_version: version,
        scheduled_at_ms: lookout_store::now_ms(),
        lifecycle: what as i32,
        ..Default::default()
    }
}

/// `n` DOWN results produced with `version`.
async fn publish_down_v(p: &InProcPublisher, monitor_id: &str, version: u64, n: usize) {
    let results: Vec<CheckResult> = (0..n)
        .map(|_| CheckResult {
            monitor_version: version,
            ..result(monitor_id, "eu", Down)
        })
        .collect();
    p.publish(&results).await.expect("publish");
}

/// Opens an incident on a marker monitor: the bus has one partition, so once its webhook
/// arrives every record published before it was handled.
async fn handled_so_far(store: &Store, p: &InProcPublisher, rx: &Receiver, marker: &str) {
    let before = rx.accepted_of("incident").len();
    monitor(store, marker, &["eu"], 1, &rx.url).await;
    publish_down(p, marker, "eu", 3).await;
    eventually("the marker's incident", || async {
        rx.accepted_of("incident").len() > before
    })
    .await;
}

async fn open_incident(store: &Store, p: &InProcPublisher, rx: &Receiver, id: &str) {
    monitor(store, id, &["eu"], 1, &rx.url).await;
    publish_down(p, id, "eu", 3).await;
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
}

async fn deleting_resolves_the_incident_and_late_results_reopen_nothing(db: TestDb) {
    let store = db.store;
    let rx = Receiver::start(200).await;
    let bus = InProcBus::new();
    let p = bus.publisher();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    open_incident(&store, &p, &rx, "mon_del").await;

    let version = store.delete_monitor("mon_del").await.expect("delete");
    p.publish(&[lifecycle("mon_del", version, MonitorLifecycle::Deleted)])
        .await
        .expect("publish");
    // Results the agent had in flight, from before the deletion.
    publish_down_v(&p, "mon_del", 1, 5).await;
    eventually("the recovery webhook", || async {
        rx.accepted_of("recovery").len() == 1
    })
    .await;
    handled_so_far(&store, &p, &rx, "mon_marker").await;

    let hit = &rx.accepted_of("recovery")[0];
    assert!(
        hit.signature_verifies(SECRET),
        "signed with the deleted monitor's secret"
    );
    let body = hit.json();
    assert_eq!(body["event_type"], "monitor_alert");
    assert_eq!(body["monitor"]["id"], "mon_del");
    assert_eq!(body["monitor"]["status"], "DELETED");
    assert_eq!(body["check_result"]["status"], "DELETED");
    assert_eq!(body["context"]["resolved_reason"], "deleted");
    assert_eq!(body["context"]["previous_status"], "DOWN");
    let incidents = store
        .list_incidents(Some("mon_del"), 10)
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1, "the late results opened nothing");
    assert_eq!(incidents[0].status, IncidentStatus::Resolved);
    assert!(
        store
            .region_states("mon_del")
            .await
            .expect("states")
            .is_empty()
    );
    assert_eq!(
        rx.accepted()
            .iter()
            .filter(|h| h.json()["monitor"]["id"] == "mon_del")
            .count(),
        2,
        "one incident, one recovery"
    );
    running.stop().await;
}

async fn pausing_resolves_the_incident_and_resuming_starts_fresh(db: TestDb) {
    let store = db.store;
    let rx = Receiver::start(200).await;
    let bus = InProcBus::new();
    let p = bus.publisher();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    open_incident(&store, &p, &rx, "mon_pause").await;

    let mut m = store.get_monitor("mon_pause").await.expect("monitor");
    m.paused = true;
    let paused = store.update_monitor(m, 1).await.expect("pause");
    p.publish(&[lifecycle(
        "mon_pause",
        paused.version,
        MonitorLifecycle::Paused,
    )])
    .await
    .expect("publish");
    publish_down_v(&p, "mon_pause", 1, 5).await;
    eventually("the recovery webhook", || async {
        rx.accepted_of("recovery").len() == 1
    })
    .await;
    let body = rx.accepted_of("recovery")[0].json();
    assert_eq!(body["monitor"]["status"], "PAUSED");
    assert_eq!(body["context"]["resolved_reason"], "paused");
    assert_eq!(body["context"]["notification_type"], "recovery");

    let mut resumed = paused.clone();
    resumed.paused = false;
    let resumed = store
        .update_monitor(resumed, paused.version)
        .await
        .expect("resume");
    // Stale results from before the pause, then two fresh failures: below the threshold of
    // three unless the stale ones counted.
    publish_down_v(&p, "mon_pause", 1, 3).await;
    publish_down_v(&p, "mon_pause", resumed.version, 2).await;
    handled_so_far(&store, &p, &rx, "mon_marker").await;
    let states = store.region_states("mon_pause").await.expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!((states[0].consecutive_failures, states[0].down), (2, false));
    assert!(
        store
            .open_incident("mon_pause")
            .await
            .expect("open")
            .is_none()
    );

    publish_down_v(&p, "mon_pause", resumed.version, 1).await;
    eventually("a new incident after three fresh failures", || async {
        rx.accepted()
            .iter()
            .filter(|h| h.json()["monitor"]["id"] == "mon_pause")
            .count()
            == 3
    })
    .await;
    running.stop().await;
}

lookout_store::backend_tests!(
    deleting_resolves_the_incident_and_late_results_reopen_nothing,
    pausing_resolves_the_incident_and_resuming_starts_fresh,
);
