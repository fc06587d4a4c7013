//! `POST /slack/interactivity`: Slack's interactivity requests (`payload=<json>`, signed with
//! the app's signing secret). A click on a message's Resolve button resolves its incident
//! through the incident domain, as `lookout incidents resolve` does, on behalf of the Slack
//! user; the notifier then applies it and updates the message (`chat.update`). The answer
//! comes at once: Slack wants one within 3 seconds.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use lookout_proto::v1::integration::Kind;
use lookout_render::presets::slack_app::RESOLVE_ACTION_ID;
use lookout_store::notifier::IncidentActionKind;
use lookout_store::now_ms;
use serde_json::Value;

use super::signature::verify;
use super::{MAX_INTERACTIVITY_BYTES, SlackAppEndpoints};
use crate::auth::Actor;
use crate::error::DomainError;
use crate::rest_util::{self, ApiError};

/// Characters of a Slack user's name kept in the incident's record.
const MAX_USER_CHARS: usize = 80;

pub(super) async fn handle(
    State(app): State<Arc<SlackAppEndpoints>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match interact(&app, &headers, body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_response(),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A string of the payload at `path`, empty when absent.
fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .unwrap_or("")
}

async fn interact(
    app: &SlackAppEndpoints,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), ApiError> {
    let config = app.config()?;
    let body = rest_util::bounded(body, MAX_INTERACTIVITY_BYTES)?;
    verify(
        config.signing_secret.expose().as_bytes(),
        header(headers, "x-slack-request-timestamp"),
        header(headers, "x-slack-signature"),
        &body,
        now_ms().div_euclid(1000),
    )
    .map_err(|e| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", e.to_string()))?;
    let payload = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| ApiError {
            status: StatusCode::BAD_REQUEST,
            ..ApiError::field("invalid_request", "payload", "is required")
        })?;
    let v: Value = serde_json::from_str(&payload).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        ..ApiError::field("invalid_request", "payload", &format!("is not JSON: {e}"))
    })?;
    if text(&v, &["type"]) != "block_actions" {
        // Other interactions (shortcuts, views) are not Lookout's; Slack only needs a 200.
        return Ok(());
    }
    let Some(incident_id) = v["actions"].as_array().and_then(|actions| {
        actions
            .iter()
            .find(|a| text(a, &["action_id"]) == RESOLVE_ACTION_ID)
            .map(|a| text(a, &["value"]))
    }) else {
        return Ok(());
    };
    let channel = [
        text(&v, &["container", "channel_id"]),
        text(&v, &["channel", "id"]),
    ]
    .into_iter()
    .find(|c| !c.is_empty())
    .unwrap_or("");
    let ts = [
        text(&v, &["container", "message_ts"]),
        text(&v, &["message", "ts"]),
    ]
    .into_iter()
    .find(|t| !t.is_empty())
    .unwrap_or("");
    // Only a message Lookout posted, for this incident, through an app of the clicking
    // workspace, resolves anything: the button's value alone is not trusted.
    let message = app
        .store
        .slack_message_at(channel, ts)
        .await
        .map_err(DomainError::Store)?
        .filter(|m| m.incident_id == incident_id);
    let Some(message) = message else {
        tracing::warn!(
            channel,
            ts,
            "resolve clicked on a message Lookout does not know"
        );
        return Ok(());
    };
    let integration = match app.store.get_integration(&message.integration_id).await {
        Ok(i) => i,
        Err(lookout_store::StoreError::NotFound) => {
            tracing::warn!(integration_id = %message.integration_id,
                "resolve clicked on a message of a deleted integration");
            return Ok(());
        }
        Err(e) => return Err(DomainError::Store(e).into()),
    };
    let team = text(&v, &["team", "id"]);
    let same_team = matches!(&integration.kind, Some(Kind::SlackApp(s)) if s.team_id == team);
    if !same_team {
        tracing::warn!(integration_id = %integration.id, "resolve clicked from another workspace");
        return Ok(());
    }
    let user_id = text(&v, &["user", "id"]);
    let user = [text(&v, &["user", "username"]), text(&v, &["user", "name"])]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or(user_id);
    let name: String = format!("slack:{user} ({user_id})")
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_CHARS)
        .collect();
    let actor = Actor {
        project: integration.project_id.clone(),
        name,
    };
    match app
        .incidents
        .request(
            &actor,
            incident_id,
            IncidentActionKind::Resolve,
            "resolved from Slack",
        )
        .await
    {
        Ok(_) => {
            tracing::info!(incident_id, integration_id = %integration.id, "resolve clicked in slack");
            Ok(())
        }
        // Resolved already (by a recovery, or another click): the message shows it soon.
        Err(DomainError::FailedPrecondition(_) | DomainError::IncidentNotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
