//! Mattermost incoming webhooks: Markdown `text`, optionally a `channel` and a `username`
//! overriding the webhook's own.

use lookout_proto::v1::MattermostWebhook;
use lookout_proto::validate::FieldError;
use serde_json::json;

use super::summary::{Summary, clip};
use crate::{Context, RenderError, Request};

/// Mattermost's older servers cap a post at 4000 characters (newer ones at 16383).
const MAX_TEXT_CHARS: usize = 4000;
/// Mattermost's bounds on channel names and user names.
const MAX_CHANNEL_CHARS: usize = 64;
const MAX_USERNAME_CHARS: usize = 64;

pub(super) fn validate(s: &mut MattermostWebhook) -> Result<(), FieldError> {
    // Mattermost is self-hosted: any https URL (or http, which some run inside their network).
    s.url = s.url.trim().to_string();
    super::parse_url("mattermost.url", &s.url)?;
    super::short_text("mattermost.channel", &mut s.channel, MAX_CHANNEL_CHARS)?;
    super::short_text("mattermost.username", &mut s.username, MAX_USERNAME_CHARS)
}

pub(super) fn render(s: &MattermostWebhook, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let sum = Summary::of(ctx.event);
    let mut text = format!("#### {} {}", sum.tone.emoji(), escape(&sum.title));
    for (label, value) in &sum.facts {
        text.push_str(&format!("\n**{label}:** {}", escape(value)));
    }
    if let Some(e) = &sum.error {
        text.push_str(&format!(
            "\n**Error:**\n```\n{}\n```",
            e.replace("```", "'''")
        ));
    }
    let mut body = json!({"text": clip(&text, MAX_TEXT_CHARS)});
    if !s.channel.is_empty() {
        body["channel"] = json!(s.channel);
    }
    if !s.username.is_empty() {
        body["username"] = json!(s.username);
    }
    Ok(super::json_request("POST", s.url.clone(), vec![], &body))
}

/// Markdown escaped with backslashes, so names and errors show as written.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '#' | '[' | ']' | '<' | '>'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
