//! The REST API (`/api/v1`, JSON, `Authorization: Bearer <project token>`), served beside
//! gRPC on its own port: the Uptinio document's integrations API, monitors with attached
//! integrations, incidents and deliveries read-only, and the OpenAPI document of it all.
//! Handlers only decode, call the domain layer the gRPC API calls, and encode. One table of
//! routes ([`routes`]) builds both the router and the OpenAPI paths.

mod auth;
mod deliveries;
pub mod error;
mod incidents;
mod input;
mod integrations;
mod monitors;
mod openapi;
mod routes;
mod schema;
mod telex;
mod types;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodFilter;
use serde::Serialize;
use serde_json::Value;

use crate::auth::AdminAuth;
use crate::deliveries::DeliveryDomain;
use crate::incidents::IncidentDomain;
use crate::integrations::IntegrationDomain;
use crate::monitors::MonitorDomain;
use error::ApiError;
use schema::Messages;

pub use auth::ProjectId;
pub(crate) use input::json_type;
pub(crate) use routes::{Out, Route, routes};

/// Request bodies at most: 413 beyond it. A monitor or an integration with the largest
/// template fits several times over.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// The REST API's listener, and routes other modules serve on it (with full paths, their
/// own state applied); they share the body limit and the JSON 404 and 405.
pub struct RestServer {
    pub listener: tokio::net::TcpListener,
    pub extra: Router,
}

impl RestServer {
    /// The REST API alone on `listener`.
    pub fn new(listener: tokio::net::TcpListener) -> RestServer {
        RestServer {
            listener,
            extra: Router::new(),
        }
    }
}

/// What every handler reaches: the domain layer and the message descriptions.
#[derive(Clone)]
pub(crate) struct RestState {
    pub auth: Arc<AdminAuth>,
    pub integrations: Arc<IntegrationDomain>,
    pub monitors: Arc<MonitorDomain>,
    pub incidents: Arc<IncidentDomain>,
    pub deliveries: Arc<DeliveryDomain>,
    /// The Telex integration, when `telex.enabled`: its routes exist only then.
    pub telex: Option<Arc<crate::telex::Telex>>,
    pub messages: Arc<Messages>,
    /// The OpenAPI document, rendered once.
    openapi: Arc<[u8]>,
}

impl FromRef<RestState> for Arc<AdminAuth> {
    fn from_ref(s: &RestState) -> Arc<AdminAuth> {
        s.auth.clone()
    }
}

impl RestState {
    pub fn new(
        auth: Arc<AdminAuth>,
        integrations: Arc<IntegrationDomain>,
        monitors: Arc<MonitorDomain>,
        incidents: Arc<IncidentDomain>,
        deliveries: Arc<DeliveryDomain>,
        telex: Option<Arc<crate::telex::Telex>>,
    ) -> RestState {
        let messages = Messages::load();
        let served = served(telex.is_some());
        let openapi = serde_json::to_vec(&openapi::document(&messages, &served))
            .expect("the OpenAPI document is plain JSON");
        RestState {
            auth,
            integrations,
            monitors,
            incidents,
            deliveries,
            telex,
            messages: Arc::new(messages),
            openapi: openapi.into(),
        }
    }
}

/// The router of every route, `extra` merged in, with the body limit and JSON 404 and 405.
pub(crate) fn router(state: RestState, extra: Router) -> Router {
    let mut api = Router::new();
    for r in served(state.telex.is_some()) {
        if let Some(handler) = r.method_router(filter(&r.method)) {
            api = api.route(r.path, handler);
        }
    }
    api.with_state(state)
        .merge(extra)
        .fallback(|| async { ApiError::no_route() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// The routes served: the Telex integration's only when it is on.
fn served(telex: bool) -> Vec<Route> {
    routes().into_iter().filter(|r| telex || !r.telex).collect()
}

fn filter(m: &Method) -> MethodFilter {
    MethodFilter::try_from(m.clone()).expect("routes use standard methods")
}

pub(crate) async fn openapi_json(
    axum::extract::State(s): axum::extract::State<RestState>,
) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        s.openapi.to_vec(),
    )
        .into_response()
}

/// A page of a list: the items as a JSON array, `X-Next-Page-Token` when more follow.
pub(crate) fn page(items: Vec<Value>, next: &str) -> Result<Response, ApiError> {
    let mut response = axum::Json(Value::Array(items)).into_response();
    if !next.is_empty() {
        let value = HeaderValue::from_str(next).map_err(|_| ApiError::internal())?;
        response.headers_mut().insert("x-next-page-token", value);
    }
    Ok(response)
}

/// proto3 JSON of an admin API message.
pub(crate) fn to_json<T: Serialize>(t: &T) -> Result<Value, ApiError> {
    serde_json::to_value(t).map_err(|_| ApiError::internal())
}

/// Unix epoch milliseconds as RFC 3339 in UTC, to the second (`2024-01-01T00:00:00Z`).
pub(crate) fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
