//! PagerDuty Events API v2: `POST {api_url}/v2/enqueue`; what opens an alert triggers, what
//! ends one resolves, both on one `dedup_key` ([`super::alert_key`]).

use lookout_proto::v1::{EventKind, PagerDutyEvents};
use lookout_proto::validate::FieldError;
use serde_json::{Map, Value, json};

use super::summary::{Summary, Tone, clip};
use super::{AlertAction, alert_action, alert_key};
use crate::validate::err;
use crate::{Context, RenderError, Request};

pub const DEFAULT_API_URL: &str = "https://events.pagerduty.com";
pub const SEVERITIES: [&str; 4] = ["critical", "error", "warning", "info"];
/// PagerDuty's bounds on `summary` and `dedup_key`; integration keys are 32 characters.
const MAX_SUMMARY_CHARS: usize = 1024;
const MAX_DEDUP_KEY_CHARS: usize = 255;
const ROUTING_KEY_LEN: usize = 32;

pub(super) fn validate(s: &mut PagerDutyEvents) -> Result<(), FieldError> {
    super::secret_token(
        "pagerduty.routing_key",
        &mut s.routing_key,
        ROUTING_KEY_LEN,
        Some(ROUTING_KEY_LEN),
    )?;
    s.severity = s.severity.trim().to_ascii_lowercase();
    if s.severity.is_empty() {
        s.severity = "critical".into();
    }
    if !SEVERITIES.contains(&s.severity.as_str()) {
        return Err(err(
            "pagerduty.severity",
            "must be critical, error, warning or info",
        ));
    }
    super::api_base("pagerduty.api_url", &mut s.api_url)
}

pub(super) fn render(s: &PagerDutyEvents, ctx: &Context<'_>) -> Result<Request, RenderError> {
    let url = super::endpoint(
        "pagerduty.api_url",
        &s.api_url,
        DEFAULT_API_URL,
        &["v2", "enqueue"],
    )?;
    let ev = ctx.event;
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    let dedup_key = clip(&alert_key(ev, ctx.delivery_id), MAX_DEDUP_KEY_CHARS);
    let body = match alert_action(kind) {
        AlertAction::Close => json!({
            "routing_key": s.routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }),
        AlertAction::Open => {
            let sum = Summary::of(ev);
            let severity = match sum.tone {
                Tone::Critical if s.severity.is_empty() => "critical",
                Tone::Critical => s.severity.as_str(),
                // As integration.proto documents: degraded and other warnings always `warning`.
                Tone::Warning | Tone::Resolved => "warning",
                Tone::Info => "info",
            };
            let monitor = ev.monitor.clone().unwrap_or_default();
            let result = ev.result.clone().unwrap_or_default();
            let mut details: Map<String, Value> = sum
                .facts
                .iter()
                .map(|(l, v)| (l.to_string(), Value::String(v.clone())))
                .collect();
            if let Some(e) = &sum.error {
                details.insert("Error".into(), json!(e));
            }
            details.insert("Event".into(), json!(crate::kind_label(kind)));
            let source = [
                monitor.target.as_str(),
                monitor.name.as_str(),
                monitor.id.as_str(),
            ]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("lookout");
            let mut payload = json!({
                "summary": clip(&sum.title, MAX_SUMMARY_CHARS),
                "source": clip(source, MAX_SUMMARY_CHARS),
                "severity": severity,
                "timestamp": sum.timestamp,
                "custom_details": details,
            });
            if !monitor.name.is_empty() {
                payload["component"] = json!(monitor.name);
            }
            if !result.region.is_empty() {
                payload["group"] = json!(result.region);
            }
            if !result.failure.is_empty() {
                payload["class"] = json!(result.failure);
            }
            let mut body = json!({
                "routing_key": s.routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key,
                "client": "Lookout",
                "payload": payload,
            });
            if let Some(link) = &sum.link {
                body["links"] = json!([{"href": link, "text": "Monitored target"}]);
            }
            body
        }
    };
    Ok(super::json_request("POST", url.to_string(), vec![], &body))
}
