//! The variables a Handlebars template sees: Checkly's event variables (`CHECK_NAME`,
//! `ALERT_TYPE`, ...) computed from a [`NotificationEvent`], Lookout's own additions, and the
//! project's variables and secrets.

use lookout_proto::v1::{EventKind, NotificationEvent};
use serde_json::{Map, Value};

use crate::Context;
use crate::native::rfc3339_seconds;

/// The project variable that, when set, is the base of `RESULT_LINK` and Coroot's `URL`.
pub const LINK_BASE_VARIABLE: &str = "LOOKOUT_URL";

/// Checkly's `ALERT_TYPE` of `ev`, from Checkly's alert-state table (`ALERT_FAILURE`,
/// `ALERT_FAILURE_REMAIN`, `ALERT_FAILURE_DEGRADED`, `ALERT_RECOVERY`, `ALERT_DEGRADED`,
/// `ALERT_DEGRADED_REMAIN`, `ALERT_DEGRADED_FAILURE`, `ALERT_DEGRADED_RECOVERY`), plus
/// Lookout's names for events Checkly has none for.
pub fn alert_type(ev: &NotificationEvent) -> &'static str {
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    let was_degraded = ev.previous_status == "DEGRADED";
    let is = |s: &str| ev.status == s;
    match kind {
        EventKind::Incident if was_degraded => "ALERT_DEGRADED_FAILURE",
        EventKind::Incident | EventKind::Unspecified => "ALERT_FAILURE",
        EventKind::Escalation | EventKind::Reminder if is("DEGRADED") => "ALERT_DEGRADED_REMAIN",
        EventKind::Escalation | EventKind::Reminder => "ALERT_FAILURE_REMAIN",
        EventKind::Recovery if is("DEGRADED") => "ALERT_FAILURE_DEGRADED",
        EventKind::Recovery if was_degraded => "ALERT_DEGRADED_RECOVERY",
        EventKind::Recovery => "ALERT_RECOVERY",
        EventKind::Degraded if ev.previous_status == "DOWN" => "ALERT_FAILURE_DEGRADED",
        EventKind::Degraded => "ALERT_DEGRADED",
        EventKind::DegradedRecovery if is("DOWN") => "ALERT_DEGRADED_FAILURE",
        EventKind::DegradedRecovery => "ALERT_DEGRADED_RECOVERY",
        EventKind::NoData => "ALERT_NO_DATA",
        EventKind::DataResumed => "ALERT_DATA_RESUMED",
        EventKind::CertExpiring => "ALERT_SSL",
        EventKind::CertRenewed => "ALERT_SSL_RENEWED",
        EventKind::Flapping => "ALERT_FLAPPING",
        EventKind::FlappingEnded => "ALERT_FLAPPING_ENDED",
        EventKind::Test => match ev.status.as_str() {
            "UP" => "ALERT_RECOVERY",
            "DEGRADED" => "ALERT_DEGRADED",
            _ => "ALERT_FAILURE",
        },
    }
}

/// What happened to the check, in words: the end of `ALERT_TITLE`.
fn title_verb(ev: &NotificationEvent) -> String {
    match alert_type(ev) {
        "ALERT_FAILURE" | "ALERT_DEGRADED_FAILURE" => "has failed".into(),
        "ALERT_FAILURE_REMAIN" => "is still failing".into(),
        "ALERT_FAILURE_DEGRADED" => "is degraded after failing".into(),
        "ALERT_RECOVERY" | "ALERT_DEGRADED_RECOVERY" => "has recovered".into(),
        "ALERT_DEGRADED" => "is degraded".into(),
        "ALERT_DEGRADED_REMAIN" => "is still degraded".into(),
        "ALERT_NO_DATA" => "yields no data".into(),
        "ALERT_DATA_RESUMED" => "yields data again".into(),
        "ALERT_SSL" => match &ev.certificate {
            Some(c) => format!("has a certificate expiring in {} days", c.days_left),
            None => "has a certificate expiring soon".into(),
        },
        "ALERT_SSL_RENEWED" => "has a renewed certificate".into(),
        "ALERT_FLAPPING" => "is flapping".into(),
        _ => "stopped flapping".into(),
    }
}

/// `ALERT_TITLE`: `Check “NAME” has failed` (the document's wording and quotes); a test
/// event says so.
pub fn title(ev: &NotificationEvent) -> String {
    let name = ev
        .monitor
        .as_ref()
        .map(|m| m.name.as_str())
        .unwrap_or_default();
    let prefix = if ev.kind == EventKind::Test as i32 {
        "[Test] "
    } else {
        ""
    };
    format!("{prefix}Check “{name}” {}", title_verb(ev))
}

/// Checkly's `CHECK_TYPE`: `API` for HTTP monitors (Checkly's API checks), the kind in
/// capitals otherwise (`TCP`, `DNS`, `ICMP`, `TLS`, `GRPC`).
fn check_type(kind: &str) -> String {
    match kind {
        "http" | "" => "API".into(),
        k => k.to_ascii_uppercase(),
    }
}

/// The link to the event's result: under the project's `LOOKOUT_URL` when it has one, else
/// the monitor's target (Lookout serves no result pages of its own).
pub fn result_link(ctx: &Context<'_>) -> String {
    let ev = ctx.event;
    let monitor = ev.monitor.clone().unwrap_or_default();
    match ctx.variables.get(LINK_BASE_VARIABLE) {
        Some(base) if !base.is_empty() => {
            let base = base.trim_end_matches('/');
            match ev.result.as_ref().filter(|r| !r.id.is_empty()) {
                Some(r) => format!("{base}/monitors/{}/results/{}", monitor.id, r.id),
                None => format!("{base}/monitors/{}", monitor.id),
            }
        }
        _ => monitor.target,
    }
}

/// Every variable of `ctx` for a Handlebars template: the event's (which win) over the
/// project's.
pub fn variables(ctx: &Context<'_>) -> Map<String, Value> {
    let ev = ctx.event;
    let mut vars = Map::new();
    for (name, value, _) in ctx.variables.iter() {
        vars.insert(name.to_string(), Value::String(value.to_string()));
    }
    let monitor = ev.monitor.clone().unwrap_or_default();
    let result = ev.result.clone().unwrap_or_default();
    let incident = ev.incident.clone().unwrap_or_default();
    let started_ms = [result.started_at_ms, result.scheduled_at_ms, ev.at_ms]
        .into_iter()
        .find(|&t| t > 0)
        .unwrap_or_default();
    let mut s = |name: &str, value: String| {
        vars.insert(name.to_string(), Value::String(value));
    };
    s("CHECK_NAME", monitor.name.clone());
    s("CHECK_ID", monitor.id.clone());
    s("CHECK_TYPE", check_type(&monitor.kind));
    s("ALERT_TITLE", title(ev));
    s("ALERT_TYPE", alert_type(ev).to_string());
    s("CHECK_RESULT_ID", result.id.clone());
    s("RUN_LOCATION", result.region.clone());
    s("RESULT_LINK", result_link(ctx));
    s("STARTED_AT", iso_millis(started_ms));
    s(
        "EVENT_KIND",
        crate::kind_label(EventKind::try_from(ev.kind).unwrap_or_default()).into(),
    );
    s("MONITOR_TARGET", monitor.target.clone());
    s("STATUS", ev.status.clone());
    s("PREVIOUS_STATUS", ev.previous_status.clone());
    s("ERROR_MESSAGE", result.error_message.clone());
    s("FAILURE", result.failure.clone());
    s("INCIDENT_ID", incident.id.clone());
    s("INCIDENT_CAUSE", incident.cause.clone());
    s("SEVERITY", incident.severity.clone());
    s(
        "OPENED_AT",
        if incident.opened_at_ms > 0 {
            iso_millis(incident.opened_at_ms)
        } else {
            String::new()
        },
    );
    s("RESOLVED_REASON", ev.resolved_reason.clone());
    s(
        "REGIONS",
        ev.regions
            .iter()
            .filter(|r| r.down)
            .map(|r| r.region.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    s("PROJECT_ID", ev.project_id.clone());
    s("DELIVERY_ID", ctx.delivery_id.to_string());
    s(
        "SSL_CHECK_DOMAIN",
        ev.certificate
            .as_ref()
            .map(|c| c.subject.clone())
            .unwrap_or_default(),
    );
    s("TIMESTAMP", rfc3339_seconds(ev.at_ms));
    let mut n = |name: &str, value: i64| {
        vars.insert(name.to_string(), Value::from(value));
    };
    n(
        "RESPONSE_TIME",
        i64::try_from(result.duration_us / 1000).unwrap_or(i64::MAX),
    );
    n("CONSECUTIVE_FAILURES", i64::from(ev.consecutive_failures));
    n("LEVEL", i64::from(ev.level.max(1)));
    n("REMINDER", i64::from(ev.reminder));
    match result.status_code {
        Some(code) => n("API_CHECK_RESPONSE_STATUS_CODE", i64::from(code)),
        None => n("API_CHECK_RESPONSE_STATUS_CODE", 0),
    }
    n(
        "SSL_DAYS_REMAINING",
        ev.certificate
            .as_ref()
            .map_or(0, |c| i64::from(c.days_left)),
    );
    vars
}

/// `2024-01-15T10:30:15.000Z`: JavaScript's `toISOString`, as Checkly's `STARTED_AT`.
fn iso_millis(ms: i64) -> String {
    let secs = rfc3339_seconds(ms);
    match secs.strip_suffix('Z') {
        Some(s) => format!("{s}.{:03}Z", ms.rem_euclid(1000)),
        None => secs,
    }
}
