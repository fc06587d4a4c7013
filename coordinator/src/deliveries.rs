//! The delivery domain: the notifier's delivery log read through the store, and re-driving
//! dead-lettered deliveries (pending again, same id, fresh retry budget). Each call sees only
//! the caller's project (a delivery belongs to the project of its monitor). Responses carry
//! no secret and no payload, and destination URLs lose their userinfo.

use lookout_proto::bounds::{MAX_ERROR_MESSAGE_BYTES, truncate_bytes};
use lookout_proto::v1::{Delivery, DeliveryState};
use lookout_store::notifier::{DeliveryCursor, OutboxRow, OutboxState};
use lookout_store::{Store, StoreError, now_ms};

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
        let size = paging::page_size(page_size)?;
        let after = paging::delivery_position(page_token)?;
        let rows = self
            .store
            .list_deliveries_in_project(project, state, after.as_ref(), size)
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
        Ok(to_api(&row))
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

fn to_api(r: &OutboxRow) -> Delivery {
    Delivery {
        id: r.id.clone(),
        incident_id: r.incident_id.clone().unwrap_or_default(),
        monitor_id: r.monitor_id.clone(),
        event: r.event.as_str().to_string(),
        channel: r.channel.clone(),
        url: without_userinfo(&r.url),
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
    }
}

/// `https://user:pw@host/x` → `https://host/x`: credentials in a URL are never returned.
fn without_userinfo(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            // Both fail only for URLs that cannot have userinfo, which is then absent.
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_credentials() {
        let cases = [
            (
                "https://u:p@hooks.example.org/x?a=1",
                "https://hooks.example.org/x?a=1",
            ),
            ("https://hooks.example.org/x", "https://hooks.example.org/x"),
            ("not a url", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(without_userinfo(raw), want, "{raw}");
        }
    }
}
