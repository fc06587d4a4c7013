//! The delivery pipeline around every channel: claims due outbox rows, applies the payload
//! cap, per-destination rate limit, signing, timeout and retry policy, and records each
//! outcome. Runs apart from the consumer loop, so a failing receiver never stalls consumption.

pub mod destination;
pub mod rate_limit;
pub mod retry;
pub mod sign;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use lookout_store::notifier::OutboxRow;
use lookout_store::{Store, StoreError, now_ms};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::channels::{Channels, Notification, SendError};
use crate::config::DeliveryConfig;
use rate_limit::RateLimiter;
use retry::{NextAttempt, RetryPolicy};

/// Longest sleep between outbox scans when nothing is due and nobody wakes the dispatcher.
const IDLE_SCAN: Duration = Duration::from_secs(1);
/// How long a claimed row stays invisible to other dispatchers beyond the attempt timeout.
const LEASE_MARGIN_MS: i64 = 30_000;

pub(crate) struct Dispatcher {
    store: Store,
    shared: Arc<Shared>,
    limiter: RateLimiter,
    workers: usize,
    /// Signalled by the consumer loop after it stored new outbox rows.
    ready: Arc<Notify>,
    /// How long deliveries in flight may take to finish after `stop`.
    shutdown_timeout: Duration,
}

/// What every delivery task needs.
struct Shared {
    store: Store,
    channels: Channels,
    policy: RetryPolicy,
    timeout: Duration,
    max_payload_bytes: usize,
    /// Deliveries in flight (id → attempts made before this one), so those cut off at
    /// shutdown can be released for the next start.
    inflight: Mutex<HashMap<String, u32>>,
}

impl Dispatcher {
    pub(crate) fn new(
        config: &DeliveryConfig,
        store: Store,
        channels: Channels,
        ready: Arc<Notify>,
        shutdown_timeout: Duration,
    ) -> Dispatcher {
        Dispatcher {
            store: store.clone(),
            shared: Arc::new(Shared {
                store,
                channels,
                policy: RetryPolicy::from(config),
                timeout: config.timeout(),
                max_payload_bytes: config.max_payload_bytes,
                inflight: Mutex::default(),
            }),
            limiter: RateLimiter::new(config.rate_limit_per_minute),
            workers: config.workers,
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
        let mut inflight: JoinSet<()> = JoinSet::new();
        while !stop.is_cancelled() {
            let free = self.workers.saturating_sub(inflight.len());
            let wait = if free == 0 {
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
        let cut: Vec<(String, u32)> = self.shared.in_flight().drain().collect();
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
        let rows = self.store.claim_due_outbox(now, lease_until, limit).await?;
        let claimed_all = rows.len() == free;
        for row in rows {
            match self
                .limiter
                .try_acquire(&row.url, tokio::time::Instant::now())
            {
                Ok(()) => {
                    let shared = self.shared.clone();
                    shared.track(&row);
                    inflight.spawn(async move { shared.deliver(row).await });
                }
                Err(wait) => {
                    debug!(delivery_id = %row.id, wait_ms = wait.as_millis() as u64, "rate limited");
                    let at = now + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2);
                    self.store
                        .outbox_retry(&row.id, row.attempts, at, None, now)
                        .await?;
                }
            }
        }
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
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, u32>> {
        self.inflight
            .lock()
            .expect("the in-flight map is never poisoned: no code panics holding it")
    }

    fn track(&self, row: &OutboxRow) {
        self.in_flight().insert(row.id.clone(), row.attempts);
    }

    /// One attempt of one row, and its recorded outcome.
    async fn deliver(&self, row: OutboxRow) {
        let attempts = row.attempts.saturating_add(1);
        let outcome = self.attempt(&row).await;
        let now = now_ms();
        let recorded = match outcome {
            Ok(status) => {
                info!(delivery_id = %row.id, monitor_id = %row.monitor_id, event = row.event.as_str(), attempts, status, "delivered");
                self.store.outbox_delivered(&row.id, attempts, now).await
            }
            Err(SendError::Permanent { reason }) => {
                warn!(delivery_id = %row.id, monitor_id = %row.monitor_id, attempts, error = %reason, "delivery failed permanently");
                self.store
                    .outbox_dead(&row.id, attempts, &reason, now)
                    .await
            }
            Err(SendError::Retryable {
                reason,
                retry_after,
            }) => {
                let decision = self
                    .policy
                    .after_failure(attempts, retry_after, &mut rand::rng());
                match decision {
                    NextAttempt::After(delay) => {
                        warn!(delivery_id = %row.id, monitor_id = %row.monitor_id, attempts, error = %reason, retry_in_ms = delay.as_millis() as u64, "delivery failed, will retry");
                        let at = now + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
                        self.store
                            .outbox_retry(&row.id, attempts, at, Some(&reason), now)
                            .await
                    }
                    NextAttempt::GiveUp => {
                        let reason = format!("gave up after {attempts} attempts: {reason}");
                        warn!(delivery_id = %row.id, monitor_id = %row.monitor_id, error = %reason, "delivery is dead");
                        self.store
                            .outbox_dead(&row.id, attempts, &reason, now)
                            .await
                    }
                }
            }
        };
        if let Err(e) = recorded {
            warn!(delivery_id = %row.id, error = %e, "delivery outcome not stored; the row is retried after its lease");
        }
        self.in_flight().remove(&row.id);
    }

    /// The secret to sign `row` with (empty: unsigned): the current one of the webhook at
    /// `row.url` on the row's monitor, since the outbox holds no secret. A deleted monitor
    /// still has its row (so the notification resolving its incident is signed); a delivery
    /// whose monitor row is gone (pruned), or no longer has a webhook at that URL, is dead:
    /// that destination is no longer configured and there is no secret to sign for it. (The
    /// reason leaves the URL out: it may carry a credential.)
    async fn current_secret(&self, row: &OutboxRow) -> Result<String, SendError> {
        let monitor = match self.store.monitor_record(&row.monitor_id).await {
            Ok(r) => r.monitor,
            Err(StoreError::NotFound) => {
                return Err(SendError::Permanent {
                    reason: format!(
                        "monitor {} no longer exists: nothing to sign the delivery with",
                        row.monitor_id
                    ),
                });
            }
            Err(e) => {
                return Err(SendError::Retryable {
                    reason: format!("reading the webhook secret: {e}"),
                    retry_after: None,
                });
            }
        };
        monitor
            .webhooks
            .into_iter()
            .find(|w| w.url == row.url)
            .map(|w| w.secret)
            .ok_or_else(|| SendError::Permanent {
                reason: format!(
                    "monitor {} no longer has a webhook at this url",
                    row.monitor_id
                ),
            })
    }

    /// Everything around the channel call: cap, channel lookup, signing, timeout.
    async fn attempt(&self, row: &OutboxRow) -> Result<u16, SendError> {
        if row.payload.len() > self.max_payload_bytes {
            return Err(SendError::Permanent {
                reason: format!(
                    "payload of {} bytes exceeds max_payload_bytes {}",
                    row.payload.len(),
                    self.max_payload_bytes
                ),
            });
        }
        let Some(channel) = self.channels.get(&row.channel) else {
            return Err(SendError::Permanent {
                reason: format!("unknown channel {:?}", row.channel),
            });
        };
        let secret = self.current_secret(row).await?;
        let unix_secs = now_ms().div_euclid(1000);
        let n = Notification {
            id: row.id.clone(),
            event: row.event,
            url: row.url.clone(),
            headers: sign::headers(&row.id, &secret, &row.payload, unix_secs),
            body: Bytes::from(row.payload.clone()),
        };
        match tokio::time::timeout(self.timeout, channel.send(&n)).await {
            Ok(Ok(d)) => Ok(d.status.unwrap_or(0)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SendError::Retryable {
                reason: format!("no answer within {} ms", self.timeout.as_millis()),
                retry_after: None,
            }),
        }
    }
}
