//! The delivery pipeline around every channel: claims due outbox rows, has the integration's
//! channel render and sign the request from the stored event and the integration's current
//! settings, applies the payload cap, the per-integration rate limit and in-flight share, the
//! timeout and the retry policy, and logs each attempt with its outcome. Runs apart from the
//! consumer loop, so a failing receiver never stalls it.

pub mod destination;
mod outcomes;
pub mod rate_limit;
pub mod retry;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_proto::v1::NotificationEvent;
use lookout_render::Variables;
use lookout_store::notifier::{AttemptOutcome, AttemptRow, OutboxRow};
use lookout_store::{Store, StoreError, now_ms};
use prost::Message;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::channels::{Channels, Delivered, Delivery, SendError};
use crate::config::DeliveryConfig;
use crate::integrations::Destinations;
use outcomes::{Outcomes, Writer};
use rate_limit::RateLimiter;
use retry::{NextAttempt, RetryPolicy};

/// Longest sleep between outbox scans when nothing is due and nobody wakes the dispatcher.
const IDLE_SCAN: Duration = Duration::from_secs(1);
/// How long a claimed row stays invisible to other dispatchers beyond the attempt timeout.
const LEASE_MARGIN_MS: i64 = 30_000;
/// How long an integration's settings are trusted without reading them again: a fixed
/// template or a rotated secret applies to the next attempt after at most this.
const SETTINGS_TTL: Duration = Duration::from_secs(1);
/// Longest error and excerpt kept in the attempt log.
const LOG_TEXT_BYTES: usize = 1024;

pub(crate) struct Dispatcher {
    store: Store,
    shared: Arc<Shared>,
    writer: Writer,
    limiter: RateLimiter,
    /// Rate of an integration stored without one.
    default_rate: u32,
    workers: usize,
    /// Free workers a scan waits for while deliveries are in flight: claiming a quarter of
    /// the workers at a time keeps claims (each a write) few when deliveries finish one by
    /// one.
    claim_batch: usize,
    /// Signalled by the consumer loop after it stored new outbox rows.
    ready: Arc<Notify>,
    /// How long deliveries in flight may take to finish after `stop`.
    shutdown_timeout: Duration,
}

/// What every delivery task needs.
struct Shared {
    channels: Channels,
    policy: RetryPolicy,
    timeout: Duration,
    max_payload_bytes: usize,
    destinations: Destinations,
    /// Deliveries in flight (id → integration and attempts made before this one), so those
    /// cut off at shutdown can be released for the next start.
    inflight: Mutex<HashMap<String, (String, u32)>>,
    /// Deliveries one integration may have in flight at once: the others' share of workers.
    per_integration: usize,
    /// Where finished attempts are recorded.
    outcomes: Outcomes,
}

impl Dispatcher {
    pub(crate) fn new(
        config: &DeliveryConfig,
        store: Store,
        channels: Channels,
        ready: Arc<Notify>,
        shutdown_timeout: Duration,
    ) -> Dispatcher {
        let (outcomes, writer) = outcomes::start(store.clone());
        Dispatcher {
            store: store.clone(),
            writer,
            shared: Arc::new(Shared {
                destinations: Destinations::new(store, SETTINGS_TTL),
                channels,
                policy: RetryPolicy::from(config),
                timeout: config.timeout(),
                max_payload_bytes: config.max_payload_bytes,
                inflight: Mutex::default(),
                per_integration: (config.workers / 4).max(1),
                outcomes,
            }),
            limiter: RateLimiter::new(),
            default_rate: config.rate_limit_per_minute,
            workers: config.workers,
            claim_batch: (config.workers / 4).max(1),
            ready,
            shutdown_timeout,
        }
    }

    /// Delivers until `stop` is cancelled, then lets attempts in flight finish for at most
    /// `shutdown_timeout` so their outcomes are recorded. Attempts still running then are
    /// cut off and their rows made due at once: the next start sends them again (same
    /// delivery id, so a receiver that got the cut-off attempt can tell) instead of waiting
    /// out the lease.
    pub(crate) async fn run(mut self, stop: CancellationToken) {
        self.deliver_until(stop).await;
        self.writer.stop().await;
    }

    async fn deliver_until(&mut self, stop: CancellationToken) {
        let mut inflight: JoinSet<()> = JoinSet::new();
        while !stop.is_cancelled() {
            let free = self.workers.saturating_sub(inflight.len());
            let wait = if free == 0 || (free < self.claim_batch && !inflight.is_empty()) {
                IDLE_SCAN
            } else {
                match self.scan(free, &mut inflight).await {
                    Ok(wait) => wait,
                    Err(e) => {
                        warn!(error = %e, "outbox scan failed");
                        IDLE_SCAN
                    }
                }
            };
            let ready = self.ready.notified();
            tokio::select! {
                () = stop.cancelled() => {}
                () = ready => {}
                () = tokio::time::sleep(wait) => {}
                Some(_) = inflight.join_next(), if !inflight.is_empty() => {}
            }
        }
        if inflight.is_empty() {
            return;
        }
        info!(
            in_flight = inflight.len(),
            "waiting for deliveries in flight"
        );
        if tokio::time::timeout(self.shutdown_timeout, async {
            while inflight.join_next().await.is_some() {}
        })
        .await
        .is_ok()
        {
            return;
        }
        inflight.abort_all();
        while inflight.join_next().await.is_some() {}
        let cut: Vec<(String, u32)> = self
            .shared
            .in_flight()
            .drain()
            .map(|(id, (_, attempts))| (id, attempts))
            .collect();
        warn!(
            cut_off = cut.len(),
            timeout_ms = self.shutdown_timeout.as_millis() as u64,
            "deliveries still running at shutdown; they are sent again on the next start"
        );
        let now = now_ms();
        for (id, attempts) in cut {
            if let Err(e) = self.store.outbox_retry(&id, attempts, now, None, now).await {
                warn!(delivery_id = %id, error = %e, "releasing a cut-off delivery failed; it is retried after its lease");
            }
        }
    }

    /// Starts up to `free` due deliveries; returns how long to wait before the next scan.
    async fn scan(
        &mut self,
        free: usize,
        inflight: &mut JoinSet<()>,
    ) -> Result<Duration, StoreError> {
        // Read first: an idle outbox costs no write.
        let now = now_ms();
        match self.store.next_outbox_due_ms(i64::MIN).await? {
            None => return Ok(IDLE_SCAN),
            Some(due) if due > now => return Ok(wait_until(due, now)),
            Some(_) => {}
        }
        let lease_until = now
            + i64::try_from(self.shared.timeout.as_millis()).unwrap_or(i64::MAX / 2)
            + LEASE_MARGIN_MS;
        let limit = u32::try_from(free).unwrap_or(u32::MAX);
        let busy = self.shared.busy_integrations();
        let rows = self
            .store
            .claim_due_outbox_except(now, lease_until, limit, &busy)
            .await?;
        let claimed_all = rows.len() == free;
        // Rows going back unsent (id, attempts, due), in one write after the loop.
        let mut release: Vec<(String, u32, i64)> = Vec::new();
        for row in rows {
            // Claimed in one go, several rows may be of one integration: past its share of
            // workers, the rest go back (due at once; the next claims leave them out while the
            // integration is busy).
            if self.shared.in_flight_of(&row.integration_id) >= self.shared.per_integration {
                release.push((row.id, row.attempts, now));
                continue;
            }
            let rate = match self
                .shared
                .destinations
                .integration(&row.integration_id)
                .await
            {
                Ok(Some(i)) if i.rate_limit_per_minute > 0 => i.rate_limit_per_minute,
                _ => self.default_rate,
            };
            match self
                .limiter
                .try_acquire(&row.integration_id, rate, Instant::now())
            {
                Ok(()) => {
                    let shared = self.shared.clone();
                    shared.track(&row);
                    inflight.spawn(async move { shared.deliver(row).await });
                }
                Err(wait) => {
                    debug!(delivery_id = %row.id, wait_ms = wait.as_millis() as u64, "rate limited");
                    let at = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                    release.push((row.id, row.attempts, at));
                }
            }
        }
        self.store.outbox_release_many(&release, now).await?;
        if claimed_all {
            return Ok(Duration::ZERO);
        }
        // Everything claimable is claimed. Rows still due wait behind an older delivery to
        // the same destination; its outcome (a finished task) or its next due time wakes us.
        let now = now_ms();
        Ok(self
            .store
            .next_outbox_due_ms(now)
            .await?
            .map_or(IDLE_SCAN, |due| wait_until(due, now)))
    }
}

/// Time from `now` until `due` (both Unix ms), at most `IDLE_SCAN`.
fn wait_until(due: i64, now: i64) -> Duration {
    let ms = u64::try_from(due.saturating_sub(now)).unwrap_or(0);
    Duration::from_millis(ms).min(IDLE_SCAN)
}

impl Shared {
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, u32)>> {
        self.inflight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn track(&self, row: &OutboxRow) {
        self.in_flight()
            .insert(row.id.clone(), (row.integration_id.clone(), row.attempts));
    }

    /// Deliveries of `integration_id` in flight.
    fn in_flight_of(&self, integration_id: &str) -> usize {
        self.in_flight()
            .values()
            .filter(|(i, _)| i == integration_id)
            .count()
    }

    /// Integrations with their full share of deliveries in flight.
    fn busy_integrations(&self) -> Vec<String> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let inflight = self.in_flight();
        for (integration, _) in inflight.values() {
            *counts.entry(integration.as_str()).or_default() += 1;
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n >= self.per_integration)
            .map(|(id, _)| id.to_string())
            .collect()
    }

    /// One attempt of one row, logged with its outcome.
    async fn deliver(&self, row: OutboxRow) {
        let attempt = row.attempts.saturating_add(1);
        let at_ms = now_ms();
        let started = Instant::now();
        let (outcome, secrets) = self.attempt(&row).await;
        let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let now = now_ms();
        let redact = |text: &str| clip(&secrets.redact(text, &[]));
        let mut log = AttemptRow {
            delivery_id: row.id.clone(),
            attempt,
            integration_id: row.integration_id.clone(),
            at_ms,
            status_code: 0,
            latency_us,
            error: String::new(),
            response_excerpt: String::new(),
            outcome: String::new(),
        };
        let next = match outcome {
            Ok(Delivered { status, excerpt }) => {
                info!(delivery_id = %row.id, integration_id = %row.integration_id, event = row.event.label(), attempt, status, "delivered");
                log.status_code = status.unwrap_or(0);
                log.response_excerpt = redact(&excerpt);
                AttemptOutcome::Delivered
            }
            Err(SendError::Permanent {
                reason,
                status,
                excerpt,
            }) => {
                let reason = redact(&reason);
                warn!(delivery_id = %row.id, integration_id = %row.integration_id, attempt, error = %reason, "delivery failed permanently");
                log.status_code = status.unwrap_or(0);
                log.response_excerpt = redact(&excerpt);
                log.error = reason.clone();
                AttemptOutcome::Dead { reason }
            }
            Err(SendError::Retryable {
                reason,
                retry_after,
                status,
                excerpt,
            }) => {
                let reason = redact(&reason);
                log.status_code = status.unwrap_or(0);
                log.response_excerpt = redact(&excerpt);
                log.error = reason.clone();
                match self
                    .policy
                    .after_failure(attempt, retry_after, &mut rand::rng())
                {
                    NextAttempt::After(delay) => {
                        warn!(delivery_id = %row.id, integration_id = %row.integration_id, attempt, error = %reason, retry_in_ms = delay.as_millis() as u64, "delivery failed, will retry");
                        AttemptOutcome::Retry {
                            next_attempt_at_ms: now
                                + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2),
                        }
                    }
                    NextAttempt::GiveUp => {
                        let reason = format!("gave up after {attempt} attempts: {reason}");
                        warn!(delivery_id = %row.id, integration_id = %row.integration_id, error = %reason, "delivery is dead");
                        AttemptOutcome::Dead { reason }
                    }
                }
            }
        };
        log.outcome = match next {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Retry { .. } => "retry",
            AttemptOutcome::Dead { .. } => "dead",
        }
        .to_string();
        self.outcomes.record(log, next).await;
        self.in_flight().remove(&row.id);
    }

    /// Renders, caps and sends one attempt. Also returns what must be redacted from what is
    /// logged of it: the project's secret variables and the integration's secret settings.
    async fn attempt(&self, row: &OutboxRow) -> (Result<Delivered, SendError>, Variables) {
        let mut secrets = Variables::new();
        let integration = match self.destinations.integration(&row.integration_id).await {
            Ok(Some(i)) => i,
            Ok(None) => {
                return (
                    Err(SendError::permanent(format!(
                        "integration {} no longer exists",
                        row.integration_id
                    ))),
                    secrets,
                );
            }
            Err(e) => {
                return (
                    Err(SendError::retryable(format!(
                        "reading the integration: {e}"
                    ))),
                    secrets,
                );
            }
        };
        for (n, v) in integration.secret_values().into_iter().enumerate() {
            secrets.insert(format!("setting {n}"), v, true);
        }
        let variables = match self.destinations.variables(&row.project_id).await {
            Ok(v) => v,
            Err(e) => {
                return (
                    Err(SendError::retryable(format!(
                        "reading the project's variables: {e}"
                    ))),
                    secrets,
                );
            }
        };
        for (name, value, secret) in variables.iter() {
            if secret {
                secrets.insert(name, value, true);
            }
        }
        let event = match NotificationEvent::decode(row.payload.as_slice()) {
            Ok(e) => e,
            Err(e) => {
                return (
                    Err(SendError::permanent(format!(
                        "the stored event does not decode: {e}"
                    ))),
                    secrets,
                );
            }
        };
        let kind = lookout_render::kind_name(&integration);
        let Some(channel) = self.channels.get(kind) else {
            return (
                Err(SendError::permanent(format!(
                    "no channel for kind {kind:?}"
                ))),
                secrets,
            );
        };
        let delivery = Delivery {
            id: &row.id,
            integration: &integration,
            event: &event,
            variables: &variables,
            now_unix_secs: now_ms().div_euclid(1000),
        };
        let prepared = match channel.prepare(&delivery) {
            Ok(p) => p,
            Err(e) => return (Err(e), secrets),
        };
        if prepared.payload_bytes() > self.max_payload_bytes {
            return (
                Err(SendError::permanent(format!(
                    "payload of {} bytes exceeds max_payload_bytes {}",
                    prepared.payload_bytes(),
                    self.max_payload_bytes
                ))),
                secrets,
            );
        }
        let sent = match tokio::time::timeout(self.timeout, channel.send(&prepared)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::retryable(format!(
                "no answer within {} ms",
                self.timeout.as_millis()
            ))),
        };
        (sent, secrets)
    }
}

/// `text` cut to [`LOG_TEXT_BYTES`] at a character boundary.
fn clip(text: &str) -> String {
    if text.len() <= LOG_TEXT_BYTES {
        return text.to_string();
    }
    let mut end = LOG_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
