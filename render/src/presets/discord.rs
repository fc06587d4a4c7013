//! Discord channel webhooks: `content` (the notification line) and one embed coloured by
//! severity, with mentions disabled so a monitor named `@everyone` pings nobody.

use lookout_proto::v1::DiscordWebhook;
use lookout_proto::validate::FieldError;
use serde_json::{Value, json};

use super::summary::{Summary, clip};
use crate::{Context, RenderError, Request};

/// Discord's bounds: content, embed title, description, field name and value, fields.
const MAX_CONTENT_CHARS: usize = 2000;
const MAX_TITLE_CHARS: usize = 256;
const MAX_DESCRIPTION_CHARS: usize = 4096;
const MAX_FIELD_NAME_CHARS: usize = 256;
const MAX_FIELD_VALUE_CHARS: usize = 1024;
const MAX_FIELDS: usize = 25;

pub(super) fn validate(s: &mut DiscordWebhook) -> Result<(), FieldError> {
    super::webhook_url(
        "discord.url",
        &mut s.url,
        &[
            "discord.com",
            "discordapp.com",
            "ptb.discord.com",
            "canary.discord.com",
        ],
        "/api/webhooks/",
        "an https://discord.com/api/webhooks/... URL",
    )
}

pub(super) fn render(s: &DiscordWebhook, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let sum = Summary::of(ctx.event);
    let fields: Vec<Value> = sum
        .facts
        .iter()
        .take(MAX_FIELDS)
        .map(|(label, value)| {
            json!({
                "name": clip(label, MAX_FIELD_NAME_CHARS),
                "value": clip(&escape(value), MAX_FIELD_VALUE_CHARS),
                "inline": value.chars().count() <= 40,
            })
        })
        .collect();
    let mut embed = json!({
        "title": clip(&sum.title, MAX_TITLE_CHARS),
        "color": sum.tone.rgb(),
        "fields": fields,
        "timestamp": sum.timestamp,
        "footer": {"text": "Lookout"},
    });
    if let Some(e) = &sum.error {
        let code = e.replace("```", "'''");
        embed["description"] = json!(clip(&format!("```\n{code}\n```"), MAX_DESCRIPTION_CHARS));
    }
    if let Some(link) = &sum.link {
        embed["url"] = json!(link);
    }
    let body = json!({
        "content": clip(&format!("{} **{}**", sum.tone.emoji(), escape(&sum.title)), MAX_CONTENT_CHARS),
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    });
    Ok(super::json_request("POST", s.url.clone(), vec![], &body))
}

/// Discord markdown escaped with backslashes, so names and errors show as written.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '#' | '[' | ']'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
