//! The notifier's retention task with tiny periods, on SQLite and PostgreSQL: delivered
//! deliveries and resolved incidents are pruned once past their period, while a dead delivery
//! (kept longer) and the open incident it belongs to survive.

mod common;

use common::{Receiver, eventually, monitor, publish_down, result};
use lookout_bus::{InProcBus, ResultPublisher};
use lookout_proto::CheckStatus::Up;
use lookout_store::notifier::{IncidentStatus, OutboxState};
use lookout_store::testing::TestDb;

async fn finished_rows_are_pruned_after_their_period(db: TestDb) {
    let store = db.store;
    let ok = Receiver::start(200).await;
    let refusing = Receiver::start(400).await;
    let mut config = common::config();
    config.retention.delivered_secs = 1;
    config.retention.resolved_incidents_secs = 1;
    config.retention.deleted_monitors_secs = 1;
    config.retention.dead_secs = 3_600;
    config.retention.interval_secs = 1;
    config.validate().expect("tiny periods are valid");
    let bus = InProcBus::new();
    let p = bus.publisher();
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    monitor(&store, "mon_ok", &["eu"], 1, &ok.url).await;
    monitor(&store, "mon_refused", &["eu"], 1, &refusing.url).await;
    publish_down(&p, "mon_ok", "eu", 3).await;
    publish_down(&p, "mon_refused", "eu", 3).await;
    p.publish(&[result("mon_ok", "eu", Up)])
        .await
        .expect("publish");
    eventually("the incident and recovery delivered", || async {
        ok.accepted().len() == 2
    })
    .await;

    eventually(
        "delivered rows and the resolved incident pruned",
        || async {
            let outbox = store.list_outbox(None).await.expect("outbox");
            let incidents = store.list_incidents(None, 10).await.expect("incidents");
            outbox.len() == 1 && incidents.len() == 1
        },
    )
    .await;
    let outbox = store.list_outbox(None).await.expect("outbox");
    assert_eq!(
        (
            outbox[0].monitor_id.as_deref().unwrap_or(""),
            outbox[0].state
        ),
        ("mon_refused", OutboxState::Dead),
        "a dead delivery is kept for its longer period"
    );
    let incidents = store.list_incidents(None, 10).await.expect("incidents");
    assert_eq!(
        (incidents[0].monitor_id.as_str(), incidents[0].status),
        ("mon_refused", IncidentStatus::Open)
    );
    running.stop().await;
}

lookout_store::backend_tests!(finished_rows_are_pruned_after_their_period);
