//! The delivery domain: the notifier's delivery log read through the store, and re-driving
//! dead-lettered deliveries (pending again, same id, fresh retry budget). Each call sees only
//! the caller's project. Responses carry no secret: a delivery names its integration, and
//! `GetDelivery` adds the event and every attempt (already redacted by the notifier).

use lookout_proto::bounds::{MAX_ERROR_MESSAGE_BYTES, truncate_bytes};
use lookout_proto::v1::{Delivery, DeliveryAttempt, DeliveryState, NotificationEvent};
use lookout_store::notifier::{AttemptRow, DeliveryCursor, OutboxRow, OutboxState};
use lookout_store::{Store, StoreError, now_ms};
use prost::Message;

use crate::error::{DomainError, field_error};
use crate::paging;

pub struct DeliveryDomain {
    store: Store,
}

impl DeliveryDomain {
    pub fn new(store: Store) -> DeliveryDomain {
        DeliveryDomain { store }
    }

    /// One page of `project`'s deliveries, newest first, only `state` unless unspecified, and
    /// the token of the next page (empty at the end).
    pub async fn list(
        &self,
        project: &str,
        state: i32,
        integration_id: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Delivery>, String), DomainError> {
        let state = match DeliveryState::try_from(state) {
            Ok(DeliveryState::Unspecified) => None,
            Ok(DeliveryState::Pending) => Some(OutboxState::Pending),
            Ok(DeliveryState::Delivered) => Some(OutboxState::Delivered),
            Ok(DeliveryState::Dead) => Some(OutboxState::Dead),
            Err(_) => {
                return Err(
                    field_error("state", format!("{state} is not a delivery state")).into(),
                );
            }
        };
        if integration_id.len() > lookout_proto::validate::MAX_ID_BYTES {
            return Err(field_error(
                "integration_id",
                format!(
                    "is {} bytes, at most {}",
                    integration_id.len(),
                    lookout_proto::validate::MAX_ID_BYTES
                ),
            )
            .into());
        }
        let size = paging::page_size(page_size)?;
        let after = paging::delivery_position(page_token)?;
        let rows = self
            .store
            .list_deliveries_in_project(
                project,
                state,
                Some(integration_id).filter(|i| !i.is_empty()),
                after.as_ref(),
                size,
            )
            .await?;
        let next = paging::next_token(&rows, size, |r| {
            paging::delivery_token(&DeliveryCursor {
                created_at_ms: r.created_at_ms,
                id: r.id.clone(),
            })
        });
        Ok((rows.iter().map(to_api).collect(), next))
    }

    pub async fn get(&self, project: &str, id: &str) -> Result<Delivery, DomainError> {
        require_id(id)?;
        let row = self
            .store
            .get_delivery_in_project(project, id)
            .await
            .map_err(not_found(id))?;
        let mut d = to_api(&row);
        d.notification = NotificationEvent::decode(row.payload.as_slice()).ok();
        d.attempt_log = self
            .store
            .delivery_attempts(id)
            .await?
            .iter()
            .map(attempt_to_api)
            .collect();
        Ok(d)
    }

    /// Sends a dead delivery again; anything else is refused.
    pub async fn retry(&self, project: &str, id: &str) -> Result<Delivery, DomainError> {
        require_id(id)?;
        match self
            .store
            .redrive_delivery_in_project(project, id, now_ms())
            .await
        {
            Ok(row) => {
                tracing::info!(delivery_id = %id, "dead delivery re-driven");
                Ok(to_api(&row))
            }
            Err(StoreError::Conflict) => {
                let row = self
                    .store
                    .get_delivery_in_project(project, id)
                    .await
                    .map_err(not_found(id))?;
                Err(DomainError::FailedPrecondition(format!(
                    "delivery {id:?} is {}; only dead deliveries can be retried",
                    row.state.as_str()
                )))
            }
            Err(e) => Err(not_found(id)(e)),
        }
    }
}

fn require_id(id: &str) -> Result<(), DomainError> {
    if id.is_empty() {
        return Err(field_error("id", "must not be empty").into());
    }
    Ok(())
}

fn not_found(id: &str) -> impl FnOnce(StoreError) -> DomainError + '_ {
    move |e| match e {
        StoreError::NotFound => DomainError::DeliveryNotFound(id.to_string()),
        e => DomainError::Store(e),
    }
}

pub(crate) fn to_api(r: &OutboxRow) -> Delivery {
    Delivery {
        id: r.id.clone(),
        incident_id: r.incident_id.clone().unwrap_or_default(),
        monitor_id: r.monitor_id.clone().unwrap_or_default(),
        event: r.event.label().to_string(),
        channel: r.channel.clone(),
        url: String::new(),
        state: match r.state {
            OutboxState::Pending => DeliveryState::Pending,
            OutboxState::Delivered => DeliveryState::Delivered,
            OutboxState::Dead => DeliveryState::Dead,
        } as i32,
        attempts: r.attempts,
        last_error: truncate_bytes(
            r.last_error.as_deref().unwrap_or_default(),
            MAX_ERROR_MESSAGE_BYTES,
        )
        .into_owned(),
        created_at_ms: r.created_at_ms,
        next_attempt_at_ms: r.next_attempt_at_ms,
        integration_id: r.integration_id.clone(),
        notification: None,
        attempt_log: Vec::new(),
    }
}

fn attempt_to_api(a: &AttemptRow) -> DeliveryAttempt {
    DeliveryAttempt {
        attempt: a.attempt,
        at_ms: a.at_ms,
        integration_id: a.integration_id.clone(),
        status_code: u32::from(a.status_code),
        latency_us: a.latency_us,
        error: a.error.clone(),
        response_excerpt: a.response_excerpt.clone(),
        outcome: a.outcome.clone(),
    }
}
