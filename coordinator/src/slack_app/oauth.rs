//! The OAuth flow: `initiate` (bearer project token) answers `oauth_url`, `state` and
//! `redirect_uri`; the `callback` Slack sends the browser to takes the state (single-use,
//! expiring, bound to its project), exchanges the code with `oauth.v2.access` and creates
//! the Slack app integration from the answer.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{Integration, SlackApp};
use lookout_store::now_ms;
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    MAX_CALLBACK_QUERY_BYTES, MAX_PENDING_STATES, STATE_TTL_MS, SlackAppConfig, SlackAppEndpoints,
    bounded_answer,
};
use crate::error::DomainError;
use crate::rest_util::{self, ApiError};

/// Bytes of a state (hex of 32 random bytes) and of an authorization code.
const STATE_CHARS: usize = 64;
const MAX_CODE_BYTES: usize = 256;

fn state_hash(state: &str) -> [u8; 32] {
    Sha256::digest(state.as_bytes()).into()
}

/// `POST /api/v1/integrations/slack/initiate`.
pub(super) async fn initiate(
    State(app): State<Arc<SlackAppEndpoints>>,
    headers: HeaderMap,
) -> Response {
    match start(&app, &headers).await {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn start(app: &SlackAppEndpoints, headers: &HeaderMap) -> Result<Value, ApiError> {
    let project = rest_util::project(&app.auth, headers).await?;
    let config = app.config()?;
    let state = hex::encode(rand::rng().random::<[u8; 32]>());
    let now = now_ms();
    let stored = app
        .store
        .insert_slack_oauth_state(
            &state_hash(&state),
            &project,
            now,
            now + STATE_TTL_MS,
            MAX_PENDING_STATES,
        )
        .await
        .map_err(DomainError::Store)?;
    if !stored {
        return Err(ApiError {
            retry_after_secs: Some(60),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "{MAX_PENDING_STATES} Slack connections of this project are waiting for \
                     Slack already; finish one or wait until they expire"
                ),
            )
        });
    }
    let redirect_uri = config.redirect_uri(&project);
    tracing::info!(project_id = %project, "slack oauth started");
    Ok(json!({
        "oauth_url": config.oauth_url(&state, &redirect_uri),
        "state": state,
        "redirect_uri": redirect_uri,
    }))
}

/// `GET /auth/slack/callback?project_uuid=...&code=...&state=...` (or `error=...`), where
/// Slack sends the browser. Redirects to `installed_url` when it is configured, else
/// answers JSON.
pub(super) async fn callback(
    State(app): State<Arc<SlackAppEndpoints>>,
    RawQuery(query): RawQuery,
) -> Response {
    let outcome = finish(&app, query.as_deref().unwrap_or("")).await;
    let installed = app
        .config
        .as_ref()
        .filter(|c| !c.installed_url.is_empty())
        .and_then(|c| url::Url::parse(&c.installed_url).ok());
    let Some(mut to) = installed else {
        return match outcome {
            Ok(i) => (
                StatusCode::OK,
                axum::Json(json!({
                    "uuid": i.id,
                    "type": "Integrations::SlackIntegration",
                    "name": i.name,
                })),
            )
                .into_response(),
            Err(e) => e.into_response(),
        };
    };
    match &outcome {
        Ok(i) => {
            to.query_pairs_mut()
                .append_pair("slack", "connected")
                .append_pair("integration", &i.id);
        }
        Err(e) => {
            to.query_pairs_mut()
                .append_pair("slack", "error")
                .append_pair("error", e.code);
        }
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

fn bad_request(code: &'static str, field: &str, reason: &str) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        ..ApiError::field(code, field, reason)
    }
}

async fn finish(app: &SlackAppEndpoints, query: &str) -> Result<Integration, ApiError> {
    let config = app.config()?;
    if query.len() > MAX_CALLBACK_QUERY_BYTES {
        return Err(bad_request(
            "invalid_request",
            "query",
            &format!("is longer than {MAX_CALLBACK_QUERY_BYTES} bytes"),
        ));
    }
    let mut state = String::new();
    let mut code = String::new();
    let mut error = String::new();
    let mut project_uuid = String::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "state" => state = v.into_owned(),
            "code" => code = v.into_owned(),
            "error" => error = v.into_owned(),
            "project_uuid" => project_uuid = v.into_owned(),
            _ => {}
        }
    }
    if state.is_empty() {
        return Err(bad_request("invalid_request", "state", "is required"));
    }
    if state.len() != STATE_CHARS || !state.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad_request(
            "invalid_state",
            "state",
            "is not a state Lookout gave out",
        ));
    }
    // Taken whatever happens next: a state is good for one try.
    let project = app
        .store
        .take_slack_oauth_state(&state_hash(&state), now_ms())
        .await
        .map_err(DomainError::Store)?
        .ok_or_else(|| {
            bad_request(
                "invalid_state",
                "state",
                "is unknown, used already or expired: start again (POST \
                 /api/v1/integrations/slack/initiate)",
            )
        })?;
    if !project_uuid.is_empty() && project_uuid != project {
        return Err(bad_request(
            "invalid_state",
            "project_uuid",
            "is not the project the state was given to",
        ));
    }
    if !error.is_empty() {
        let shown: String = error.chars().take(100).collect();
        return Err(bad_request(
            "slack_authorization_failed",
            "error",
            &format!("Slack did not authorize the app: {shown}"),
        ));
    }
    if code.is_empty() || code.len() > MAX_CODE_BYTES {
        return Err(bad_request(
            "invalid_request",
            "code",
            &format!("is required, at most {MAX_CODE_BYTES} bytes"),
        ));
    }
    let answer = exchange(app, config, &code, &config.redirect_uri(&project)).await?;
    let installed = app_from_answer(&answer, &config.api_url);
    let i = Integration {
        kind: Some(Kind::SlackApp(installed)),
        ..Default::default()
    };
    let created = app
        .integrations
        .create_installed(&project, i)
        .await
        .map_err(|e| match e {
            DomainError::Invalid(f) => ApiError {
                status: StatusCode::BAD_GATEWAY,
                ..ApiError::field(
                    "slack_answer_unusable",
                    &f.field,
                    &format!("Slack's oauth.v2.access answer: {}", f.reason),
                )
            },
            e => ApiError::from(e),
        })?;
    tracing::info!(project_id = %project, integration_id = %created.id, "slack app connected");
    Ok(created)
}

/// `oauth.v2.access`: the code for the tokens, the client authenticated with HTTP basic
/// auth, as Slack prefers.
async fn exchange(
    app: &SlackAppEndpoints,
    config: &SlackAppConfig,
    code: &str,
    redirect_uri: &str,
) -> Result<Value, ApiError> {
    let failed =
        |reason: String| ApiError::new(StatusCode::BAD_GATEWAY, "slack_exchange_failed", reason);
    let url = format!("{}/oauth.v2.access", config.api_url.trim_end_matches('/'));
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("redirect_uri", redirect_uri)
        .finish();
    let resp = app
        .client
        .post(url)
        .basic_auth(&config.client_id, Some(config.client_secret.expose()))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| failed(format!("Slack did not answer: {}", e.without_url())))?;
    let status = resp.status();
    let body = bounded_answer(resp).await;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|_| failed(format!("Slack answered {status} without JSON")))?;
    if v["ok"] != json!(true) {
        let err: String = v["error"]
            .as_str()
            .unwrap_or("unknown_error")
            .chars()
            .take(100)
            .collect();
        return Err(failed(format!("oauth.v2.access failed: {err}")));
    }
    Ok(v)
}

/// The integration settings in Slack's answer (validated when stored).
fn app_from_answer(v: &Value, api_url: &str) -> SlackApp {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let hook = &v["incoming_webhook"];
    SlackApp {
        team_id: s(&v["team"]["id"]),
        team_name: s(&v["team"]["name"]),
        channel_id: s(&hook["channel_id"]),
        channel_name: s(&hook["channel"]),
        bot_token: s(&v["access_token"]),
        user_token: s(&v["authed_user"]["access_token"]),
        webhook_url: s(&hook["url"]),
        bot_user_id: s(&v["bot_user_id"]),
        app_id: s(&v["app_id"]),
        api_url: api_url.to_string(),
    }
}
