//! Duplicates and late results: a batch resent after a lost acknowledgement counts each
//! failure once, an old buffer arriving after newer results opens nothing, and both hold
//! across a notifier restart on the same store.

mod common;

use common::{Receiver, eventually, monitor};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::{CheckResult, CheckStatus};
use lookout_store::testing::TestDb;

/// A result scheduled at `at_ms` whose error message names it, so the incident webhook shows
/// which result opened it.
fn at(monitor_id: &str, status: CheckStatus, at_ms: i64, name: &str) -> CheckResult {
    let mut r = common::result(monitor_id, "eu", status);
    r.scheduled_at_ms = at_ms;
    r.started_at_ms = at_ms;
    if status == Down {
        r.error_message = name.into();
    }
    r
}

/// The error message of the result that opened the first incident webhook.
async fn opened_by(rx: &Receiver) -> String {
    eventually("the incident webhook", || async {
        !rx.accepted_of("incident").is_empty()
    })
    .await;
    rx.accepted_of("incident")[0].json()["check_result"]["error_message"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn a_resent_batch_counts_each_failure_once(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_resent", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    let t = lookout_store::now_ms();
    let batch = [
        at(&m.id, Down, t, "failure 1"),
        at(&m.id, Down, t + 1000, "failure 2"),
    ];
    publisher.publish(&batch).await.expect("publish");
    // The acknowledgement was lost: the agent sends the same batch again, then goes on.
    publisher.publish(&batch).await.expect("publish again");
    publisher
        .publish(&[at(&m.id, Down, t + 2000, "failure 3")])
        .await
        .expect("publish");
    assert_eq!(
        opened_by(&rx).await,
        "failure 3",
        "the third distinct failure opens the incident"
    );
    let hit = &rx.accepted_of("incident")[0];
    assert_eq!(hit.json()["context"]["consecutive_failures"], 3);
    running.stop().await;
}

async fn an_old_buffer_after_newer_results_opens_nothing(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_late", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    let t = lookout_store::now_ms();
    // The agent that took over reports the target up...
    publisher
        .publish(&[at(&m.id, Up, t + 10_000, ""), at(&m.id, Up, t + 11_000, "")])
        .await
        .expect("publish");
    // ...then the agent that was cut off reconnects with failures from before the takeover.
    let old: Vec<CheckResult> = (0..5)
        .map(|i| at(&m.id, Down, t + i * 1000, &format!("old failure {i}")))
        .collect();
    publisher
        .publish(&old)
        .await
        .expect("publish the old buffer");
    // A real outage afterwards is the first and only incident.
    let real: Vec<CheckResult> = (1..=3)
        .map(|i| {
            at(
                &m.id,
                Down,
                t + 11_000 + i * 1000,
                &format!("real failure {i}"),
            )
        })
        .collect();
    publisher.publish(&real).await.expect("publish");
    assert_eq!(opened_by(&rx).await, "real failure 3");
    running.stop().await;
}

async fn duplicates_are_recognised_after_a_restart(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_dedup_restart", &["eu"], 1, &rx.url).await;
    let t = lookout_store::now_ms();
    let batch = [
        at(&m.id, Down, t, "failure 1"),
        at(&m.id, Down, t + 1000, "failure 2"),
    ];
    let (publisher, running) = common::start_in_process(&store);
    publisher.publish(&batch).await.expect("publish");
    eventually("both failures to be counted", || async {
        store
            .region_states(&m.id)
            .await
            .expect("states")
            .first()
            .is_some_and(|s| s.consecutive_failures == 2)
    })
    .await;
    running.stop().await;

    // A fresh bus (its log starts over) and the same store: the resent batch is recognised.
    let (publisher, running) = common::start_in_process(&store);
    publisher.publish(&batch).await.expect("publish again");
    publisher
        .publish(&[at(&m.id, Down, t + 2000, "failure 3")])
        .await
        .expect("publish");
    assert_eq!(opened_by(&rx).await, "failure 3");
    running.stop().await;
}

lookout_store::backend_tests!(
    a_resent_batch_counts_each_failure_once,
    an_old_buffer_after_newer_results_opens_nothing,
    duplicates_are_recognised_after_a_restart,
);
