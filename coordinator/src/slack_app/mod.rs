//! The Slack app, as Uptinio's document describes it: `POST
//! /api/v1/integrations/slack/initiate` hands out Slack's OAuth URL with a single-use state
//! bound to the project; Slack sends the browser back to `GET /auth/slack/callback`, which
//! takes the state, exchanges the code with `oauth.v2.access` and creates the integration
//! (tokens sealed at rest like every secret); `POST /slack/interactivity` takes Resolve
//! clicks, verified with the app's signing secret, and resolves the incident through the
//! incident domain (the notifier then updates the message with `chat.update`).
//!
//! - `config`: the `slack_app` settings.
//! - `oauth`: initiate and the callback.
//! - `interactivity`: Resolve clicks; `signature`: Slack's `v0` request signature.

mod config;
mod interactivity;
mod oauth;
pub mod signature;

pub use config::SlackAppConfig;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use lookout_store::Store;

use crate::auth::AdminAuth;
use crate::error::CoordinatorError;
use crate::incidents::IncidentDomain;
use crate::integrations::IntegrationDomain;
use crate::rest_util::ApiError;

/// How long an OAuth state is valid, and how many one project may hold at once.
pub const STATE_TTL_MS: i64 = 10 * 60_000;
pub const MAX_PENDING_STATES: u32 = 20;
/// Largest interactivity request (Slack sends the whole message along) and callback query.
pub const MAX_INTERACTIVITY_BYTES: usize = 128 * 1024;
pub const MAX_CALLBACK_QUERY_BYTES: usize = 4096;
/// Largest answer read from Slack's Web API, and how long a call may take.
const MAX_ANSWER_BYTES: usize = 64 * 1024;
const CALL_TIMEOUT: Duration = Duration::from_secs(15);

/// What the endpoints need: the app's settings (none: every endpoint answers 503), the
/// store, the bearer tokens, and the integration and incident domains.
pub struct SlackAppEndpoints {
    config: Option<SlackAppConfig>,
    store: Store,
    auth: Arc<AdminAuth>,
    integrations: Arc<IntegrationDomain>,
    incidents: Arc<IncidentDomain>,
    client: reqwest::Client,
}

impl SlackAppEndpoints {
    pub fn new(
        config: Option<SlackAppConfig>,
        store: Store,
        auth: Arc<AdminAuth>,
        integrations: Arc<IntegrationDomain>,
        incidents: Arc<IncidentDomain>,
    ) -> Result<SlackAppEndpoints, CoordinatorError> {
        // Slack's URLs are the operator's, not a user's: no destination rules apply.
        let client = reqwest::Client::builder()
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .timeout(CALL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CoordinatorError::Io(format!("http client: {e}")))?;
        Ok(SlackAppEndpoints {
            config,
            store,
            auth,
            integrations,
            incidents,
            client,
        })
    }

    fn config(&self) -> Result<&SlackAppConfig, ApiError> {
        self.config.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "slack_unavailable",
                "the Slack app is not configured on this deployment (slack_app in the \
                 coordinator's config)",
            )
        })
    }
}

/// The three endpoints, with their full paths.
pub fn routes(app: Arc<SlackAppEndpoints>) -> Router {
    Router::new()
        .route("/api/v1/integrations/slack/initiate", post(oauth::initiate))
        .route("/auth/slack/callback", get(oauth::callback))
        .route("/slack/interactivity", post(interactivity::handle))
        .layer(DefaultBodyLimit::max(MAX_INTERACTIVITY_BYTES))
        .with_state(app)
}

/// At most [`MAX_ANSWER_BYTES`] of an answer's body.
async fn bounded_answer(mut resp: reqwest::Response) -> Vec<u8> {
    let mut buf = Vec::new();
    while buf.len() < MAX_ANSWER_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(MAX_ANSWER_BYTES);
    buf
}
