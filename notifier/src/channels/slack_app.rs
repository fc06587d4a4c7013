//! The Slack app channel: Web API calls with the integration's bot token. The message that
//! opens an incident (with its Resolve button) is posted with `chat.postMessage` and its
//! `ts` remembered per incident and integration; escalations and reminders go into its
//! thread; the resolution rewrites it with `chat.update` (a new message when it is gone).
//! Slack answers HTTP 200 with `{"ok": false, "error": ...}` for most failures: `ratelimited`
//! and Slack's own outages are retried, everything else (`invalid_auth`,
//! `channel_not_found`, `not_in_channel`, ...) is permanent.

use futures::future::BoxFuture;
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EventKind, NotificationEvent, SlackApp};
use lookout_render::presets::slack_app::{has_resolve_button, post, update};
use lookout_render::{Context, Request, Variables};
use lookout_store::slack::SlackMessageRow;
use lookout_store::{Store, now_ms};
use reqwest::StatusCode;
use serde_json::Value;
use tracing::warn;

use super::http::{EXCERPT_BYTES, classify, perform};
use super::{Channel, Delivered, Delivery, Prepared, SendError};

/// One event for a Slack app integration; the call (post, thread reply or update) is picked
/// when it is sent, from the messages remembered then.
#[derive(Debug, Clone)]
pub struct SlackAppMessage {
    pub integration_id: String,
    pub delivery_id: String,
    pub app: SlackApp,
    pub event: NotificationEvent,
    /// The plain post, rendered when prepared (its size is what the payload cap checks).
    pub post: Request,
}

pub struct SlackAppChannel {
    client: reqwest::Client,
    store: Store,
}

impl SlackAppChannel {
    /// `client` calls the Slack Web API the app was installed through (the coordinator's
    /// configured URL, not a user's); `store` keeps the messages' `ts`.
    pub fn new(client: reqwest::Client, store: Store) -> SlackAppChannel {
        SlackAppChannel { client, store }
    }
}

fn context<'a>(m: &'a SlackAppMessage, variables: &'a Variables) -> Context<'a> {
    Context {
        event: &m.event,
        delivery_id: &m.delivery_id,
        now_unix_secs: now_ms().div_euclid(1000),
        variables,
    }
}

fn render_error(e: lookout_render::RenderError) -> SendError {
    SendError::permanent(format!("rendering the message: {e}"))
}

impl Channel for SlackAppChannel {
    fn prepare(&self, d: &Delivery<'_>) -> Result<Prepared, SendError> {
        let Some(Kind::SlackApp(app)) = &d.integration.kind else {
            return Err(SendError::permanent("not a Slack app integration"));
        };
        let ctx = Context {
            event: d.event,
            delivery_id: d.id,
            now_unix_secs: d.now_unix_secs,
            variables: d.variables,
        };
        let post = post(app, &ctx, None).map_err(render_error)?;
        Ok(Prepared::SlackApp(Box::new(SlackAppMessage {
            integration_id: d.integration.id.clone(),
            delivery_id: d.id.to_string(),
            app: app.clone(),
            event: d.event.clone(),
            post,
        })))
    }

    fn send<'a>(&'a self, p: &'a Prepared) -> BoxFuture<'a, Result<Delivered, SendError>> {
        Box::pin(async move {
            let Prepared::SlackApp(m) = p else {
                return Err(SendError::permanent("not a Slack app message"));
            };
            self.deliver(m).await
        })
    }
}

impl SlackAppChannel {
    async fn deliver(&self, m: &SlackAppMessage) -> Result<Delivered, SendError> {
        let vars = Variables::new();
        let ctx = context(m, &vars);
        let incident = m
            .event
            .incident
            .as_ref()
            .map(|i| i.id.as_str())
            .unwrap_or("");
        let known = if incident.is_empty() {
            None
        } else {
            self.store
                .slack_message(incident, &m.integration_id)
                .await
                .map_err(|e| SendError::retryable(format!("reading the incident's message: {e}")))?
        };
        let kind = EventKind::try_from(m.event.kind).unwrap_or(EventKind::Unspecified);
        match (kind, &known) {
            (EventKind::Recovery | EventKind::DegradedRecovery, Some(k)) => {
                let r = update(&m.app, &ctx, &k.ts).map_err(render_error)?;
                match call(&self.client, &r).await {
                    // The message was deleted in Slack: say it in a new one.
                    Err(SendError::Permanent { reason, .. })
                        if reason.contains("message_not_found")
                            || reason.contains("cant_update_message") =>
                    {
                        call(&self.client, &m.post).await.map(|(d, _)| d)
                    }
                    other => other.map(|(d, _)| d),
                }
            }
            (EventKind::Escalation | EventKind::Reminder, Some(k)) => {
                let r = post(&m.app, &ctx, Some(&k.ts)).map_err(render_error)?;
                call(&self.client, &r).await.map(|(d, _)| d)
            }
            _ => {
                let (delivered, answer) = call(&self.client, &m.post).await?;
                if has_resolve_button(&m.event) {
                    self.remember(m, incident, &answer).await;
                }
                Ok(delivered)
            }
        }
    }

    /// Remembers the posted message of `incident` (its channel and `ts` from Slack's
    /// answer). A failure costs only the later update, so the delivery stays delivered.
    async fn remember(&self, m: &SlackAppMessage, incident: &str, answer: &Value) {
        let (Some(channel), Some(ts)) = (answer["channel"].as_str(), answer["ts"].as_str()) else {
            warn!(integration_id = %m.integration_id, "chat.postMessage answered without channel and ts");
            return;
        };
        let row = SlackMessageRow {
            incident_id: incident.to_string(),
            integration_id: m.integration_id.clone(),
            channel_id: channel.chars().take(64).collect(),
            ts: ts.chars().take(64).collect(),
        };
        if let Err(e) = self.store.remember_slack_message(&row, now_ms()).await {
            warn!(integration_id = %m.integration_id, incident_id = incident, error = %e,
                "the posted message was not remembered; its resolution is posted anew");
        }
    }
}

/// Bytes of a Web API answer read (`chat.postMessage` echoes the whole message).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// One Web API call: delivered with Slack's answer, or the failure classified.
async fn call(client: &reqwest::Client, r: &Request) -> Result<(Delivered, Value), SendError> {
    let (status, retry_after, body) = perform(client, r, MAX_ANSWER_BYTES).await?;
    let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let excerpt = clip(&body);
    let delivered = classify(status, retry_after.as_deref(), excerpt)?;
    if answer["ok"] == Value::Bool(true) {
        return Ok((delivered, answer));
    }
    let error = answer["error"].as_str().unwrap_or("no ok in the answer");
    let reason = format!("Slack answered {error}");
    if matches!(
        error,
        "ratelimited"
            | "internal_error"
            | "fatal_error"
            | "service_unavailable"
            | "request_timeout"
    ) {
        return Err(SendError::Retryable {
            reason,
            retry_after: None,
            status: Some(StatusCode::OK.as_u16()),
            excerpt: delivered.excerpt,
        });
    }
    Err(SendError::Permanent {
        reason,
        status: Some(StatusCode::OK.as_u16()),
        excerpt: delivered.excerpt,
    })
}

/// `text` cut to [`EXCERPT_BYTES`] at a character boundary, for the attempt log.
fn clip(text: &str) -> String {
    let mut end = text.len().min(EXCERPT_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}
