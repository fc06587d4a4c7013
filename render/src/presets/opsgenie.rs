//! Opsgenie Alert API: what opens an alert creates one (`POST {api_url}/v2/alerts`), what
//! ends one closes it by the same alias (`POST {api_url}/v2/alerts/{alias}/close
//! ?identifierType=alias`); `Authorization: GenieKey <key>`.

use lookout_proto::v1::{EventKind, Opsgenie};
use lookout_proto::validate::FieldError;
use serde_json::{Map, Value, json};

use super::summary::{Summary, Tone, clip};
use super::{AlertAction, alert_action, alert_key};
use crate::validate::err;
use crate::{Context, RenderError, Request};

pub const DEFAULT_API_URL: &str = "https://api.opsgenie.com";
/// Opsgenie's bounds on `message`, `alias`, `description`, `entity`, `source` and `note`.
pub const MAX_MESSAGE_CHARS: usize = 130;
const MAX_ALIAS_CHARS: usize = 512;
const MAX_DESCRIPTION_CHARS: usize = 15_000;
const MAX_ENTITY_CHARS: usize = 512;
const MAX_NOTE_CHARS: usize = 25_000;
const MAX_KEY_BYTES: usize = 128;

pub(super) fn validate(s: &mut Opsgenie) -> Result<(), FieldError> {
    super::secret_token("opsgenie.api_key", &mut s.api_key, MAX_KEY_BYTES, None)?;
    s.priority = s.priority.trim().to_ascii_uppercase();
    if s.priority.is_empty() {
        s.priority = "P3".into();
    }
    if priority_number(&s.priority).is_none() {
        return Err(err("opsgenie.priority", "must be P1, P2, P3, P4 or P5"));
    }
    super::api_base("opsgenie.api_url", &mut s.api_url)
}

fn priority_number(p: &str) -> Option<u8> {
    p.strip_prefix('P')
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=5).contains(n))
}

pub(super) fn render(s: &Opsgenie, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let ev = ctx.event;
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    let alias = clip(&alert_key(ev, ctx.delivery_id), MAX_ALIAS_CHARS);
    let sum = Summary::of(ev);
    let auth = vec![(
        "authorization".to_string(),
        format!("GenieKey {}", s.api_key),
    )];
    let field = "opsgenie.api_url";
    if alert_action(kind) == AlertAction::Close {
        let mut url = super::endpoint(
            field,
            &s.api_url,
            DEFAULT_API_URL,
            &["v2", "alerts", &alias, "close"],
        )?;
        url.set_query(Some("identifierType=alias"));
        let body = json!({
            "source": "Lookout",
            "note": clip(&sum.title, MAX_NOTE_CHARS),
        });
        return Ok(super::json_request("POST", url.to_string(), auth, &body));
    }
    let configured = priority_number(&s.priority).unwrap_or(3);
    // Warnings go one step lower than incidents, tests lowest.
    let priority = match sum.tone {
        Tone::Critical => configured,
        Tone::Warning | Tone::Resolved => configured.max(4),
        Tone::Info => 5,
    };
    let mut details: Map<String, Value> = sum
        .facts
        .iter()
        .map(|(l, v)| (l.to_string(), Value::String(v.clone())))
        .collect();
    if let Some(e) = &sum.error {
        details.insert("Error".into(), json!(e));
    }
    details.insert("Event".into(), json!(crate::kind_label(kind)));
    let monitor = ev.monitor.clone().unwrap_or_default();
    let body = json!({
        "message": clip(&sum.title, MAX_MESSAGE_CHARS),
        "alias": alias,
        "description": clip(&sum.plain_lines().join("\n"), MAX_DESCRIPTION_CHARS),
        "details": details,
        "entity": clip(if monitor.name.is_empty() { &monitor.id } else { &monitor.name }, MAX_ENTITY_CHARS),
        "source": "Lookout",
        "tags": ["lookout", crate::kind_label(kind)],
        "priority": format!("P{priority}"),
    });
    let url = super::endpoint(field, &s.api_url, DEFAULT_API_URL, &["v2", "alerts"])?;
    Ok(super::json_request("POST", url.to_string(), auth, &body))
}
