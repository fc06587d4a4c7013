//! Notifier state: per-region counters, incidents, the delivery outbox and consumed offsets,
//! written together in one transaction per consumed batch.

use std::fmt;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use crate::{Store, StoreError};

/// Counters of one (monitor, region). A region without a row is up with no failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionStateRow {
    pub monitor_id: String,
    pub region: String,
    pub down: bool,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Label of the last counted status (`UP`, `DOWN`, `DEGRADED`).
    pub last_status: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentStatus {
    Open,
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Resolved => "resolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentRow {
    /// `inc_` + UUIDv7.
    pub id: String,
    pub monitor_id: String,
    pub status: IncidentStatus,
    pub opened_at_ms: i64,
    pub resolved_at_ms: Option<i64>,
    /// Error message of the result that opened the incident.
    pub cause: String,
    /// Regions that were down when the incident opened.
    pub regions: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxEvent {
    Incident,
    Recovery,
}

impl OutboxEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxEvent::Incident => "incident",
            OutboxEvent::Recovery => "recovery",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }
}

/// One delivery to make. `id` is the idempotency id sent with every attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub incident_id: String,
    pub monitor_id: String,
    pub event: OutboxEvent,
    /// Channel kind that delivers the row (`webhook`).
    pub channel: String,
    pub url: String,
    /// Signing secret; empty when the destination has none. Never printed.
    pub secret: String,
    pub payload: Vec<u8>,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_at_ms: i64,
    pub state: OutboxState,
    pub last_error: Option<String>,
    pub created_at_ms: i64,
}

impl fmt::Debug for OutboxRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRow")
            .field("id", &self.id)
            .field("incident_id", &self.incident_id)
            .field("monitor_id", &self.monitor_id)
            .field("event", &self.event)
            .field("channel", &self.channel)
            .field("url", &self.url)
            .field("secret", &if self.secret.is_empty() { "" } else { "***" })
            .field("payload_bytes", &self.payload.len())
            .field("attempts", &self.attempts)
            .field("next_attempt_at_ms", &self.next_attempt_at_ms)
            .field("state", &self.state)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// Everything one consumed batch changes; written atomically by `apply_notifier_batch`.
#[derive(Debug, Default)]
pub struct NotifierBatch {
    /// Region rows that changed (upserted).
    pub states: Vec<RegionStateRow>,
    /// Incidents opened or updated, in the order they changed (upserted by id).
    pub incidents: Vec<IncidentRow>,
    /// New deliveries (state pending).
    pub outbox: Vec<OutboxRow>,
    /// Next offset to read per partition.
    pub offsets: Vec<(i32, i64)>,
}

impl NotifierBatch {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
            && self.incidents.is_empty()
            && self.outbox.is_empty()
            && self.offsets.is_empty()
    }
}

const OUTBOX_COLUMNS: &str = "id, incident_id, monitor_id, event, channel, url, secret, payload, \
    attempts, next_attempt_at_ms, state, last_error, created_at_ms";
const INCIDENT_COLUMNS: &str =
    "id, monitor_id, status, opened_at_ms, resolved_at_ms, cause, regions";

impl Store {
    /// Writes region states, incidents, outbox rows and offsets of one batch in one
    /// transaction: either all of it is stored or none.
    pub async fn apply_notifier_batch(
        &self,
        group: &str,
        topic: &str,
        batch: &NotifierBatch,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        for s in &batch.states {
            sqlx::query(
                "INSERT INTO notifier_region_state (monitor_id, region, down, consecutive_failures, \
                 consecutive_successes, last_status, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (monitor_id, region) DO UPDATE SET down = excluded.down, \
                 consecutive_failures = excluded.consecutive_failures, \
                 consecutive_successes = excluded.consecutive_successes, \
                 last_status = excluded.last_status, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(&s.monitor_id)
            .bind(&s.region)
            .bind(s.down)
            .bind(i64::from(s.consecutive_failures))
            .bind(i64::from(s.consecutive_successes))
            .bind(&s.last_status)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        for i in &batch.incidents {
            sqlx::query(
                "INSERT INTO incidents (id, monitor_id, status, opened_at_ms, resolved_at_ms, cause, \
                 regions, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                 resolved_at_ms = excluded.resolved_at_ms, regions = excluded.regions, \
                 updated_at_ms = excluded.updated_at_ms",
            )
            .bind(&i.id)
            .bind(&i.monitor_id)
            .bind(i.status.as_str())
            .bind(i.opened_at_ms)
            .bind(i.resolved_at_ms)
            .bind(&i.cause)
            .bind(i.regions.join(","))
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        for o in &batch.outbox {
            sqlx::query(
                "INSERT INTO outbox (id, incident_id, monitor_id, event, channel, url, secret, payload, \
                 attempts, next_attempt_at_ms, state, last_error, created_at_ms, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
            )
            .bind(&o.id)
            .bind(&o.incident_id)
            .bind(&o.monitor_id)
            .bind(o.event.as_str())
            .bind(&o.channel)
            .bind(&o.url)
            .bind(&o.secret)
            .bind(&o.payload)
            .bind(i64::from(o.attempts))
            .bind(o.next_attempt_at_ms)
            .bind(o.state.as_str())
            .bind(&o.last_error)
            .bind(o.created_at_ms)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        for (partition, next) in &batch.offsets {
            sqlx::query(
                "INSERT INTO notifier_offsets (group_id, topic, partition_id, next_offset) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (group_id, topic, partition_id) \
                 DO UPDATE SET next_offset = excluded.next_offset",
            )
            .bind(group)
            .bind(topic)
            .bind(partition)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Stored next offsets of `group` on `topic`, per partition.
    pub async fn notifier_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(i32, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT partition_id, next_offset FROM notifier_offsets \
             WHERE group_id = $1 AND topic = $2 ORDER BY partition_id",
        )
        .bind(group)
        .bind(topic)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("partition_id")?, r.try_get("next_offset")?)))
            .collect()
    }

    /// Drops the stored offsets of `group` on `topic` (a log that starts over).
    pub async fn forget_notifier_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM notifier_offsets WHERE group_id = $1 AND topic = $2")
            .bind(group)
            .bind(topic)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Stored region counters of one monitor.
    pub async fn region_states(&self, monitor_id: &str) -> Result<Vec<RegionStateRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT monitor_id, region, down, consecutive_failures, consecutive_successes, \
             last_status FROM notifier_region_state WHERE monitor_id = $1 ORDER BY region",
        )
        .bind(monitor_id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RegionStateRow {
                    monitor_id: r.try_get("monitor_id")?,
                    region: r.try_get("region")?,
                    down: r.try_get("down")?,
                    consecutive_failures: to_u32(r.try_get("consecutive_failures")?),
                    consecutive_successes: to_u32(r.try_get("consecutive_successes")?),
                    last_status: r.try_get("last_status")?,
                })
            })
            .collect()
    }

    /// The open incident of a monitor, if any.
    pub async fn open_incident(&self, monitor_id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE monitor_id = $1 AND status = 'open'"
        );
        let row = sqlx::query(&sql)
            .bind(monitor_id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }

    /// Incidents, newest first, of one monitor or of all when `monitor_id` is `None`.
    pub async fn list_incidents(
        &self,
        monitor_id: Option<&str>,
        limit: u32,
    ) -> Result<Vec<IncidentRow>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE (CAST($1 AS TEXT) IS NULL OR monitor_id = $1) \
             ORDER BY opened_at_ms DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(monitor_id)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    /// Outbox rows of one incident (all when `None`), oldest first.
    pub async fn list_outbox(
        &self,
        incident_id: Option<&str>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE (CAST($1 AS TEXT) IS NULL OR incident_id = $1) \
             ORDER BY created_at_ms, id"
        );
        let rows = sqlx::query(&sql)
            .bind(incident_id)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Leases up to `limit` pending rows due at `now_ms` until `lease_until_ms`: another
    /// worker sees them again only if this one dies without recording an outcome. The outer
    /// condition repeats the inner one so that, on PostgreSQL, a row leased concurrently by
    /// another dispatcher fails the re-check instead of being claimed twice.
    pub async fn claim_due_outbox(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "UPDATE outbox SET next_attempt_at_ms = $1, updated_at_ms = $2 WHERE id IN \
             (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at_ms <= $2 \
             ORDER BY next_attempt_at_ms, id LIMIT $3) \
             AND state = 'pending' AND next_attempt_at_ms <= $2 RETURNING {OUTBOX_COLUMNS}"
        );
        let rows = sqlx::query(&sql)
            .bind(lease_until_ms)
            .bind(now_ms)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        let mut out = rows
            .iter()
            .map(outbox_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(out)
    }

    /// When the earliest pending row is due, if any.
    pub async fn next_outbox_due_ms(&self) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at_ms) AS due FROM outbox WHERE state = 'pending'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(row.try_get("due")?)
    }

    /// Records a successful delivery after `attempts` attempts.
    pub async fn outbox_delivered(
        &self,
        id: &str,
        attempts: u32,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_outcome(id, OutboxState::Delivered, attempts, now_ms, None, now_ms)
            .await
    }

    /// Puts a claimed row back to pending, due at `next_attempt_at_ms`: after a failed
    /// attempt (`error` set) or, with `attempts` unchanged, when it was rate limited.
    pub async fn outbox_retry(
        &self,
        id: &str,
        attempts: u32,
        next_attempt_at_ms: i64,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_outcome(
            id,
            OutboxState::Pending,
            attempts,
            next_attempt_at_ms,
            error,
            now_ms,
        )
        .await
    }

    /// Gives up on a row (permanent error or retries exhausted).
    pub async fn outbox_dead(
        &self,
        id: &str,
        attempts: u32,
        error: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_outcome(id, OutboxState::Dead, attempts, now_ms, Some(error), now_ms)
            .await
    }

    async fn outbox_outcome(
        &self,
        id: &str,
        state: OutboxState,
        attempts: u32,
        next_attempt_at_ms: i64,
        error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at_ms = $3, \
             last_error = COALESCE($4, last_error), updated_at_ms = $5 \
             WHERE id = $6 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(i64::from(attempts))
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(now_ms)
        .bind(id)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v.max(0)).unwrap_or(u32::MAX)
}

fn incident_from_row(r: &SqliteRow) -> Result<IncidentRow, StoreError> {
    let status: String = r.try_get("status")?;
    let regions: String = r.try_get("regions")?;
    Ok(IncidentRow {
        id: r.try_get("id")?,
        monitor_id: r.try_get("monitor_id")?,
        status: if status == "open" {
            IncidentStatus::Open
        } else {
            IncidentStatus::Resolved
        },
        opened_at_ms: r.try_get("opened_at_ms")?,
        resolved_at_ms: r.try_get("resolved_at_ms")?,
        cause: r.try_get("cause")?,
        regions: regions
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn outbox_from_row(r: &SqliteRow) -> Result<OutboxRow, StoreError> {
    let event: String = r.try_get("event")?;
    let state: String = r.try_get("state")?;
    Ok(OutboxRow {
        id: r.try_get("id")?,
        incident_id: r.try_get("incident_id")?,
        monitor_id: r.try_get("monitor_id")?,
        event: if event == "recovery" {
            OutboxEvent::Recovery
        } else {
            OutboxEvent::Incident
        },
        channel: r.try_get("channel")?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        payload: r.try_get("payload")?,
        attempts: to_u32(r.try_get("attempts")?),
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        state: match state.as_str() {
            "delivered" => OutboxState::Delivered,
            "dead" => OutboxState::Dead,
            _ => OutboxState::Pending,
        },
        last_error: r.try_get("last_error")?,
        created_at_ms: r.try_get("created_at_ms")?,
    })
}
