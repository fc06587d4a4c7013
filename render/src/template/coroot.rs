//! Coroot's incident data (`IncidentTemplateValues`) made from a Lookout event, for Go
//! templates: `Status` (OK, WARNING, CRITICAL), `Application{Namespace, Kind, Name}`,
//! `Reports[{Name, Check, Message}]`, `URL`; plus Lookout's `Event`, `Title` and `Vars`.

use lookout_proto::v1::{EventKind, NotificationEvent};
use serde_json::json;

use super::checkly::{result_link, title};
use super::go::Value;
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
            ("Name".into(), s(name)),
            ("Check".into(), s(check)),
            ("Message".into(), s(message)),
        ],
        json!({"name": name, "check": check, "message": message}),
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
            ("Namespace".into(), s(namespace.clone())),
            ("Kind".into(), s(monitor.kind.clone())),
            ("Name".into(), s(monitor.name.clone())),
        ],
        json!(app_json),
    );
    let reports = reports(ev, status);
    let url = result_link(ctx);
    let vars: Vec<(String, Value)> = ctx
        .variables
        .iter()
        .map(|(n, v, _)| (n.to_string(), s(v)))
        .collect();
    let vars_json = serde_json::Value::Object(
        ctx.variables
            .iter()
            .filter(|(_, _, secret)| !secret)
            .map(|(n, v, _)| (n.to_string(), json!(v)))
            .collect(),
    );
    let json = json!({
        "status": status,
        "application": app_json,
        "reports": reports.iter().map(|r| match r { Value::Struct(_, j) => j.clone(), _ => serde_json::Value::Null }).collect::<Vec<_>>(),
        "url": url,
    });
    Value::Struct(
        vec![
            ("Status".into(), s(status)),
            ("Application".into(), application),
            ("Reports".into(), Value::List(reports)),
            ("URL".into(), s(url)),
            (
                "Event".into(),
                s(crate::kind_label(
                    EventKind::try_from(ev.kind).unwrap_or_default(),
                )),
            ),
            ("Title".into(), s(title(ev))),
            ("Vars".into(), Value::Struct(vars, vars_json)),
        ],
        json,
    )
}
