//! Lifecycle events: after a monitor is deleted or paused, the coordinator publishes a
//! `lifecycle` result for it on the results topic, keyed by the monitor like its check
//! results, so the notifier (the only writer of incidents) sees it after the monitor's earlier
//! results and resolves its open incident with the reason. Events are published by a
//! background task, so an admin call never waits for the bus; one the bus refuses is kept and
//! published again every [`RETRY_EVERY`] until it goes through (or the process stops). The
//! queue is in memory, so at start [`LifecycleEvents::announce_unresolved`] announces again
//! every deleted or paused monitor that still has an open incident: an event the previous
//! process accepted but never published is not lost (a repeated one finds no open incident
//! and changes nothing).

use std::sync::Arc;
use std::time::Duration;

use lookout_bus::ResultPublisher;
use lookout_proto::CheckResult;
use lookout_proto::v1::MonitorLifecycle;
use lookout_store::{Store, StoreError, now_ms};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

/// Pause between two attempts to publish events the bus refused.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Events kept for retry at most; past this the oldest is dropped with an error line (the
/// bus has been down for a long time and every one of them is logged).
const MAX_PENDING: usize = 10_000;

pub struct LifecycleEvents {
    publisher: Arc<dyn ResultPublisher>,
    pending: Mutex<Vec<CheckResult>>,
    ready: Notify,
}

impl LifecycleEvents {
    pub fn new(publisher: Arc<dyn ResultPublisher>) -> LifecycleEvents {
        LifecycleEvents {
            publisher,
            pending: Mutex::new(Vec::new()),
            ready: Notify::new(),
        }
    }

    /// Publishes that monitor `id` became `what` at `version` (its version after the change).
    pub async fn announce(&self, id: &str, version: u64, what: MonitorLifecycle) {
        let event = CheckResult {
            id: uuid::Uuid::now_v7().to_string(),
            monitor_id: id.to_string(),
            monitor_version: version,
            scheduled_at_ms: now_ms(),
            lifecycle: what as i32,
            ..CheckResult::default()
        };
        let mut pending = self.pending.lock().await;
        // Behind earlier unpublished events: one monitor's events stay in order.
        if pending.len() >= MAX_PENDING {
            let dropped = pending.remove(0);
            tracing::error!(monitor_id = %dropped.monitor_id, "too many unpublished lifecycle events; the oldest is dropped and its incident stays open");
        }
        pending.push(event);
        self.ready.notify_one();
    }

    /// Announces every deleted or paused monitor whose incident is still open (see the module
    /// doc); returns how many.
    pub async fn announce_unresolved(&self, store: &Store) -> Result<usize, StoreError> {
        let inactive = store.inactive_monitors_with_open_incidents().await?;
        for m in &inactive {
            let what = if m.deleted {
                MonitorLifecycle::Deleted
            } else {
                MonitorLifecycle::Paused
            };
            tracing::info!(monitor_id = %m.id, lifecycle = ?what, "announcing again: the monitor's incident is still open");
            self.announce(&m.id, m.version, what).await;
        }
        Ok(inactive.len())
    }

    /// Publishes announced events, and refused ones again, until `stop`; then tries once
    /// more for those still unpublished.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(RETRY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                () = self.ready.notified() => {}
                _ = tick.tick() => {}
            }
            self.publish_pending().await;
        }
        self.publish_pending().await;
    }

    /// Publishes what is pending without holding the queue, so announcing never waits for
    /// the bus; refused events go back in front of those announced meanwhile.
    async fn publish_pending(&self) {
        let batch = std::mem::take(&mut *self.pending.lock().await);
        if batch.is_empty() {
            return;
        }
        if let Err(e) = self.publisher.publish(&batch).await {
            tracing::warn!(events = batch.len(), error = %e, "publishing lifecycle events failed; retrying");
            let mut pending = self.pending.lock().await;
            let newer = std::mem::replace(&mut *pending, batch);
            pending.extend(newer);
            let excess = pending.len().saturating_sub(MAX_PENDING);
            for dropped in pending.drain(..excess) {
                tracing::error!(monitor_id = %dropped.monitor_id, "too many unpublished lifecycle events; the oldest is dropped and its incident stays open");
            }
        }
    }
}
