//! Notifier state: per-region counters, incidents, the delivery outbox and consumed offsets,
//! written together in one transaction per consumed batch.

use std::fmt;

use lookout_proto::v1::EventKind;

use crate::{Row, Sql, Store, StoreError};

mod incidents_admin;
mod outbox;
mod retention;
pub use incidents_admin::{
    IncidentActionKind, IncidentActionRow, IncidentCursor, IncidentDetail, IncidentFilter,
    ManualResolution,
};
pub use outbox::{AttemptOutcome, AttemptRow, DeliveryCursor};
mod status;
pub use retention::{Pruned, RetentionCutoffs};
pub use status::RegionStatusRow;

/// Counters of one (monitor, region). A region without a row is up with no failures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegionStateRow {
    pub monitor_id: String,
    pub region: String,
    pub down: bool,
    pub consecutive_failures: u32,
    pub consecutive_successes: u32,
    /// Label of the last counted status (`UP`, `DOWN`, `DEGRADED`).
    pub last_status: String,
    /// The region is degraded (DEGRADED results in a row, not yet cleared by UP results).
    pub degraded: bool,
    /// DEGRADED results in a row.
    pub consecutive_degraded: u32,
    /// `scheduled_at_ms` of the newest applied result: older ones are ignored.
    pub newest_scheduled_at_ms: i64,
    /// Ids of the applied results scheduled at `newest_scheduled_at_ms` (a few at most): the
    /// same result again is ignored.
    pub newest_result_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IncidentStatus {
    #[default]
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

#[derive(Debug, Clone, Default, PartialEq, Eq)]
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
    /// `critical` while the monitor is down, `warning` while it is degraded.
    pub severity: String,
    /// Escalation level reached, 1 at opening.
    pub level: u32,
    pub escalated_at_ms: Option<i64>,
    pub acknowledged_at_ms: Option<i64>,
    pub acknowledged_by: String,
    pub reminders_sent: u32,
    pub next_reminder_at_ms: Option<i64>,
    /// Why it resolved without a recovering result: `deleted`, `paused`, `manual`.
    pub resolved_reason: String,
    /// The parent monitor's incident that caused it (opened silently).
    pub caused_by_incident_id: Option<String>,
    /// Its receivers have not heard its latest state (held or silenced).
    pub silenced: bool,
}

impl IncidentRow {
    /// A new open incident with the engine's fields at their opening values.
    pub fn opening(
        id: String,
        monitor_id: String,
        opened_at_ms: i64,
        severity: &str,
    ) -> IncidentRow {
        IncidentRow {
            id,
            monitor_id,
            status: IncidentStatus::Open,
            opened_at_ms,
            severity: severity.to_string(),
            level: 1,
            ..IncidentRow::default()
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

/// One delivery of one event to one integration. `id` is the idempotency id sent with every
/// attempt.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: String,
    pub project_id: String,
    /// The incident the event is about; `None` for no-data, certificate and test events.
    pub incident_id: Option<String>,
    /// `None` for test events.
    pub monitor_id: Option<String>,
    pub integration_id: String,
    pub event: EventKind,
    /// The integration's kind when the row was written (`webhook`, `slack`, ...).
    pub channel: String,
    /// The encoded `lookout.v1.NotificationEvent`. No body and no secret: the integration's
    /// channel renders and signs the request at every attempt, from its current settings.
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
            .field("integration_id", &self.integration_id)
            .field("event", &self.event)
            .field("channel", &self.channel)
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
    /// Offsets to advance, each only if the stored one is still what the caller read.
    pub offsets: Vec<OffsetAdvance>,
    /// Monitors whose region rows are dropped before `states` are written (deleted or
    /// paused: a resumed monitor starts with no counters).
    pub cleared: Vec<String>,
    /// Per-monitor engine state that changed (upserted).
    pub monitor_states: Vec<MonitorStateRow>,
    /// (monitor id, incident id): the incidents the consumer's copy holds open for the
    /// monitors of this batch. One resolved by hand meanwhile makes the copy stale, and the
    /// batch is refused (see `apply_notifier_batch`).
    pub held_open: Vec<(String, String)>,
}

/// The incident engine's state of one monitor beyond its regions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonitorStateRow {
    pub monitor_id: String,
    /// Expiry (Unix ms) of the newest certificate seen; 0 before the first.
    pub cert_not_after_ms: i64,
    /// Its coming expiry was announced.
    pub cert_warned: bool,
    /// In a flapping episode.
    pub flapping: bool,
    /// Times (Unix ms) of the recent health changes, oldest first (at most 101).
    pub flap_changes: Vec<i64>,
}

/// Moves the stored next offset of one partition from `from` (`None`: nothing stored yet) to
/// `to`. If another consumer moved it in the meantime, the whole batch is refused with
/// `StoreError::Conflict`: this fences a consumer that lost its partition in a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAdvance {
    pub partition: i32,
    pub from: Option<i64>,
    pub to: i64,
}

impl NotifierBatch {
    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
            && self.incidents.is_empty()
            && self.outbox.is_empty()
            && self.offsets.is_empty()
            && self.cleared.is_empty()
            && self.monitor_states.is_empty()
    }
}

const INCIDENT_COLUMNS: &str = "id, monitor_id, status, opened_at_ms, resolved_at_ms, cause, \
     regions, severity, level, escalated_at_ms, acknowledged_at_ms, acknowledged_by, \
     reminders_sent, next_reminder_at_ms, resolved_reason, caused_by_incident_id, silenced";

impl Store {
    /// Writes region states, incidents, outbox rows and offsets of one batch in one
    /// transaction: either all of it is stored or none. `Conflict` when an offset moved
    /// since the caller read it (another consumer owns the partition now).
    ///
    /// When a monitor's incident in `held_open` was resolved by hand after the consumer read
    /// it, the consumer's copy is stale: the resolve dropped the monitor's counters so that it
    /// opens again only after fresh failures, and writing the copy back would undo that.
    /// Then nothing is written and the stale monitors are returned, for the caller to read
    /// them afresh and compute the batch again. The held incidents are locked first
    /// (PostgreSQL) or the write lock taken at the start (SQLite), so a resolve lands either
    /// wholly before this check or wholly after this batch. An empty list: all was written.
    pub async fn apply_notifier_batch(
        &self,
        group: &str,
        topic: &str,
        batch: &NotifierBatch,
        now_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin_write().await?;
        let stale = resolved_by_hand(&mut tx, self.backend(), &batch.held_open).await?;
        if !stale.is_empty() {
            // Dropping the transaction rolls it back (and releases the locks).
            return Ok(stale);
        }
        for s in &batch.monitor_states {
            let sql = Sql::new(
                "INSERT INTO notifier_monitor_state (monitor_id, cert_not_after_ms, cert_warned, \
                 flapping, flap_changes, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (monitor_id) DO UPDATE SET \
                 cert_not_after_ms = excluded.cert_not_after_ms, \
                 cert_warned = excluded.cert_warned, flapping = excluded.flapping, \
                 flap_changes = excluded.flap_changes, updated_at_ms = excluded.updated_at_ms",
            )
            .bind(&s.monitor_id)
            .bind(s.cert_not_after_ms)
            .bind(s.cert_warned)
            .bind(s.flapping)
            .bind(
                s.flap_changes
                    .iter()
                    .map(i64::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .bind(now_ms);
            tx.execute(sql).await?;
        }
        for id in &batch.cleared {
            let sql = Sql::new("DELETE FROM notifier_region_state WHERE monitor_id = $1").bind(id);
            tx.execute(sql).await?;
        }
        for s in &batch.states {
            let sql = Sql::new(
                "INSERT INTO notifier_region_state (monitor_id, region, down, consecutive_failures, \
                 consecutive_successes, last_status, updated_at_ms, newest_scheduled_at_ms, \
                 newest_result_ids, degraded, consecutive_degraded) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
                 ON CONFLICT (monitor_id, region) DO UPDATE SET down = excluded.down, \
                 consecutive_failures = excluded.consecutive_failures, \
                 consecutive_successes = excluded.consecutive_successes, \
                 last_status = excluded.last_status, updated_at_ms = excluded.updated_at_ms, \
                 newest_scheduled_at_ms = excluded.newest_scheduled_at_ms, \
                 newest_result_ids = excluded.newest_result_ids, \
                 degraded = excluded.degraded, consecutive_degraded = excluded.consecutive_degraded",
            )
            .bind(&s.monitor_id)
            .bind(&s.region)
            .bind(s.down)
            .bind(i64::from(s.consecutive_failures))
            .bind(i64::from(s.consecutive_successes))
            .bind(&s.last_status)
            .bind(now_ms)
            .bind(s.newest_scheduled_at_ms)
            .bind(s.newest_result_ids.join(","))
            .bind(s.degraded)
            .bind(i64::from(s.consecutive_degraded));
            tx.execute(sql).await?;
        }
        // Incidents this batch resolves that were resolved by hand meanwhile (the resolve was
        // applied while the consumer still held them open): that resolve sent their
        // recoveries, so this batch's are dropped. A recovery the consumer held itself (in a
        // maintenance window) updates its own resolved row and is sent.
        let mut resolved_before: Vec<&str> = Vec::new();
        for i in &batch.incidents {
            // Acknowledgement columns belong to the admin actions the notifier applies apart
            // from results: an update from the consumer sets them only on insert. A resolved
            // incident is never reopened by a consumer's copy, and one resolved by hand is
            // final: not resolved again by a copy from before the manual resolve.
            let sql = Sql::new(
                "INSERT INTO incidents (id, monitor_id, status, opened_at_ms, resolved_at_ms, cause, \
                 regions, updated_at_ms, severity, level, escalated_at_ms, acknowledged_at_ms, \
                 acknowledged_by, reminders_sent, next_reminder_at_ms, resolved_reason, \
                 caused_by_incident_id, silenced) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
                 $10, $11, $12, $13, $14, $15, $16, $17, $18) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, \
                 resolved_at_ms = excluded.resolved_at_ms, regions = excluded.regions, \
                 updated_at_ms = excluded.updated_at_ms, severity = excluded.severity, \
                 level = excluded.level, escalated_at_ms = excluded.escalated_at_ms, \
                 resolved_reason = excluded.resolved_reason, \
                 caused_by_incident_id = excluded.caused_by_incident_id, \
                 silenced = excluded.silenced, reminders_sent = excluded.reminders_sent, \
                 next_reminder_at_ms = excluded.next_reminder_at_ms \
                 WHERE NOT (incidents.status = 'resolved' \
                 AND (excluded.status = 'open' OR incidents.resolved_reason = 'manual'))",
            )
            .bind(&i.id)
            .bind(&i.monitor_id)
            .bind(i.status.as_str())
            .bind(i.opened_at_ms)
            .bind(i.resolved_at_ms)
            .bind(&i.cause)
            .bind(i.regions.join(","))
            .bind(now_ms)
            .bind(&i.severity)
            .bind(i64::from(i.level))
            .bind(i.escalated_at_ms)
            .bind(i.acknowledged_at_ms)
            .bind(&i.acknowledged_by)
            .bind(i64::from(i.reminders_sent))
            .bind(i.next_reminder_at_ms)
            .bind(&i.resolved_reason)
            .bind(i.caused_by_incident_id.clone())
            .bind(i.silenced);
            if tx.execute(sql).await? == 0 && i.status == IncidentStatus::Resolved {
                resolved_before.push(&i.id);
            }
        }
        for o in &batch.outbox {
            let sent_by_the_resolve =
                matches!(o.event, EventKind::Recovery | EventKind::DegradedRecovery)
                    && o.incident_id
                        .as_deref()
                        .is_some_and(|id| resolved_before.contains(&id));
            if !sent_by_the_resolve {
                insert_outbox(&mut tx, o, now_ms).await?;
            }
        }
        for o in &batch.offsets {
            let sql = match o.from {
                Some(from) => {
                    Sql::new(
                        "UPDATE notifier_offsets SET next_offset = $1 WHERE group_id = $2 \
                         AND topic = $3 AND partition_id = $4 AND next_offset = $5",
                    )
                    .bind(o.to)
                    .bind(group)
                    .bind(topic)
                    .bind(o.partition)
                    .bind(from)
                }
                None => {
                    Sql::new(
                        "INSERT INTO notifier_offsets (group_id, topic, partition_id, next_offset) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (group_id, topic, partition_id) DO NOTHING",
                    )
                    .bind(group)
                    .bind(topic)
                    .bind(o.partition)
                    .bind(o.to)
                }
            };
            if tx.execute(sql).await? != 1 {
                // Dropping the transaction rolls everything back.
                return Err(StoreError::Conflict);
            }
        }
        tx.commit().await?;
        Ok(Vec::new())
    }

    /// Stored next offsets of `group` on `topic`, per partition.
    pub async fn notifier_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<Vec<(i32, i64)>, StoreError> {
        let sql = Sql::new(
            "SELECT partition_id, next_offset FROM notifier_offsets \
             WHERE group_id = $1 AND topic = $2 ORDER BY partition_id",
        )
        .bind(group)
        .bind(topic);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter()
            .map(|r| {
                let partition: i64 = r.get("partition_id")?;
                let partition = i32::try_from(partition).unwrap_or(i32::MAX);
                Ok((partition, r.get("next_offset")?))
            })
            .collect()
    }

    /// Drops the stored offsets of `group` on `topic` (a log that starts over).
    pub async fn forget_notifier_offsets(
        &self,
        group: &str,
        topic: &str,
    ) -> Result<(), StoreError> {
        let sql = Sql::new("DELETE FROM notifier_offsets WHERE group_id = $1 AND topic = $2")
            .bind(group)
            .bind(topic);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// Stored region counters of one monitor.
    pub async fn region_states(&self, monitor_id: &str) -> Result<Vec<RegionStateRow>, StoreError> {
        let sql = Sql::new(
            "SELECT monitor_id, region, down, consecutive_failures, consecutive_successes, \
             last_status, newest_scheduled_at_ms, newest_result_ids, degraded, \
             consecutive_degraded FROM notifier_region_state \
             WHERE monitor_id = $1 ORDER BY region",
        )
        .bind(monitor_id);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter()
            .map(|r| {
                Ok(RegionStateRow {
                    monitor_id: r.get("monitor_id")?,
                    region: r.get("region")?,
                    down: r.get("down")?,
                    consecutive_failures: r.get_u32("consecutive_failures")?,
                    consecutive_successes: r.get_u32("consecutive_successes")?,
                    last_status: r.get("last_status")?,
                    newest_scheduled_at_ms: r.get("newest_scheduled_at_ms")?,
                    newest_result_ids: split_list(&r.get::<String>("newest_result_ids")?),
                    degraded: r.get("degraded")?,
                    consecutive_degraded: r.get_u32("consecutive_degraded")?,
                })
            })
            .collect()
    }

    /// The engine state of one monitor, if any was stored.
    pub async fn monitor_state(
        &self,
        monitor_id: &str,
    ) -> Result<Option<MonitorStateRow>, StoreError> {
        let sql = Sql::new(
            "SELECT monitor_id, cert_not_after_ms, cert_warned, flapping, flap_changes \
             FROM notifier_monitor_state \
             WHERE monitor_id = $1",
        )
        .bind(monitor_id);
        let row = self.pool().fetch_optional(sql).await?;
        row.map(|r| {
            Ok(MonitorStateRow {
                monitor_id: r.get("monitor_id")?,
                cert_not_after_ms: r.get("cert_not_after_ms")?,
                cert_warned: r.get("cert_warned")?,
                flapping: r.get("flapping")?,
                // A time that does not parse cannot come from this code; it is dropped.
                flap_changes: split_list(&r.get::<String>("flap_changes")?)
                    .iter()
                    .filter_map(|t| t.parse().ok())
                    .collect(),
            })
        })
        .transpose()
    }

    /// The open incident of a monitor, if any.
    pub async fn open_incident(&self, monitor_id: &str) -> Result<Option<IncidentRow>, StoreError> {
        let sql = format!(
            "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE monitor_id = $1 AND status = 'open'"
        );
        let row = self
            .pool()
            .fetch_optional(Sql::new(sql).bind(monitor_id))
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
        let sql = Sql::new(sql).bind(monitor_id).bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(incident_from_row).collect()
    }
}

/// Inserts one pending outbox row in `tx`.
pub(crate) async fn insert_outbox(
    tx: &mut crate::db::Tx,
    o: &OutboxRow,
    now_ms: i64,
) -> Result<(), StoreError> {
    let sql = Sql::new(
        "INSERT INTO outbox (id, project_id, incident_id, monitor_id, integration_id, event, \
         channel, payload, attempts, next_attempt_at_ms, state, last_error, created_at_ms, \
         updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&o.id)
    .bind(&o.project_id)
    .bind(&o.incident_id)
    .bind(&o.monitor_id)
    .bind(&o.integration_id)
    .bind(o.event.label())
    .bind(&o.channel)
    .bind(&o.payload)
    .bind(i64::from(o.attempts))
    .bind(o.next_attempt_at_ms)
    .bind(o.state.as_str())
    .bind(&o.last_error)
    .bind(o.created_at_ms)
    .bind(now_ms);
    tx.execute(sql).await?;
    Ok(())
}

fn incident_from_row(r: &Row) -> Result<IncidentRow, StoreError> {
    let status: String = r.get("status")?;
    let regions: String = r.get("regions")?;
    Ok(IncidentRow {
        id: r.get("id")?,
        monitor_id: r.get("monitor_id")?,
        status: if status == "open" {
            IncidentStatus::Open
        } else {
            IncidentStatus::Resolved
        },
        opened_at_ms: r.get("opened_at_ms")?,
        resolved_at_ms: r.get("resolved_at_ms")?,
        cause: r.get("cause")?,
        regions: split_list(&regions),
        severity: r.get("severity")?,
        level: r.get_u32("level")?,
        escalated_at_ms: r.get("escalated_at_ms")?,
        acknowledged_at_ms: r.get("acknowledged_at_ms")?,
        acknowledged_by: r.get("acknowledged_by")?,
        reminders_sent: r.get_u32("reminders_sent")?,
        next_reminder_at_ms: r.get("next_reminder_at_ms")?,
        resolved_reason: r.get("resolved_reason")?,
        caused_by_incident_id: r.get("caused_by_incident_id")?,
        silenced: r.get("silenced")?,
    })
}

/// A comma-separated column back into its items.
fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The monitors of `held` whose incident is resolved with reason `manual`, the incidents
/// locked (PostgreSQL) until the transaction ends.
async fn resolved_by_hand(
    tx: &mut crate::db::Tx,
    backend: crate::Backend,
    held: &[(String, String)],
) -> Result<Vec<String>, StoreError> {
    let mut stale = Vec::new();
    // Bounded statements: a batch holds at most a few hundred monitors.
    for chunk in held.chunks(500) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
        let lock = match backend {
            crate::Backend::Postgres => " ORDER BY id FOR UPDATE",
            crate::Backend::Sqlite => "",
        };
        let mut sql = Sql::new(format!(
            "SELECT id, monitor_id, status, resolved_reason FROM incidents WHERE id IN ({}){lock}",
            marks.join(", ")
        ));
        for (_, incident) in chunk {
            sql = sql.bind(incident.as_str());
        }
        for row in tx.fetch_all(sql).await? {
            let status: String = row.get("status")?;
            let reason: String = row.get("resolved_reason")?;
            if status == "resolved" && reason == "manual" {
                stale.push(row.get("monitor_id")?);
            }
        }
    }
    Ok(stale)
}
