//! Healthy monitors cost no store writes: UP and MISSED results leave no counters, incidents
//! or deliveries behind, and results of unknown or paused monitors are skipped.

mod common;

use std::sync::atomic::Ordering;

use common::{Receiver, ReplayConsumer, eventually, monitor, result};
use lookout_proto::CheckStatus::{Down, Missed, Up};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_unknown_and_paused_monitors_leave_no_state() {
    let (_dir, store) = common::store().await;
    let rx = Receiver::start(200).await;
    let healthy = monitor(&store, "mon_healthy", &["eu", "us"], 1, &rx.url).await;
    let mut paused = monitor(&store, "mon_paused", &["eu"], 1, &rx.url).await;
    paused.paused = true;
    let version = paused.version;
    store.update_monitor(paused, version).await.expect("pause");

    let mut log = Vec::new();
    for i in 0..300 {
        let region = if i % 2 == 0 { "eu" } else { "us" };
        log.push(result(
            &healthy.id,
            region,
            if i % 7 == 0 { Missed } else { Up },
        ));
        log.push(result("mon_deleted", "eu", Down));
        log.push(result("mon_paused", "eu", Down));
    }
    let consumer = ReplayConsumer::new(&log);
    let drained = consumer.drained.clone();
    let running = common::start(common::config(), store.clone(), Box::new(consumer), None);
    eventually("the log to be handled", || async {
        drained.load(Ordering::SeqCst)
    })
    .await;
    running.stop().await;

    for id in ["mon_healthy", "mon_deleted", "mon_paused"] {
        assert!(
            store.region_states(id).await.expect("states").is_empty(),
            "{id} has counters"
        );
    }
    assert!(
        store
            .list_incidents(None, 10)
            .await
            .expect("incidents")
            .is_empty()
    );
    assert!(store.list_outbox(None).await.expect("outbox").is_empty());
    assert!(rx.hits().is_empty());
}
