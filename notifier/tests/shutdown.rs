//! Shutdown: the notifier stops consuming, lets deliveries in flight finish (bounded by
//! `shutdown_timeout_ms`) and records them, and stores the offsets it handled; a delivery cut
//! off at the bound is sent again at once after a restart, with the same delivery id.

mod common;

use lookout_store::testing::TestDb;
use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::{Receiver, ReplayConsumer, eventually, eventually_within, monitor, result};
use lookout_bus::InProcBus;
use lookout_proto::CheckStatus::{Down, Up};
use lookout_store::notifier::OutboxState;

async fn shutdown_finishes_deliveries_in_flight_and_stores_offsets(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    rx.delay(1_500);
    let m = monitor(&store, "mon_drain", &["eu"], 1, &rx.url).await;
    let healthy = monitor(&store, "mon_calm", &["eu"], 1, &rx.url).await;
    // The incident opens in the second batch of two; the last batches change nothing.
    let mut log = vec![
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
    ];
    log.extend((0..4).map(|_| result(&healthy.id, "eu", Up)));
    let consumer = ReplayConsumer::new(&log);
    let drained = consumer.drained.clone();
    let running = common::start(common::config(), store.clone(), Box::new(consumer), None);
    eventually("the incident delivery to be in flight", || async {
        rx.arrived() == 1
    })
    .await;
    eventually("the log to be handled", || async {
        drained.load(Ordering::SeqCst)
    })
    .await;
    assert!(rx.hits().is_empty(), "the receiver has not answered yet");
    running.stop().await;

    assert_eq!(rx.accepted_of("incident").len(), 1, "the delivery finished");
    let rows = store.list_outbox(None).await.expect("outbox");
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].state, rows[0].attempts),
        (OutboxState::Delivered, 1),
        "its outcome is recorded"
    );
    assert_eq!(
        store
            .notifier_offsets("test-notifier", "lookout.results")
            .await
            .expect("offsets"),
        vec![(0, 7)],
        "every handled record's offset is stored, also of batches that changed nothing"
    );
}

async fn a_delivery_cut_off_at_the_bound_is_sent_again_at_once_after_a_restart(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    rx.delay(8_000);
    let m = monitor(&store, "mon_cut", &["eu"], 1, &rx.url).await;
    let mut config = common::config();
    config.delivery.timeout_ms = 20_000;
    config.shutdown_timeout_ms = 300;
    let bus = InProcBus::new();
    let running = common::start(
        config.clone(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    common::publish_down(&bus.publisher(), &m.id, "eu", 3).await;
    eventually("the incident delivery to be in flight", || async {
        rx.arrived() == 1
    })
    .await;
    let t = Instant::now();
    running.stop().await;
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "shutdown waited {:?}, beyond shutdown_timeout_ms",
        t.elapsed()
    );
    let rows = store.list_outbox(None).await.expect("outbox");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, OutboxState::Pending, "not lost");
    assert!(
        rows[0].next_attempt_at_ms <= lookout_store::now_ms(),
        "due at once, not after the lease"
    );

    rx.delay(0);
    let bus = InProcBus::new();
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    eventually_within(
        Duration::from_secs(5),
        "the delivery to be sent again",
        || async { !rx.accepted_of("incident").is_empty() },
    )
    .await;
    eventually("the outcome to be recorded", || {
        common::outbox_settled(&store)
    })
    .await;
    running.stop().await;
    let rows = store.list_outbox(None).await.expect("outbox");
    assert_eq!(rows.len(), 1, "one delivery, not a second one");
    assert_eq!(rows[0].state, OutboxState::Delivered);
    let ids: BTreeSet<String> = rx
        .hits()
        .iter()
        .map(|h| h.header("x-lookout-delivery").to_string())
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from([rows[0].id.clone()]),
        "same delivery id"
    );
}

lookout_store::backend_tests!(
    shutdown_finishes_deliveries_in_flight_and_stores_offsets,
    a_delivery_cut_off_at_the_bound_is_sent_again_at_once_after_a_restart,
);
