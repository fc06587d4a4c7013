//! Incidents as the admin API reads them (scoped to a project through their monitor, keyset
//! pages newest first) and the acknowledge/resolve requests it records in `incident_actions`.
//! The API never writes `incidents`: the notifier applies each action in the transaction
//! that changes the incident and sets `applied_at_ms`.

use super::IncidentStatus;
use crate::{Row, Sql, Store, StoreError};

/// Columns of `incidents i` joined with `monitors m`, plus the oldest action not yet applied
/// and the note of the acknowledgement applied last.
const DETAIL_COLUMNS: &str = "i.id, i.monitor_id, m.name AS monitor_name, i.status, \
    i.severity, i.opened_at_ms, i.acknowledged_at_ms, i.acknowledged_by, i.level, \
    i.escalated_at_ms, i.resolved_at_ms, i.resolved_reason, i.cause, i.regions, \
    i.caused_by_incident_id, i.silenced, i.reminders_sent, \
    (SELECT a.action FROM incident_actions a WHERE a.incident_id = i.id \
     AND a.applied_at_ms IS NULL ORDER BY a.created_at_ms, a.id LIMIT 1) AS pending_action, \
    COALESCE((SELECT a.note FROM incident_actions a WHERE a.incident_id = i.id \
     AND a.action = 'ack' AND a.applied_at_ms IS NOT NULL \
     ORDER BY a.applied_at_ms DESC, a.id DESC LIMIT 1), '') AS acknowledged_note";

const ACTION_COLUMNS: &str = "id, incident_id, action, actor, note, created_at_ms, applied_at_ms";

/// One incident with everything the admin API shows about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentDetail {
    pub id: String,
    pub monitor_id: String,
    pub monitor_name: String,
    pub status: IncidentStatus,
    /// `critical` (down) or `warning` (degraded).
    pub severity: String,
    pub opened_at_ms: i64,
    pub acknowledged_at_ms: Option<i64>,
    pub acknowledged_by: String,
    pub level: u32,
    pub escalated_at_ms: Option<i64>,
    pub resolved_at_ms: Option<i64>,
    pub resolved_reason: String,
    /// Error message of the result that opened it.
    pub cause: String,
    pub regions: Vec<String>,
    pub caused_by_incident_id: Option<String>,
    pub silenced: bool,
    pub reminders_sent: u32,
    /// The oldest acknowledge or resolve recorded for it that no notifier has applied yet.
    pub pending_action: Option<IncidentActionKind>,
    /// The note of the acknowledgement applied last; empty when none.
    pub acknowledged_note: String,
}

/// Where a page of incidents ends: the last one's opening time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCursor {
    pub opened_at_ms: i64,
    pub id: String,
}

/// Which incidents a list holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IncidentFilter<'a> {
    /// Only open or only resolved ones; both when `None`.
    pub status: Option<IncidentStatus>,
    /// Only this monitor's.
    pub monitor_id: Option<&'a str>,
}

/// What an admin asked the notifier to do with an open incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentActionKind {
    /// Stop reminders and escalation.
    Ack,
    /// Resolve it by hand (`resolved_reason` "manual").
    Resolve,
}

impl IncidentActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentActionKind::Ack => "ack",
            IncidentActionKind::Resolve => "resolve",
        }
    }

    /// The action stored as `label`.
    pub fn from_label(label: &str) -> Option<IncidentActionKind> {
        match label {
            "ack" => Some(IncidentActionKind::Ack),
            "resolve" => Some(IncidentActionKind::Resolve),
            _ => None,
        }
    }
}

/// One row of `incident_actions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentActionRow {
    pub id: String,
    pub incident_id: String,
    pub action: IncidentActionKind,
    /// The name of the token that asked.
    pub actor: String,
    pub note: String,
    pub created_at_ms: i64,
    /// When the notifier applied it; `None` until then.
    pub applied_at_ms: Option<i64>,
}

impl Store {
    /// Incidents of `project_id`'s monitors newest first (by opening time, then id), those
    /// `filter` selects, at most `limit`, starting after `after` (the last of the previous
    /// page).
    pub async fn list_incidents_in_project(
        &self,
        project_id: &str,
        filter: IncidentFilter<'_>,
        after: Option<&IncidentCursor>,
        limit: u32,
    ) -> Result<Vec<IncidentDetail>, StoreError> {
        let sql = format!(
            "SELECT {DETAIL_COLUMNS} FROM incidents i JOIN monitors m ON m.id = i.monitor_id \
             WHERE m.project_id = $1 AND (CAST($2 AS TEXT) IS NULL OR i.status = $2) \
             AND (CAST($3 AS TEXT) IS NULL OR i.monitor_id = $3) \
             AND (CAST($4 AS BIGINT) IS NULL OR i.opened_at_ms < $4 \
                  OR (i.opened_at_ms = $4 AND i.id < $5)) \
             ORDER BY i.opened_at_ms DESC, i.id DESC LIMIT $6"
        );
        let sql = Sql::new(sql)
            .bind(project_id)
            .bind(filter.status.map(IncidentStatus::as_str))
            .bind(filter.monitor_id)
            .bind(after.map(|c| c.opened_at_ms))
            .bind(after.map_or(String::new(), |c| c.id.clone()))
            .bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(detail_from_row).collect()
    }

    /// One incident of `project_id`'s monitors; `NotFound` when the project has none with
    /// that id.
    pub async fn get_incident_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<IncidentDetail, StoreError> {
        let sql = format!(
            "SELECT {DETAIL_COLUMNS} FROM incidents i JOIN monitors m ON m.id = i.monitor_id \
             WHERE i.id = $1 AND m.project_id = $2"
        );
        let row = self
            .pool()
            .fetch_optional(Sql::new(sql).bind(id).bind(project_id))
            .await?;
        row.as_ref()
            .map(detail_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// Records an action for the notifier to apply (`applied_at_ms` is stored as given,
    /// normally `None`).
    pub async fn insert_incident_action(&self, a: &IncidentActionRow) -> Result<(), StoreError> {
        let sql = Sql::new(format!(
            "INSERT INTO incident_actions ({ACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&a.id)
        .bind(&a.incident_id)
        .bind(a.action.as_str())
        .bind(&a.actor)
        .bind(&a.note)
        .bind(a.created_at_ms)
        .bind(a.applied_at_ms);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// One action by id; `NotFound` when there is none.
    pub async fn incident_action(&self, id: &str) -> Result<IncidentActionRow, StoreError> {
        let sql = format!("SELECT {ACTION_COLUMNS} FROM incident_actions WHERE id = $1");
        let row = self.pool().fetch_optional(Sql::new(sql).bind(id)).await?;
        row.as_ref()
            .map(action_from_row)
            .transpose()?
            .ok_or(StoreError::NotFound)
    }

    /// The oldest action of `kind` on `incident_id` not applied yet, if any: a repeated
    /// request waits for it instead of recording another.
    pub async fn pending_incident_action(
        &self,
        incident_id: &str,
        kind: IncidentActionKind,
    ) -> Result<Option<IncidentActionRow>, StoreError> {
        let sql = format!(
            "SELECT {ACTION_COLUMNS} FROM incident_actions WHERE incident_id = $1 \
             AND action = $2 AND applied_at_ms IS NULL ORDER BY created_at_ms, id LIMIT 1"
        );
        let row = self
            .pool()
            .fetch_optional(Sql::new(sql).bind(incident_id).bind(kind.as_str()))
            .await?;
        row.as_ref().map(action_from_row).transpose()
    }
}

fn detail_from_row(r: &Row) -> Result<IncidentDetail, StoreError> {
    let status: String = r.get("status")?;
    let regions: String = r.get("regions")?;
    let pending: Option<String> = r.get("pending_action")?;
    Ok(IncidentDetail {
        id: r.get("id")?,
        monitor_id: r.get("monitor_id")?,
        monitor_name: r.get("monitor_name")?,
        status: if status == "open" {
            IncidentStatus::Open
        } else {
            IncidentStatus::Resolved
        },
        severity: r.get("severity")?,
        opened_at_ms: r.get("opened_at_ms")?,
        acknowledged_at_ms: r.get("acknowledged_at_ms")?,
        acknowledged_by: r.get("acknowledged_by")?,
        level: r.get_u32("level")?,
        escalated_at_ms: r.get("escalated_at_ms")?,
        resolved_at_ms: r.get("resolved_at_ms")?,
        resolved_reason: r.get("resolved_reason")?,
        cause: r.get("cause")?,
        regions: super::split_list(&regions),
        caused_by_incident_id: r.get("caused_by_incident_id")?,
        silenced: r.get("silenced")?,
        reminders_sent: r.get_u32("reminders_sent")?,
        pending_action: pending.as_deref().and_then(IncidentActionKind::from_label),
        acknowledged_note: r.get("acknowledged_note")?,
    })
}

fn action_from_row(r: &Row) -> Result<IncidentActionRow, StoreError> {
    let action: String = r.get("action")?;
    Ok(IncidentActionRow {
        id: r.get("id")?,
        incident_id: r.get("incident_id")?,
        // Only this module writes the column, with one of the two labels.
        action: IncidentActionKind::from_label(&action).unwrap_or(IncidentActionKind::Ack),
        actor: r.get("actor")?,
        note: r.get("note")?,
        created_at_ms: r.get("created_at_ms")?,
        applied_at_ms: r.get("applied_at_ms")?,
    })
}

/// An incident resolved by hand, as the notifier applies it (see
/// [`Store::apply_incident_resolve`]).
#[derive(Debug, Clone)]
pub struct ManualResolution {
    pub resolved_at_ms: i64,
    /// The recoveries to send, one per integration; sent only if the incident was still open.
    pub outbox: Vec<super::OutboxRow>,
}

impl Store {
    /// Up to `limit` actions no notifier has applied yet, oldest first, each with the monitor
    /// of its incident.
    pub async fn pending_incident_actions(
        &self,
        limit: u32,
    ) -> Result<Vec<(IncidentActionRow, String)>, StoreError> {
        let columns: Vec<String> = ACTION_COLUMNS
            .split(", ")
            .map(|c| format!("a.{c}"))
            .collect();
        let sql = format!(
            "SELECT {}, i.monitor_id FROM incident_actions a JOIN incidents i ON i.id = a.incident_id \
             WHERE a.applied_at_ms IS NULL ORDER BY a.created_at_ms, a.id LIMIT $1",
            columns.join(", ")
        );
        let rows = self.pool().fetch_all(Sql::new(sql).bind(limit)).await?;
        rows.iter()
            .map(|r| Ok((action_from_row(r)?, r.get("monitor_id")?)))
            .collect()
    }

    /// Applies acknowledgement `a` (an open, unacknowledged incident gets `acknowledged_at_ms`
    /// now and `acknowledged_by` the actor) and marks it applied, in one transaction. Returns
    /// whether the incident changed.
    pub async fn apply_incident_ack(
        &self,
        a: &IncidentActionRow,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                Sql::new(
                    "UPDATE incidents SET acknowledged_at_ms = $1, acknowledged_by = $2, \
                     updated_at_ms = $1 WHERE id = $3 AND status = 'open' \
                     AND acknowledged_at_ms IS NULL",
                )
                .bind(now_ms)
                .bind(&a.actor)
                .bind(&a.incident_id),
            )
            .await?;
        mark_applied(&mut tx, &a.id, now_ms).await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Applies resolve request `a`: an open incident of `monitor_id` resolves with reason
    /// `manual`, its recoveries are queued, and the monitor's region counters are dropped (it
    /// opens again only after fresh failures); the request is marked applied either way. One
    /// transaction. Returns whether the incident was open.
    pub async fn apply_incident_resolve(
        &self,
        a: &IncidentActionRow,
        monitor_id: &str,
        r: &ManualResolution,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let changed = tx
            .execute(
                Sql::new(
                    "UPDATE incidents SET status = 'resolved', resolved_at_ms = $1, \
                     resolved_reason = 'manual', updated_at_ms = $2 WHERE id = $3 AND status = 'open'",
                )
                .bind(r.resolved_at_ms)
                .bind(now_ms)
                .bind(&a.incident_id),
            )
            .await?;
        if changed == 1 {
            tx.execute(
                Sql::new("DELETE FROM notifier_region_state WHERE monitor_id = $1")
                    .bind(monitor_id),
            )
            .await?;
            for o in &r.outbox {
                super::insert_outbox(&mut tx, o, now_ms).await?;
            }
        }
        mark_applied(&mut tx, &a.id, now_ms).await?;
        tx.commit().await?;
        Ok(changed == 1)
    }

    /// Monitors whose incidents an admin action changed after `since_ms` (for consumers to
    /// forget what they hold of them).
    pub async fn monitors_acted_on_since(&self, since_ms: i64) -> Result<Vec<String>, StoreError> {
        let sql = Sql::new(
            "SELECT DISTINCT i.monitor_id FROM incident_actions a JOIN incidents i \
             ON i.id = a.incident_id WHERE a.applied_at_ms > $1",
        )
        .bind(since_ms);
        self.pool()
            .fetch_all(sql)
            .await?
            .iter()
            .map(|r| r.get::<String>("monitor_id"))
            .collect()
    }
}

async fn mark_applied(tx: &mut crate::db::Tx, id: &str, now_ms: i64) -> Result<(), StoreError> {
    tx.execute(
        Sql::new(
            "UPDATE incident_actions SET applied_at_ms = $1 WHERE id = $2 AND applied_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(id),
    )
    .await?;
    Ok(())
}
