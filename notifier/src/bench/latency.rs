//! `bench latency`: while healthy background results flow to Kafka at a steady rate, one
//! monitor after another gets a failing result that crosses its threshold (failure_threshold
//! 1); the time from producing it to the webhook request at a local receiver, p50 and p99.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use lookout_bus::{KafkaConfig, KafkaConsumer, KafkaPublisher, ResultPublisher, ensure_topic};
use lookout_proto::CheckStatus;
use tokio::sync::oneshot;

use super::broker::Broker;
use super::receiver::Receiver;
use super::{BenchError, BrokerArgs, Goal, Report};

const GOAL_P50_MS: f64 = 20.0;
const GOAL_P99_MS: f64 = 100.0;
/// Background results are produced this often, in one batch each.
const TICK: Duration = Duration::from_millis(100);
/// How long the pipeline may take to deliver the first (probe) alert, group join included.
const READY_BOUND: Duration = Duration::from_secs(60);
/// How long the last alerts may take to arrive after the last was produced.
const ARRIVAL_BOUND: Duration = Duration::from_secs(30);

#[derive(Debug, Args)]
pub struct LatencyArgs {
    #[command(flatten)]
    pub broker: BrokerArgs,
    /// Healthy background results per second.
    #[arg(long, default_value_t = 10_000)]
    pub background_rate: u64,
    /// Monitors the background results belong to.
    #[arg(long, default_value_t = 2_000)]
    pub background_monitors: usize,
    /// Alerts measured, one monitor each.
    #[arg(long, default_value_t = 200)]
    pub alerts: usize,
    /// Alerts produced per second.
    #[arg(long, default_value_t = 20)]
    pub alert_rate: u64,
    #[arg(long, default_value_t = 3)]
    pub partitions: i32,
}

pub(super) async fn run(a: LatencyArgs) -> Result<Report, BenchError> {
    let mut broker = Broker::start(&a.broker).await?;
    let out = measure(&a, &mut broker).await;
    broker.stop().await;
    out
}

async fn measure(a: &LatencyArgs, broker: &mut Broker) -> Result<Report, BenchError> {
    let unique = uuid::Uuid::now_v7().simple().to_string();
    let kafka = KafkaConfig {
        brokers: broker.address.clone(),
        topic: format!("bench-latency-{unique}"),
        partitions: a.partitions,
        group_id: format!("bench-latency-{unique}"),
        ..KafkaConfig::default()
    };
    if let Err(e) = ensure_topic(&kafka).await {
        broker.check_alive()?;
        return Err(BenchError::Broker(format!("creating the topic: {e}")));
    }
    let dir = tempfile::tempdir().map_err(|e| BenchError::setup("temp dir", e))?;
    let store = super::sqlite_store(dir.path()).await?;
    let rx = Receiver::start().await?;
    let hook = super::webhook(&store, "int_alerts", &format!("{}/0", rx.url)).await?;
    let region = super::regions(1);
    let background = super::monitors(
        &store,
        "b",
        a.background_monitors.max(1),
        &region,
        3,
        &hook.id,
    )
    .await?;
    let alerting = super::monitors(&store, "a", a.alerts, &region, 1, &hook.id).await?;
    let probe = super::monitors(&store, "probe", 1, &region, 1, &hook.id).await?;
    let publisher =
        Arc::new(KafkaPublisher::new(&kafka).map_err(|e| BenchError::setup("producer", e))?);
    let consumer =
        KafkaConsumer::new(&kafka).map_err(|e| BenchError::setup("notifier consumer", e))?;
    let mut config = super::notifier_config(&kafka.group_id);
    config.kafka = kafka.clone();
    let (stop, stopped) = oneshot::channel::<()>();
    let notifier = tokio::spawn(crate::run(
        config,
        store.clone(),
        Box::new(consumer),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let load = Load::start(publisher.clone(), background, &region[0], a.background_rate);
    let measured = alerts(a, &publisher, &rx, &region[0], &probe[0], &alerting).await;
    let produced = load.stop().await;
    let _ = stop.send(());
    if let Ok(Err(e)) = notifier.await {
        return Err(BenchError::setup("notifier", e));
    }
    let (mut latencies, load_secs) = match measured {
        Ok(m) => m,
        Err(e) => {
            broker.check_alive()?;
            return Err(e);
        }
    };
    let mut r = Report::new();
    r.info(format!(
        "background: {} healthy results/s produced ({produced} in {load_secs:.1} s, {} monitors); {} alerts at {}/s",
        super::figure(produced as f64 / load_secs.max(0.001)),
        a.background_monitors,
        a.alerts,
        a.alert_rate
    ));
    let arrived = latencies.len();
    if arrived < a.alerts {
        r.met = false;
        r.info(format!(
            "MISSED: only {arrived} of {} alerts arrived",
            a.alerts
        ));
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: usize| latencies.get((arrived * p / 100).min(arrived.saturating_sub(1)));
    let (Some(&p50), Some(&p99), Some(&max)) = (pct(50), pct(99), latencies.last()) else {
        return Err(BenchError::Setup("no alert arrived".into()));
    };
    r.info(format!("max {max:.1} ms"));
    r.goal("latency p50", p50, "ms", Goal::AtMost, GOAL_P50_MS);
    r.goal("latency p99", p99, "ms", Goal::AtMost, GOAL_P99_MS);
    store.close().await;
    Ok(r)
}

/// Sends the probe alert (waiting until it arrives, so the group is joined), then the alerts;
/// returns the latency of each that arrived in ms and the seconds the load ran for.
async fn alerts(
    a: &LatencyArgs,
    publisher: &KafkaPublisher,
    rx: &Receiver,
    region: &str,
    probe: &str,
    alerting: &[String],
) -> Result<(Vec<f64>, f64), BenchError> {
    let began = Instant::now();
    let down = |id: &str| super::result(id, region, CheckStatus::Down, lookout_store::now_ms());
    publish(publisher, &[down(probe)]).await?;
    while arrival(rx, probe).is_none() {
        if began.elapsed() > READY_BOUND {
            return Err(BenchError::Broker(format!(
                "the probe alert did not arrive within {} s",
                READY_BOUND.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut sent = HashMap::new();
    let every = Duration::from_secs_f64(1.0 / a.alert_rate.max(1) as f64);
    let mut tick = tokio::time::interval(every);
    for id in alerting {
        tick.tick().await;
        let r = down(id);
        sent.insert(id.clone(), Instant::now());
        publish(publisher, &[r]).await?;
    }
    let last = Instant::now();
    while sent.keys().any(|id| arrival(rx, id).is_none()) && last.elapsed() < ARRIVAL_BOUND {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let latencies = sent
        .iter()
        .filter_map(|(id, at)| Some(arrival(rx, id)?.saturating_duration_since(*at)))
        .map(|d| d.as_secs_f64() * 1000.0)
        .collect();
    Ok((latencies, began.elapsed().as_secs_f64()))
}

fn arrival(rx: &Receiver, id: &str) -> Option<Instant> {
    rx.seen.arrivals.lock().ok()?.get(id).copied()
}

async fn publish(
    publisher: &KafkaPublisher,
    results: &[lookout_proto::CheckResult],
) -> Result<(), BenchError> {
    match tokio::time::timeout(Duration::from_secs(30), publisher.publish(results)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(BenchError::Broker(format!("producing: {e}"))),
        Err(_) => Err(BenchError::Broker("a produce call timed out".into())),
    }
}

/// The healthy background load: `rate` results a second over `monitors`, round robin.
struct Load {
    stop: Arc<AtomicBool>,
    produced: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    fn start(
        publisher: Arc<KafkaPublisher>,
        monitors: Vec<String>,
        region: &str,
        rate: u64,
    ) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let produced = Arc::new(AtomicU64::new(0));
        let per_tick = (rate as f64 * TICK.as_secs_f64()).round() as usize;
        let region = region.to_string();
        let task = {
            let (stop, produced) = (stop.clone(), produced.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(TICK);
                let mut next = 0usize;
                let mut sends = tokio::task::JoinSet::new();
                while !stop.load(Ordering::Acquire) {
                    tick.tick().await;
                    let now = lookout_store::now_ms();
                    let batch: Vec<_> = (0..per_tick)
                        .map(|i| {
                            let id = &monitors[(next + i) % monitors.len()];
                            super::result(id, &region, CheckStatus::Up, now)
                        })
                        .collect();
                    next = (next + per_tick) % monitors.len();
                    let (publisher, produced) = (publisher.clone(), produced.clone());
                    // Concurrent, so a slow acknowledgement does not lower the rate.
                    sends.spawn(async move {
                        if publisher.publish(&batch).await.is_ok() {
                            produced.fetch_add(batch.len() as u64, Ordering::AcqRel);
                        }
                    });
                    while sends.try_join_next().is_some() {}
                }
                while sends.join_next().await.is_some() {}
            })
        };
        Load {
            stop,
            produced,
            task,
        }
    }

    async fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Release);
        let _ = self.task.await;
        self.produced.load(Ordering::Acquire)
    }
}
