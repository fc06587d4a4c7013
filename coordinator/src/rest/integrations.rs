//! `/api/v1/integrations`: the Uptinio document's list, create and delete, plus get, update
//! and test, over the integration domain the gRPC API uses. Requests and responses use the
//! document's shape (`{"integration": {"type", "settings"}}`; `uuid, type, name, settings,
//! editable, deletable, created_at, updated_at`), with secrets redacted in every response.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use lookout_proto::bounds::quote;
use lookout_proto::v1::Integration;
use serde_json::{Value, json};

use crate::rest::auth::ProjectId;
use crate::rest::error::ApiError;
use crate::rest::input::{JsonBody, Object, PathParams, Query};
use crate::rest::schema::Messages;
use crate::rest::types::{self, IntegrationType};
use crate::rest::{RestState, page, rfc3339, to_json};

pub async fn list(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    mut q: Query,
) -> Result<Response, ApiError> {
    let size = q.page_size()?;
    let token = q.take("page_token").unwrap_or_default();
    q.finish()?;
    let (items, next) = s.integrations.list(&project, size, &token).await?;
    page(items.iter().map(shown).collect(), &next)
}

pub async fn create(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (ty, i) = request(&s.messages, body)?;
    let kind = lookout_render::kind_name(&i);
    let stored = s
        .integrations
        .create(&project, Some(i))
        .await
        .map_err(|e| ApiError::domain(e, |f| types::request_field(ty, kind, f)))?;
    Ok((StatusCode::CREATED, Json(shown(&stored))))
}

pub async fn get(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(shown(&s.integrations.get(&project, &id).await?)))
}

/// Replaces the type and settings (secrets sent back as `***` keep their stored values).
pub async fn update(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let current = s.integrations.get(&project, &id).await?;
    if let Some((current_ty, _)) = current.kind.as_ref().and_then(types::shown)
        && !current_ty.editable
    {
        return Err(ApiError::unprocessable(
            "id",
            format!(
                "{} integrations cannot be changed once created; delete it and create another",
                current_ty.name
            ),
        ));
    }
    let (ty, mut i) = request(&s.messages, body)?;
    i.id = id;
    let kind = lookout_render::kind_name(&i);
    let stored = s
        .integrations
        .update(&project, Some(i))
        .await
        .map_err(|e| ApiError::domain(e, |f| types::request_field(ty, kind, f)))?;
    Ok(Json(shown(&stored)))
}

pub async fn delete(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<StatusCode, ApiError> {
    s.integrations.delete(&project, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Queues a test event; the delivery (pending) shows how it went once the notifier tried.
pub async fn test(
    State(s): State<RestState>,
    ProjectId(project): ProjectId,
    PathParams(id): PathParams<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let d = s.integrations.test(&project, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(to_json(&d)?)))
}

/// The integration a create or update body describes, and its type.
fn request(
    messages: &Messages,
    mut body: Object,
) -> Result<(&'static IntegrationType, Integration), ApiError> {
    let mut o = body.object("integration")?;
    body.finish()?;
    let type_name = o
        .string("type")?
        .ok_or_else(|| ApiError::invalid("integration.type", "is required"))?;
    let ty = types::by_name(&type_name).ok_or_else(|| {
        ApiError::unprocessable(
            "integration.type",
            format!(
                "{} is not an integration type of this server; it has {}",
                quote(&type_name),
                types::names().join(", ")
            ),
        )
    })?;
    if !ty.creatable {
        return Err(ApiError::unprocessable(
            "integration.type",
            format!(
                "{} integrations are not created from settings: {}",
                ty.name, ty.summary
            ),
        ));
    }
    let kind = ty.settings_in(messages, o.object("settings")?)?;
    let name = o.string("name")?.unwrap_or_default();
    let events = types::events(messages, &mut o)?;
    let rate_limit_per_minute = o.decode::<u32>("rate_limit_per_minute")?.unwrap_or(0);
    o.finish()?;
    let name = if name.trim().is_empty() {
        (ty.name_of)(&kind)
    } else {
        name
    };
    Ok((
        ty,
        Integration {
            name,
            events,
            rate_limit_per_minute,
            kind: Some(kind),
            ..Default::default()
        },
    ))
}

/// An integration as responses show it (it is redacted already).
pub fn shown(i: &Integration) -> Value {
    let (type_name, settings, editable) = match i.kind.as_ref().and_then(types::shown) {
        Some((ty, settings)) => (ty.name.to_string(), settings, ty.editable),
        // A kind no row describes yet: named, without settings.
        None => (
            format!("Lookout::{}", lookout_render::kind_name(i)),
            serde_json::Map::new(),
            false,
        ),
    };
    let mut v = json!({
        "uuid": i.id,
        "type": type_name,
        "name": i.name,
        "settings": settings,
        "editable": editable && !i.system,
        "deletable": !i.system,
        "system": i.system,
        "rate_limit_per_minute": i.rate_limit_per_minute,
        "created_at": rfc3339(i.created_at_ms),
        "updated_at": rfc3339(i.updated_at_ms),
    });
    if let (Some(events), Value::Object(m)) = (&i.events, &mut v) {
        m.insert(
            "events".into(),
            serde_json::to_value(events).unwrap_or_default(),
        );
    }
    v
}
