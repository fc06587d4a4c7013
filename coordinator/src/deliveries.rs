//! The delivery domain: the notifier's delivery log read through the store, and re-driving
//! dead-lettered deliveries (pending again, same id, fresh retry budget). Responses carry no
//! secret and no payload, and destination URLs lose their userinfo.

use lookout_proto::bounds::{MAX_ERROR_MESSAGE_BYTES, truncate_bytes};
use lookout_proto::v1::{Delivery, DeliveryState};
use lookout_store::notifier::{OutboxRow, OutboxState};
use lookout_store::{Store, StoreError, now_ms};

use crate::error::{DomainError, field_error};

/// Deliveries listed when the request gives no limit.
pub const DEFAULT_LIST_LIMIT: u32 = 100;
/// Most deliveries one list returns.
pub const MAX_LIST_LIMIT: u32 = 500;

pub struct DeliveryDomain {
    store: Store,
}

impl DeliveryDomain {
    pub fn new(store: Store) -> DeliveryDomain {
        DeliveryDomain { store }
    }

    /// Newest first, only `state` unless unspecified, at most `limit` (0: the default).
    pub async fn list(&self, state: i32, limit: u32) -> Result<Vec<Delivery>, DomainError> {
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
        let limit = match limit {
            0 => DEFAULT_LIST_LIMIT,
            n if n <= MAX_LIST_LIMIT => n,
            n => {
                return Err(field_error(
                    "limit",
                    format!("{n} is invalid, must be 0..={MAX_LIST_LIMIT}"),
                )
                .into());
            }
        };
        let rows = self.store.list_deliveries(state, limit).await?;
        Ok(rows.iter().map(to_api).collect())
    }

    pub async fn get(&self, id: &str) -> Result<Delivery, DomainError> {
        require_id(id)?;
        let row = self.store.get_delivery(id).await.map_err(not_found(id))?;
        Ok(to_api(&row))
    }

    /// Sends a dead delivery again; anything else is refused.
    pub async fn retry(&self, id: &str) -> Result<Delivery, DomainError> {
        require_id(id)?;
        match self.store.redrive_delivery(id, now_ms()).await {
            Ok(row) => {
                tracing::info!(delivery_id = %id, "dead delivery re-driven");
                Ok(to_api(&row))
            }
            Err(StoreError::Conflict) => {
                let row = self.store.get_delivery(id).await.map_err(not_found(id))?;
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
