//! `bench deliveries`: pending outbox rows of signed webhook integrations, drained by the
//! notifier's dispatcher into a local receiver; receiver requests per second from the first
//! to the last. Each row belongs to another monitor, as after an outage of many monitors.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use lookout_proto::v1::EventKind;
use lookout_store::notifier::{NotifierBatch, OutboxRow, OutboxState};
use tokio::sync::oneshot;

use super::feed::EncodedLog;
use super::receiver::Receiver;
use super::{BenchError, Goal, Report};

const GOAL_PER_SEC: f64 = 5_000.0;
/// How long the drain may take before the run counts as stuck.
const DRAIN_BOUND: Duration = Duration::from_secs(120);

#[derive(Debug, Args)]
pub struct DeliveriesArgs {
    /// Pending outbox rows.
    #[arg(long, default_value_t = 4_000)]
    pub rows: usize,
    /// Webhook integrations (each its own URL, secret and rate limit) the rows spread over.
    #[arg(long, default_value_t = 8)]
    pub integrations: usize,
    /// Deliveries in flight at once (`delivery.workers`; the notifier's default when unset).
    #[arg(long)]
    pub workers: Option<usize>,
}

pub(super) async fn run(a: DeliveriesArgs) -> Result<Report, BenchError> {
    let dir = tempfile::tempdir().map_err(|e| BenchError::setup("temp dir", e))?;
    let store = super::sqlite_store(dir.path()).await?;
    let rx = Receiver::start().await?;
    let mut hooks = Vec::new();
    for i in 0..a.integrations.max(1) {
        let url = format!("{}/{i}", rx.url);
        hooks.push(super::webhook(&store, &format!("int_d{i}"), &url).await?.id);
    }
    let payload = prost::Message::encode_to_vec(&lookout_render::sample_event());
    let now = lookout_store::now_ms();
    let batch = NotifierBatch {
        outbox: (0..a.rows)
            .map(|i| OutboxRow {
                id: format!("dlv_{}", uuid::Uuid::now_v7()),
                project_id: lookout_store::projects::DEFAULT_PROJECT_ID.into(),
                incident_id: None,
                // One incident per monitor, as an outage of many monitors leaves them.
                monitor_id: Some(format!("mon_d{i}")),
                integration_id: hooks[i % hooks.len()].clone(),
                event: EventKind::Incident,
                channel: "webhook".into(),
                payload: payload.clone(),
                attempts: 0,
                next_attempt_at_ms: now,
                state: OutboxState::Pending,
                last_error: None,
                created_at_ms: now,
            })
            .collect(),
        ..Default::default()
    };
    store
        .apply_notifier_batch("bench-deliveries", "bench.results", &batch, now)
        .await?;
    let mut config = super::notifier_config("bench-deliveries");
    if let Some(w) = a.workers {
        config.delivery.workers = w;
    }
    let workers = config.delivery.workers;
    let (stop, stopped) = oneshot::channel::<()>();
    let notifier = tokio::spawn(crate::run(
        config,
        store.clone(),
        Box::new(EncodedLog::new(&[], 0)),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let seen = Arc::clone(&rx.seen);
    let target = a.rows as u64;
    let began = Instant::now();
    let mut first = None;
    let mut outcome = Ok(());
    loop {
        let n = seen.requests.load(Ordering::Acquire);
        if n > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        if n >= target {
            break;
        }
        if began.elapsed() > DRAIN_BOUND {
            outcome = Err(BenchError::Setup(format!(
                "only {n} of {target} deliveries arrived within {} s",
                DRAIN_BOUND.as_secs()
            )));
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let end = Instant::now();
    let _ = stop.send(());
    if let Ok(Err(e)) = notifier.await {
        return Err(BenchError::setup("notifier", e));
    }
    outcome?;
    let from = first.unwrap_or(began);
    let secs = end.duration_since(from).as_secs_f64().max(0.001);
    let mut r = Report::new();
    r.info(format!(
        "{} signed deliveries over {} integrations, {workers} workers: {:.2} s from the first request to the last ({:.2} s from the start)",
        a.rows,
        hooks.len(),
        secs,
        end.duration_since(began).as_secs_f64()
    ));
    r.goal(
        "deliveries",
        a.rows as f64 / secs,
        "deliveries/s",
        Goal::AtLeast,
        GOAL_PER_SEC,
    );
    store.close().await;
    Ok(r)
}
