//! Restarting on the same store with a log that replays from the start: records already
//! applied are skipped, so no notification is repeated and none is lost.

mod common;

use lookout_store::testing::TestDb;
use std::sync::atomic::Ordering;

use common::{Receiver, ReplayConsumer, eventually, monitor, outbox_settled, result};
use lookout_proto::CheckStatus::{Down, Up};
use lookout_store::Store;

async fn replayed_log_after_restart_sends_no_duplicate(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_restart", &["eu"], 1, &rx.url).await;
    let mut log = vec![
        result(&m.id, "eu", Up),
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
    ];

    // First run: the incident opens and is delivered.
    let consumer = ReplayConsumer::new(&log);
    let drained = consumer.drained.clone();
    let running = common::start(common::config(), store.clone(), Box::new(consumer), None);
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
    eventually("the first log to be handled", || async {
        drained.load(Ordering::SeqCst)
    })
    .await;
    eventually("the outbox to settle", || outbox_settled(&store)).await;
    running.stop().await;
    drop(store);

    // Second run on a freshly opened store file: the same records again, then one more
    // failure and a success. Only the recovery is new.
    log.push(result(&m.id, "eu", Down));
    log.push(result(&m.id, "eu", Up));
    let store = Store::open(&db.url, db.keyring())
        .await
        .expect("reopen store");
    let consumer = ReplayConsumer::new(&log);
    let drained = consumer.drained.clone();
    let running = common::start(common::config(), store.clone(), Box::new(consumer), None);
    eventually("the recovery webhook", || async {
        rx.accepted_of("recovery").len() == 1
    })
    .await;
    eventually("the second log to be handled", || async {
        drained.load(Ordering::SeqCst)
    })
    .await;
    eventually("the outbox to settle", || outbox_settled(&store)).await;
    assert_eq!(
        rx.accepted_of("incident").len(),
        1,
        "no second incident webhook"
    );
    assert_eq!(rx.hits().len(), 2);
    assert_eq!(
        store
            .list_incidents(Some(&m.id), 10)
            .await
            .expect("incidents")
            .len(),
        1
    );
    assert_eq!(
        store
            .notifier_offsets("test-notifier", "lookout.results")
            .await
            .expect("offsets"),
        vec![(0, 7)]
    );
    running.stop().await;

    // A third start replays all seven records and changes nothing.
    let consumer = ReplayConsumer::new(&log);
    let drained = consumer.drained.clone();
    let running = common::start(common::config(), store.clone(), Box::new(consumer), None);
    eventually("the third log to be handled", || async {
        drained.load(Ordering::SeqCst)
    })
    .await;
    running.stop().await;
    assert!(outbox_settled(&store).await);
    assert_eq!(rx.hits().len(), 2);
}

/// A consumer that lost its partition in a rebalance but has not noticed yet keeps handling
/// the same records as the new owner. Offsets are advanced compare-and-set with the state, so
/// whichever stores second is refused, reloads, and skips what the other already applied.
async fn two_owners_of_one_partition_notify_once(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let mut log = Vec::new();
    let mut ids = Vec::new();
    for i in 0..4 {
        let m = monitor(&store, &format!("mon_z{i}"), &["eu"], 1, &rx.url).await;
        ids.push(m.id);
    }
    for status in [Down, Down, Down, Up, Down, Down, Down, Up] {
        for id in &ids {
            log.push(result(id, "eu", status));
        }
    }
    let a = ReplayConsumer::new(&log);
    let b = ReplayConsumer::new(&log);
    let (a_done, b_done) = (a.drained.clone(), b.drained.clone());
    let first = common::start(common::config(), store.clone(), Box::new(a), None);
    let second = common::start(common::config(), store.clone(), Box::new(b), None);
    eventually("both logs to be handled", || async {
        a_done.load(Ordering::SeqCst) && b_done.load(Ordering::SeqCst)
    })
    .await;
    eventually("the outbox to settle", || outbox_settled(&store)).await;
    first.stop().await;
    second.stop().await;

    for id in &ids {
        let kinds: Vec<String> = rx
            .accepted()
            .iter()
            .filter(|h| h.json()["monitor"]["id"] == id.as_str())
            .map(|h| h.notification_type())
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| *k == "incident").count(),
            2,
            "{id}: {kinds:?}"
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "recovery").count(),
            2,
            "{id}: {kinds:?}"
        );
        assert_eq!(
            store
                .list_incidents(Some(id), 10)
                .await
                .expect("incidents")
                .len(),
            2
        );
    }
    assert_eq!(rx.hits().len(), 16);
}

lookout_store::backend_tests!(
    replayed_log_after_restart_sends_no_duplicate,
    two_owners_of_one_partition_notify_once,
);
