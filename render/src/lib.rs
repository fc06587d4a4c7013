//! Lookout's notification rendering: from a [`NotificationEvent`] (what happened) and an
//! [`Integration`] (where it goes, and how), the exact request to send, signed. The notifier
//! renders every attempt at send time, so a fixed template or a rotated secret applies to
//! retries too; the coordinator validates an integration when it is saved by rendering it
//! against [`sample_event`].
//!
//! - `webhook`: the generic webhook kind (native and Uptinio bodies, templates, signatures).
//! - `presets`: one file per chat or paging service (Slack, Discord, Telegram, ...).
//! - `variables`: project variables and secrets usable in templates, and their redaction.

pub mod email;
mod event;
pub mod jsjson;
pub mod native;
pub mod presets;
pub mod sms;
pub mod template;
pub mod uptinio;
pub mod validate;
mod variables;
pub mod webhook;

pub use event::{kind_label, sample_event};
pub use lookout_proto::validate::FieldError;
pub use validate::validate;
pub use variables::Variables;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EventKind, Integration, NotificationEvent};

/// One HTTP request, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Request {
    /// `POST`, `PUT`, `PATCH` or `GET`.
    pub method: String,
    pub url: String,
    /// In order; names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl std::fmt::Debug for Request {
    /// Never prints the URL or header values: they may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What a rendering may use besides the event and the integration.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub event: &'a NotificationEvent,
    /// The delivery's id (`dlv_...`), the same on every attempt.
    pub delivery_id: &'a str,
    /// Now, Unix seconds (signature timestamps).
    pub now_unix_secs: i64,
    pub variables: &'a Variables,
}

/// Why an integration cannot be rendered. At send time this is a permanent failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub FieldError);

impl RenderError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> RenderError {
        RenderError(FieldError {
            field: field.into(),
            reason: reason.into(),
        })
    }
}

/// The request `integration` sends for `ctx.event`.
pub fn render(integration: &Integration, ctx: &Context<'_>) -> Result<Request, RenderError> {
    match &integration.kind {
        Some(Kind::Webhook(w)) => webhook::render(w, ctx),
        Some(Kind::Email(_) | Kind::SshRestart(_)) => Err(RenderError::new(
            "kind",
            "is not sent over HTTP (the notifier's email and ssh channels send it)",
        )),
        Some(k) => presets::render(k, ctx),
        None => Err(RenderError::new("kind", "is required")),
    }
}

/// Whether `integration` is sent `event`: its `EventFilter` takes it ([`accepts`]) and its
/// kind has a use for it. PagerDuty and Opsgenie have none for reminders (they keep
/// notifying about an open alert themselves), and an SSH restart has a use only for an
/// incident opening (and a test): such an event is skipped, never enqueued nor sent, exactly
/// as if the filter excluded it; `render` refuses it.
pub fn sends(integration: &Integration, event: &NotificationEvent) -> bool {
    let kind = EventKind::try_from(event.kind).unwrap_or(EventKind::Unspecified);
    let kind_has_use = match &integration.kind {
        Some(Kind::Webhook(_) | Kind::Email(_)) | None => true,
        // A restart answers an incident opening, never its escalation, reminders or end.
        Some(Kind::SshRestart(_)) => matches!(kind, EventKind::Incident | EventKind::Test),
        Some(k) => presets::sends(k, kind),
    };
    kind_has_use && accepts(integration.events.as_ref(), kind)
}

/// The short name of an integration's kind (`webhook`, `slack`, ...), as stored and shown.
pub fn kind_name(integration: &Integration) -> &'static str {
    match &integration.kind {
        Some(Kind::Webhook(_)) => "webhook",
        Some(Kind::Slack(_)) => "slack",
        Some(Kind::Discord(_)) => "discord",
        Some(Kind::Telegram(_)) => "telegram",
        Some(Kind::Mattermost(_)) => "mattermost",
        Some(Kind::Teams(_)) => "teams",
        Some(Kind::Pagerduty(_)) => "pagerduty",
        Some(Kind::Opsgenie(_)) => "opsgenie",
        Some(Kind::Pushover(_)) => "pushover",
        Some(Kind::Sms(_)) => "sms",
        Some(Kind::SlackApp(_)) => "slack_app",
        Some(Kind::Email(_)) => "email",
        Some(Kind::SshRestart(_)) => "ssh_restart",
        None => "",
    }
}

/// Whether an integration with event filter `filter` receives events of `kind` (an unset
/// filter or field is on; test events always pass).
pub fn accepts(filter: Option<&lookout_proto::v1::EventFilter>, kind: EventKind) -> bool {
    let Some(f) = filter else { return true };
    let on = |v: Option<bool>| v != Some(false);
    match kind {
        EventKind::Incident | EventKind::Escalation => on(f.failures),
        EventKind::Recovery => on(f.recoveries),
        EventKind::Degraded | EventKind::DegradedRecovery => on(f.degraded),
        EventKind::Reminder => on(f.reminders),
        EventKind::CertExpiring | EventKind::CertRenewed => on(f.certificate_expiry),
        EventKind::NoData | EventKind::DataResumed => on(f.no_data),
        EventKind::Flapping | EventKind::FlappingEnded => on(f.flapping),
        EventKind::Test | EventKind::Unspecified => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::EventFilter;

    #[test]
    fn event_filters() {
        let only_failures = EventFilter {
            recoveries: Some(false),
            degraded: Some(false),
            reminders: Some(false),
            certificate_expiry: Some(false),
            no_data: Some(false),
            flapping: Some(false),
            failures: None,
        };
        for kind in EventKind::ALL {
            assert!(accepts(None, kind), "{kind:?}");
            let want = matches!(
                kind,
                EventKind::Incident | EventKind::Escalation | EventKind::Test
            );
            assert_eq!(accepts(Some(&only_failures), kind), want, "{kind:?}");
        }
    }
}
