//! Retention: pruning what the notifier no longer needs, in bounded batches (each its own
//! short statement, so a large prune never holds a long transaction or lock): delivered and
//! dead outbox rows, resolved incidents, region state of deleted monitors, and deleted
//! monitor rows once nothing refers to them any more.

use crate::{Sql, Store, StoreError};

/// Rows older than these instants (Unix epoch milliseconds) are pruned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCutoffs {
    /// Delivered outbox rows last changed before this.
    pub delivered_before_ms: i64,
    /// Dead outbox rows (retries exhausted) last changed before this.
    pub dead_before_ms: i64,
    /// Resolved incidents resolved before this, once no outbox row refers to them.
    pub resolved_incidents_before_ms: i64,
    /// Region state, then the row, of monitors deleted before this; a row goes once no
    /// incident, delivery or region state refers to it.
    pub deleted_monitors_before_ms: i64,
}

/// How many rows one prune removed, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub delivered: u64,
    pub dead: u64,
    pub incidents: u64,
    pub region_states: u64,
    pub monitors: u64,
}

impl Pruned {
    pub fn total(&self) -> u64 {
        self.delivered + self.dead + self.incidents + self.region_states + self.monitors
    }
}

const DELIVERED: &str = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
    WHERE state = 'delivered' AND updated_at_ms < $1 ORDER BY updated_at_ms LIMIT $2)";
const DEAD: &str = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
    WHERE state = 'dead' AND updated_at_ms < $1 ORDER BY updated_at_ms LIMIT $2)";
const INCIDENTS: &str = "DELETE FROM incidents WHERE id IN (SELECT i.id FROM incidents i \
    WHERE i.status = 'resolved' AND i.resolved_at_ms < $1 \
    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.id) LIMIT $2)";
// Region rows whose monitor is gone or was deleted before the cutoff.
const REGION_STATES: &str = "DELETE FROM notifier_region_state WHERE monitor_id IN \
    (SELECT DISTINCT s.monitor_id FROM notifier_region_state s WHERE NOT EXISTS \
    (SELECT 1 FROM monitors m WHERE m.id = s.monitor_id \
    AND (m.deleted_at_ms IS NULL OR m.deleted_at_ms >= $1)) LIMIT $2)";
// Kept while an incident or delivery of it remains: those are shown (and scoped) through it.
const MONITORS: &str = "DELETE FROM monitors WHERE id IN (SELECT m.id FROM monitors m \
    WHERE m.deleted_at_ms IS NOT NULL AND m.deleted_at_ms < $1 \
    AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.monitor_id = m.id) \
    AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.monitor_id = m.id) \
    AND NOT EXISTS (SELECT 1 FROM notifier_region_state s WHERE s.monitor_id = m.id) LIMIT $2)";

impl Store {
    /// Prunes everything older than `cutoffs`, at most `batch` rows per statement, until
    /// nothing is left to prune. Outbox rows go before the incidents they refer to, and
    /// region state before the monitor rows, so one pass removes whole chains.
    pub async fn prune(
        &self,
        cutoffs: &RetentionCutoffs,
        batch: u32,
    ) -> Result<Pruned, StoreError> {
        let batch = batch.max(1);
        Ok(Pruned {
            delivered: self
                .prune_all(DELIVERED, cutoffs.delivered_before_ms, batch)
                .await?,
            dead: self.prune_all(DEAD, cutoffs.dead_before_ms, batch).await?,
            incidents: self
                .prune_all(INCIDENTS, cutoffs.resolved_incidents_before_ms, batch)
                .await?,
            region_states: self
                .prune_all(REGION_STATES, cutoffs.deleted_monitors_before_ms, batch)
                .await?,
            monitors: self
                .prune_all(MONITORS, cutoffs.deleted_monitors_before_ms, batch)
                .await?,
        })
    }

    /// Runs one pruning statement until it removes nothing; returns the rows removed.
    async fn prune_all(&self, sql: &str, before_ms: i64, batch: u32) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self
                .pool()
                .execute(Sql::new(sql).bind(before_ms).bind(batch))
                .await?;
            total += n;
            if n < u64::from(batch) {
                return Ok(total);
            }
        }
    }
}
