//! `bench consume`: one topic produced once (bounded batches) to a real broker, then read
//! whole by a bare rdkafka consumer and by the notifier (its Kafka consumer, engine and
//! SQLite store), each in a fresh group; the notifier's rate as a ratio to the bare one's.
//! Both rates run from the first records to the last, so the group join is not counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use lookout_bus::{KafkaConfig, KafkaConsumer, KafkaPublisher, ResultPublisher, ensure_topic};
use lookout_proto::CheckStatus;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::sync::oneshot;

use super::broker::Broker;
use super::feed::Counted;
use super::{BenchError, BrokerArgs, Goal, Report};

const GOAL_RATIO: f64 = 0.8;
/// Results per produce call: tansu fails on very large produce requests.
const PRODUCE_BATCH: usize = 1_000;
/// How long one produce call, or one whole read of the topic, may take.
const PRODUCE_BOUND: Duration = Duration::from_secs(60);
const READ_BOUND: Duration = Duration::from_secs(300);

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Results in the topic.
    #[arg(long, default_value_t = 100_000)]
    pub results: usize,
    /// Monitors they belong to (one region), all healthy.
    #[arg(long, default_value_t = 5_000)]
    pub monitors: usize,
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
}

pub(super) async fn run(a: ConsumeArgs) -> Result<Report, BenchError> {
    let mut broker = Broker::start(&a.broker).await?;
    let out = measure(&a, &mut broker).await;
    broker.stop().await;
    out
}

async fn measure(a: &ConsumeArgs, broker: &mut Broker) -> Result<Report, BenchError> {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let kafka = KafkaConfig {
        brokers: broker.address.clone(),
        topic: format!("bench-consume-{unique}"),
        partitions: a.partitions,
        group_id: format!("bench-notifier-{unique}"),
        ..KafkaConfig::default()
    };
    ensure_topic(&kafka)
        .await
        .map_err(|e| broker_error(broker, "creating the topic", e))?;
    let dir = tempfile::tempdir().map_err(|e| BenchError::setup("temp dir", e))?;
    let store = super::sqlite_store(dir.path()).await?;
    let hook = super::webhook(&store, "int_bench", "http://127.0.0.1:9/unused").await?;
    let regions = super::regions(1);
    let ids = super::monitors(&store, "c", a.monitors.max(1), &regions, 3, &hook.id).await?;
    let rounds = a.results.div_ceil(ids.len());
    let first = lookout_store::now_ms() - rounds as i64 * 30_000;
    let results: Vec<_> = (0..a.results)
        .map(|i| {
            let round = (i / ids.len()) as i64;
            super::result(
                &ids[i % ids.len()],
                &regions[0],
                CheckStatus::Up,
                first + round * 30_000,
            )
        })
        .collect();
    let publisher = KafkaPublisher::new(&kafka).map_err(|e| BenchError::setup("producer", e))?;
    let produced = Instant::now();
    for chunk in results.chunks(PRODUCE_BATCH) {
        match tokio::time::timeout(PRODUCE_BOUND, publisher.publish(chunk)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(broker_error(broker, "producing", e)),
            Err(_) => return Err(broker.failed("a produce call timed out")),
        }
    }
    let produce_secs = produced.elapsed().as_secs_f64();
    drop(results);
    let total = a.results as u64;

    let (bare_n, bare_secs) = bare(&kafka, &unique, total).await.map_err(|e| match e {
        BenchError::Broker(m) => broker.failed(&m),
        other => other,
    })?;
    broker.check_alive()?;

    let consumer =
        KafkaConsumer::new(&kafka).map_err(|e| BenchError::setup("notifier consumer", e))?;
    let counted = Counted::new(consumer, total, 1);
    let progress = Arc::clone(&counted.progress);
    let (stop, stopped) = oneshot::channel::<()>();
    let mut config = super::notifier_config(&kafka.group_id);
    config.kafka = kafka.clone();
    let notifier = tokio::spawn(crate::run(
        config,
        store.clone(),
        Box::new(counted),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let drained = tokio::time::timeout(READ_BOUND, progress.wait_drained()).await;
    let _ = stop.send(());
    if let Ok(Err(e)) = notifier.await {
        return Err(BenchError::setup("notifier", e));
    }
    let Ok((end, _)) = drained else {
        return Err(broker.failed("the notifier did not read the whole topic within the bound"));
    };
    let Some(&(start, _, warm)) = progress.warm.get() else {
        return Err(BenchError::Setup("the notifier read nothing".into()));
    };
    let notifier_n = total - warm;
    let notifier_secs = end.duration_since(start).as_secs_f64().max(0.001);
    let bare_rate = bare_n as f64 / bare_secs;
    let notifier_rate = notifier_n as f64 / notifier_secs;
    let mut r = Report::new();
    r.info(format!(
        "{} results over {} partitions produced in {produce_secs:.2} s ({} results/s)",
        a.results,
        a.partitions,
        super::figure(a.results as f64 / produce_secs)
    ));
    r.info(format!(
        "bare rdkafka consumer: {} results/s ({bare_n} in {bare_secs:.2} s)",
        super::figure(bare_rate)
    ));
    r.info(format!(
        "notifier: {} results/s ({notifier_n} in {notifier_secs:.2} s, decoded, through the engine, offsets stored)",
        super::figure(notifier_rate)
    ));
    r.goal(
        "consume",
        notifier_rate / bare_rate,
        "x the bare consumer",
        Goal::AtLeast,
        GOAL_RATIO,
    );
    store.close().await;
    Ok(r)
}

/// Reads `total` messages with a plain rdkafka consumer in its own group; returns how many
/// were counted after the first and the seconds from the first to the last.
async fn bare(kafka: &KafkaConfig, unique: &str, total: u64) -> Result<(u64, f64), BenchError> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &kafka.brokers)
        .set("group.id", format!("bench-bare-{unique}"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        // As the notifier's consumer: without these a group that joins while the new topic's
        // metadata is not yet known waits librdkafka's default 5 minutes to look again.
        .set("heartbeat.interval.ms", "1000")
        .set("topic.metadata.refresh.interval.ms", "5000")
        .create()
        .map_err(|e| BenchError::setup("bare consumer", e))?;
    consumer
        .subscribe(&[&kafka.topic])
        .map_err(|e| BenchError::setup("bare consumer", e))?;
    let read = async {
        let mut n = 0u64;
        let mut first = None;
        while n < total {
            match consumer.recv().await {
                Ok(_) => {
                    n += 1;
                    first.get_or_insert_with(Instant::now);
                }
                Err(e) => return Err(BenchError::Broker(format!("bare consumer: {e}"))),
            }
        }
        let from = first.unwrap_or_else(Instant::now);
        Ok((n - 1, from.elapsed().as_secs_f64().max(0.001)))
    };
    match tokio::time::timeout(READ_BOUND, read).await {
        Ok(out) => out,
        Err(_) => Err(BenchError::Broker(
            "the bare consumer did not read the whole topic within the bound".into(),
        )),
    }
}

fn broker_error(broker: &mut Broker, what: &str, e: lookout_bus::BusError) -> BenchError {
    match broker.check_alive() {
        Err(dead) => dead,
        Ok(()) => BenchError::Broker(format!("{what}: {e}")),
    }
}
