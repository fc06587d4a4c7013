//! Telegram Bot API `sendMessage`: `POST {api_url}/bot<token>/sendMessage` with `chat_id`,
//! `text` in `parse_mode` HTML (every value escaped) and link previews off.

use lookout_proto::v1::TelegramBot;
use lookout_proto::validate::FieldError;
use serde_json::json;

use super::summary::{Summary, clip};
use crate::validate::err;
use crate::{Context, RenderError, Request};

pub const DEFAULT_API_URL: &str = "https://api.telegram.org";
/// Telegram's bound on a message's text, in characters after entities are parsed.
const MAX_TEXT_CHARS: usize = 4096;
/// Bot tokens are `<bot id>:<secret>`, about 46 bytes; this leaves room.
const MAX_TOKEN_BYTES: usize = 128;

pub(super) fn validate(s: &mut TelegramBot) -> Result<(), FieldError> {
    super::secret_token(
        "telegram.bot_token",
        &mut s.bot_token,
        MAX_TOKEN_BYTES,
        None,
    )?;
    let token_shape = s.bot_token.split_once(':').is_some_and(|(id, secret)| {
        !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_digit())
            && !secret.is_empty()
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    });
    if !token_shape {
        return Err(err(
            "telegram.bot_token",
            "must be <bot id>:<secret>, as BotFather gives it",
        ));
    }
    s.chat_id = s.chat_id.trim().to_string();
    let numeric = s.chat_id.strip_prefix('-').unwrap_or(&s.chat_id);
    let is_id =
        !numeric.is_empty() && numeric.len() <= 20 && numeric.bytes().all(|b| b.is_ascii_digit());
    let is_channel = s.chat_id.strip_prefix('@').is_some_and(|n| {
        (5..=32).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    });
    if s.chat_id.is_empty() {
        return Err(err("telegram.chat_id", "is required"));
    }
    if !is_id && !is_channel {
        return Err(err(
            "telegram.chat_id",
            "must be a chat id (-100123...) or @channelusername",
        ));
    }
    super::api_base("telegram.api_url", &mut s.api_url)
}

pub(super) fn render(s: &TelegramBot, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let sum = Summary::of(ctx.event);
    let url = super::endpoint(
        "telegram.api_url",
        &s.api_url,
        DEFAULT_API_URL,
        &[&format!("bot{}", s.bot_token), "sendMessage"],
    )?;
    // Bounds are counted on the visible text (what Telegram counts); markup is added after.
    let mut visible = sum.title.chars().count() + 3;
    let mut text = format!("{} <b>{}</b>", sum.tone.emoji(), escape(&sum.title));
    let mut lines: Vec<(String, String)> = sum
        .facts
        .iter()
        .map(|(l, v)| (l.to_string(), v.clone()))
        .collect();
    if let Some(e) = &sum.error {
        lines.push(("Error".into(), e.clone()));
    }
    for (label, value) in lines {
        let budget = MAX_TEXT_CHARS.saturating_sub(visible + label.chars().count() + 3);
        if budget < 2 {
            break;
        }
        let value = clip(&value, budget);
        visible += label.chars().count() + value.chars().count() + 3;
        text.push_str(&format!("\n<b>{}:</b> {}", escape(&label), escape(&value)));
    }
    // A chat id of digits goes as a number, `@channel` as a string, as the Bot API documents.
    let chat_id = s
        .chat_id
        .parse::<i64>()
        .map(|n| json!(n))
        .unwrap_or_else(|_| json!(s.chat_id));
    let body = json!({
        "chat_id": chat_id,
        "text": text,
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": true},
    });
    Ok(super::json_request("POST", url.to_string(), vec![], &body))
}

/// What Telegram's HTML parse mode requires escaped: `&`, `<` and `>`.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
