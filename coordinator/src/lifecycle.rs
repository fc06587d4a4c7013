//! Lifecycle events: after a monitor is deleted or paused, the coordinator publishes a
//! `lifecycle` result for it on the results topic, keyed by the monitor like its check
//! results, so the notifier (the only writer of incidents) sees it after the monitor's earlier
//! results and resolves its open incident with the reason. An event the bus refuses is kept
//! and published again every [`RETRY_EVERY`] until it goes through (or the process stops).

use std::sync::Arc;
use std::time::Duration;

use lookout_bus::ResultPublisher;
use lookout_proto::CheckResult;
use lookout_proto::v1::MonitorLifecycle;
use lookout_store::now_ms;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Pause between two attempts to publish events the bus refused.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Events kept for retry at most; past this the oldest is dropped with an error line (the
/// bus has been down for a long time and every one of them is logged).
const MAX_PENDING: usize = 10_000;

pub struct LifecycleEvents {
    publisher: Arc<dyn ResultPublisher>,
    pending: Mutex<Vec<CheckResult>>,
}

impl LifecycleEvents {
    pub fn new(publisher: Arc<dyn ResultPublisher>) -> LifecycleEvents {
        LifecycleEvents {
            publisher,
            pending: Mutex::new(Vec::new()),
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
        if pending.is_empty() {
            match self.publisher.publish(std::slice::from_ref(&event)).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(monitor_id = %id, event = what.as_str_name(), error = %e, "publishing a lifecycle event failed; retrying")
                }
            }
        }
        // Behind earlier refused events: one monitor's events stay in order.
        if pending.len() >= MAX_PENDING {
            let dropped = pending.remove(0);
            tracing::error!(monitor_id = %dropped.monitor_id, "too many unpublished lifecycle events; the oldest is dropped and its incident stays open");
        }
        pending.push(event);
    }

    /// Publishes refused events again until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(RETRY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let mut pending = self.pending.lock().await;
            if pending.is_empty() {
                continue;
            }
            match self.publisher.publish(&pending).await {
                Ok(()) => pending.clear(),
                Err(e) => {
                    tracing::warn!(events = pending.len(), error = %e, "publishing lifecycle events failed; retrying")
                }
            }
        }
    }
}
