//! `lookout-coordinator bench-ingest`: results through the coordinator into a real broker,
//! beside a bare rdkafka producer against the same broker in the same run. The coordinator
//! runs in this process (gRPC on loopback, the Kafka publisher it runs with); `--streams`
//! agent sessions, each on its own connection, send pre-built result batches for the
//! monitors they were assigned (at most a few batches unacknowledged, as agents do) and the
//! time until the last acknowledgement is measured. The bare producer then sends the same
//! encoded results, keyed the same way, with every send in flight at once, to a topic of its
//! own. Prints both rates and their ratio beside the goal (≥ 0.8); exits non-zero when the
//! ratio misses it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use lookout_bus::{KafkaConfig, KafkaPublisher, ensure_topic};
use lookout_proto::v1::agent_gateway_client::AgentGatewayClient;
use lookout_proto::v1::coordinator_message::Msg as Out;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{AgentMessage, Hello, ResultBatch, TcpCheck, agent_message::Msg};
use lookout_proto::{CheckResult, CheckStatus, Monitor, RESULT_CONTENT_TYPE};
use lookout_store::{Keyring, Store};
use prost::Message as _;
use rdkafka::config::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::CoordinatorConfig;

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The broker (`host:port`); a fresh one per run (see the README).
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Agent sessions sending at once.
    #[arg(long, default_value_t = 100)]
    pub streams: usize,
    /// Results each session sends.
    #[arg(long, default_value_t = 1_000)]
    pub results_per_stream: usize,
    /// Results per batch (agents send at most 500).
    #[arg(long, default_value_t = 250)]
    pub batch: usize,
    /// Monitors in the one region, spread over the sessions.
    #[arg(long, default_value_t = 2_000)]
    pub monitors: usize,
}

const GOAL_RATIO: f64 = 0.8;
const REGION: &str = "bench";
/// Batches a session has sent and not seen acknowledged, at most (the coordinator takes 8).
const WINDOW: usize = 4;
/// The assignment is taken as settled once no session received a change for this long.
const SETTLED: Duration = Duration::from_secs(2);

pub async fn ingest(args: IngestArgs) -> Result<(), String> {
    if args.streams == 0 || args.results_per_stream == 0 || args.batch == 0 {
        return Err("needs streams, results and a batch size".into());
    }
    if args.monitors < args.streams {
        return Err("needs at least one monitor per stream".into());
    }
    let total = args.streams * args.results_per_stream;
    println!(
        "bench-ingest: {} streams x {} results (batches of {}) = {total} results, broker {}",
        args.streams, args.results_per_stream, args.batch, args.brokers
    );
    let through = through_coordinator(&args).await?;
    let bare = bare_producer(&args, &through.results).await?;
    let ratio = through.rate / bare;
    println!(
        "through the coordinator: {:.0} results/s ({total} in {:.2} s)",
        through.rate, through.elapsed_secs
    );
    println!("bare rdkafka producer:   {bare:.0} results/s");
    let met = ratio >= GOAL_RATIO;
    println!(
        "ratio: {ratio:.2} (goal >= {GOAL_RATIO}) {}",
        if met { "MET" } else { "MISSED" }
    );
    if met {
        Ok(())
    } else {
        Err(format!("ratio {ratio:.2} is below {GOAL_RATIO}"))
    }
}

struct Through {
    rate: f64,
    elapsed_secs: f64,
    /// Every result sent, for the bare producer to send the same.
    results: Vec<CheckResult>,
}

fn kafka(brokers: &str, topic: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_string(),
        topic: topic.to_string(),
        partitions: 12,
        ..KafkaConfig::default()
    }
}

async fn through_coordinator(args: &IngestArgs) -> Result<Through, String> {
    let topic = format!("lookout.bench.ingest.{}", uuid::Uuid::now_v7().simple());
    let tokens: String = (0..args.streams)
        .map(|i| format!("  bench-{i}: {{region: {REGION}, token: token-{i}}}\n"))
        .collect();
    let yaml = format!(
        "grpc_addr: 127.0.0.1:0\nregions: [{REGION}]\nproject_tokens: [bench-project]\n\
         heartbeat_interval_ms: 60000\nstore_url: 'sqlite::memory:'\nagent_tokens:\n{tokens}"
    );
    let mut config = CoordinatorConfig::from_yaml(&yaml).map_err(|e| e.to_string())?;
    config.kafka = kafka(&args.brokers, &topic);
    let keyring = Keyring::generate("bench").map_err(|e| e.to_string())?;
    let store = Store::open("sqlite::memory:", keyring)
        .await
        .map_err(|e| e.to_string())?;
    let monitors: Vec<Monitor> = (0..args.monitors).map(monitor).collect();
    crate::apply_declared_monitors(&store, &config.regions, monitors)
        .await
        .map_err(|e| e.to_string())?;
    ensure_topic(&config.kafka)
        .await
        .map_err(|e| format!("creating topic {topic}: {e}"))?;
    let publisher = KafkaPublisher::new(&config.kafka).map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    let stop = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(crate::serve(
        config,
        store,
        Arc::new(publisher),
        listener,
        stop.clone().cancelled_owned(),
    ));

    // Every session joins, then the assignment settles before anything is timed.
    let last_change = Arc::new(Mutex::new(Instant::now()));
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut sessions = Vec::with_capacity(args.streams);
    for i in 0..args.streams {
        sessions.push(Session::open(&url, i, last_change.clone(), stopping.clone()).await?);
    }
    loop {
        let quiet = last_change.lock().expect("lock").elapsed();
        if quiet >= SETTLED && sessions.iter().all(|s| !s.assigned().is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // One untimed batch per session first: connections, topic metadata and the producer's
    // id are set up before the clock starts (the bare producer warms up the same way).
    let warmed = join_all(sessions.iter_mut().map(|s| s.warm_up())).await;
    for outcome in warmed {
        outcome?;
    }
    let plans: Vec<Vec<ResultBatch>> = sessions
        .iter()
        .map(|s| s.plan(args.results_per_stream, args.batch, 2))
        .collect();
    let results: Vec<CheckResult> = plans
        .iter()
        .flatten()
        .flat_map(|b| b.results.iter().cloned())
        .collect();
    let started = Instant::now();
    let sent = join_all(
        sessions
            .into_iter()
            .zip(plans)
            .map(|(s, plan)| s.send_all(plan)),
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    for outcome in sent {
        outcome?;
    }
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    stop.cancel();
    let _ = served.await;
    Ok(Through {
        rate: results.len() as f64 / elapsed,
        elapsed_secs: elapsed,
        results,
    })
}

/// One agent session as the bench plays it.
struct Session {
    id: String,
    tx: mpsc::Sender<AgentMessage>,
    assigned: Arc<Mutex<BTreeSet<String>>>,
    acks: mpsc::UnboundedReceiver<u64>,
}

impl Session {
    async fn open(
        url: &str,
        i: usize,
        last_change: Arc<Mutex<Instant>>,
        stopping: Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Session, String> {
        let id = format!("bench-{i}");
        let mut client = AgentGatewayClient::connect(url.to_string())
            .await
            .map_err(|e| format!("connecting {id}: {e}"))?;
        let (tx, rx) = mpsc::channel(WINDOW * 2);
        let hello = Hello {
            agent_id: id.clone(),
            region: REGION.into(),
            version: "bench".into(),
            capacity: 1,
            ..Hello::default()
        };
        tx.send(AgentMessage {
            msg: Some(Msg::Hello(hello)),
        })
        .await
        .map_err(|_| "session closed".to_string())?;
        let mut request = tonic::Request::new(ReceiverStream::new(rx));
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer token-{i}").parse().expect("ascii token"),
        );
        let mut inbound = client
            .session(request)
            .await
            .map_err(|e| format!("session of {id}: {e}"))?
            .into_inner();
        let assigned = Arc::new(Mutex::new(BTreeSet::new()));
        let (ack_tx, acks) = mpsc::unbounded_channel();
        let mine = assigned.clone();
        let who = id.clone();
        tokio::spawn(async move {
            loop {
                match inbound.message().await {
                    Ok(Some(m)) => match m.msg {
                        Some(Out::Assignment(a)) => {
                            let mut set = mine.lock().expect("lock");
                            if a.snapshot {
                                set.clear();
                            }
                            for id in a.removals {
                                set.remove(&id);
                            }
                            for m in a.upserts {
                                set.insert(m.id);
                            }
                            *last_change.lock().expect("lock") = Instant::now();
                        }
                        Some(Out::Ack(a)) => {
                            let _ = ack_tx.send(a.seq);
                        }
                        Some(Out::Refused(r)) => {
                            eprintln!("bench-ingest: {who}: batch {} refused: {}", r.seq, r.reason);
                        }
                        _ => {}
                    },
                    Ok(None) => return,
                    Err(status) => {
                        if !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                            eprintln!("bench-ingest: {who}: session ended: {status}");
                        }
                        return;
                    }
                }
            }
        });
        Ok(Session {
            id,
            tx,
            assigned,
            acks,
        })
    }

    fn assigned(&self) -> Vec<String> {
        self.assigned
            .lock()
            .expect("lock")
            .iter()
            .cloned()
            .collect()
    }

    /// Sends one result as batch 1 and waits for its acknowledgement.
    async fn warm_up(&mut self) -> Result<(), String> {
        let batch = self.plan(1, 1, 1).remove(0);
        self.tx
            .send(AgentMessage {
                msg: Some(Msg::Results(batch)),
            })
            .await
            .map_err(|_| format!("{}: session closed", self.id))?;
        match tokio::time::timeout(Duration::from_secs(60), self.acks.recv()).await {
            Ok(Some(_)) => Ok(()),
            _ => Err(format!(
                "{}: the warm-up batch was not acknowledged",
                self.id
            )),
        }
    }

    /// `n` results for its monitors, in batches of `batch` numbered from `first_seq`.
    fn plan(&self, n: usize, batch: usize, first_seq: u64) -> Vec<ResultBatch> {
        let monitors = self.assigned();
        let now = lookout_store::now_ms();
        let results: Vec<CheckResult> = (0..n)
            .map(|k| CheckResult {
                id: uuid::Uuid::now_v7().to_string(),
                monitor_id: monitors[k % monitors.len()].clone(),
                monitor_version: 1,
                region: REGION.into(),
                agent_id: self.id.clone(),
                status: CheckStatus::Up as i32,
                scheduled_at_ms: now - 1000 + (k as i64),
                started_at_ms: now - 1000 + (k as i64),
                duration_us: 3_000,
                check_kind: "tcp".into(),
                ..CheckResult::default()
            })
            .collect();
        results
            .chunks(batch)
            .enumerate()
            .map(|(i, c)| ResultBatch {
                seq: first_seq + i as u64,
                results: c.to_vec(),
            })
            .collect()
    }

    /// Sends every batch, at most [`WINDOW`] unacknowledged, until all are acknowledged.
    async fn send_all(mut self, plan: Vec<ResultBatch>) -> Result<(), String> {
        let total = plan.len();
        let mut acked = 0;
        let mut in_flight = 0;
        let mut batches = plan.into_iter();
        while acked < total {
            while in_flight < WINDOW {
                let Some(b) = batches.next() else { break };
                self.tx
                    .send(AgentMessage {
                        msg: Some(Msg::Results(b)),
                    })
                    .await
                    .map_err(|_| format!("{}: session closed", self.id))?;
                in_flight += 1;
            }
            let ack = tokio::time::timeout(Duration::from_secs(60), self.acks.recv())
                .await
                .map_err(|_| format!("{}: no acknowledgement within 60 s", self.id))?;
            if ack.is_none() {
                return Err(format!("{}: session ended before every ack", self.id));
            }
            acked += 1;
            in_flight -= 1;
        }
        Ok(())
    }
}

fn monitor(i: usize) -> Monitor {
    Monitor {
        id: format!("bench-{i}"),
        name: format!("bench {i}"),
        regions: vec![REGION.into()],
        interval_secs: 60,
        timeout_ms: 1000,
        check: Some(Check::Tcp(TcpCheck {
            address: "127.0.0.1:9".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The same results through a bare rdkafka producer with the coordinator's producer settings,
/// every send in flight at once; returns results per second.
async fn bare_producer(args: &IngestArgs, results: &[CheckResult]) -> Result<f64, String> {
    let topic = format!("lookout.bench.bare.{}", uuid::Uuid::now_v7().simple());
    let config = kafka(&args.brokers, &topic);
    ensure_topic(&config)
        .await
        .map_err(|e| format!("creating topic {topic}: {e}"))?;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &args.brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("message.timeout.ms", "30000")
        .create()
        .map_err(|e| e.to_string())?;
    // Untimed: metadata of every partition and the producer id, as the coordinator had.
    let warm: Vec<CheckResult> = results.iter().take(args.streams).cloned().collect();
    send_all(&producer, &topic, &warm).await?;
    let started = Instant::now();
    send_all(&producer, &topic, results).await?;
    let elapsed = started.elapsed().as_secs_f64();
    Ok(results.len() as f64 / elapsed)
}

/// Encodes and sends `results` as the coordinator's publisher does, all in flight at once,
/// and waits for every delivery.
async fn send_all(
    producer: &FutureProducer,
    topic: &str,
    results: &[CheckResult],
) -> Result<(), String> {
    let payloads: Vec<Vec<u8>> = results.iter().map(|r| r.encode_to_vec()).collect();
    let sends = results.iter().zip(&payloads).map(|(r, payload)| {
        let headers = OwnedHeaders::new().insert(Header {
            key: "content-type",
            value: Some(RESULT_CONTENT_TYPE),
        });
        producer.send(
            FutureRecord::to(topic)
                .key(&r.monitor_id)
                .payload(payload)
                .headers(headers),
            Timeout::After(Duration::from_secs(30)),
        )
    });
    let failed = join_all(sends).await.iter().filter(|d| d.is_err()).count();
    if failed > 0 {
        return Err(format!("the bare producer failed {failed} sends"));
    }
    Ok(())
}
