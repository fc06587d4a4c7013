//! `/api/v1/monitors`: CRUD of monitors as proto3 JSON of `lookout.v1.Monitor` (the shape of
//! the CLI's JSON and the config files), and attaching integrations to a monitor as the
//! Uptinio document attaches them to a server (also served under `/api/v1/servers`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lookout_proto::Monitor;
use serde_json::Value;

use crate::rest::auth::ProjectId;
use crate::rest::error::ApiError;
use crate::rest::input::{JsonBody, Object, PathParams, Query};
use crate::rest::integrations::shown;
use crate::rest::schema::Messages;
use crate::rest::{RestState, page, to_json};

pub async fn list(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    mut q: Query,
) -> Result<Response, ApiError> {
    let size = q.page_size()?;
    let token = q.take("page_token").unwrap_or_default();
    q.finish()?;
    let (items, next) = s.monitors.list(&project, size, &token).await?;
    page(items.iter().map(to_json).collect::<Result<_, _>>()?, &next)
}

pub async fn create(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let m = request(&s.messages, body)?;
    let stored = s
        .monitors
        .create(&project, Some(m))
        .await
        .map_err(|e| ApiError::domain(e, monitor_field))?;
    Ok((StatusCode::CREATED, Json(to_json(&stored)?)))
}

pub async fn get(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(to_json(&s.monitors.get(&project, &id).await?)?))
}

/// Replaces the monitor's definition (its pause state stays); a `version` given must match.
pub async fn update(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let mut m = request(&s.messages, body)?;
    if !m.id.is_empty() && m.id != id {
        return Err(ApiError::invalid(
            "monitor.id",
            "differs from the id in the path; leave it out",
        ));
    }
    m.id = id;
    let stored = s
        .monitors
        .update(&project, Some(m))
        .await
        .map_err(|e| ApiError::domain(e, monitor_field))?;
    Ok(Json(to_json(&stored)?))
}

pub async fn delete(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.monitors.delete(&project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The integrations the monitor attaches.
pub async fn integrations(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    let items = s.monitors.integrations(&project, &id).await?;
    Ok(Json(Value::Array(items.iter().map(shown).collect())))
}

/// Attaches `{"integration_id": ...}` and answers the integration.
pub async fn attach(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
    JsonBody(mut body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let integration = body
        .string("integration_id")?
        .ok_or_else(|| ApiError::invalid("integration_id", "is required"))?;
    body.finish()?;
    s.monitors.attach(&project, &id, &integration).await?;
    let i = s.integrations.get(&project, &integration).await?;
    Ok((StatusCode::CREATED, Json(shown(&i))))
}

pub async fn detach(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams((id, integration)): PathParams<(String, String)>,
) -> Result<StatusCode, ApiError> {
    s.monitors.detach(&project, &id, &integration).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The monitor of a create or update body, `{"monitor": {...}}`.
fn request(messages: &Messages, mut body: Object) -> Result<Monitor, ApiError> {
    let path = body.path_of("monitor");
    let v = body.required("monitor")?;
    body.finish()?;
    if !v.is_object() {
        return Err(ApiError::invalid(
            path,
            format!(
                "must be an object, not {}",
                crate::rest::input::json_type(&v)
            ),
        ));
    }
    messages
        .check_fields("lookout.v1.Monitor", &v, &path)
        .map_err(ApiError::field)?;
    crate::rest::input::decode(v, &path)
}

/// A domain field of a monitor (`http.url`) as the request names it (`monitor.http.url`).
fn monitor_field(field: &str) -> String {
    match field {
        "id" | "monitor" => field.to_string(),
        f => format!("monitor.{f}"),
    }
}
