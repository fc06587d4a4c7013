//! Pushover messages API: `POST {api_url}/1/messages.json`, form-encoded `token`, `user`,
//! `title`, `message` (HTML), `priority`, `url`; emergency priority adds `retry` and
//! `expire`, as Pushover requires.

use lookout_proto::v1::{EventKind, Pushover};
use lookout_proto::validate::FieldError;

use super::summary::{Summary, clip};
use crate::validate::err;
use crate::{Context, RenderError, Request};

pub const DEFAULT_API_URL: &str = "https://api.pushover.net";
/// Pushover's bounds: title, message, supplementary URL; tokens and keys are 30 characters.
const MAX_TITLE_CHARS: usize = 250;
const MAX_MESSAGE_CHARS: usize = 1024;
const MAX_URL_CHARS: usize = 512;
const KEY_LEN: usize = 30;
/// Emergency messages repeat every `retry` seconds (at least 30) until acknowledged or
/// `expire` seconds (at most 10800) have passed.
const EMERGENCY_RETRY_SECS: u32 = 60;
const EMERGENCY_EXPIRE_SECS: u32 = 3600;

pub(super) fn validate(s: &mut Pushover) -> Result<(), FieldError> {
    super::secret_token("pushover.token", &mut s.token, KEY_LEN, Some(KEY_LEN))?;
    super::secret_token("pushover.user_key", &mut s.user_key, KEY_LEN, Some(KEY_LEN))?;
    if !(-2..=2).contains(&s.priority) {
        return Err(err("pushover.priority", "must be -2..=2"));
    }
    super::api_base("pushover.api_url", &mut s.api_url)
}

/// Incidents, escalations and reminders go at `priority`, or at 1 (high) when it is 0;
/// everything else at `priority` when it is below 0, else at 0.
pub(crate) fn priority(configured: i32, kind: EventKind) -> i32 {
    let configured = configured.clamp(-2, 2);
    match kind {
        EventKind::Incident | EventKind::Escalation | EventKind::Reminder => {
            if configured == 0 {
                1
            } else {
                configured
            }
        }
        _ => configured.min(0),
    }
}

pub(super) fn render(s: &Pushover, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let url = super::endpoint(
        "pushover.api_url",
        &s.api_url,
        DEFAULT_API_URL,
        &["1", "messages.json"],
    )?;
    let ev = ctx.event;
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    let sum = Summary::of(ev);
    let mut message = String::new();
    let mut visible = 0;
    for line in sum.plain_lines() {
        let (label, value) = line.split_once(": ").unwrap_or(("", &line));
        let budget = MAX_MESSAGE_CHARS.saturating_sub(visible + label.chars().count() + 3);
        if budget < 2 {
            break;
        }
        let value = clip(value, budget);
        visible += label.chars().count() + value.chars().count() + 3;
        if !message.is_empty() {
            message.push('\n');
        }
        message.push_str(&format!("<b>{}:</b> {}", escape(label), escape(&value)));
    }
    if message.is_empty() {
        message = escape(&sum.title);
    }
    let priority = priority(s.priority, kind);
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("token", &s.token)
        .append_pair("user", &s.user_key)
        .append_pair(
            "title",
            &clip(
                &format!("{} {}", sum.tone.emoji(), sum.title),
                MAX_TITLE_CHARS,
            ),
        )
        .append_pair("message", &message)
        .append_pair("html", "1")
        .append_pair("priority", &priority.to_string());
    if ev.at_ms > 0 {
        form.append_pair("timestamp", &(ev.at_ms / 1000).to_string());
    }
    if let Some(link) = sum
        .link
        .as_deref()
        .filter(|l| l.chars().count() <= MAX_URL_CHARS)
    {
        form.append_pair("url", link)
            .append_pair("url_title", "Open target");
    }
    if priority == 2 {
        form.append_pair("retry", &EMERGENCY_RETRY_SECS.to_string())
            .append_pair("expire", &EMERGENCY_EXPIRE_SECS.to_string());
    }
    Ok(Request {
        method: "POST".into(),
        url: url.to_string(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form.finish().into_bytes(),
    })
}

/// Pushover's HTML mode reads entities: `&`, `<` and `>` escaped.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_go_high_unless_told_otherwise() {
        use EventKind::*;
        for (configured, kind, want) in [
            (0, Incident, 1),
            (0, Reminder, 1),
            (0, Recovery, 0),
            (0, Test, 0),
            (2, Escalation, 2),
            (2, Recovery, 0),
            (-1, Incident, -1),
            (-2, Degraded, -2),
            (1, CertExpiring, 0),
            (9, Incident, 2),
        ] {
            assert_eq!(priority(configured, kind), want, "{configured} {kind:?}");
        }
    }
}
