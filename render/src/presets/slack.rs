//! Slack incoming webhooks: `text` (the notification line) and one attachment coloured by
//! severity holding Block Kit sections (title, facts as fields, the error).

use lookout_proto::v1::SlackWebhook;
use lookout_proto::validate::FieldError;
use serde_json::{Value, json};

use super::summary::{Summary, clip};
use crate::{Context, RenderError, Request};

/// Slack's bounds: a section's text, a field's text, fields per section.
const MAX_SECTION_CHARS: usize = 3000;
const MAX_FIELD_CHARS: usize = 2000;
const MAX_FIELDS: usize = 10;
/// Slack channel names are at most 80 characters (plus `#` or `@`).
const MAX_CHANNEL_CHARS: usize = 81;

pub(super) fn validate(s: &mut SlackWebhook) -> Result<(), FieldError> {
    super::webhook_url(
        "slack.url",
        &mut s.url,
        &["hooks.slack.com", "hooks.slack-gov.com"],
        "/",
        "an https://hooks.slack.com/services/... URL",
    )?;
    super::short_text("slack.channel", &mut s.channel, MAX_CHANNEL_CHARS)?;
    if s.channel.contains(' ') {
        return Err(crate::validate::err(
            "slack.channel",
            "must not hold spaces",
        ));
    }
    Ok(())
}

pub(super) fn render(s: &SlackWebhook, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let sum = Summary::of(ctx.event);
    let title = title(&sum);
    let mut body = json!({
        "text": title,
        "attachments": [{"color": sum.tone.hex(), "fallback": title, "blocks": blocks(&sum)}],
    });
    if !s.channel.is_empty() {
        body["channel"] = json!(s.channel);
    }
    Ok(super::json_request("POST", s.url.clone(), vec![], &body))
}

/// The notification line: the tone's emoji and the escaped title.
pub(super) fn title(sum: &Summary) -> String {
    format!("{} {}", sum.tone.emoji(), escape(&sum.title))
}

/// Block Kit sections of an event: the title, the facts as fields, the error, a context line.
pub(super) fn blocks(sum: &Summary) -> Vec<Value> {
    let title = title(sum);
    let mut blocks = vec![json!({
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(&format!("*{title}*"), MAX_SECTION_CHARS)},
    })];
    let fields: Vec<Value> = sum
        .facts
        .iter()
        .take(MAX_FIELDS)
        .map(|(label, value)| {
            json!({
                "type": "mrkdwn",
                "text": clip(&format!("*{label}*\n{}", escape(value)), MAX_FIELD_CHARS),
            })
        })
        .collect();
    if !fields.is_empty() {
        blocks.push(json!({"type": "section", "fields": fields}));
    }
    if let Some(e) = &sum.error {
        // Inside a code block nothing is markup; only &, < and > still need escaping.
        let code = escape(&e.replace("```", "'''"));
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": clip(&format!("*Error*\n```{code}```"), MAX_SECTION_CHARS)},
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": format!("Lookout · {}", sum.timestamp)}],
    }));
    blocks
}

/// Slack's mrkdwn escaping: `&`, `<` and `>` only (so `<!channel>` in a monitor's name
/// cannot ping anyone).
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
