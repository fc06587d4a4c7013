//! Healthy monitors cost one store write per region, ever: the first result marks the region
//! as reporting (so the admin API shows UP rather than PENDING); later UP and MISSED results
//! change no counters and leave no incidents or deliveries behind, and results of unknown or
//! paused monitors are skipped.

mod common;

use lookout_store::testing::TestDb;
use std::sync::atomic::Ordering;

use common::{Receiver, ReplayConsumer, eventually, monitor, result};
use lookout_proto::CheckStatus::{Down, Missed, Up};

async fn healthy_unknown_and_paused_monitors_leave_no_state(db: TestDb) {
    let store = db.store.clone();
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

    let healthy_rows: Vec<_> = store
        .region_states(&healthy.id)
        .await
        .expect("states")
        .into_iter()
        .map(|s| (s.region, s.last_status, s.consecutive_failures, s.down))
        .collect();
    assert_eq!(
        healthy_rows,
        [
            ("eu".to_string(), "UP".to_string(), 0, false),
            ("us".to_string(), "UP".to_string(), 0, false),
        ]
    );
    for id in ["mon_deleted", "mon_paused"] {
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

lookout_store::backend_tests!(healthy_unknown_and_paused_monitors_leave_no_state,);
