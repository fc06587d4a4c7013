//! What the SMS and Slack app HTTP endpoints share: the JSON error body (`{"error": code,
//! "message": "<field>: <reason>", "field": field}`), the project behind a bearer token
//! (through `AdminAuth::project`, as the gRPC services resolve it), and bounded bodies.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::auth::AdminAuth;
use crate::error::DomainError;

/// A refused or failed request, as its JSON body says it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Machine-readable code (`invalid_request`, `unauthorized`, ...).
    pub code: &'static str,
    pub message: String,
    /// The field at fault, when there is one.
    pub field: Option<String>,
    /// Seconds to wait before trying again (`Retry-After`), for 429.
    pub retry_after_secs: Option<u64>,
    /// Adds `"success": false` (the SMS verification endpoint's documented shape).
    pub with_success: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
            with_success: false,
        }
    }

    /// 422 naming `field`: the message is `<field>: <reason>`.
    pub fn field(code: &'static str, field: &str, reason: &str) -> ApiError {
        ApiError {
            field: Some(field.to_string()),
            ..ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                code,
                format!("{field}: {reason}"),
            )
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "authorization: missing or invalid bearer token",
        )
    }

    pub fn body(&self) -> Value {
        let mut v = json!({"error": self.code, "message": self.message});
        if let Some(f) = &self.field {
            v["field"] = json!(f);
        }
        if self.with_success {
            v["success"] = json!(false);
        }
        v
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        match e {
            DomainError::Invalid(f) => ApiError::field("invalid_request", &f.field, &f.reason),
            DomainError::Unauthenticated => ApiError::unauthorized(),
            DomainError::PermissionDenied(m) => {
                ApiError::new(StatusCode::FORBIDDEN, "forbidden", m)
            }
            DomainError::PaidPlanRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "paid_plan_required",
                DomainError::PaidPlanRequired.to_string(),
            ),
            DomainError::NotFound(_)
            | DomainError::NotAttached { .. }
            | DomainError::DeliveryNotFound(_)
            | DomainError::IntegrationNotFound(_)
            | DomainError::VariableNotFound(_)
            | DomainError::ProjectNotFound(_)
            | DomainError::IncidentNotFound(_)
            | DomainError::TokenNotFound(_)
            | DomainError::MemberNotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            DomainError::QuotaExceeded(m) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "quota_exceeded", m)
            }
            DomainError::FailedPrecondition(_) | DomainError::SystemIntegration { .. } => {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unprocessable_entity",
                    e.to_string(),
                )
            }
            DomainError::Conflict(_)
            | DomainError::ProjectExists(_)
            | DomainError::MemberExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            DomainError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            DomainError::Stream(_) | DomainError::Store(_) => {
                // Details stay in the log; callers learn only that it failed.
                tracing::error!(error = %e, "request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal error",
                )
            }
        }
    }
}

/// The project of the request's `Authorization: Bearer <project token>`.
pub async fn project(auth: &AdminAuth, headers: &HeaderMap) -> Result<String, ApiError> {
    let mut metadata = tonic::metadata::MetadataMap::new();
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::unauthorized())?;
        let v = v.parse().map_err(|_| ApiError::unauthorized())?;
        metadata.insert("authorization", v);
    }
    auth.project(&metadata).await.map_err(ApiError::from)
}

/// The body, or 413 when it is over the route's limit (`DefaultBodyLimit`).
pub fn bounded(body: Result<Bytes, BytesRejection>, max: usize) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body: is larger than {max} bytes"),
        ),
        e => ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("body: {e}"),
        ),
    })
}

/// `body` as a JSON object; an empty body is an empty object.
pub fn json_object(body: &[u8]) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ApiError::field(
            "invalid_request",
            "body",
            "must be a JSON object",
        )),
        Err(e) => Err(ApiError::field(
            "invalid_request",
            "body",
            &format!("is not JSON: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let e = ApiError::field("phone_number_required", "phone_number", "is required");
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            e.body(),
            json!({"error": "phone_number_required", "message": "phone_number: is required",
                   "field": "phone_number"})
        );
        let mut e = ApiError::from(DomainError::PaidPlanRequired);
        e.with_success = true;
        assert_eq!(
            e.body(),
            json!({"success": false, "error": "paid_plan_required",
                   "message": "SMS integrations require a paid plan"})
        );
        assert_eq!(json_object(b"  ").expect("empty").len(), 0);
        for bad in [&b"[1]"[..], b"{", b"\"x\""] {
            assert_eq!(
                json_object(bad).expect_err("bad").field.as_deref(),
                Some("body")
            );
        }
    }
}
