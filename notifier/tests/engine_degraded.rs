//! The incident engine's degraded state and quorum modes, end to end through the in-process
//! bus to a local webhook receiver, on both store backends: DEGRADED results open a warning
//! incident with its own events, DEGRADED <-> DOWN moves keep that one incident and say where
//! it came from, the state survives a restart, and a majority quorum counts regions.

mod common;

use common::{Receiver, eventually, result, webhook_integration};
use lookout_bus::{InProcBus, ResultPublisher};
use lookout_proto::CheckStatus::{self, Degraded, Down, Up};
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, QuorumMode};
use lookout_proto::{CheckResult, Monitor};
use lookout_store::Store;
use lookout_store::testing::TestDb;

/// An HTTPS monitor (thresholds 3 failures, 1 success) notifying `url` through its own
/// webhook integration.
async fn monitor(
    store: &Store,
    id: &str,
    regions: &[&str],
    mode: QuorumMode,
    url: &str,
) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), url).await;
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        interval_secs: 30,
        timeout_ms: 5_000,
        failure_threshold: 3,
        success_threshold: 1,
        quorum_mode: mode as i32,
        integration_ids: vec![hook.id],
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

fn results(monitor_id: &str, region: &str, status: CheckStatus, n: usize) -> Vec<CheckResult> {
    (0..n).map(|_| result(monitor_id, region, status)).collect()
}

/// `(notification_type, monitor status, previous status)` of every accepted webhook.
fn seen(rx: &Receiver) -> Vec<(String, String, String)> {
    rx.accepted()
        .iter()
        .map(|h| {
            let b = h.json();
            (
                h.notification_type(),
                b["monitor"]["status"].as_str().unwrap_or("").to_string(),
                b["context"]["previous_status"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

fn row(kind: &str, status: &str, previous: &str) -> (String, String, String) {
    (kind.into(), status.into(), previous.into())
}

async fn degraded_results_raise_their_own_events_on_one_incident(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_deg", &["eu"], QuorumMode::Count, &rx.url).await;
    let bus = InProcBus::new();
    let publisher = bus.publisher();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );

    // Two DEGRADED results are below the threshold; the third degrades the monitor.
    publisher
        .publish(&results(&m.id, "eu", Degraded, 2))
        .await
        .expect("publish");
    publisher
        .publish(&results(&m.id, "eu", Degraded, 1))
        .await
        .expect("publish");
    eventually("the degraded webhook", || async {
        rx.accepted().len() == 1
    })
    .await;
    let warning = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(warning.severity, "warning");

    // Down from degraded: the same incident, now critical (ALERT_DEGRADED_FAILURE).
    publisher
        .publish(&results(&m.id, "eu", Down, 3))
        .await
        .expect("publish");
    eventually("the incident webhook", || async {
        rx.accepted().len() == 2
    })
    .await;
    let critical = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(
        (critical.id.as_str(), critical.severity.as_str()),
        (warning.id.as_str(), "critical")
    );

    // A DEGRADED result ends the failure, but the region is still degraded; then UP.
    publisher
        .publish(&results(&m.id, "eu", Degraded, 1))
        .await
        .expect("publish");
    eventually("back to degraded", || async { rx.accepted().len() == 3 }).await;
    publisher
        .publish(&results(&m.id, "eu", Up, 1))
        .await
        .expect("publish");
    eventually("the degraded recovery", || async {
        rx.accepted().len() == 4
    })
    .await;

    assert_eq!(
        seen(&rx),
        vec![
            row("degraded", "DEGRADED", "UP"),
            row("incident", "DOWN", "DEGRADED"),
            row("degraded", "DEGRADED", "DOWN"),
            row("degraded_recovery", "UP", "DEGRADED"),
        ]
    );
    for h in rx.accepted() {
        assert_eq!(h.json()["monitor"]["id"], "mon_deg");
    }
    assert!(store.open_incident(&m.id).await.expect("read").is_none());
    let all = store.list_incidents(Some(&m.id), 10).await.expect("list");
    assert_eq!(all.len(), 1, "one incident for the whole episode");
    running.stop().await;
}

async fn the_degraded_state_survives_a_restart(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(
        &store,
        "mon_deg_restart",
        &["eu"],
        QuorumMode::Count,
        &rx.url,
    )
    .await;
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&results(&m.id, "eu", Degraded, 3))
        .await
        .expect("publish");
    eventually("the degraded webhook", || async {
        rx.accepted().len() == 1
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    running.stop().await;

    // A new notifier reads the region's degraded streak back: one more DEGRADED result keeps
    // the monitor degraded (no recovery), and failures then make it DOWN from DEGRADED.
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&results(&m.id, "eu", Degraded, 1))
        .await
        .expect("publish");
    publisher
        .publish(&results(&m.id, "eu", Down, 3))
        .await
        .expect("publish");
    eventually("the incident webhook", || async {
        rx.accepted().len() == 2
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(
        seen(&rx),
        vec![
            row("degraded", "DEGRADED", "UP"),
            row("incident", "DOWN", "DEGRADED")
        ]
    );
    running.stop().await;
}

async fn a_majority_quorum_needs_more_than_half_the_regions(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(
        &store,
        "mon_major",
        &["ap", "eu", "us"],
        QuorumMode::Majority,
        &rx.url,
    )
    .await;
    assert_eq!(m.region_quorum, 2, "the count it means is shown");
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&results(&m.id, "eu", Down, 3))
        .await
        .expect("publish");
    // A marker result of another monitor would not prove the first batch was handled; the
    // notifier's stored region state does.
    eventually("eu counted down", || async {
        store
            .region_states(&m.id)
            .await
            .expect("states")
            .iter()
            .any(|s| s.down)
    })
    .await;
    assert!(
        rx.accepted().is_empty(),
        "one region of three is no majority"
    );
    publisher
        .publish(&results(&m.id, "us", Down, 3))
        .await
        .expect("publish");
    eventually("the incident webhook", || async {
        rx.accepted().len() == 1
    })
    .await;
    assert_eq!(seen(&rx), vec![row("incident", "DOWN", "UP")]);
    running.stop().await;
}

lookout_store::backend_tests!(
    degraded_results_raise_their_own_events_on_one_incident,
    the_degraded_state_survives_a_restart,
    a_majority_quorum_needs_more_than_half_the_regions,
);
