//! `/api/v1/deliveries`, read-only: the delivery log newest first (filtered by `state` and
//! `integration_id`) and one delivery with its event and every attempt, as proto3 JSON of
//! `lookout.v1.Delivery`. Deliveries carry no secret.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use lookout_proto::bounds::quote;
use lookout_proto::v1::DeliveryState;
use serde_json::Value;

use crate::rest::auth::ProjectId;
use crate::rest::error::ApiError;
use crate::rest::input::{PathParams, Query};
use crate::rest::{RestState, page, to_json};

pub async fn list(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    mut q: Query,
) -> Result<Response, ApiError> {
    let state = match q.take("state").as_deref() {
        None | Some("") => DeliveryState::Unspecified,
        Some("pending") => DeliveryState::Pending,
        Some("delivered") => DeliveryState::Delivered,
        Some("dead") => DeliveryState::Dead,
        Some(other) => {
            return Err(ApiError::invalid(
                "state",
                format!("{} must be pending, delivered or dead", quote(other)),
            ));
        }
    };
    let integration = q.take("integration_id").unwrap_or_default();
    let size = q.page_size()?;
    let token = q.take("page_token").unwrap_or_default();
    q.finish()?;
    let (items, next) = s
        .deliveries
        .list(&project, state as i32, &integration, size, &token)
        .await?;
    page(items.iter().map(to_json).collect::<Result<_, _>>()?, &next)
}

pub async fn get(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(to_json(&s.deliveries.get(&project, &id).await?)?))
}
