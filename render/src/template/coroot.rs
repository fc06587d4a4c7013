//! Coroot's incident data (`IncidentTemplateValues`) made from a Lookout event, for Go
//! templates: `Status` (OK, WARNING, CRITICAL), `Application{Namespace, Kind, Name}`,
//! `Reports[{Name, Check, Message}]`, `URL`; plus Lookout's `Event`, `Title` and `Vars`.

use lookout_proto::v1::{EventKind, NotificationEvent};

use super::checkly::{result_link, title};
use super::go::{Field, Value};
use crate::Context;

/// Coroot's `Status` of `ev`: OK once resolved, WARNING for lower-severity events, CRITICAL
/// while down.
pub fn status(ev: &NotificationEvent) -> &'static str {
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    match kind {
        EventKind::Recovery if ev.status == "DEGRADED" => "WARNING",
        EventKind::Recovery
        | EventKind::DegradedRecovery
        | EventKind::DataResumed
        | EventKind::CertRenewed
        | EventKind::FlappingEnded => {
            if ev.status == "DOWN" {
                "CRITICAL"
            } else {
                "OK"
            }
        }
        EventKind::Degraded | EventKind::NoData | EventKind::CertExpiring | EventKind::Flapping => {
            "WARNING"
        }
        EventKind::Incident
        | EventKind::Escalation
        | EventKind::Reminder
        | EventKind::Unspecified => "CRITICAL",
        EventKind::Test => match ev.status.as_str() {
            "UP" => "OK",
            "DEGRADED" => "WARNING",
            _ => "CRITICAL",
        },
    }
}

fn s(v: impl Into<String>) -> Value {
    Value::Str(v.into())
}

fn report(name: &str, check: &str, message: &str) -> Value {
    Value::Struct(
        vec![
            Field::new("Name", s(name)),
            Field::new("Check", s(check)),
            Field::new("Message", s(message)),
        ],
        None,
    )
}

/// One report per region not up (its name, `Availability` or `Latency` for a degraded one,
/// and the triggering result's error or a count of failures), none once resolved; the
/// certificate or flapping event itself for those kinds.
fn reports(ev: &NotificationEvent, status: &str) -> Vec<Value> {
    let kind = EventKind::try_from(ev.kind).unwrap_or(EventKind::Unspecified);
    match kind {
        EventKind::CertExpiring | EventKind::CertRenewed => {
            let c = ev.certificate.clone().unwrap_or_default();
            let message = if kind == EventKind::CertRenewed {
                format!(
                    "certificate of {} renewed, {} days left",
                    c.subject, c.days_left
                )
            } else {
                format!(
                    "certificate of {} expires in {} days",
                    c.subject, c.days_left
                )
            };
            return vec![report("TLS", "Certificate expiry", &message)];
        }
        EventKind::Flapping | EventKind::FlappingEnded => {
            let message = if kind == EventKind::Flapping {
                "changing state too often; notifying once for this episode"
            } else {
                "stable again"
            };
            return vec![report("Stability", "Flapping", message)];
        }
        _ => {}
    }
    if status == "OK" {
        return Vec::new();
    }
    let result = ev.result.clone().unwrap_or_default();
    let cause = ev
        .incident
        .as_ref()
        .map(|i| i.cause.as_str())
        .unwrap_or_default();
    ev.regions
        .iter()
        .filter(|r| r.status != "UP" && !r.status.is_empty())
        .map(|r| {
            let check = match r.status.as_str() {
                "DEGRADED" => "Latency",
                "NO_DATA" => "No data",
                _ => "Availability",
            };
            let message = if r.region == result.region && !result.error_message.is_empty() {
                result.error_message.clone()
            } else if !cause.is_empty() && r.consecutive_failures == 0 {
                cause.to_string()
            } else {
                format!("{} consecutive failed checks", r.consecutive_failures)
            };
            report(&r.region, check, &message)
        })
        .collect()
}

/// The Go template data of `ctx`.
pub fn data(ctx: &Context<'_>) -> Value {
    let ev = ctx.event;
    let monitor = ev.monitor.clone().unwrap_or_default();
    let status = status(ev);
    let namespace = ev.project_id.clone();
    let app_json = format!("{namespace}:{}:{}", monitor.kind, monitor.name);
    let application = Value::Struct(
        vec![
            Field::new("Namespace", s(namespace.clone())),
            Field::new("Kind", s(monitor.kind.clone())),
            Field::new("Name", s(monitor.name.clone())),
        ],
        Some(app_json),
    );
    let vars = ctx
        .variables
        .iter()
        .map(|(n, v, _)| Field::hidden(n, s(v)))
        .collect();
    let kind = EventKind::try_from(ev.kind).unwrap_or_default();
    Value::Struct(
        vec![
            Field::new("Status", s(status)),
            Field::new("Application", application),
            Field::new("Reports", Value::List(reports(ev, status))),
            Field {
                name: "URL".into(),
                json: Some("url".into()),
                value: s(result_link(ctx)),
            },
            Field::hidden("Event", s(crate::kind_label(kind))),
            Field::hidden("Title", s(title(ev))),
            Field::hidden("Vars", Value::Struct(vars, None)),
        ],
        None,
    )
}
