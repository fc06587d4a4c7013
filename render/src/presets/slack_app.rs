//! The Slack app (OAuth-installed, `SlackApp`): Web API calls with the bot token.
//! `chat.postMessage` posts an event as Block Kit sections, with a Resolve button while an
//! incident is open; `chat.update` rewrites that message when the incident resolves (the
//! notifier remembers its `ts`); escalations and reminders go into the message's thread.

use lookout_proto::v1::{EventKind, NotificationEvent, SlackApp};
use lookout_proto::validate::FieldError;
use serde_json::{Value, json};

use super::slack::{blocks, title};
use super::summary::Summary;
use crate::validate::err;
use crate::{Context, RenderError, Request};

/// The Web API when an integration names none.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// `action_id` of the Resolve button; its `value` is the incident's id.
pub const RESOLVE_ACTION_ID: &str = "lookout_resolve";
/// `block_id` of the block holding the button.
pub const ACTIONS_BLOCK_ID: &str = "lookout_incident";
/// Bounds of what Slack's OAuth answer gives: ids, names, tokens.
const MAX_ID_BYTES: usize = 32;
const MAX_NAME_CHARS: usize = 100;
const MAX_TOKEN_BYTES: usize = 512;

fn slack_id(field: &str, v: &str, first: &[u8], required: bool) -> Result<(), FieldError> {
    if v.is_empty() && !required {
        return Ok(());
    }
    let ok = (2..=MAX_ID_BYTES).contains(&v.len())
        && first.contains(&v.as_bytes()[0])
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok {
        return Ok(());
    }
    let starts: Vec<String> = first.iter().map(|b| char::from(*b).to_string()).collect();
    Err(err(
        field,
        format!(
            "must be a Slack id: {} and upper-case letters or digits, at most {MAX_ID_BYTES}",
            starts.join(" or ")
        ),
    ))
}

fn token(field: &str, v: &str, prefix: &str, required: bool) -> Result<(), FieldError> {
    if v.is_empty() && !required {
        return Ok(());
    }
    if !v.starts_with(prefix)
        || v.len() > MAX_TOKEN_BYTES
        || !v.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(err(
            field,
            format!("must be a {prefix}... token of at most {MAX_TOKEN_BYTES} printable bytes"),
        ));
    }
    Ok(())
}

/// Checks what the OAuth exchange gave (Slack's answer is input like any other).
pub(super) fn validate(s: &mut SlackApp) -> Result<(), FieldError> {
    slack_id("slack_app.team_id", &s.team_id, b"TE", true)?;
    super::short_text("slack_app.team_name", &mut s.team_name, MAX_NAME_CHARS)?;
    slack_id("slack_app.channel_id", &s.channel_id, b"CGD", true)?;
    super::short_text(
        "slack_app.channel_name",
        &mut s.channel_name,
        MAX_NAME_CHARS,
    )?;
    token("slack_app.bot_token", &s.bot_token, "xoxb-", true)?;
    token("slack_app.user_token", &s.user_token, "xoxp-", false)?;
    if !s.webhook_url.is_empty() {
        super::webhook_url(
            "slack_app.webhook_url",
            &mut s.webhook_url,
            &["hooks.slack.com", "hooks.slack-gov.com"],
            "/",
            "an https://hooks.slack.com/services/... URL",
        )?;
    }
    slack_id("slack_app.bot_user_id", &s.bot_user_id, b"UWB", false)?;
    slack_id("slack_app.app_id", &s.app_id, b"A", false)?;
    super::api_base("slack_app.api_url", &mut s.api_url)
}

/// The name the document shows: `My Workspace #alerts`.
pub fn default_name(s: &SlackApp) -> String {
    let channel = if s.channel_name.is_empty() {
        s.channel_id.clone()
    } else if s.channel_name.starts_with('#') {
        s.channel_name.clone()
    } else {
        format!("#{}", s.channel_name)
    };
    format!("{} {channel}", s.team_name).trim().to_string()
}

/// Whether the message of `ev` carries the Resolve button: it opens an incident that is
/// still open.
pub fn has_resolve_button(ev: &NotificationEvent) -> bool {
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    matches!(kind, EventKind::Incident | EventKind::Degraded)
        && ev
            .incident
            .as_ref()
            .is_some_and(|i| !i.id.is_empty() && i.resolved_at_ms == 0)
}

/// The message of `ev`: its notification line and blocks (with the Resolve button when
/// [`has_resolve_button`]).
fn message(ev: &NotificationEvent) -> (String, Vec<Value>) {
    let sum = Summary::of(ev);
    let mut blocks = blocks(&sum);
    if has_resolve_button(ev) {
        let incident = ev.incident.as_ref().map(|i| i.id.as_str()).unwrap_or("");
        blocks.push(json!({
            "type": "actions",
            "block_id": ACTIONS_BLOCK_ID,
            "elements": [{
                "type": "button",
                "action_id": RESOLVE_ACTION_ID,
                "text": {"type": "plain_text", "text": "Resolve"},
                "style": "primary",
                "value": incident,
            }],
        }));
    }
    (title(&sum), blocks)
}

fn call(s: &SlackApp, method: &str, body: &Value) -> Result<Request, RenderError> {
    let url = super::endpoint("slack_app.api_url", &s.api_url, DEFAULT_API_URL, &[method])?;
    let mut r = super::json_request(
        "POST",
        url.to_string(),
        vec![("authorization".into(), format!("Bearer {}", s.bot_token))],
        body,
    );
    // Slack asks for the charset with JSON bodies.
    r.headers[0].1 = "application/json; charset=utf-8".into();
    Ok(r)
}

/// `chat.postMessage` of `ctx.event` into the integration's channel, in the thread of
/// `thread_ts` when given.
pub fn post(
    s: &SlackApp,
    ctx: &Context<'_>,
    thread_ts: Option<&str>,
) -> Result<Request, RenderError> {
    let (text, blocks) = message(ctx.event);
    let mut body = json!({
        "channel": s.channel_id,
        "text": text,
        "blocks": blocks,
        "unfurl_links": false,
    });
    if let Some(ts) = thread_ts {
        body["thread_ts"] = json!(ts);
    }
    call(s, "chat.postMessage", &body)
}

/// `chat.update` of message `ts` to show `ctx.event` (a resolution: no button).
pub fn update(s: &SlackApp, ctx: &Context<'_>, ts: &str) -> Result<Request, RenderError> {
    let (text, blocks) = message(ctx.event);
    let body = json!({
        "channel": s.channel_id,
        "ts": ts,
        "text": text,
        "blocks": blocks,
    });
    call(s, "chat.update", &body)
}

pub(super) fn render(s: &SlackApp, ctx: &Context<'_>) -> Result<Request, RenderError> {
    post(s, ctx, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change that makes a valid value invalid.
    type Change = fn(&mut SlackApp);
    use crate::Variables;

    fn app() -> SlackApp {
        SlackApp {
            team_id: "T0123ABC".into(),
            team_name: "My Workspace".into(),
            channel_id: "C1234567890".into(),
            channel_name: "#alerts".into(),
            bot_token: "xoxb-1-2-abc".into(),
            user_token: "xoxp-1-2-def".into(),
            webhook_url: "https://hooks.slack.com/services/T0/B0/x".into(),
            bot_user_id: "U1234567890".into(),
            app_id: "A0KRD7HC3".into(),
            api_url: "http://127.0.0.1:9/api".into(),
        }
    }

    #[test]
    fn validates_what_oauth_gave() {
        let mut ok = app();
        validate(&mut ok).expect("valid");
        assert_eq!(default_name(&ok), "My Workspace #alerts");
        let cases: [(Change, &str); 6] = [
            (|s| s.team_id = "t1".into(), "slack_app.team_id"),
            (|s| s.channel_id.clear(), "slack_app.channel_id"),
            (|s| s.bot_token = "xoxp-1".into(), "slack_app.bot_token"),
            (|s| s.user_token = "abc".into(), "slack_app.user_token"),
            (
                |s| s.webhook_url = "https://evil.example/services/x".into(),
                "slack_app.webhook_url",
            ),
            (|s| s.team_name = "a\nb".into(), "slack_app.team_name"),
        ];
        for (change, field) in cases {
            let mut s = app();
            change(&mut s);
            assert_eq!(validate(&mut s).expect_err(field).field, field);
        }
    }

    #[test]
    fn incidents_carry_a_resolve_button_and_resolutions_do_not() {
        let vars = Variables::new();
        let mut ev = crate::sample_event();
        fn ctx<'a>(ev: &'a NotificationEvent, vars: &'a Variables) -> Context<'a> {
            Context {
                event: ev,
                delivery_id: "dlv_1",
                now_unix_secs: 0,
                variables: vars,
            }
        }
        let r = post(&app(), &ctx(&ev, &vars), None).expect("post");
        assert_eq!(r.url, "http://127.0.0.1:9/api/chat.postMessage");
        assert!(
            r.headers
                .contains(&("authorization".into(), "Bearer xoxb-1-2-abc".into()))
        );
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["channel"], "C1234567890");
        let button = body["blocks"]
            .as_array()
            .and_then(|b| b.last())
            .map(|b| b["elements"][0].clone())
            .expect("actions block");
        assert_eq!(button["action_id"], RESOLVE_ACTION_ID);
        assert_eq!(button["value"], "inc_sample");
        assert!(body.get("thread_ts").is_none());

        ev.kind = EventKind::Reminder as i32;
        let body: Value = serde_json::from_slice(
            &post(&app(), &ctx(&ev, &vars), Some("1.2"))
                .expect("post")
                .body,
        )
        .expect("json");
        assert_eq!(body["thread_ts"], "1.2");
        assert!(!body.to_string().contains(RESOLVE_ACTION_ID));

        ev.kind = EventKind::Recovery as i32;
        ev.resolved_reason = "manual".into();
        let r = update(&app(), &ctx(&ev, &vars), "1.2").expect("update");
        assert_eq!(r.url, "http://127.0.0.1:9/api/chat.update");
        let body: Value = serde_json::from_slice(&r.body).expect("json");
        assert_eq!(body["ts"], "1.2");
        assert!(!body.to_string().contains(RESOLVE_ACTION_ID));
        assert!(
            body["text"]
                .as_str()
                .is_some_and(|t| t.contains("incident resolved (manual)")),
            "{body}"
        );
    }
}
