//! Presets: the chat and paging services Lookout speaks to natively, one file each. Each
//! renders the request its service documents for every event kind, and validates its own
//! settings form; this module holds the one `match` on the kind and what they share (URL
//! rules, the alert key that ties a recovery to the alert its incident raised).

mod discord;
mod mattermost;
mod opsgenie;
mod pagerduty;
mod pushover;
mod slack;
pub mod slack_app;
pub(crate) mod summary;
mod teams;
mod telegram;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EventKind, NotificationEvent};
use lookout_proto::validate::FieldError;

use crate::validate::{MAX_URL_BYTES, err};
use crate::{Context, RenderError, Request};

/// The request preset `kind` sends for `ctx.event`. The webhook kind is not a preset.
pub fn render(kind: &Kind, ctx: &Context<'_>) -> Result<Request, RenderError> {
    if !sends(kind, event_kind(ctx.event)) {
        return Err(RenderError::new(
            "event",
            format!(
                "{} has no use for {} events (the notifier skips them)",
                kind_field(kind),
                crate::kind_label(event_kind(ctx.event))
            ),
        ));
    }
    match kind {
        Kind::Slack(s) => slack::render(s, ctx),
        Kind::Discord(s) => discord::render(s, ctx),
        Kind::Telegram(s) => telegram::render(s, ctx),
        Kind::Mattermost(s) => mattermost::render(s, ctx),
        Kind::Teams(s) => teams::render(s, ctx),
        Kind::Pagerduty(s) => pagerduty::render(s, ctx),
        Kind::Opsgenie(s) => opsgenie::render(s, ctx),
        Kind::Pushover(s) => pushover::render(s, ctx),
        Kind::SlackApp(s) => slack_app::render(s, ctx),
        Kind::Sms(_) => Err(RenderError::new(
            "sms",
            "is sent through the deployment's Twilio account (lookout_render::sms)",
        )),
        Kind::Webhook(_) | Kind::Email(_) | Kind::SshRestart(_) => Err(RenderError::new(
            "kind",
            format!("the {} kind is not a preset", kind_field(kind)),
        )),
    }
}

/// Checks preset `kind`'s settings and fills their defaults (severity, priority).
pub fn validate(kind: &mut Kind) -> Result<(), FieldError> {
    match kind {
        Kind::Slack(s) => slack::validate(s),
        Kind::Discord(s) => discord::validate(s),
        Kind::Telegram(s) => telegram::validate(s),
        Kind::Mattermost(s) => mattermost::validate(s),
        Kind::Teams(s) => teams::validate(s),
        Kind::Pagerduty(s) => pagerduty::validate(s),
        Kind::Opsgenie(s) => opsgenie::validate(s),
        Kind::Pushover(s) => pushover::validate(s),
        Kind::SlackApp(s) => slack_app::validate(s),
        Kind::Sms(s) => crate::sms::validate(s),
        Kind::Webhook(_) | Kind::Email(_) | Kind::SshRestart(_) => Err(err(
            "kind",
            format!("the {} kind is not a preset", kind_field(kind)),
        )),
    }
}

/// False when `kind` has no use for events of `event`: PagerDuty and Opsgenie keep
/// notifying about an open alert themselves, so Lookout's reminders would only add noise.
/// Such events are skipped (never enqueued, never sent), as if the integration's
/// `EventFilter` excluded them. Every other pair is sent.
pub fn sends(kind: &Kind, event: EventKind) -> bool {
    match kind {
        Kind::Pagerduty(_) | Kind::Opsgenie(_) => {
            !matches!(event, EventKind::Reminder | EventKind::Unspecified)
        }
        _ => true,
    }
}

fn event_kind(ev: &NotificationEvent) -> EventKind {
    EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified)
}

fn kind_field(kind: &Kind) -> &'static str {
    match kind {
        Kind::Webhook(_) => "webhook",
        Kind::Slack(_) => "slack",
        Kind::Discord(_) => "discord",
        Kind::Telegram(_) => "telegram",
        Kind::Mattermost(_) => "mattermost",
        Kind::Teams(_) => "teams",
        Kind::Pagerduty(_) => "pagerduty",
        Kind::Opsgenie(_) => "opsgenie",
        Kind::Pushover(_) => "pushover",
        Kind::Sms(_) => "sms",
        Kind::SlackApp(_) => "slack_app",
        Kind::Email(_) => "email",
        Kind::SshRestart(_) => "ssh_restart",
    }
}

/// Whether an event opens (or re-raises) an alert, closes one, or is only news.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertAction {
    Open,
    Close,
}

/// What a paging service does with `kind`: incidents, escalations, degraded, no data, a
/// certificate close to expiry, flapping and tests open an alert; their ends close it.
pub(crate) fn alert_action(kind: EventKind) -> AlertAction {
    match kind {
        EventKind::Recovery
        | EventKind::DegradedRecovery
        | EventKind::DataResumed
        | EventKind::CertRenewed
        | EventKind::FlappingEnded => AlertAction::Close,
        _ => AlertAction::Open,
    }
}

/// The key of the alert an event opens or closes (PagerDuty's `dedup_key`, Opsgenie's
/// `alias`): stable, so the event that ends something closes exactly the alert its start
/// opened. Incident events use the incident's id (`lookout-inc_...`); events without an
/// incident use the monitor's id and what they are about; a test gets one of its own.
pub(crate) fn alert_key(ev: &NotificationEvent, delivery_id: &str) -> String {
    let kind = event_kind(ev);
    let incident = ev
        .incident
        .as_ref()
        .map(|i| i.id.as_str())
        .unwrap_or_default();
    let monitor = ev
        .monitor
        .as_ref()
        .map(|m| m.id.as_str())
        .unwrap_or_default();
    let about = match kind {
        EventKind::Test => return format!("lookout-test-{delivery_id}"),
        EventKind::NoData | EventKind::DataResumed => "no-data",
        EventKind::CertExpiring | EventKind::CertRenewed => "certificate",
        EventKind::Flapping | EventKind::FlappingEnded => "flapping",
        EventKind::Degraded | EventKind::DegradedRecovery if incident.is_empty() => "degraded",
        _ if incident.is_empty() => "incident",
        _ => return format!("lookout-{incident}"),
    };
    format!("lookout-{monitor}-{about}")
}

/// True for hosts a local relay or a test receiver listens on: 127.0.0.0/8, `::1`,
/// `localhost`. Every preset accepts such a URL in place of the service's own.
fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A parsed http(s) URL with a host, no credentials and no fragment, at most
/// [`MAX_URL_BYTES`]. The URL itself never appears in an error: webhook URLs are secrets.
fn parse_url(field: &str, raw: &str) -> Result<url::Url, FieldError> {
    if raw.trim().is_empty() {
        return Err(err(field, "is required"));
    }
    if raw.len() > MAX_URL_BYTES {
        return Err(err(field, format!("is longer than {MAX_URL_BYTES} bytes")));
    }
    let u = url::Url::parse(raw.trim()).map_err(|e| err(field, format!("is not a URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err(field, "must be an http or https URL"));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(err(field, "has no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(err(field, "must not hold credentials"));
    }
    if u.fragment().is_some() {
        return Err(err(field, "must not have a fragment"));
    }
    Ok(u)
}

/// A service's webhook URL: `https://` on one of `hosts` under `path_prefix` (`shape` says
/// which in the error), or any http(s) URL on a loopback host.
fn webhook_url(
    field: &str,
    raw: &mut String,
    hosts: &[&str],
    path_prefix: &str,
    shape: &str,
) -> Result<(), FieldError> {
    *raw = raw.trim().to_string();
    let u = parse_url(field, raw)?;
    if is_loopback(&u) {
        return Ok(());
    }
    let host = u.host_str().unwrap_or_default();
    let host_ok = hosts.is_empty() || hosts.iter().any(|h| host.eq_ignore_ascii_case(h));
    if u.scheme() != "https" || !host_ok || !u.path().starts_with(path_prefix) {
        return Err(err(field, format!("must be {shape}")));
    }
    Ok(())
}

/// An API's base URL (`api_url`): empty for the service's own; otherwise an https URL, or
/// http on a loopback host (tests, a local relay), with no query.
pub(crate) fn api_base(field: &str, raw: &mut String) -> Result<(), FieldError> {
    *raw = raw.trim().trim_end_matches('/').to_string();
    if raw.is_empty() {
        return Ok(());
    }
    let u = parse_url(field, raw)?;
    if u.query().is_some() {
        return Err(err(field, "must not have a query"));
    }
    if u.scheme() != "https" && !is_loopback(&u) {
        return Err(err(field, "must be https (http only on a loopback host)"));
    }
    Ok(())
}

/// `base` (or `default` when empty) with `segments` appended, each percent-encoded.
fn endpoint(
    field: &str,
    base: &str,
    default: &str,
    segments: &[&str],
) -> Result<url::Url, RenderError> {
    let base = if base.trim().is_empty() {
        default
    } else {
        base.trim()
    };
    let mut u = url::Url::parse(base).map_err(|_| RenderError::new(field, "is not a URL"))?;
    u.path_segments_mut()
        .map_err(|()| RenderError::new(field, "cannot hold a path"))?
        .pop_if_empty()
        .extend(segments);
    Ok(u)
}

/// A secret setting (token, key): required, at most `max` bytes, printable ASCII without
/// spaces, and, when `exact` is set, exactly that many letters and digits. The value is never
/// quoted in the error.
fn secret_token(
    field: &str,
    raw: &mut String,
    max: usize,
    exact: Option<usize>,
) -> Result<(), FieldError> {
    *raw = raw.trim().to_string();
    if raw.is_empty() {
        return Err(err(field, "is required"));
    }
    if let Some(n) = exact {
        if raw.len() != n || !raw.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(field, format!("must be {n} letters and digits")));
        }
    }
    if raw.len() > max {
        return Err(err(field, format!("is longer than {max} bytes")));
    }
    if !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(err(field, "must be printable ASCII without spaces"));
    }
    Ok(())
}

/// Optional free text (a channel, a user name): at most `max` characters, no control
/// characters or line breaks.
fn short_text(field: &str, raw: &mut String, max: usize) -> Result<(), FieldError> {
    *raw = raw.trim().to_string();
    if raw.chars().count() > max {
        return Err(err(field, format!("is longer than {max} characters")));
    }
    if raw.chars().any(char::is_control) {
        return Err(err(field, "must not hold control characters"));
    }
    Ok(())
}

fn json_request(
    method: &str,
    url: String,
    headers: Vec<(String, String)>,
    body: &serde_json::Value,
) -> Request {
    let mut all = vec![("content-type".to_string(), "application/json".to_string())];
    all.extend(headers);
    Request {
        method: method.to_string(),
        url,
        headers: all,
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alert_keys_tie_ends_to_starts() {
        let mut ev = crate::sample_event();
        let open = alert_key(&ev, "dlv_1");
        ev.kind = EventKind::Recovery as i32;
        assert_eq!(alert_key(&ev, "dlv_2"), open);
        assert_eq!(open, "lookout-inc_sample");
        ev.incident = None;
        for (a, b, key) in [
            (
                EventKind::NoData,
                EventKind::DataResumed,
                "lookout-mon_sample-no-data",
            ),
            (
                EventKind::CertExpiring,
                EventKind::CertRenewed,
                "lookout-mon_sample-certificate",
            ),
            (
                EventKind::Flapping,
                EventKind::FlappingEnded,
                "lookout-mon_sample-flapping",
            ),
            (
                EventKind::Incident,
                EventKind::Recovery,
                "lookout-mon_sample-incident",
            ),
        ] {
            ev.kind = a as i32;
            assert_eq!(alert_key(&ev, "dlv_1"), key);
            assert_eq!(alert_action(a), AlertAction::Open);
            ev.kind = b as i32;
            assert_eq!(alert_key(&ev, "dlv_2"), key);
            assert_eq!(alert_action(b), AlertAction::Close);
        }
        ev.kind = EventKind::Test as i32;
        assert_eq!(alert_key(&ev, "dlv_9"), "lookout-test-dlv_9");
    }

    #[test]
    fn webhook_urls_keep_to_their_service_or_loopback() {
        let hosts = ["hooks.slack.com"];
        let shape = "https://hooks.slack.com/services/...";
        for (raw, ok) in [
            ("https://hooks.slack.com/services/T0/B0/x", true),
            ("http://127.0.0.1:8080/services/x", true),
            ("http://localhost/anything", true),
            ("http://hooks.slack.com/services/T0/B0/x", false),
            ("https://hooks.slack.com.evil.example/services/x", false),
            ("https://hooks.slack.com/other", false),
            ("https://user:pw@hooks.slack.com/services/x", false),
            ("hooks.slack.com/services/x", false),
            ("", false),
        ] {
            let mut s = raw.to_string();
            let got = webhook_url("slack.url", &mut s, &hosts, "/services/", shape);
            assert_eq!(got.is_ok(), ok, "{raw}: {got:?}");
            if let Err(e) = got {
                assert_eq!(e.field, "slack.url");
                assert!(raw.is_empty() || !e.reason.contains(raw), "{}", e.reason);
            }
        }
    }

    #[test]
    fn api_bases_are_https_or_loopback() {
        for (raw, ok) in [
            ("", true),
            ("https://events.eu.pagerduty.com/", true),
            ("http://127.0.0.1:4000", true),
            ("http://events.pagerduty.com", false),
            ("https://x.example/?a=1", false),
            ("ftp://x.example", false),
        ] {
            let mut s = raw.to_string();
            assert_eq!(api_base("pagerduty.api_url", &mut s,).is_ok(), ok, "{raw}");
        }
        let u = endpoint(
            "x",
            "http://127.0.0.1:9/base",
            "https://d",
            &["v2", "alerts", "a/b c", "close"],
        );
        assert_eq!(
            u.map(|u| u.to_string()).ok().as_deref(),
            Some("http://127.0.0.1:9/base/v2/alerts/a%2Fb%20c/close")
        );
    }
}
