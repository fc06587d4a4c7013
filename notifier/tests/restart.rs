//! Restarting on the same store with a log that replays from the start: records already
//! applied are skipped, so no notification is repeated and none is lost.

mod common;

use std::sync::atomic::Ordering;

use common::{Receiver, ReplayConsumer, eventually, monitor, outbox_settled, result};
use lookout_proto::CheckStatus::{Down, Up};
use lookout_store::Store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_log_after_restart_sends_no_duplicate() {
    let (dir, store) = common::store().await;
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
    let store = Store::open(&common::store_url(&dir))
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
