//! The REST API's errors: every one is JSON, `{"error": "<code>", "message": "<field>:
//! <reason>", "field": "<field>"}` (`field` only when one field is at fault), with the codes
//! of the Uptinio document (`integration_not_found`, `invalid_request`, `unauthorized`,
//! `unprocessable_entity`) and a few of Lookout's own; deleting a system integration answers
//! exactly the document's `{"error": "This integration cannot be deleted."}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_proto::bounds::truncate_bytes;
use lookout_proto::validate::FieldError;
use serde_json::json;

use crate::error::{Change, DomainError};

/// Bytes of an error message at most (a refused value may be quoted in it), and of the field
/// path (an unknown key is named as sent).
const MAX_MESSAGE_BYTES: usize = 1024;
const MAX_FIELD_BYTES: usize = 256;

/// What the document answers when an integration cannot be deleted.
pub const UNDELETABLE: &str = "This integration cannot be deleted.";

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Body,
}

#[derive(Debug)]
enum Body {
    Coded {
        code: &'static str,
        message: String,
        field: Option<String>,
    },
    /// The document's own body for an integration that cannot be deleted.
    Undeletable,
}

impl ApiError {
    fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: Body::Coded {
                code,
                message: message.into(),
                field: None,
            },
        }
    }

    /// 422 `invalid_request`: `field` is refused for `reason`.
    pub fn invalid(field: impl Into<String>, reason: impl std::fmt::Display) -> ApiError {
        let field = field.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: Body::Coded {
                code: "invalid_request",
                message: format!("{field}: {reason}"),
                field: Some(field),
            },
        }
    }

    /// 422 `invalid_request` for a refused field.
    pub fn field(e: FieldError) -> ApiError {
        ApiError::invalid(e.field, e.reason)
    }

    /// 422 `unprocessable_entity`: a well-formed request naming `field` that this server
    /// cannot carry out (an integration type it does not have).
    pub fn unprocessable(field: impl Into<String>, reason: impl std::fmt::Display) -> ApiError {
        let field = field.into();
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            body: Body::Coded {
                code: "unprocessable_entity",
                message: format!("{field}: {reason}"),
                field: Some(field),
            },
        }
    }

    /// 413: the body is over the limit.
    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: Body::Coded {
                code: "invalid_request",
                message: format!("body: is larger than {limit} bytes"),
                field: Some("body".into()),
            },
        }
    }

    /// 401 `unauthorized`: a missing or wrong credential, `message` saying which.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::coded(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 503 `unavailable`: the server cannot take the request now; `message` says why.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError::coded(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500 for what cannot happen with valid data (a response that does not encode).
    pub fn internal() -> ApiError {
        ApiError::coded(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }

    /// 404 for a path no route serves.
    pub fn no_route() -> ApiError {
        ApiError::coded(
            StatusCode::NOT_FOUND,
            "not_found",
            "no such endpoint; GET /api/v1/openapi.json lists them",
        )
    }

    /// 405 for a path served, but not with this method.
    pub fn method_not_allowed() -> ApiError {
        ApiError::coded(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this endpoint does not take this method; GET /api/v1/openapi.json lists them",
        )
    }

    /// A domain error, with the fields it names (the domain's own, `http.url`) given by
    /// `field` as the request names them (`monitor.http.url`).
    pub fn domain(e: DomainError, field: impl Fn(&str) -> String) -> ApiError {
        use StatusCode as S;
        match e {
            DomainError::Invalid(f) => ApiError::invalid(field(&f.field), f.reason),
            DomainError::SystemIntegration {
                change: Change::Delete,
                ..
            } => ApiError {
                status: S::UNPROCESSABLE_ENTITY,
                body: Body::Undeletable,
            },
            DomainError::SystemIntegration { .. }
            | DomainError::FailedPrecondition(_)
            | DomainError::QuotaExceeded(_) => ApiError::coded(
                S::UNPROCESSABLE_ENTITY,
                "unprocessable_entity",
                e.to_string(),
            ),
            // As the SMS verification endpoint answers it (docs/sms-and-slack.md).
            DomainError::PaidPlanRequired => {
                ApiError::coded(S::FORBIDDEN, "paid_plan_required", e.to_string())
            }
            DomainError::IntegrationNotFound(_) | DomainError::NotAttached { .. } => {
                ApiError::coded(S::NOT_FOUND, "integration_not_found", e.to_string())
            }
            DomainError::NotFound(_) => {
                ApiError::coded(S::NOT_FOUND, "monitor_not_found", e.to_string())
            }
            DomainError::IncidentNotFound(_) => {
                ApiError::coded(S::NOT_FOUND, "incident_not_found", e.to_string())
            }
            DomainError::DeliveryNotFound(_) => {
                ApiError::coded(S::NOT_FOUND, "delivery_not_found", e.to_string())
            }
            DomainError::VariableNotFound(_)
            | DomainError::ProjectNotFound(_)
            | DomainError::TokenNotFound(_)
            | DomainError::MemberNotFound(_) => {
                ApiError::coded(S::NOT_FOUND, "not_found", e.to_string())
            }
            DomainError::Conflict(_)
            | DomainError::ProjectExists(_)
            | DomainError::MemberExists(_) => {
                ApiError::coded(S::CONFLICT, "conflict", e.to_string())
            }
            DomainError::Unauthenticated => {
                ApiError::coded(S::UNAUTHORIZED, "unauthorized", e.to_string())
            }
            DomainError::PermissionDenied(m) => ApiError::coded(S::FORBIDDEN, "forbidden", m),
            DomainError::Unavailable(m) => {
                ApiError::coded(S::SERVICE_UNAVAILABLE, "unavailable", m)
            }
            DomainError::Stream(status) => {
                tracing::error!(code = ?status.code(), "unexpected stream error in a REST call");
                ApiError::internal()
            }
            DomainError::Store(err) => {
                // Database details stay in the log, as in the gRPC API.
                tracing::error!(error = %err, "store operation failed");
                ApiError::coded(
                    S::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "internal storage error",
                )
            }
        }
    }
}

/// A domain error whose fields are named as the request names them.
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> ApiError {
        ApiError::domain(e, str::to_string)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let unauthorized = self.status == StatusCode::UNAUTHORIZED;
        let body = match self.body {
            Body::Coded {
                code,
                message,
                field,
            } => {
                let message = truncate_bytes(&message, MAX_MESSAGE_BYTES);
                match field {
                    Some(f) => json!({
                        "error": code,
                        "message": message,
                        "field": truncate_bytes(&f, MAX_FIELD_BYTES),
                    }),
                    None => json!({ "error": code, "message": message }),
                }
            }
            Body::Undeletable => json!({ "error": UNDELETABLE }),
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
