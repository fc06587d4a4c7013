//! End to end through the in-process bus: failures open exactly one signed incident webhook,
//! a success sends exactly one recovery, and a two-region quorum needs both regions.

mod common;

use common::{Receiver, SECRET, eventually, monitor, outbox_settled, result};
use lookout_bus::{InProcBus, ResultPublisher};
use lookout_notifier::IncidentEventKind;
use lookout_proto::CheckStatus::{Down, Missed, Up};
use lookout_store::notifier::{IncidentStatus, OutboxState};
use lookout_store::testing::TestDb;

async fn three_failures_open_one_incident_and_one_success_resolves_it(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_flow", &["eu"], 1, &rx.url).await;
    let bus = InProcBus::new();
    let publisher = bus.publisher();
    let (events_tx, mut events) = tokio::sync::broadcast::channel(16);
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        Some(events_tx),
    );

    // Two failures and a gap: below the threshold, nothing happens.
    publisher
        .publish(&[
            result(&m.id, "eu", Down),
            result(&m.id, "eu", Missed),
            result(&m.id, "eu", Down),
        ])
        .await
        .expect("publish");
    publisher
        .publish(&[
            result(&m.id, "eu", Up),
            result(&m.id, "eu", Down),
            result(&m.id, "eu", Down),
        ])
        .await
        .expect("publish");
    publisher
        .publish(&[result(&m.id, "eu", Down)])
        .await
        .expect("publish");
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;

    let hit = &rx.accepted_of("incident")[0];
    assert!(
        hit.signature_verifies(SECRET),
        "signature verifies over the raw body"
    );
    assert!(!hit.signature_verifies("another secret"));
    assert_eq!(hit.header("content-type"), "application/json");
    assert!(hit.header("user-agent").starts_with("lookout/"));
    assert!(hit.header("x-lookout-delivery").starts_with("dlv_"));
    let ts: i64 = hit
        .header("x-lookout-timestamp")
        .parse()
        .expect("unix seconds");
    assert!((ts - lookout_store::now_ms() / 1000).abs() < 120);
    let body = hit.json();
    assert_eq!(body["event_type"], "monitor_alert");
    assert_eq!(body["monitor"]["id"], "mon_flow");
    assert_eq!(body["monitor"]["status"], "DOWN");
    assert_eq!(body["monitor"]["url"], "https://api.example.com/health");
    assert_eq!(body["check_result"]["status"], "DOWN");
    assert_eq!(body["check_result"]["region"], "eu");
    assert_eq!(body["check_result"]["error_message"], "connection refused");
    assert_eq!(body["context"]["consecutive_failures"], 3);
    assert_eq!(body["context"]["previous_status"], "UP");

    let opened = events.recv().await.expect("opened event");
    assert_eq!(
        (
            opened.kind,
            opened.monitor_id.as_str(),
            opened.regions.clone()
        ),
        (
            IncidentEventKind::Opened,
            "mon_flow",
            vec!["eu".to_string()]
        )
    );
    assert_eq!(opened.message, "connection refused");
    let line = opened.to_string();
    assert!(
        line.ends_with("INCIDENT API mon_flow (mon_flow) down in eu: connection refused"),
        "{line}"
    );

    // More failures while open add nothing; one success resolves.
    publisher
        .publish(&[
            result(&m.id, "eu", Down),
            result(&m.id, "eu", Down),
            result(&m.id, "eu", Up),
        ])
        .await
        .expect("publish");
    eventually("the recovery webhook", || async {
        rx.accepted_of("recovery").len() == 1
    })
    .await;
    let rec = &rx.accepted_of("recovery")[0];
    assert!(rec.signature_verifies(SECRET));
    assert_ne!(
        rec.header("x-lookout-delivery"),
        hit.header("x-lookout-delivery")
    );
    let body = rec.json();
    assert_eq!(
        (
            body["monitor"]["status"].as_str(),
            body["check_result"]["status"].as_str()
        ),
        (Some("UP"), Some("UP"))
    );
    assert_eq!(body["context"]["previous_status"], "DOWN");
    assert_eq!(body["check_result"]["status_code"], 200);
    assert!(body["check_result"].get("error_message").is_none());
    let resolved = events.recv().await.expect("resolved event");
    assert_eq!(
        (resolved.kind, resolved.incident_id.as_str()),
        (IncidentEventKind::Resolved, opened.incident_id.as_str())
    );

    eventually("the outbox to settle", || outbox_settled(&store)).await;
    assert_eq!(
        rx.hits().len(),
        2,
        "exactly one incident and one recovery webhook"
    );
    let incidents = store
        .list_incidents(Some("mon_flow"), 10)
        .await
        .expect("incidents");
    assert_eq!(incidents.len(), 1);
    assert_eq!(incidents[0].status, IncidentStatus::Resolved);
    assert_eq!(incidents[0].cause, "connection refused");
    let outbox = store
        .list_outbox(Some(&incidents[0].id))
        .await
        .expect("outbox");
    assert!(
        outbox
            .iter()
            .all(|o| o.state == OutboxState::Delivered && o.attempts == 1),
        "{outbox:?}"
    );
    running.stop().await;
}

async fn quorum_of_two_regions(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_quorum", &["eu", "us"], 2, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);

    // eu is down (4 failures) while us is healthy: one region is below the quorum.
    for _ in 0..4 {
        publisher
            .publish(&[result(&m.id, "eu", Down), result(&m.id, "us", Up)])
            .await
            .expect("publish");
    }
    eventually("eu to be stored as down", || async {
        store
            .region_states(&m.id)
            .await
            .expect("states")
            .iter()
            .any(|s| s.region == "eu" && s.down)
    })
    .await;
    assert!(store.open_incident(&m.id).await.expect("open").is_none());
    assert!(rx.hits().is_empty());

    // us reaches its threshold: both regions down, the incident opens once.
    for _ in 0..3 {
        publisher
            .publish(&[result(&m.id, "us", Down)])
            .await
            .expect("publish");
    }
    eventually("the quorum incident", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
    let inc = store
        .open_incident(&m.id)
        .await
        .expect("open")
        .expect("an open incident");
    assert_eq!(inc.regions, vec!["eu".to_string(), "us".to_string()]);
    assert_eq!(
        rx.accepted_of("incident")[0].json()["check_result"]["region"],
        "us"
    );

    // One region recovering drops below the quorum and resolves.
    publisher
        .publish(&[result(&m.id, "eu", Up)])
        .await
        .expect("publish");
    eventually("the recovery", || async {
        rx.accepted_of("recovery").len() == 1
    })
    .await;
    eventually("the outbox to settle", || outbox_settled(&store)).await;
    assert_eq!(rx.hits().len(), 2);
    running.stop().await;
}

async fn a_newer_monitor_version_applies_at_once(db: TestDb) {
    let store = db.store.clone();
    let old = Receiver::start(200).await;
    let new = Receiver::start(200).await;
    let m = monitor(&store, "mon_versions", &["eu"], 1, &old.url).await;
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&[result(&m.id, "eu", Down)])
        .await
        .expect("publish");
    eventually("the first failure to be counted", || async {
        store
            .region_states(&m.id)
            .await
            .expect("states")
            .iter()
            .any(|s| s.consecutive_failures == 1)
    })
    .await;

    // The monitor moves to another integration (version 2); results run with version 2 must
    // use it, cache or not.
    let moved_to = common::webhook_integration(&store, "int_new", &new.url).await;
    let mut changed = m.clone();
    changed.integration_ids = vec![moved_to.id];
    let v2 = store
        .update_monitor(changed, m.version)
        .await
        .expect("update");
    let mut later = vec![result(&m.id, "eu", Down), result(&m.id, "eu", Down)];
    for r in &mut later {
        r.monitor_version = v2.version;
    }
    publisher.publish(&later).await.expect("publish");
    eventually("the incident at the new webhook", || async {
        new.accepted_of("incident").len() == 1
    })
    .await;
    eventually("the outbox to settle", || outbox_settled(&store)).await;
    assert!(old.hits().is_empty(), "the old webhook got nothing");
    running.stop().await;
}

lookout_store::backend_tests!(
    three_failures_open_one_incident_and_one_success_resolves_it,
    quorum_of_two_regions,
    a_newer_monitor_version_applies_at_once,
);
