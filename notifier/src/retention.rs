//! Retention: one background task that prunes, every `retention.interval_secs`, delivered and
//! dead deliveries, resolved incidents, the region state of deleted monitors and the deleted
//! monitor rows themselves once nothing refers to them, each after its own period. The store
//! removes rows in bounded batches, so a large prune never holds a long transaction.

use std::time::Duration;

use lookout_store::notifier::RetentionCutoffs;
use lookout_store::{Store, now_ms};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::ConfigError;

const DAY_SECS: u64 = 86_400;
/// Longest period accepted: ten years.
const MAX_PERIOD_SECS: u64 = 3_650 * DAY_SECS;

/// How long finished rows are kept (`retention:` in the notifier config).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Delivered deliveries, after their last attempt (1..=315360000).
    pub delivered_secs: u64,
    /// Dead deliveries, after their last attempt: longer, so they can still be inspected and
    /// retried (1..=315360000).
    pub dead_secs: u64,
    /// Resolved incidents, after they resolved; an incident stays while a delivery of it does
    /// (1..=315360000).
    pub resolved_incidents_secs: u64,
    /// Deleted monitors' region state and rows, after the deletion; a row stays while an
    /// incident or delivery of it does (1..=315360000).
    pub deleted_monitors_secs: u64,
    /// Time between two prunes (1..=86400); the first runs at start.
    pub interval_secs: u64,
    /// Rows removed per statement (1..=10000).
    pub batch_size: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            delivered_secs: 7 * DAY_SECS,
            dead_secs: 30 * DAY_SECS,
            resolved_incidents_secs: 90 * DAY_SECS,
            deleted_monitors_secs: 7 * DAY_SECS,
            interval_secs: 3_600,
            batch_size: 500,
        }
    }
}

impl RetentionConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        let periods = [
            ("retention.delivered_secs", self.delivered_secs),
            ("retention.dead_secs", self.dead_secs),
            (
                "retention.resolved_incidents_secs",
                self.resolved_incidents_secs,
            ),
            (
                "retention.deleted_monitors_secs",
                self.deleted_monitors_secs,
            ),
        ];
        for (field, v) in periods {
            if !(1..=MAX_PERIOD_SECS).contains(&v) {
                return Err(ConfigError::Invalid {
                    field,
                    value: v.to_string(),
                    expected: "must be 1..=315360000 (ten years)",
                });
            }
        }
        if !(1..=DAY_SECS).contains(&self.interval_secs) {
            return Err(ConfigError::Invalid {
                field: "retention.interval_secs",
                value: self.interval_secs.to_string(),
                expected: "must be 1..=86400",
            });
        }
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(ConfigError::Invalid {
                field: "retention.batch_size",
                value: self.batch_size.to_string(),
                expected: "must be 1..=10000",
            });
        }
        Ok(())
    }

    /// The instants before which rows are pruned, at `now_ms`.
    pub fn cutoffs(&self, now_ms: i64) -> RetentionCutoffs {
        let before =
            |secs: u64| now_ms.saturating_sub(i64::try_from(secs * 1000).unwrap_or(i64::MAX));
        RetentionCutoffs {
            delivered_before_ms: before(self.delivered_secs),
            dead_before_ms: before(self.dead_secs),
            resolved_incidents_before_ms: before(self.resolved_incidents_secs),
            deleted_monitors_before_ms: before(self.deleted_monitors_secs),
        }
    }
}

/// Prunes at start and then every `interval_secs` until `stop`. A failed prune is logged and
/// tried again at the next interval.
pub(crate) async fn run(store: Store, config: RetentionConfig, stop: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(config.interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let cutoffs = config.cutoffs(now_ms());
        let pruning = store.prune(&cutoffs, config.batch_size);
        let pruned = tokio::select! {
            () = stop.cancelled() => return,
            r = pruning => r,
        };
        match pruned {
            Ok(p) if p.total() > 0 => info!(
                delivered = p.delivered,
                dead = p.dead,
                incidents = p.incidents,
                region_states = p.region_states,
                monitors = p.monitors,
                "retention pruned old rows"
            ),
            Ok(_) => {}
            Err(e) => {
                warn!(error = %e, "retention prune failed; trying again at the next interval")
            }
        }
        // The Slack messages posted for incidents go with the incidents.
        match store
            .prune_slack_messages(cutoffs.resolved_incidents_before_ms)
            .await
        {
            Ok(0) => {}
            Ok(n) => info!(slack_messages = n, "retention pruned old rows"),
            Err(e) => warn!(error = %e, "pruning slack messages failed; trying again later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cutoffs_subtract_each_period() {
        let c = RetentionConfig {
            delivered_secs: 1,
            dead_secs: 2,
            resolved_incidents_secs: 3,
            deleted_monitors_secs: 4,
            ..Default::default()
        };
        let got = c.cutoffs(10_000);
        assert_eq!(
            (
                got.delivered_before_ms,
                got.dead_before_ms,
                got.resolved_incidents_before_ms,
                got.deleted_monitors_before_ms
            ),
            (9_000, 8_000, 7_000, 6_000)
        );
    }
}
