//! The incident domain: a project's incidents read through the store, and acknowledging or
//! resolving one by recording an action for the notifier, which is the only writer of
//! incidents. An action call waits (at most [`ACTION_WAIT`]) for a notifier to apply it and
//! returns the incident as it is then; with no notifier running it returns the incident
//! unchanged, its `pending_action` set, and the action is applied when a notifier runs.

use std::time::Duration;

use lookout_proto::bounds::{MAX_ERROR_MESSAGE_BYTES, truncate_bytes};
use lookout_proto::v1::{Incident, IncidentState};
use lookout_proto::validate::MAX_ID_BYTES;
use lookout_store::notifier::{
    IncidentActionKind, IncidentActionRow, IncidentCursor, IncidentDetail, IncidentFilter,
    IncidentStatus,
};
use lookout_store::{Store, StoreError, now_ms};

use crate::auth::Actor;
use crate::error::{DomainError, field_error};
use crate::paging;

/// How long an acknowledge or resolve call waits for a notifier to apply it.
pub const ACTION_WAIT: Duration = Duration::from_secs(5);
/// How often the call looks whether it was applied.
const ACTION_POLL: Duration = Duration::from_millis(25);
/// Bytes of the note given with an acknowledge or resolve.
pub const MAX_NOTE_BYTES: usize = 1024;

pub struct IncidentDomain {
    store: Store,
}

impl IncidentDomain {
    pub fn new(store: Store) -> IncidentDomain {
        IncidentDomain { store }
    }

    /// One page of `project`'s incidents, newest first, only `state` unless unspecified and
    /// only `monitor_id`'s when not empty, and the token of the next page (empty at the end).
    pub async fn list(
        &self,
        project: &str,
        state: i32,
        monitor_id: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Incident>, String), DomainError> {
        let status = match IncidentState::try_from(state) {
            Ok(IncidentState::Unspecified) => None,
            Ok(IncidentState::Open) => Some(IncidentStatus::Open),
            Ok(IncidentState::Resolved) => Some(IncidentStatus::Resolved),
            Err(_) => {
                return Err(
                    field_error("state", format!("{state} is not an incident state")).into(),
                );
            }
        };
        if monitor_id.len() > MAX_ID_BYTES {
            return Err(field_error(
                "monitor_id",
                format!("is {} bytes, at most {MAX_ID_BYTES}", monitor_id.len()),
            )
            .into());
        }
        let size = paging::page_size(page_size)?;
        let after = paging::incident_position(page_token)?;
        let filter = IncidentFilter {
            status,
            monitor_id: (!monitor_id.is_empty()).then_some(monitor_id),
        };
        let rows = self
            .store
            .list_incidents_in_project(project, filter, after.as_ref(), size)
            .await?;
        let next = paging::next_token(&rows, size, |r| {
            paging::incident_token(&IncidentCursor {
                opened_at_ms: r.opened_at_ms,
                id: r.id.clone(),
            })
        });
        let now = now_ms();
        Ok((rows.iter().map(|r| to_api(r, now)).collect(), next))
    }

    pub async fn get(&self, project: &str, id: &str) -> Result<Incident, DomainError> {
        Ok(to_api(&self.detail(project, id).await?, now_ms()))
    }

    /// Asks the notifier to acknowledge or resolve `id` on behalf of `actor` and waits for it
    /// ([`IncidentDomain::request`]), returning the incident as it is then.
    pub async fn act(
        &self,
        actor: &Actor,
        id: &str,
        kind: IncidentActionKind,
        note: &str,
    ) -> Result<Incident, DomainError> {
        let action_id = self.request(actor, id, kind, note).await?;
        if !self.applied_within(&action_id, ACTION_WAIT).await? {
            tracing::warn!(incident_id = %id, action = kind.as_str(),
                "no notifier applied the incident action in time; it stays pending");
        }
        self.get(&actor.project, id).await
    }

    /// Records a request that the notifier acknowledge or resolve `id` on behalf of `actor`,
    /// without waiting (Slack wants an answer to a click within 3 seconds); returns the
    /// action's id. Refused when the incident is resolved, and an acknowledge when it is
    /// acknowledged already. A request like one still pending returns that one instead of
    /// recording another, so retrying records nothing new.
    pub async fn request(
        &self,
        actor: &Actor,
        id: &str,
        kind: IncidentActionKind,
        note: &str,
    ) -> Result<String, DomainError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(field_error(
                "note",
                format!("is {} bytes, at most {MAX_NOTE_BYTES}", note.len()),
            )
            .into());
        }
        let row = self.detail(&actor.project, id).await?;
        if row.status == IncidentStatus::Resolved {
            let reason = match row.resolved_reason.as_str() {
                "" => String::new(),
                r => format!(" ({r})"),
            };
            return Err(DomainError::FailedPrecondition(format!(
                "incident {id:?} is resolved{reason}; only open incidents can be {}",
                past(kind)
            )));
        }
        if kind == IncidentActionKind::Ack && row.acknowledged_at_ms.is_some() {
            return Err(DomainError::FailedPrecondition(format!(
                "incident {id:?} is acknowledged already, by {:?}",
                row.acknowledged_by
            )));
        }
        if let Some(pending) = self.store.pending_incident_action(id, kind).await? {
            return Ok(pending.id);
        }
        let action = IncidentActionRow {
            id: format!("act_{}", uuid::Uuid::now_v7().simple()),
            incident_id: id.to_string(),
            action: kind,
            actor: actor.name.clone(),
            note: note.to_string(),
            created_at_ms: now_ms(),
            applied_at_ms: None,
        };
        self.store.insert_incident_action(&action).await?;
        tracing::info!(incident_id = %id, action = kind.as_str(), actor = %actor.name,
            "incident action recorded");
        Ok(action.id)
    }

    /// Whether the notifier set `applied_at_ms` of action `id` within `wait`.
    async fn applied_within(&self, id: &str, wait: Duration) -> Result<bool, DomainError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self
                .store
                .incident_action(id)
                .await?
                .applied_at_ms
                .is_some()
            {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(ACTION_POLL).await;
        }
    }

    async fn detail(&self, project: &str, id: &str) -> Result<IncidentDetail, DomainError> {
        if id.is_empty() {
            return Err(field_error("id", "must not be empty").into());
        }
        if id.len() > MAX_ID_BYTES {
            return Err(field_error(
                "id",
                format!("is {} bytes, at most {MAX_ID_BYTES}", id.len()),
            )
            .into());
        }
        self.store
            .get_incident_in_project(project, id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => DomainError::IncidentNotFound(id.to_string()),
                e => DomainError::Store(e),
            })
    }
}

fn past(kind: IncidentActionKind) -> &'static str {
    match kind {
        IncidentActionKind::Ack => "acknowledged",
        IncidentActionKind::Resolve => "resolved",
    }
}

fn to_api(r: &IncidentDetail, now: i64) -> Incident {
    let end = r.resolved_at_ms.unwrap_or(now);
    Incident {
        id: r.id.clone(),
        monitor_id: r.monitor_id.clone(),
        monitor_name: r.monitor_name.clone(),
        state: match r.status {
            IncidentStatus::Open => IncidentState::Open,
            IncidentStatus::Resolved => IncidentState::Resolved,
        } as i32,
        severity: r.severity.clone(),
        opened_at_ms: r.opened_at_ms,
        acknowledged_at_ms: r.acknowledged_at_ms.unwrap_or_default(),
        acknowledged_by: r.acknowledged_by.clone(),
        level: r.level,
        escalated_at_ms: r.escalated_at_ms.unwrap_or_default(),
        resolved_at_ms: r.resolved_at_ms.unwrap_or_default(),
        resolved_reason: r.resolved_reason.clone(),
        duration_ms: end.saturating_sub(r.opened_at_ms).max(0),
        regions: r.regions.clone(),
        first_error: truncate_bytes(&r.cause, MAX_ERROR_MESSAGE_BYTES).into_owned(),
        caused_by_incident_id: r.caused_by_incident_id.clone().unwrap_or_default(),
        silenced: r.silenced,
        reminders_sent: r.reminders_sent,
        pending_action: r
            .pending_action
            .map(|a| a.as_str().to_string())
            .unwrap_or_default(),
        acknowledged_note: r.acknowledged_note.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_runs_to_now_while_open_and_to_the_resolution_after() {
        let mut r = lookout_store::testing::open_incident("inc_1", "mon_1", 1_000);
        assert_eq!(to_api(&r, 4_000).duration_ms, 3_000);
        r.status = IncidentStatus::Resolved;
        r.resolved_at_ms = Some(2_500);
        let api = to_api(&r, 9_000);
        assert_eq!(api.duration_ms, 1_500);
        assert_eq!(api.state, IncidentState::Resolved as i32);
        // A clock that went back never gives a negative duration.
        r.resolved_at_ms = None;
        r.status = IncidentStatus::Open;
        assert_eq!(to_api(&r, 500).duration_ms, 0);
    }
}
