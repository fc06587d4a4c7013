//! No data is a status, not a failure: a NO_DATA result sends one `monitor_no_data` webhook
//! per transition (none when the monitor turned them off), never opens an incident, and the
//! first result after it sends one `monitor_data_resumed`.

mod common;

use common::{Receiver, SECRET, eventually, monitor, result, settled_notification_types};
use lookout_proto::CheckResult;
use lookout_proto::CheckStatus::{Down, NoData, Up};
use lookout_store::Store;
use lookout_store::testing::TestDb;

/// A NO_DATA result as the coordinator publishes it.
fn no_data(monitor_id: &str, region: &str) -> CheckResult {
    let mut r = result(monitor_id, region, NoData);
    r.agent_id = String::new();
    r.started_at_ms = 0;
    r.duration_us = 0;
    r.status_code = None;
    r.error_message = format!("no agent connected in region {region}");
    r
}

async fn last_status(store: &Store, monitor_id: &str, region: &str) -> String {
    store
        .region_states(monitor_id)
        .await
        .expect("region states")
        .into_iter()
        .find(|s| s.region == region)
        .map(|s| s.last_status)
        .unwrap_or_default()
}

async fn no_data_sends_one_webhook_per_transition_and_never_opens_an_incident(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_nd", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    use lookout_bus::ResultPublisher;

    // The first report and two reminders: one webhook.
    let reports = [
        no_data(&m.id, "eu"),
        no_data(&m.id, "eu"),
        no_data(&m.id, "eu"),
    ];
    publisher.publish(&reports).await.expect("publish");
    eventually("the no-data webhook", || async {
        rx.accepted_of("no_data").len() == 1
    })
    .await;
    let hit = &rx.accepted_of("no_data")[0];
    assert!(hit.signature_verifies(SECRET));
    let body = hit.json();
    assert_eq!(body["event_type"], "monitor_no_data");
    assert_eq!(body["monitor"]["id"], "mon_nd");
    assert_eq!(body["monitor"]["status"], "NO_DATA");
    assert_eq!(body["check_result"]["status"], "NO_DATA");
    assert_eq!(body["check_result"]["region"], "eu");
    assert_eq!(
        body["check_result"]["error_message"],
        "no agent connected in region eu"
    );
    assert_eq!(body["context"]["previous_status"], "UP");
    assert_eq!(last_status(&store, &m.id, "eu").await, "NO_DATA");

    // Data again: one `monitor_data_resumed`; still no incident.
    publisher
        .publish(&[result(&m.id, "eu", Up), result(&m.id, "eu", Up)])
        .await
        .expect("publish");
    eventually("the data-resumed webhook", || async {
        rx.accepted_of("data_resumed").len() == 1
    })
    .await;
    let body = rx.accepted_of("data_resumed")[0].json();
    assert_eq!(body["event_type"], "monitor_data_resumed");
    assert_eq!(body["monitor"]["status"], "UP");
    assert_eq!(body["check_result"]["status"], "UP");
    assert_eq!(body["context"]["previous_status"], "NO_DATA");
    assert_eq!(last_status(&store, &m.id, "eu").await, "UP");

    // Gaps between failures neither count nor reset them: the third DOWN opens the incident.
    publisher
        .publish(&[
            result(&m.id, "eu", Down),
            result(&m.id, "eu", Down),
            no_data(&m.id, "eu"),
            result(&m.id, "eu", Down),
        ])
        .await
        .expect("publish");
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
    let kinds = settled_notification_types(&store, &rx).await;
    assert_eq!(
        kinds,
        [
            "no_data",
            "data_resumed",
            "no_data",
            "data_resumed",
            "incident"
        ],
        "one event per transition, in order"
    );
    let incidents = store.list_incidents(Some(&m.id), 10).await.expect("list");
    assert_eq!(incidents.len(), 1, "only the three failures opened one");
    running.stop().await;
}

async fn no_data_alone_opens_no_incident_and_is_not_repeated_after_a_restart(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_nd_restart", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    use lookout_bus::ResultPublisher;
    publisher
        .publish(&[no_data(&m.id, "eu")])
        .await
        .expect("publish");
    eventually("the no-data webhook", || async {
        rx.accepted_of("no_data").len() == 1
    })
    .await;
    running.stop().await;

    // A new notifier (the in-process log starts over) gets the coordinator's reminder.
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&[no_data(&m.id, "eu"), result(&m.id, "eu", Down)])
        .await
        .expect("publish");
    eventually("the DOWN result is applied", || async {
        store
            .region_states(&m.id)
            .await
            .expect("states")
            .iter()
            .any(|s| s.consecutive_failures == 1)
    })
    .await;
    let kinds = settled_notification_types(&store, &rx).await;
    assert_eq!(
        kinds,
        ["no_data", "data_resumed"],
        "the reminder is not resent"
    );
    assert!(
        store
            .list_incidents(Some(&m.id), 10)
            .await
            .expect("list")
            .is_empty()
    );
    running.stop().await;
}

async fn a_monitor_can_turn_no_data_webhooks_off(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_nd_off", &["eu"], 1, &rx.url).await;
    let version = m.version;
    let quiet = lookout_proto::Monitor {
        notify_no_data: Some(false),
        ..m
    };
    let m = store.update_monitor(quiet, version).await.expect("update");
    let (publisher, running) = common::start_in_process(&store);
    use lookout_bus::ResultPublisher;
    let mut results = vec![no_data(&m.id, "eu"), result(&m.id, "eu", Up)];
    results.extend((0..3).map(|_| result(&m.id, "eu", Down)));
    publisher.publish(&results).await.expect("publish");
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
    let kinds = settled_notification_types(&store, &rx).await;
    assert_eq!(kinds, ["incident"], "no no-data events for this monitor");
    running.stop().await;
}

lookout_store::backend_tests!(
    no_data_sends_one_webhook_per_transition_and_never_opens_an_incident,
    no_data_alone_opens_no_incident_and_is_not_repeated_after_a_restart,
    a_monitor_can_turn_no_data_webhooks_off,
);
