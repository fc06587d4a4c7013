//! `/api/v1/incidents`, read-only: a project's incidents newest first (filtered by `state`
//! and `monitor_id`) and one by id, as proto3 JSON of `lookout.v1.Incident`.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use lookout_proto::bounds::quote;
use lookout_proto::v1::IncidentState;
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
        None | Some("") => IncidentState::Unspecified,
        Some("open") => IncidentState::Open,
        Some("resolved") => IncidentState::Resolved,
        Some(other) => {
            return Err(ApiError::invalid(
                "state",
                format!("{} must be open or resolved", quote(other)),
            ));
        }
    };
    let monitor = q.take("monitor_id").unwrap_or_default();
    let size = q.page_size()?;
    let token = q.take("page_token").unwrap_or_default();
    q.finish()?;
    let (items, next) = s
        .incidents
        .list(&project, state as i32, &monitor, size, &token)
        .await?;
    page(items.iter().map(to_json).collect::<Result<_, _>>()?, &next)
}

pub async fn get(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(to_json(&s.incidents.get(&project, &id).await?)?))
}
