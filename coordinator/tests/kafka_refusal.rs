//! Against a real Kafka-protocol broker (`LOOKOUT_TEST_KAFKA`): a result the producer refuses
//! for good (here: over a deliberately small `message.max.bytes`) is replaced by an INTERNAL
//! result under the same id, the batch is acknowledged, and nothing is published twice.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{Harness, TestAgent, http_monitor};
use lookout_bus::{KafkaConfig, KafkaConsumer, KafkaPublisher, ResultConsumer, ensure_topic};
use lookout_proto::v1::{CheckResult, CheckStatus, FailureClass, ResultBatch, agent_message::Msg};

const BEAT: Option<Duration> = Some(Duration::from_millis(100));

fn kafka_config() -> KafkaConfig {
    let brokers = std::env::var("LOOKOUT_TEST_KAFKA").unwrap_or_else(|_| {
        panic!("LOOKOUT_TEST_KAFKA is not set: this test needs a Kafka-protocol broker; run `bash .ci/run`, which starts one")
    });
    let unique = uuid::Uuid::now_v7().simple().to_string();
    KafkaConfig {
        brokers,
        topic: format!("coordinator-refusal-{unique}"),
        partitions: 1,
        group_id: format!("coordinator-refusal-{unique}"),
        ..KafkaConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_refused_for_good_is_replaced_by_an_internal_result() {
    let config = kafka_config();
    ensure_topic(&config).await.expect("create topic");
    // The smallest limit librdkafka allows: a result with a full 1 KiB message exceeds it.
    let producing = KafkaConfig {
        properties: BTreeMap::from([("message.max.bytes".to_string(), "1000".to_string())]),
        ..config.clone()
    };
    let publisher = KafkaPublisher::new(&producing).expect("producer");

    let store =
        lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
    let mut m = http_monitor("m", &["eu"]);
    m.id = "mon_big".into();
    store.insert_monitor(m).await.expect("seed");
    let h = Harness::start_on(store, 1_000, Some(Arc::new(publisher))).await;
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let result = |id: &str, message: String| CheckResult {
        id: id.into(),
        monitor_id: "mon_big".into(),
        monitor_version: 1,
        status: CheckStatus::Down as i32,
        failure_class: FailureClass::Assertion as i32,
        error_message: message,
        check_kind: "http".into(),
        scheduled_at_ms: 1_000,
        ..Default::default()
    };
    let batch = ResultBatch {
        seq: 1,
        results: vec![
            result("small", "short".into()),
            result("large", "x".repeat(1024)),
        ],
    };
    agent.send(Msg::Results(batch)).await;
    agent
        .until("the batch is acknowledged", |a| a.acks == [1])
        .await;

    let mut consumer = KafkaConsumer::new(&config).expect("consumer");
    let mut got: Vec<CheckResult> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.len() < 2 {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let records = tokio::time::timeout(left, consumer.poll(10))
            .await
            .expect("both results on the topic in time")
            .expect("poll");
        got.extend(records.into_iter().map(|r| r.result));
    }
    got.sort_by(|a, b| a.id.cmp(&b.id));
    let (large, small) = (&got[0], &got[1]);
    assert_eq!(small.id, "small");
    assert_eq!(small.status(), CheckStatus::Down);
    assert_eq!(large.id, "large", "the same id");
    assert_eq!(
        (
            large.monitor_id.as_str(),
            large.region.as_str(),
            large.agent_id.as_str()
        ),
        ("mon_big", "eu", "a1")
    );
    assert_eq!(large.scheduled_at_ms, 1_000);
    assert_eq!(large.status(), CheckStatus::Missed);
    assert_eq!(large.failure_class(), FailureClass::Internal);
    assert!(
        large.error_message.contains("refused this result for good")
            && large.error_message.contains("DOWN"),
        "{}",
        large.error_message
    );
    // Nothing more: neither result was published twice.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), consumer.poll(10))
            .await
            .is_err(),
        "no further messages"
    );
    h.stop().await;
}
