//! Against a real Kafka-protocol broker (`LOOKOUT_TEST_KAFKA`, started by `.ci/run`): two
//! notifiers in one consumer group, each with its own connections to one database (SQLite or
//! PostgreSQL), share the partitions; a rebalance moves them when the second joins and when
//! the first leaves, and every transition is notified exactly once (the offsets'
//! compare-and-set and the outbox lease hold under PostgreSQL's isolation).

mod common;

use lookout_store::testing::TestDb;
use std::time::Duration;

use common::{Receiver, eventually_within, monitor, outbox_settled, result};
use lookout_bus::{KafkaConfig, KafkaConsumer, KafkaPublisher, ResultPublisher, ensure_topic};
use lookout_proto::CheckStatus::{self, Down, Up};
use lookout_proto::Monitor;

const WAIT: Duration = Duration::from_secs(60);

fn kafka_config() -> KafkaConfig {
    let brokers = std::env::var("LOOKOUT_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("LOOKOUT_TEST_KAFKA is not set: this test needs a Kafka-protocol broker; run `bash .ci/run`, which starts one")
    });
    let unique = uuid::Uuid::now_v7().simple().to_string();
    KafkaConfig {
        brokers,
        topic: format!("notifier-test-{unique}"),
        partitions: 3,
        group_id: format!("notifier-test-{unique}"),
        ..KafkaConfig::default()
    }
}

async fn publish_all(p: &KafkaPublisher, monitors: &[Monitor], statuses: &[CheckStatus]) {
    let results: Vec<_> = monitors
        .iter()
        .flat_map(|m| statuses.iter().map(|s| result(&m.id, "eu", *s)))
        .collect();
    p.publish(&results).await.expect("publish to kafka");
}

async fn rebalances_neither_repeat_nor_lose_notifications(db: TestDb) {
    // RUST_LOG=lookout_notifier=info shows the rebalances and deliveries.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let kafka = kafka_config();
    ensure_topic(&kafka).await.expect("create topic");
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let mut monitors = Vec::new();
    for i in 0..6 {
        monitors.push(monitor(&store, &format!("mon_k{i}"), &["eu"], 1, &rx.url).await);
    }
    let publisher = KafkaPublisher::new(&kafka).expect("publisher");
    let mut config = common::config();
    config.kafka = kafka.clone();
    let a = common::start(
        config.clone(),
        store.clone(),
        Box::new(KafkaConsumer::new(&config.kafka).expect("consumer a")),
        None,
    );
    publish_all(&publisher, &monitors, &[Down, Down, Down]).await;
    eventually_within(WAIT, "six incidents", || async {
        rx.accepted_of("incident").len() == 6
    })
    .await;

    // A second member joins, with connections of its own to the database (as a second pod
    // would have): the partitions are split, records may be handed out again.
    let store_b = lookout_store::Store::open(&db.url, db.keyring())
        .await
        .expect("second notifier's store");
    let b = common::start(
        config.clone(),
        store_b,
        Box::new(KafkaConsumer::new(&config.kafka).expect("consumer b")),
        None,
    );
    publish_all(&publisher, &monitors, &[Up]).await;
    eventually_within(WAIT, "six recoveries", || async {
        rx.accepted_of("recovery").len() == 6
    })
    .await;
    publish_all(&publisher, &monitors, &[Down, Down, Down]).await;
    eventually_within(WAIT, "six more incidents", || async {
        rx.accepted_of("incident").len() == 12
    })
    .await;

    // The first member leaves: the second takes every partition over from the stored offsets.
    a.stop().await;
    publish_all(&publisher, &monitors, &[Down, Up]).await;
    eventually_within(WAIT, "six more recoveries", || async {
        rx.accepted_of("recovery").len() == 12
    })
    .await;
    eventually_within(WAIT, "the outbox to settle", || outbox_settled(&store)).await;
    b.stop().await;

    for m in &monitors {
        let hits: Vec<String> = rx
            .accepted()
            .iter()
            .filter(|h| h.json()["monitor"]["id"] == m.id.as_str())
            .map(|h| h.notification_type())
            .collect();
        assert_eq!(
            hits,
            ["incident", "recovery", "incident", "recovery"],
            "{}",
            m.id
        );
    }
    assert_eq!(rx.hits().len(), 24);
    let mut ids: Vec<String> = rx
        .hits()
        .iter()
        .map(|h| h.header("x-lookout-delivery").to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 24, "each delivery was sent exactly once");
    assert_eq!(
        store
            .list_incidents(None, 100)
            .await
            .expect("incidents")
            .len(),
        12
    );
}

lookout_store::backend_tests!(rebalances_neither_repeat_nor_lose_notifications,);
