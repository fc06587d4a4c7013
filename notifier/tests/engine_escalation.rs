//! Escalation levels, end to end through the in-process bus on both store backends: a level
//! reached after more failures tells its own integrations (EVENT_KIND_ESCALATION, with the
//! level), later events of the incident reach them too, and an acknowledged incident stops
//! escalating.

mod common;

use common::{Receiver, eventually, result, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{self, Down, Up};
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{EscalationLevel, HttpCheck};
use lookout_proto::{CheckResult, Monitor};
use lookout_store::testing::TestDb;
use lookout_store::{Sql, Store};

/// A monitor notifying `own`, escalating to `level2` after 2 more failures and to `level3`
/// after 4.
async fn monitor(store: &Store, id: &str, own: &str, level2: &str, level3: &str) -> Monitor {
    let a = webhook_integration(store, &format!("int_{id}_a"), own).await;
    let b = webhook_integration(store, &format!("int_{id}_b"), level2).await;
    let c = webhook_integration(store, &format!("int_{id}_c"), level3).await;
    let level = |after_failures: u32, id: &str| EscalationLevel {
        after_failures,
        integration_ids: vec![id.to_string()],
        ..Default::default()
    };
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        failure_threshold: 3,
        integration_ids: vec![a.id],
        escalation: vec![level(2, &b.id), level(4, &c.id)],
        check: Some(Check::Http(HttpCheck {
            url: "https://api.example.com/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let m = lookout_proto::validate::ValidMonitor::try_from(m)
        .expect("valid monitor")
        .into_spec();
    store.insert_monitor(m).await.expect("insert monitor")
}

fn results(monitor_id: &str, status: CheckStatus, n: usize) -> Vec<CheckResult> {
    (0..n).map(|_| result(monitor_id, "eu", status)).collect()
}

/// `(notification_type, notification_level)` of every accepted webhook.
fn seen(rx: &Receiver) -> Vec<(String, u64)> {
    rx.accepted()
        .iter()
        .map(|h| {
            let level = h.json()["context"]["notification_level"]
                .as_u64()
                .unwrap_or(0);
            (h.notification_type(), level)
        })
        .collect()
}

fn row(kind: &str, level: u64) -> (String, u64) {
    (kind.into(), level)
}

async fn more_failures_escalate_to_the_levels_integrations(db: TestDb) {
    let store = db.store.clone();
    let (a, b, c) = (
        Receiver::start(200).await,
        Receiver::start(200).await,
        Receiver::start(200).await,
    );
    let m = monitor(&store, "mon_esc", &a.url, &b.url, &c.url).await;
    let (publisher, running) = common::start_in_process(&store);

    publisher
        .publish(&results(&m.id, Down, 3))
        .await
        .expect("publish");
    eventually("the incident", || async { a.accepted().len() == 1 }).await;
    publisher
        .publish(&results(&m.id, Down, 1))
        .await
        .expect("publish");
    publisher
        .publish(&results(&m.id, Down, 1))
        .await
        .expect("publish");
    eventually("the escalation", || async { b.accepted().len() == 1 }).await;
    let inc = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(inc.level, 2);
    assert!(inc.escalated_at_ms.is_some());

    publisher
        .publish(&results(&m.id, Up, 1))
        .await
        .expect("publish");
    eventually("the recovery at both", || async {
        a.accepted().len() == 3 && b.accepted().len() == 2
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(
        seen(&a),
        vec![row("incident", 1), row("escalation", 2), row("recovery", 2)]
    );
    assert_eq!(seen(&b), vec![row("escalation", 2), row("recovery", 2)]);
    assert!(c.accepted().is_empty(), "level 3 was never reached");
    running.stop().await;
}

async fn an_acknowledged_incident_stops_escalating(db: TestDb) {
    let store = db.store.clone();
    let (a, b, c) = (
        Receiver::start(200).await,
        Receiver::start(200).await,
        Receiver::start(200).await,
    );
    let m = monitor(&store, "mon_ack", &a.url, &b.url, &c.url).await;
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&results(&m.id, Down, 3))
        .await
        .expect("publish");
    eventually("the incident", || async { a.accepted().len() == 1 }).await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    running.stop().await;

    // Acknowledged while no notifier ran (as the incident timer stores it).
    let inc = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    store
        .execute(
            Sql::new(
                "UPDATE incidents SET acknowledged_at_ms = $1, acknowledged_by = $2 WHERE id = $3",
            )
            .bind(lookout_store::now_ms())
            .bind("ana")
            .bind(inc.id.as_str()),
        )
        .await
        .expect("ack");
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&results(&m.id, Down, 6))
        .await
        .expect("publish");
    publisher
        .publish(&results(&m.id, Up, 1))
        .await
        .expect("publish");
    eventually("the recovery", || async { a.accepted().len() == 2 }).await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(seen(&a), vec![row("incident", 1), row("recovery", 1)]);
    assert!(
        b.accepted().is_empty() && c.accepted().is_empty(),
        "no escalation"
    );
    running.stop().await;
}

lookout_store::backend_tests!(
    more_failures_escalate_to_the_levels_integrations,
    an_acknowledged_incident_stops_escalating,
);
