//! Test harness: a scripted webhook receiver on 127.0.0.1:0, monitors,
//! results, a replaying durable consumer, and the notifier started in-process.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use futures::future::BoxFuture;
use hmac::{Hmac, Mac};
use lookout_bus::{BusError, Record, ResultConsumer};
use lookout_notifier::{IncidentEvent, NotifierConfig, NotifierError};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    HttpCheck, Integration, SignatureMode, WebhookIntegration, monitor::Check,
};
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::Store;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

pub const SECRET: &str = "s3cret-for-tests";

/// One request the receiver got and what it answered.
#[derive(Debug, Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Bytes,
    pub answered: u16,
}

impl Hit {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    /// HMAC-SHA256 over `"{timestamp}.{body}"` (the timestamp header as sent, the raw body),
    /// checked independently of the notifier's own code.
    pub fn signature_verifies(&self, secret: &str) -> bool {
        let Some(hex_sig) = self.header("x-lookout-signature").strip_prefix("sha256=") else {
            return false;
        };
        let Ok(sig) = hex::decode(hex_sig) else {
            return false;
        };
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
        mac.update(self.header("x-lookout-timestamp").as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        mac.verify_slice(&sig).is_ok()
    }

    pub fn notification_type(&self) -> String {
        self.json()["context"]["notification_type"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

#[derive(Clone, Default)]
struct ReceiverState {
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<AtomicU16>,
    delay_ms: Arc<AtomicU64>,
    /// Requests that arrived, answered or not yet.
    arrived: Arc<AtomicU64>,
}

/// A webhook receiver answering a status the test can change.
pub struct Receiver {
    pub url: String,
    state: ReceiverState,
    task: JoinHandle<()>,
}

impl Receiver {
    pub async fn start(status: u16) -> Receiver {
        let state = ReceiverState::default();
        state.status.store(status, Ordering::SeqCst);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("receiver serves");
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
            task,
        }
    }

    pub fn answer(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// Makes every answer wait `ms` first.
    pub fn delay(&self, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    /// Requests that arrived, including those still waiting for their answer.
    pub fn arrived(&self) -> u64 {
        self.state.arrived.load(Ordering::SeqCst)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.state.hits.lock().expect("hits lock").clone()
    }

    /// Requests answered with 2xx (deliveries that counted).
    pub fn accepted(&self) -> Vec<Hit> {
        self.hits()
            .into_iter()
            .filter(|h| (200..300).contains(&h.answered))
            .collect()
    }

    pub fn accepted_of(&self, kind: &str) -> Vec<Hit> {
        self.accepted()
            .into_iter()
            .filter(|h| h.notification_type() == kind)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(State(st): State<ReceiverState>, headers: HeaderMap, body: Bytes) -> StatusCode {
    st.arrived.fetch_add(1, Ordering::SeqCst);
    let delay = st.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let answered = st.status.load(Ordering::SeqCst);
    st.hits.lock().expect("hits lock").push(Hit {
        headers,
        body,
        answered,
    });
    StatusCode::from_u16(answered).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A webhook integration `id` of the default project posting the native body to `url`,
/// signed with [`SECRET`] in the `lookout` scheme, stored as the coordinator would.
pub async fn webhook_integration(store: &Store, id: &str, url: &str) -> Integration {
    let i = Integration {
        id: id.into(),
        name: format!("hook {id}"),
        rate_limit_per_minute: 100,
        kind: Some(Kind::Webhook(WebhookIntegration {
            url: url.into(),
            method: "POST".into(),
            secret: SECRET.into(),
            signature: SignatureMode::Lookout as i32,
            ..Default::default()
        })),
        ..Default::default()
    };
    store
        .insert_integration_in_project(lookout_store::projects::DEFAULT_PROJECT_ID, "webhook", i)
        .await
        .expect("insert integration")
}

/// An HTTP monitor in `regions` notifying `webhook_url` through its own webhook integration
/// (`int_<id>`), stored as the coordinator would.
pub async fn monitor(
    store: &Store,
    id: &str,
    regions: &[&str],
    quorum: u32,
    webhook_url: &str,
) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), webhook_url).await;
    monitor_with(store, id, regions, quorum, &[hook.id.as_str()]).await
}

/// An HTTP monitor in `regions` attaching `integration_ids`, stored as the coordinator would.
pub async fn monitor_with(
    store: &Store,
    id: &str,
    regions: &[&str],
    quorum: u32,
    integration_ids: &[&str],
) -> Monitor {
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        interval_secs: 30,
        timeout_ms: 5_000,
        failure_threshold: 3,
        success_threshold: 1,
        region_quorum: quorum,
        integration_ids: integration_ids.iter().map(|i| i.to_string()).collect(),
        check: Some(Check::Http(HttpCheck {
            url: "https://api.example.com/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    store.insert_monitor(m).await.expect("insert monitor")
}

pub fn result(monitor_id: &str, region: &str, status: CheckStatus) -> CheckResult {
    let now = lookout_store::now_ms();
    let down = status == CheckStatus::Down;
    CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: monitor_id.into(),
        monitor_version: 1,
        region: region.into(),
        agent_id: format!("agent-{region}"),
        status: status as i32,
        scheduled_at_ms: now,
        started_at_ms: now,
        duration_us: if down { 5_000_000 } else { 245_000 },
        status_code: (!down).then_some(200),
        error_message: if down {
            "connection refused".into()
        } else {
            String::new()
        },
        check_kind: "http".into(),
        ..Default::default()
    }
}

/// A result of `monitor_id` in region `eu` that ran (and was due) at `at_ms`: the engine
/// tests judge time-driven rules by the result's own time.
pub fn at(monitor_id: &str, status: CheckStatus, at_ms: i64) -> CheckResult {
    CheckResult {
        scheduled_at_ms: at_ms,
        started_at_ms: at_ms,
        ..result(monitor_id, "eu", status)
    }
}

/// `context.notification_type` of every request `rx` accepted, in arrival order.
pub fn kinds(rx: &Receiver) -> Vec<String> {
    rx.accepted()
        .iter()
        .map(|h| h.notification_type())
        .collect()
}

/// Test delivery settings: fast retries, and enough of them that a test flipping a failing
/// receiver to healthy is never beaten by the retry budget (full jitter can be near zero).
pub fn config() -> NotifierConfig {
    let mut c = NotifierConfig::default();
    c.kafka.group_id = "test-notifier".into();
    c.delivery.backoff_base_ms = 50;
    c.delivery.backoff_max_ms = 200;
    c.delivery.max_retries = 50;
    c.delivery.timeout_ms = 5_000;
    // The receivers run on 127.0.0.1.
    c.delivery.allow_private_destinations = true;
    c
}

/// A notifier running in-process until `stop`.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), NotifierError>>,
}

pub fn start(
    config: NotifierConfig,
    store: Store,
    consumer: Box<dyn ResultConsumer>,
    events: Option<broadcast::Sender<IncidentEvent>>,
) -> Running {
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(lookout_notifier::run(
        config,
        store,
        consumer,
        events,
        async move {
            let _ = rx.await;
        },
    ));
    Running {
        stop: Some(tx),
        task,
    }
}

/// Publishes `n` DOWN results of `monitor_id` in `region`.
pub async fn publish_down(
    publisher: &impl lookout_bus::ResultPublisher,
    monitor_id: &str,
    region: &str,
    n: usize,
) {
    let results: Vec<CheckResult> = (0..n)
        .map(|_| result(monitor_id, region, CheckStatus::Down))
        .collect();
    publisher.publish(&results).await.expect("publish");
}

/// A notifier with the test settings, reading a fresh in-process bus; returns its publisher.
pub fn start_in_process(store: &Store) -> (lookout_bus::InProcPublisher, Running) {
    start_in_process_with(store, config())
}

/// [`start_in_process`] with `config` instead of the test settings.
#[allow(dead_code)]
pub fn start_in_process_with(
    store: &Store,
    config: NotifierConfig,
) -> (lookout_bus::InProcPublisher, Running) {
    let bus = lookout_bus::InProcBus::new();
    let running = start(config, store.clone(), Box::new(bus.consumer()), None);
    (bus.publisher(), running)
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let out = tokio::time::timeout(Duration::from_secs(15), &mut self.task)
            .await
            .expect("notifier stops within 15 s")
            .expect("notifier task does not panic");
        out.expect("notifier ends cleanly");
    }
}

/// Polls `check` until it holds, failing the test after 15 s.
pub async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually_within(Duration::from_secs(15), what, check).await;
}

/// Polls `check` until it holds, failing the test after `limit`.
pub async fn eventually_within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// True once every outbox row is delivered or dead.
pub async fn outbox_settled(store: &Store) -> bool {
    store
        .next_outbox_due_ms(i64::MIN)
        .await
        .expect("outbox due")
        .is_none()
}

/// Waits until every outbox row is delivered or dead, then lists the `notification_type` of
/// each webhook `rx` accepted, in arrival order.
pub async fn settled_notification_types(store: &Store, rx: &Receiver) -> Vec<String> {
    eventually("every delivery settles", || outbox_settled(store)).await;
    rx.accepted().iter().map(Hit::notification_type).collect()
}

/// A durable log that replays the same records from offset 0 on every start, as Kafka does
/// for a consumer group whose broker-side offsets were lost. `drained` turns true once the
/// notifier asked for more after the last record, i.e. it handled them all.
pub struct ReplayConsumer {
    records: Vec<Record>,
    pos: usize,
    announced: bool,
    pub drained: Arc<AtomicBool>,
}

impl ReplayConsumer {
    pub fn new(results: &[CheckResult]) -> ReplayConsumer {
        let records = results
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                partition: 0,
                offset: i as i64,
                result: r.clone(),
            })
            .collect();
        ReplayConsumer {
            records,
            pos: 0,
            announced: false,
            drained: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl ResultConsumer for ReplayConsumer {
    fn topic(&self) -> &str {
        "lookout.results"
    }

    fn durable(&self) -> bool {
        true
    }

    fn poll(&mut self, max: usize) -> BoxFuture<'_, Result<Vec<Record>, BusError>> {
        Box::pin(async move {
            if self.pos >= self.records.len() {
                self.drained.store(true, Ordering::SeqCst);
                return futures::future::pending().await;
            }
            // Small batches, so replays cross batch boundaries.
            let end = (self.pos + max.min(2)).min(self.records.len());
            let out = self.records[self.pos..end].to_vec();
            self.pos = end;
            Ok(out)
        })
    }

    fn take_assignment_change(&mut self) -> bool {
        !std::mem::replace(&mut self.announced, true)
    }

    fn commit(&mut self, _next_offsets: &[(i32, i64)]) -> Result<(), BusError> {
        Ok(())
    }
}
