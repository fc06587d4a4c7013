//! The Telex interval integration's endpoints ([`crate::telex`]): `GET /integration.json`
//! and `POST /tick`, outside `/api/v1` where Telex's document puts them, served without a
//! project token (with the `tick_key` when one is set) and routed only while
//! `telex.enabled` is on.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, header};
use serde_json::{Value, json};

use crate::rest::RestState;
use crate::rest::error::ApiError;
use crate::rest::input::{Query, json_object};
use crate::telex::{MAX_TICK_BODY_BYTES, Telex, TickError};

/// The integration's spec.
pub async fn integration(
    State(s): State<RestState>,
    headers: HeaderMap,
    query: Query,
) -> Result<Json<Value>, ApiError> {
    let telex = opened(&s, &headers, query)?;
    Ok(Json(telex.spec()))
}

/// A tick: 202 `{"status": "accepted"}` once its body is valid; the sites' results go to
/// its `return_url`.
pub async fn tick(
    State(s): State<RestState>,
    headers: HeaderMap,
    query: Query,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let telex = opened(&s, &headers, query)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(MAX_TICK_BODY_BYTES)
        } else {
            ApiError::invalid("body", "could not be read")
        }
    })?;
    telex
        .accept(json_object(&body)?)
        .await
        .map_err(|e| match e {
            TickError::Invalid { field, reason } => ApiError::invalid(field, reason),
            TickError::Busy => ApiError::unavailable(e.to_string()),
        })?;
    Ok((StatusCode::ACCEPTED, Json(json!({"status": "accepted"}))))
}

/// The integration, once the request's key (`?key=` or `Authorization: Bearer`) opens it.
/// Other query parameters are ignored: Telex owns the URL it calls.
fn opened<'a>(
    s: &'a RestState,
    headers: &HeaderMap,
    mut query: Query,
) -> Result<&'a Telex, ApiError> {
    let telex = s.telex.as_deref().ok_or_else(ApiError::no_route)?;
    let from_query = query.take("key");
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if telex.authorized(from_query.as_deref().or(from_header)) {
        Ok(telex)
    } else {
        Err(ApiError::unauthorized(
            "key: missing or wrong tick key (the tick_url of /integration.json carries it)",
        ))
    }
}
