//! The delivery outbox: leasing due rows to a dispatcher and recording each attempt's outcome.

use lookout_proto::v1::EventKind;

use super::{OutboxRow, OutboxState};
use crate::{Row, Sql, Store, StoreError};

const OUTBOX_COLUMNS: &str = "id, project_id, incident_id, monitor_id, integration_id, event, \
    channel, payload, attempts, next_attempt_at_ms, state, last_error, created_at_ms";

/// Where a page of deliveries ends: the last row's creation time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryCursor {
    pub created_at_ms: i64,
    pub id: String,
}

impl Store {
    /// Outbox rows of one incident (all when `None`), oldest first.
    pub async fn list_outbox(
        &self,
        incident_id: Option<&str>,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE (CAST($1 AS TEXT) IS NULL OR incident_id = $1) \
             ORDER BY created_at_ms, id"
        );
        let rows = self
            .pool()
            .fetch_all(Sql::new(sql).bind(incident_id))
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// Outbox rows of `project_id` newest first, only those in `state` and to
    /// `integration_id` when given, at most `limit`, starting after `after` (the last row of
    /// the previous page): a keyset page on (`created_at_ms`, `id`).
    pub async fn list_deliveries_in_project(
        &self,
        project_id: &str,
        state: Option<OutboxState>,
        integration_id: Option<&str>,
        after: Option<&DeliveryCursor>,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE project_id = $1 AND (CAST($2 AS TEXT) IS NULL OR state = $2) \
             AND (CAST($3 AS BIGINT) IS NULL OR created_at_ms < $3 \
                  OR (created_at_ms = $3 AND id < $4)) \
             AND (CAST($6 AS TEXT) IS NULL OR integration_id = $6) \
             ORDER BY created_at_ms DESC, id DESC LIMIT $5"
        );
        let sql = Sql::new(sql)
            .bind(project_id)
            .bind(state.map(OutboxState::as_str))
            .bind(after.map(|c| c.created_at_ms))
            .bind(after.map_or(String::new(), |c| c.id.clone()))
            .bind(limit)
            .bind(integration_id);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(outbox_from_row).collect()
    }

    /// One outbox row of `project_id`'s monitors; `NotFound` when there is none with that id
    /// in the project.
    pub async fn get_delivery_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<OutboxRow, StoreError> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1 AND project_id = $2");
        let row = self
            .pool()
            .fetch_optional(Sql::new(sql).bind(id).bind(project_id))
            .await?;
        row.as_ref()
            .map(outbox_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// Makes a dead row of `project_id` pending again, due at `now_ms`, with no attempts
    /// made, keeping its id (the idempotency id receivers see). `NotFound` when the project
    /// has no such row, `Conflict` when it is not dead.
    pub async fn redrive_delivery_in_project(
        &self,
        project_id: &str,
        id: &str,
        now_ms: i64,
    ) -> Result<OutboxRow, StoreError> {
        let sql = format!(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at_ms = $1, \
             updated_at_ms = $1 WHERE id = $2 AND state = 'dead' AND project_id = $3 \
             RETURNING {OUTBOX_COLUMNS}"
        );
        let row = self
            .pool()
            .fetch_optional(Sql::new(sql).bind(now_ms).bind(id).bind(project_id))
            .await?;
        match row {
            Some(r) => outbox_from_row(&r),
            None => {
                self.get_delivery_in_project(project_id, id).await?;
                Err(StoreError::Conflict)
            }
        }
    }

    /// Leases up to `limit` pending rows due at `now_ms` until `lease_until_ms`: another
    /// worker sees them again only if this one dies without recording an outcome. The outer
    /// condition repeats the inner one so that, on PostgreSQL, a row leased concurrently by
    /// another dispatcher fails the re-check instead of being claimed twice.
    ///
    /// Deliveries to one integration about one monitor go out in order: a row waits while an
    /// older one for the same monitor and integration is pending (in backoff or in flight), so
    /// a receiver never sees a recovery before the incident it ends.
    pub async fn claim_due_outbox(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        self.claim_due_outbox_except(now_ms, lease_until_ms, limit, &[])
            .await
    }

    /// [`Store::claim_due_outbox`] leaving out rows of the integrations in `busy` (those that
    /// already have as many deliveries in flight as they may), so one slow integration never
    /// takes every worker.
    pub async fn claim_due_outbox_except(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: u32,
        busy: &[String],
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let except = if busy.is_empty() {
            String::new()
        } else {
            let marks: Vec<String> = (0..busy.len()).map(|i| format!("${}", i + 4)).collect();
            format!("AND o.integration_id NOT IN ({}) ", marks.join(", "))
        };
        let sql = format!(
            "UPDATE outbox SET next_attempt_at_ms = $1, updated_at_ms = $2 WHERE id IN \
             (SELECT o.id FROM outbox o WHERE o.state = 'pending' AND o.next_attempt_at_ms <= $2 \
             {except}\
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.state = 'pending' \
             AND e.monitor_id = o.monitor_id AND e.integration_id = o.integration_id \
             AND (e.created_at_ms < o.created_at_ms \
             OR (e.created_at_ms = o.created_at_ms AND e.id < o.id))) \
             ORDER BY o.next_attempt_at_ms, o.id LIMIT $3) \
             AND state = 'pending' AND next_attempt_at_ms <= $2 RETURNING {OUTBOX_COLUMNS}"
        );
        let mut sql = Sql::new(sql).bind(lease_until_ms).bind(now_ms).bind(limit);
        for id in busy {
            sql = sql.bind(id.as_str());
        }
        let rows = self.pool().fetch_all(sql).await?;
        let mut out = rows
            .iter()
            .map(outbox_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
        Ok(out)
    }

    /// When the earliest pending row due after `after_ms` is due, if any (`i64::MIN`: the
    /// earliest of all pending rows).
    pub async fn next_outbox_due_ms(&self, after_ms: i64) -> Result<Option<i64>, StoreError> {
        let sql = Sql::new(
            "SELECT MIN(next_attempt_at_ms) AS due FROM outbox \
             WHERE state = 'pending' AND next_attempt_at_ms > $1",
        )
        .bind(after_ms);
        self.pool().fetch_one(sql).await?.get("due")
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
        let sql = Sql::new(
            "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at_ms = $3, \
             last_error = COALESCE($4, last_error), updated_at_ms = $5 \
             WHERE id = $6 AND state = 'pending'",
        )
        .bind(state.as_str())
        .bind(i64::from(attempts))
        .bind(next_attempt_at_ms)
        .bind(error)
        .bind(now_ms)
        .bind(id);
        self.pool().execute(sql).await?;
        Ok(())
    }
}

fn outbox_from_row(r: &Row) -> Result<OutboxRow, StoreError> {
    let event: String = r.get("event")?;
    let state: String = r.get("state")?;
    Ok(OutboxRow {
        id: r.get("id")?,
        project_id: r.get("project_id")?,
        incident_id: r.get("incident_id")?,
        monitor_id: r.get("monitor_id")?,
        integration_id: r.get("integration_id")?,
        event: EventKind::from_label(&event).unwrap_or(EventKind::Unspecified),
        channel: r.get("channel")?,
        payload: r.get("payload")?,
        attempts: r.get_u32("attempts")?,
        next_attempt_at_ms: r.get("next_attempt_at_ms")?,
        state: match state.as_str() {
            "delivered" => OutboxState::Delivered,
            "dead" => OutboxState::Dead,
            _ => OutboxState::Pending,
        },
        last_error: r.get("last_error")?,
        created_at_ms: r.get("created_at_ms")?,
    })
}

/// One attempt of one delivery, as the attempt log keeps it. `error` and `response_excerpt`
/// never hold a secret (the dispatcher redacts them before they are stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    pub delivery_id: String,
    /// 1 for the first attempt (again after a re-drive).
    pub attempt: u32,
    pub integration_id: String,
    pub at_ms: i64,
    /// 0 when there was no answer.
    pub status_code: u16,
    pub latency_us: u64,
    pub error: String,
    pub response_excerpt: String,
    /// `delivered`, `retry` or `dead`.
    pub outcome: String,
}

/// What an attempt leaves the delivery as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Pending again, due then.
    Retry {
        next_attempt_at_ms: i64,
    },
    Dead {
        reason: String,
    },
}

impl Store {
    /// Records attempt `a` and the delivery's new state together, in one transaction. As with
    /// the other outcomes, a delivery no longer pending (re-driven or finished meanwhile) keeps
    /// its state; the attempt is logged all the same.
    pub async fn outbox_attempted(
        &self,
        a: &AttemptRow,
        outcome: &AttemptOutcome,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.outbox_attempted_many(&[(a.clone(), outcome.clone())], now_ms)
            .await
    }

    /// [`Store::outbox_attempted`] for several attempts in one transaction: the dispatcher's
    /// outcome writer commits what finished meanwhile together, so a busy dispatcher costs
    /// one commit per batch instead of one per delivery.
    pub async fn outbox_attempted_many(
        &self,
        attempts: &[(AttemptRow, AttemptOutcome)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if attempts.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (a, outcome) in attempts {
            let (state, next, error) = match outcome {
                AttemptOutcome::Delivered => (OutboxState::Delivered, now_ms, None),
                AttemptOutcome::Retry { next_attempt_at_ms } => (
                    OutboxState::Pending,
                    *next_attempt_at_ms,
                    Some(a.error.as_str()),
                ),
                AttemptOutcome::Dead { reason } => {
                    (OutboxState::Dead, now_ms, Some(reason.as_str()))
                }
            };
            let log = Sql::new(
                "INSERT INTO delivery_attempts (delivery_id, attempt, integration_id, at_ms, \
                 status_code, latency_us, error, response_excerpt, outcome) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            )
            .bind(&a.delivery_id)
            .bind(i64::from(a.attempt))
            .bind(&a.integration_id)
            .bind(a.at_ms)
            .bind(i64::from(a.status_code))
            .bind(i64::try_from(a.latency_us).unwrap_or(i64::MAX))
            .bind(&a.error)
            .bind(&a.response_excerpt)
            .bind(&a.outcome);
            tx.execute(log).await?;
            let sql = Sql::new(
                "UPDATE outbox SET state = $1, attempts = $2, next_attempt_at_ms = $3, \
                 last_error = COALESCE($4, last_error), updated_at_ms = $5 \
                 WHERE id = $6 AND state = 'pending'",
            )
            .bind(state.as_str())
            .bind(i64::from(a.attempt))
            .bind(next)
            .bind(error)
            .bind(now_ms)
            .bind(&a.delivery_id);
            tx.execute(sql).await?;
        }
        tx.commit().await
    }

    /// Puts claimed rows back to pending without an attempt (over their integration's share
    /// of workers, or rate limited), each due at its time, in one transaction.
    pub async fn outbox_release_many(
        &self,
        rows: &[(String, u32, i64)],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (id, attempts, due) in rows {
            let sql = Sql::new(
                "UPDATE outbox SET attempts = $1, next_attempt_at_ms = $2, updated_at_ms = $3 \
                 WHERE id = $4 AND state = 'pending'",
            )
            .bind(i64::from(*attempts))
            .bind(*due)
            .bind(now_ms)
            .bind(id.as_str());
            tx.execute(sql).await?;
        }
        tx.commit().await
    }

    /// Every logged attempt of delivery `id`, oldest first.
    pub async fn delivery_attempts(&self, id: &str) -> Result<Vec<AttemptRow>, StoreError> {
        let sql = Sql::new(
            "SELECT delivery_id, attempt, integration_id, at_ms, status_code, latency_us, error, \
             response_excerpt, outcome FROM delivery_attempts WHERE delivery_id = $1 \
             ORDER BY at_ms, attempt",
        )
        .bind(id);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter()
            .map(|r| {
                Ok(AttemptRow {
                    delivery_id: r.get("delivery_id")?,
                    attempt: r.get_u32("attempt")?,
                    integration_id: r.get("integration_id")?,
                    at_ms: r.get("at_ms")?,
                    status_code: u16::try_from(r.get::<i64>("status_code")?).unwrap_or(0),
                    latency_us: u64::try_from(r.get::<i64>("latency_us")?).unwrap_or(0),
                    error: r.get("error")?,
                    response_excerpt: r.get("response_excerpt")?,
                    outcome: r.get("outcome")?,
                })
            })
            .collect()
    }
}

impl Store {
    /// Queues one delivery outside a consumed batch: a test event from the admin API
    /// (`lookout integrations test`). The dispatcher finds it on its next scan.
    pub async fn enqueue_delivery(&self, o: &OutboxRow) -> Result<(), StoreError> {
        let sql = Sql::new(
            "INSERT INTO outbox (id, project_id, incident_id, monitor_id, integration_id, event, \
             channel, payload, attempts, next_attempt_at_ms, state, last_error, created_at_ms, \
             updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)",
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
        .bind(o.created_at_ms);
        self.pool().execute(sql).await?;
        Ok(())
    }
}
