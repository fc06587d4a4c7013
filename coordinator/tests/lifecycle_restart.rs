//! A lifecycle event the coordinator accepted but never published (it stopped first: the
//! queue is in memory) is not lost: at start the coordinator announces again every deleted or
//! paused monitor that still has an open incident, and only those.

use std::sync::Arc;
use std::time::{Duration, Instant};

use lookout_bus::{InProcBus, ResultConsumer};
use lookout_coordinator::lifecycle::LifecycleEvents;
use lookout_proto::v1::MonitorLifecycle;
use lookout_store::notifier::{IncidentRow, IncidentStatus, NotifierBatch};
use lookout_store::testing::{TestDb, secret_monitor};
use tokio_util::sync::CancellationToken;

fn open_incident(id: &str, monitor_id: &str) -> IncidentRow {
    IncidentRow {
        id: id.into(),
        monitor_id: monitor_id.into(),
        status: IncidentStatus::Open,
        opened_at_ms: 1_000,
        resolved_at_ms: None,
        cause: "connection refused".into(),
        regions: vec!["eu".into()],
        ..Default::default()
    }
}

async fn unresolved_incidents_of_inactive_monitors_are_announced_again(db: TestDb) {
    let s = db.store.clone();
    for id in ["mon_active", "mon_deleted", "mon_done", "mon_paused"] {
        s.insert_monitor(secret_monitor(id, "s3cret"))
            .await
            .expect("insert");
    }
    let batch = NotifierBatch {
        incidents: ["mon_active", "mon_deleted", "mon_paused"]
            .iter()
            .enumerate()
            .map(|(i, m)| open_incident(&format!("inc_{i}"), m))
            .collect(),
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("open incidents");
    // Changed as the admin API does, then the process stopped before publishing anything.
    let deleted_version = s.delete_monitor("mon_deleted").await.expect("delete");
    s.delete_monitor("mon_done")
        .await
        .expect("delete one without an incident");
    let mut paused = s.get_monitor("mon_paused").await.expect("get");
    paused.paused = true;
    let paused = s.update_monitor(paused, 1).await.expect("pause");

    let bus = InProcBus::new();
    let events = Arc::new(LifecycleEvents::new(Arc::new(bus.publisher())));
    assert_eq!(
        events.announce_unresolved(&s).await.expect("sweep"),
        2,
        "only the deleted and the paused monitor with an open incident"
    );
    let stop = CancellationToken::new();
    tokio::spawn(events.clone().run(stop.clone()));
    let mut consumer = bus.consumer();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while got.len() < 2 {
        assert!(Instant::now() < deadline, "events published: {got:?}");
        for r in consumer.poll(10).await.expect("poll") {
            got.push((
                r.result.monitor_id,
                r.result.monitor_version,
                r.result.lifecycle,
            ));
        }
    }
    stop.cancel();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "mon_deleted".to_string(),
                deleted_version,
                MonitorLifecycle::Deleted as i32
            ),
            (
                "mon_paused".to_string(),
                paused.version,
                MonitorLifecycle::Paused as i32
            ),
        ]
    );
}

lookout_store::backend_tests!(unresolved_incidents_of_inactive_monitors_are_announced_again);
