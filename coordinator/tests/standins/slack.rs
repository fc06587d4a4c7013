//! Slack's Web API as the app uses it, under `/api`: `oauth.v2.access` (the client
//! authenticated with HTTP basic auth or form fields, a code granted once for one
//! `redirect_uri`), `chat.postMessage` and `chat.update` (the bot token as a bearer, JSON
//! bodies, Block Kit bounds checked). Slack answers HTTP 200 with `{"ok": false, "error":
//! ...}` for refusals, as here. Also signs interactivity requests as Slack does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};

pub const CLIENT_ID: &str = "1234567890.0987654321";
pub const CLIENT_SECRET: &str = "slack-client-secret-for-tests";
/// Slack's own example signing secret.
pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const BOT_TOKEN: &str = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy";
pub const USER_TOKEN: &str = "xoxp-1234567890-0987654321-abcdef";
pub const TEAM_ID: &str = "T9TK3CUKW";
pub const TEAM_NAME: &str = "My Workspace";
pub const CHANNEL_ID: &str = "C1234567890";
pub const CHANNEL: &str = "#alerts";
pub const WEBHOOK_URL: &str = "https://hooks.slack.com/services/T9TK3CUKW/B0123/SecretPathXyz";
pub const BOT_USER_ID: &str = "U0KRQLJ9H";
pub const APP_ID: &str = "A0KRD7HC3";

/// One Web API call Slack accepted.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
    /// The message's `ts` (posted or updated).
    pub ts: String,
}

#[derive(Default)]
struct Inner {
    /// Authorization codes Slack's authorize page handed out, with their redirect_uri.
    grants: Mutex<HashMap<String, String>>,
    exchanges: Mutex<Vec<Vec<(String, String)>>>,
    calls: Mutex<Vec<Call>>,
    /// Messages by (channel, ts), as they read now.
    messages: Mutex<HashMap<(String, String), Value>>,
    next_ts: Mutex<u64>,
}

#[derive(Clone)]
pub struct Slack {
    pub url: String,
    inner: Arc<Inner>,
}

fn refuse(error: &str) -> axum::Json<Value> {
    axum::Json(json!({"ok": false, "error": error}))
}

fn oauth_access(inner: &Inner, headers: &HeaderMap, body: &[u8]) -> axum::Json<Value> {
    let form = super::form(body);
    let client = super::basic_auth(headers).or_else(|| {
        Some((
            super::field(&form, "client_id")?.to_string(),
            super::field(&form, "client_secret")?.to_string(),
        ))
    });
    match client {
        None => return refuse("invalid_client_id"),
        Some((id, _)) if id != CLIENT_ID => return refuse("invalid_client_id"),
        Some((_, secret)) if secret != CLIENT_SECRET => return refuse("bad_client_secret"),
        Some(_) => {}
    }
    inner.exchanges.lock().expect("lock").push(form.clone());
    let code = super::field(&form, "code").unwrap_or("");
    let Some(redirect) = inner.grants.lock().expect("lock").remove(code) else {
        return refuse("invalid_code");
    };
    if super::field(&form, "redirect_uri") != Some(redirect.as_str()) {
        return refuse("bad_redirect_uri");
    }
    axum::Json(json!({
        "ok": true,
        "access_token": BOT_TOKEN,
        "token_type": "bot",
        "scope": "chat:write,incoming-webhook",
        "bot_user_id": BOT_USER_ID,
        "app_id": APP_ID,
        "team": {"name": TEAM_NAME, "id": TEAM_ID},
        "enterprise": null,
        "authed_user": {
            "id": "U1234",
            "scope": "chat:write",
            "access_token": USER_TOKEN,
            "token_type": "user",
        },
        "incoming_webhook": {
            "channel": CHANNEL,
            "channel_id": CHANNEL_ID,
            "configuration_url": "https://myworkspace.slack.com/services/B0123",
            "url": WEBHOOK_URL,
        },
    }))
}

/// Block Kit as Slack checks it for the blocks Lookout sends: at most 50, known types,
/// section text 3000, 10 fields of 2000, buttons with an action_id, a label of 75 and a
/// value of 2000.
fn check_blocks(blocks: &Value) -> Result<(), String> {
    let Some(blocks) = blocks.as_array() else {
        return Err("blocks must be an array".into());
    };
    if blocks.is_empty() || blocks.len() > 50 {
        return Err(format!("{} blocks", blocks.len()));
    }
    let chars = |v: &Value| v.as_str().map_or(0, |s| s.chars().count());
    for b in blocks {
        match b["type"].as_str() {
            Some("section") => {
                if b.get("text").is_some() && !(1..=3000).contains(&chars(&b["text"]["text"])) {
                    return Err("section text".into());
                }
                if let Some(fields) = b.get("fields") {
                    let fields = fields.as_array().ok_or("fields")?;
                    if fields.len() > 10 || fields.iter().any(|f| chars(&f["text"]) > 2000) {
                        return Err("section fields".into());
                    }
                }
            }
            Some("context") => {}
            Some("actions") => {
                for e in b["elements"].as_array().ok_or("elements")? {
                    if e["type"] != "button"
                        || !(1..=255).contains(&chars(&e["action_id"]))
                        || !(1..=75).contains(&chars(&e["text"]["text"]))
                        || chars(&e["value"]) > 2000
                    {
                        return Err("button".into());
                    }
                }
            }
            other => return Err(format!("unknown block type {other:?}")),
        }
    }
    Ok(())
}

async fn api(
    State(inner): State<Arc<Inner>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::Json<Value> {
    if method == "oauth.v2.access" {
        return oauth_access(&inner, &headers, &body);
    }
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        None => return refuse("not_authed"),
        Some(v) if v != format!("Bearer {BOT_TOKEN}") => return refuse("invalid_auth"),
        Some(_) => {}
    }
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return refuse("invalid_form_data");
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return refuse("invalid_json");
    };
    if v["channel"] != CHANNEL_ID {
        return refuse("channel_not_found");
    }
    if v["text"].as_str().is_none_or(str::is_empty) {
        return refuse("no_text");
    }
    if let Err(e) = check_blocks(&v["blocks"]) {
        return axum::Json(json!({"ok": false, "error": "invalid_blocks", "detail": e}));
    }
    let mut messages = inner.messages.lock().expect("lock");
    let ts = match method.as_str() {
        "chat.postMessage" => {
            if let Some(thread) = v["thread_ts"].as_str()
                && !messages.contains_key(&(CHANNEL_ID.to_string(), thread.to_string()))
            {
                return refuse("thread_not_found");
            }
            let mut n = inner.next_ts.lock().expect("lock");
            *n += 1;
            format!("1700000000.{:06}", *n)
        }
        "chat.update" => {
            let ts = v["ts"].as_str().unwrap_or("").to_string();
            if !messages.contains_key(&(CHANNEL_ID.to_string(), ts.clone())) {
                return refuse("message_not_found");
            }
            ts
        }
        _ => return refuse("unknown_method"),
    };
    let message = json!({
        "type": "message",
        "text": v["text"],
        "blocks": v["blocks"],
        "bot_id": "B0123",
        "ts": ts,
        "thread_ts": v["thread_ts"],
    });
    messages.insert((CHANNEL_ID.to_string(), ts.clone()), message.clone());
    inner.calls.lock().expect("lock").push(Call {
        method: method.clone(),
        body: v.clone(),
        ts: ts.clone(),
    });
    axum::Json(json!({"ok": true, "channel": CHANNEL_ID, "ts": ts, "message": message}))
}

impl Slack {
    pub async fn start() -> Slack {
        let inner = Arc::new(Inner::default());
        let app = Router::new()
            .route("/api/{method}", post(api))
            .with_state(inner.clone());
        Slack {
            url: super::serve(app).await,
            inner,
        }
    }

    /// The Web API base URL (`slack_app.api_url`).
    pub fn api_url(&self) -> String {
        format!("{}/api", self.url)
    }

    /// What Slack's authorize page does when the user allows the app: hands out `code`,
    /// good once, for `redirect_uri`.
    pub fn grant(&self, code: &str, redirect_uri: &str) {
        self.inner
            .grants
            .lock()
            .expect("lock")
            .insert(code.into(), redirect_uri.into());
    }

    /// The forms of every `oauth.v2.access` call with good client credentials.
    pub fn exchanges(&self) -> Vec<Vec<(String, String)>> {
        self.inner.exchanges.lock().expect("lock").clone()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.calls.lock().expect("lock").clone()
    }

    /// Waits until `n` calls of `method` were accepted; returns them.
    pub async fn wait_calls(&self, method: &str, n: usize) -> Vec<Call> {
        let of = |s: &Slack| -> Vec<Call> {
            s.calls()
                .into_iter()
                .filter(|c| c.method == method)
                .collect()
        };
        super::until(&format!("{n} {method} calls"), || async {
            of(self).len() >= n
        })
        .await;
        of(self)
    }

    /// The message at `ts` as it reads now.
    pub fn message(&self, ts: &str) -> Option<Value> {
        self.inner
            .messages
            .lock()
            .expect("lock")
            .get(&(CHANNEL_ID.to_string(), ts.to_string()))
            .cloned()
    }

    /// Deletes a message, as a user can in Slack.
    pub fn delete(&self, ts: &str) {
        self.inner
            .messages
            .lock()
            .expect("lock")
            .remove(&(CHANNEL_ID.to_string(), ts.to_string()));
    }
}

/// `v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>`, as Slack signs requests.
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// The form body Slack posts when `user` clicks the button `action_id` (value `value`) on
/// message `ts` of `channel` in workspace `team`.
pub fn block_actions(team: &str, channel: &str, ts: &str, action_id: &str, value: &str) -> Vec<u8> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0ALICE01", "username": "alice", "name": "alice", "team_id": team},
        "api_app_id": APP_ID,
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel,
                      "is_ephemeral": false},
        "trigger_id": "123.456.abc",
        "team": {"id": team, "domain": "myworkspace"},
        "channel": {"id": channel, "name": "alerts"},
        "message": {"type": "message", "ts": ts, "text": "incident"},
        "response_url": "https://hooks.slack.com/actions/T9TK3CUKW/1/xyz",
        "actions": [{
            "action_id": action_id,
            "block_id": "lookout_incident",
            "text": {"type": "plain_text", "text": "Resolve"},
            "value": value,
            "type": "button",
            "action_ts": "1700000001.000001",
        }],
    });
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
        .into_bytes()
}
