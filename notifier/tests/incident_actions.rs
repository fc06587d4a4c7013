//! Admin actions on incidents, applied by the running notifier on both store backends: an
//! acknowledgement stamps the open incident with who and when; a manual resolve resolves it
//! with reason `manual`, sends a recovery saying so, and the monitor opens a new incident only
//! after `failure_threshold` fresh failures, also when they arrive right after the resolve.

mod common;

use common::{Receiver, Running, eventually, monitor, publish_down};
use lookout_bus::InProcPublisher;
use lookout_proto::Monitor;
use lookout_store::notifier::{IncidentActionKind, IncidentActionRow, IncidentRow, IncidentStatus};
use lookout_store::testing::TestDb;
use lookout_store::{Store, now_ms};

fn action(incident_id: &str, action: IncidentActionKind) -> IncidentActionRow {
    IncidentActionRow {
        id: format!("act_{}", uuid::Uuid::now_v7()),
        incident_id: incident_id.into(),
        action,
        actor: "ops-token".into(),
        note: "on it".into(),
        created_at_ms: now_ms(),
        applied_at_ms: None,
    }
}

async fn applied(store: &Store, id: &str) -> bool {
    store
        .incident_action(id)
        .await
        .expect("action")
        .applied_at_ms
        .is_some()
}

/// A running notifier, and monitor `id` with an incident open after 3 failures (its webhook
/// at `rx`).
async fn incident_open(
    store: &Store,
    id: &str,
    rx: &Receiver,
) -> (Monitor, InProcPublisher, Running, IncidentRow) {
    let m = monitor(store, id, &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(store);
    publish_down(&publisher, &m.id, "eu", 3).await;
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
    let inc = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    (m, publisher, running, inc)
}

async fn acknowledge_then_resolve_by_hand(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let (m, publisher, running, inc) = incident_open(&store, "mon_act", &rx).await;

    let ack = action(&inc.id, IncidentActionKind::Ack);
    store.insert_incident_action(&ack).await.expect("ack");
    eventually("the acknowledgement applied", || applied(&store, &ack.id)).await;
    let acked = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    assert!(acked.acknowledged_at_ms.is_some());
    assert_eq!(acked.acknowledged_by, "ops-token");

    let resolve = action(&inc.id, IncidentActionKind::Resolve);
    store
        .insert_incident_action(&resolve)
        .await
        .expect("resolve");
    eventually("the manual recovery", || async {
        rx.accepted_of("recovery").len() == 1
    })
    .await;
    let body = rx.accepted_of("recovery")[0].json();
    assert_eq!(body["context"]["resolved_reason"], "manual");
    assert_eq!(body["monitor"]["status"], "RESOLVED");
    assert!(store.open_incident(&m.id).await.expect("read").is_none());
    let all = store
        .list_incidents(Some(&m.id), 10)
        .await
        .expect("incidents");
    assert_eq!(all[0].status, IncidentStatus::Resolved);
    assert_eq!(all[0].resolved_reason, "manual");

    // Still failing, but the counters started over: two failures open nothing, three do.
    publish_down(&publisher, &m.id, "eu", 2).await;
    let marker = monitor(&store, "mon_marker", &["eu"], 1, &rx.url).await;
    publish_down(&publisher, &marker.id, "eu", 3).await;
    eventually(
        "the marker's incident (everything before it was handled)",
        || async { rx.accepted_of("incident").len() == 2 },
    )
    .await;
    assert!(store.open_incident(&m.id).await.expect("read").is_none());
    publish_down(&publisher, &m.id, "eu", 1).await;
    eventually("a new incident after fresh failures", || async {
        rx.accepted_of("incident").len() == 3
    })
    .await;
    // A resolve of an incident already resolved is applied as nothing.
    let late = action(&inc.id, IncidentActionKind::Resolve);
    store.insert_incident_action(&late).await.expect("late");
    eventually("the late request applied", || applied(&store, &late.id)).await;
    assert_eq!(rx.accepted_of("recovery").len(), 1);
    running.stop().await;
}

/// Failures arriving right after a resolve is applied, before the consumer's next look at
/// admin actions: its cached copy (the incident open, the counters at 3) must not be written
/// back over the dropped counters. The two failures count from zero (the region is not down),
/// and a third opens a new incident.
async fn failures_right_after_a_manual_resolve_count_from_zero(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let (m, publisher, running, inc) = incident_open(&store, "mon_busy", &rx).await;
    let resolve = action(&inc.id, IncidentActionKind::Resolve);
    store
        .insert_incident_action(&resolve)
        .await
        .expect("resolve");
    eventually("the resolve applied", || applied(&store, &resolve.id)).await;
    publish_down(&publisher, &m.id, "eu", 2).await;
    eventually("two fresh failures stored, the region not down", || async {
        let rows = store.region_states(&m.id).await.expect("states");
        rows.len() == 1 && rows[0].consecutive_failures == 2 && !rows[0].down
    })
    .await;
    assert!(store.open_incident(&m.id).await.expect("read").is_none());
    publish_down(&publisher, &m.id, "eu", 1).await;
    eventually("a new incident after the third fresh failure", || async {
        rx.accepted_of("incident").len() == 2
    })
    .await;
    let all = store
        .list_incidents(Some(&m.id), 10)
        .await
        .expect("incidents");
    assert_eq!(all.len(), 2, "the resolved one and the new one: {all:?}");
    assert!(
        all.iter()
            .any(|i| i.id == inc.id && i.resolved_reason == "manual"),
        "the first stays resolved by hand"
    );
    running.stop().await;
}

lookout_store::backend_tests!(
    acknowledge_then_resolve_by_hand,
    failures_right_after_a_manual_resolve_count_from_zero
);
