//! One slow integration never delays another: an integration shared by many monitors whose
//! receiver takes 20 s to answer holds at most its share of the delivery workers, so another
//! integration's incident still arrives at once.

mod common;

use std::time::Duration;

use common::{Receiver, eventually_within, monitor, monitor_with, webhook_integration};
use lookout_bus::InProcBus;
use lookout_store::testing::TestDb;

async fn a_slow_integration_shared_by_many_monitors_delays_no_other(db: TestDb) {
    let store = db.store.clone();
    let slow = Receiver::start(200).await;
    slow.delay(20_000);
    let fast = Receiver::start(200).await;
    webhook_integration(&store, "int_slow", &slow.url).await;
    let mut shared = Vec::new();
    for i in 0..24 {
        shared
            .push(monitor_with(&store, &format!("mon_slow_{i}"), &["eu"], 1, &["int_slow"]).await);
    }
    let other = monitor(&store, "mon_fast", &["eu"], 1, &fast.url).await;
    let bus = InProcBus::new();
    let mut config = common::config();
    config.delivery.workers = 16;
    config.delivery.timeout_ms = 30_000;
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    let publisher = bus.publisher();
    for m in &shared {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    // The slow receiver is busy with as many deliveries as the integration may have in flight.
    eventually_within(
        Duration::from_secs(30),
        "the slow receiver to hold requests",
        || async { slow.arrived() >= 4 },
    )
    .await;
    common::publish_down(&publisher, &other.id, "eu", 3).await;
    // Well before any slow answer (20 s) could free a worker.
    eventually_within(
        Duration::from_secs(10),
        "the other integration's incident",
        || async { fast.accepted_of("incident").len() == 1 },
    )
    .await;
    assert_eq!(
        slow.arrived(),
        4,
        "a quarter of the 16 workers, no more, wait on the slow integration"
    );
    running.stop().await;
}

lookout_store::backend_tests!(a_slow_integration_shared_by_many_monitors_delays_no_other);
