//! The Kafka result bus (rdkafka): an idempotent producer with acks=all keyed by monitor id,
//! and a consumer-group member whose offsets are owned by the caller.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::FutureExt;
use futures::future::{BoxFuture, join_all};
use lookout_proto::{CheckResult, RESULT_CONTENT_TYPE};
use prost::Message as _;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::Deserialize;

use crate::{BusError, RESULTS_TOPIC, Record, Refusal, ResultConsumer, ResultPublisher};

/// Connection settings shared by the coordinator (producer) and the notifier (consumer).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Comma-separated `host:port` list.
    pub brokers: String,
    pub topic: String,
    /// Partition count used when the topic has to be created.
    pub partitions: i32,
    pub replication_factor: i32,
    pub group_id: String,
    /// Static group membership (`group.instance.id`): a stable name per consumer process
    /// (a StatefulSet pod name, say). A restarted member with the same name takes its
    /// partitions back at once instead of waiting for the broker to expire the dead one.
    /// Empty: dynamic membership.
    pub instance_id: String,
    /// Extra librdkafka properties (`security.protocol`, `sasl.mechanism`, `sasl.username`,
    /// `sasl.password`, `ssl.ca.location`, ...). Values are never logged.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            brokers: "127.0.0.1:9092".into(),
            topic: RESULTS_TOPIC.into(),
            partitions: 12,
            replication_factor: 1,
            group_id: "lookout-notifier".into(),
            instance_id: String::new(),
            properties: BTreeMap::new(),
        }
    }
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("group_id", &self.group_id)
            .field("instance_id", &self.instance_id)
            .field("properties", &self.properties.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl KafkaConfig {
    /// Client settings: the brokers, then Lookout's `defaults`, then the user's `properties`
    /// (which win).
    fn client(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers);
        for (k, v) in defaults {
            c.set(*k, *v);
        }
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }
}

/// How long start-up waits for the brokers to answer before it says they cannot be reached
/// (librdkafka alone keeps trying in silence for a minute).
pub const BROKER_ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates the topic with the configured partition count when it does not exist. Fails with
/// [`BusError::Unreachable`] when no broker answers within [`BROKER_ANSWER_TIMEOUT`].
pub async fn ensure_topic(config: &KafkaConfig) -> Result<(), BusError> {
    tracing::info!(brokers = %config.brokers, topic = %config.topic, "contacting the Kafka brokers");
    let admin: AdminClient<DefaultClientContext> = config.client(&[]).create()?;
    let topic = NewTopic::new(
        &config.topic,
        config.partitions,
        TopicReplication::Fixed(config.replication_factor),
    );
    let opts = AdminOptions::new().operation_timeout(Some(Timeout::After(BROKER_ANSWER_TIMEOUT)));
    let outcomes =
        tokio::time::timeout(BROKER_ANSWER_TIMEOUT, admin.create_topics([&topic], &opts))
            .await
            .map_err(|_| BusError::Unreachable {
                brokers: config.brokers.clone(),
                waited: BROKER_ANSWER_TIMEOUT,
            })?;
    for outcome in outcomes? {
        match outcome {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(BusError::Kafka(KafkaError::AdminOp(code))),
        }
    }
    Ok(())
}

pub struct KafkaPublisher {
    config: KafkaConfig,
    producer: std::sync::RwLock<Arc<FutureProducer>>,
    topic: String,
    /// Publishes in a row that failed for a reason other than a refusal of the data.
    failures: std::sync::atomic::AtomicU32,
    /// When the producer was last made.
    made: std::sync::Mutex<std::time::Instant>,
}

/// Failed publishes in a row after which the producer is made again (when the last one was
/// made at least [`REMAKE_AFTER`] before): an idempotent producer can be left unusable by a
/// broker that restarted and forgot its producer id (tansu answers UNKNOWN_SERVER_ERROR for
/// ever), and a fresh producer gets a new id. librdkafka's own fatal errors remake it at once.
const REMAKE_FAILURES: u32 = 3;
const REMAKE_AFTER: Duration = Duration::from_secs(10);

impl KafkaPublisher {
    pub fn new(config: &KafkaConfig) -> Result<KafkaPublisher, BusError> {
        Ok(KafkaPublisher {
            config: config.clone(),
            producer: std::sync::RwLock::new(Arc::new(make_producer(config)?)),
            topic: config.topic.clone(),
            failures: std::sync::atomic::AtomicU32::new(0),
            made: std::sync::Mutex::new(std::time::Instant::now()),
        })
    }

    fn producer(&self) -> Arc<FutureProducer> {
        Arc::clone(&self.producer.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Counts a failed publish and makes the producer again when it looks stuck.
    fn failed(&self, producer: &FutureProducer) {
        let failures = self.failures.fetch_add(1, Ordering::SeqCst) + 1;
        let fatal = producer.client().fatal_error();
        let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
        let stuck = failures >= REMAKE_FAILURES && made.elapsed() >= REMAKE_AFTER;
        if fatal.is_none() && !stuck {
            return;
        }
        match make_producer(&self.config) {
            Ok(fresh) => {
                tracing::warn!(failures, fatal = ?fatal.map(|(code, reason)| format!("{code:?}: {reason}")), "Kafka producer made again after repeated failures");
                *self.producer.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
                *made = std::time::Instant::now();
                self.failures.store(0, Ordering::SeqCst);
            }
            Err(e) => tracing::warn!(error = %e, "could not make the Kafka producer again"),
        }
    }
}

fn make_producer(config: &KafkaConfig) -> Result<FutureProducer, BusError> {
    Ok(config
        .client(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "5"),
            ("message.timeout.ms", "30000"),
        ])
        .create()?)
}

impl ResultPublisher for KafkaPublisher {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let producer = self.producer();
            let payloads: Vec<Vec<u8>> = results.iter().map(|r| r.encode_to_vec()).collect();
            let sends = results.iter().zip(&payloads).map(|(r, payload)| {
                let headers = OwnedHeaders::new().insert(Header {
                    key: "content-type",
                    value: Some(RESULT_CONTENT_TYPE),
                });
                let record = FutureRecord::to(&self.topic)
                    .key(&r.monitor_id)
                    .payload(payload)
                    .headers(headers);
                producer.send(record, Timeout::After(Duration::from_secs(30)))
            });
            let mut refused = Vec::new();
            let mut failed = None;
            for (index, delivery) in join_all(sends).await.into_iter().enumerate() {
                match delivery {
                    Ok(_) => {}
                    Err((e, _)) if is_permanent(&e) => refused.push(Refusal {
                        index,
                        reason: e.to_string(),
                    }),
                    Err((e, _)) => failed = failed.or(Some(e)),
                }
            }
            match (failed, refused.is_empty()) {
                (Some(e), _) => {
                    self.failed(&producer);
                    Err(BusError::Kafka(e))
                }
                (None, false) => {
                    self.failures.store(0, Ordering::SeqCst);
                    Err(BusError::Refused(refused))
                }
                (None, true) => {
                    self.failures.store(0, Ordering::SeqCst);
                    Ok(())
                }
            }
        })
    }
}

/// True when Kafka will never accept the message as it is (too large, invalid); anything else
/// (timeouts, unavailable brokers, full queues) may succeed on a retry.
fn is_permanent(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::MessageBatchTooLarge
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::InvalidMessageSize
                | RDKafkaErrorCode::InvalidRecord
                | RDKafkaErrorCode::InvalidTimestamp
                | RDKafkaErrorCode::UnsupportedForMessageFormat
                | RDKafkaErrorCode::BadMessage
        )
    )
}

/// Flags a rebalance so the caller reloads its stored offsets and per-key state.
struct RebalanceFlag(Arc<AtomicBool>);

impl ClientContext for RebalanceFlag {}

impl ConsumerContext for RebalanceFlag {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(_) | Rebalance::Revoke(_) = rebalance {
            self.0.store(true, Ordering::Release);
        }
    }
}

pub struct KafkaConsumer {
    consumer: StreamConsumer<RebalanceFlag>,
    topic: String,
    changed: Arc<AtomicBool>,
}

impl KafkaConsumer {
    /// Joins `config.group_id` and subscribes to `config.topic`. A partition with no committed
    /// offset is read from the beginning; offsets are committed only through `commit`.
    pub fn new(config: &KafkaConfig) -> Result<KafkaConsumer, BusError> {
        let changed = Arc::new(AtomicBool::new(true));
        let mut settings: Vec<(&str, &str)> = vec![
            ("group.id", config.group_id.as_str()),
            ("enable.auto.commit", "false"),
            ("enable.auto.offset.store", "false"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "1000"),
            // Also the rebalance timeout: how long a rebalance waits for a member that died
            // without leaving. The notifier polls continuously, so 30 s is ample.
            ("max.poll.interval.ms", "30000"),
            // Notice a topic created after the subscription within seconds, not minutes.
            ("topic.metadata.refresh.interval.ms", "5000"),
        ];
        if !config.instance_id.is_empty() {
            settings.push(("group.instance.id", config.instance_id.as_str()));
        }
        let consumer: StreamConsumer<RebalanceFlag> = config
            .client(&settings)
            .create_with_context(RebalanceFlag(changed.clone()))?;
        consumer.subscribe(&[&config.topic])?;
        Ok(KafkaConsumer {
            consumer,
            topic: config.topic.clone(),
            changed,
        })
    }

    fn record(&self, msg: &rdkafka::message::BorrowedMessage<'_>) -> Option<Record> {
        let payload = msg.payload().unwrap_or_default();
        match CheckResult::decode(payload) {
            Ok(result) => Some(Record {
                partition: msg.partition(),
                offset: msg.offset(),
                result,
            }),
            Err(e) => {
                tracing::warn!(partition = msg.partition(), offset = msg.offset(), error = %e, "skipping a message that is not a CheckResult");
                None
            }
        }
    }
}

impl ResultConsumer for KafkaConsumer {
    fn topic(&self) -> &str {
        &self.topic
    }

    fn durable(&self) -> bool {
        true
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Record>, BusError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            while out.is_empty() {
                let msg = self.consumer.recv().await?;
                out.extend(self.record(&msg));
            }
            while out.len() < max {
                match self.consumer.recv().now_or_never() {
                    Some(Ok(msg)) => out.extend(self.record(&msg)),
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
            Ok(out)
        })
    }

    fn take_assignment_change(&mut self) -> bool {
        self.changed.swap(false, Ordering::AcqRel)
    }

    fn commit(&mut self, next_offsets: &[(i32, i64)]) -> Result<(), BusError> {
        let mut tpl = TopicPartitionList::new();
        for &(partition, offset) in next_offsets {
            tpl.add_partition_offset(&self.topic, partition, Offset::Offset(offset))?;
        }
        if tpl.count() > 0 {
            self.consumer.commit(&tpl, CommitMode::Async)?;
        }
        Ok(())
    }
}
