//! One event of every kind, as the incident engine raises them, and a worst case whose every
//! field is at its bound.

use lookout_proto::v1::{EventCertificate, EventKind, NotificationEvent};
use lookout_render::{Context, Variables, sample_event};

pub const ALL_KINDS: [EventKind; 13] = [
    EventKind::Incident,
    EventKind::Escalation,
    EventKind::Reminder,
    EventKind::Recovery,
    EventKind::Degraded,
    EventKind::DegradedRecovery,
    EventKind::NoData,
    EventKind::DataResumed,
    EventKind::CertExpiring,
    EventKind::CertRenewed,
    EventKind::Flapping,
    EventKind::FlappingEnded,
    EventKind::Test,
];

/// The event of `kind` for the sample monitor's incident `inc_sample`.
pub fn event(kind: EventKind) -> NotificationEvent {
    let mut ev = sample_event();
    ev.kind = kind as i32;
    let recovered = matches!(kind, EventKind::Recovery | EventKind::DegradedRecovery);
    if recovered {
        ev.status = "UP".into();
        ev.previous_status = if kind == EventKind::Recovery {
            "DOWN"
        } else {
            "DEGRADED"
        }
        .into();
        ev.consecutive_failures = 0;
        if let Some(i) = &mut ev.incident {
            i.resolved_at_ms = i.opened_at_ms + 754_000;
        }
        if let Some(r) = &mut ev.result {
            r.status = "UP".into();
            r.error_message.clear();
            r.failure.clear();
            r.status_code = Some(200);
            r.duration_us = 120_000;
        }
        ev.regions[0].status = "UP".into();
        ev.regions[0].down = false;
        ev.regions[0].consecutive_failures = 0;
    }
    if matches!(kind, EventKind::Degraded | EventKind::DegradedRecovery) {
        if let Some(i) = &mut ev.incident {
            i.id = "inc_degraded".into();
            i.severity = "warning".into();
        }
        if kind == EventKind::Degraded {
            ev.status = "DEGRADED".into();
        }
    }
    match kind {
        EventKind::Escalation => ev.level = 2,
        EventKind::Reminder => {
            ev.reminder = 2;
            ev.result = None;
        }
        EventKind::NoData | EventKind::DataResumed => {
            ev.incident = None;
            ev.result = None;
            ev.status = if kind == EventKind::NoData {
                "NO_DATA"
            } else {
                "UP"
            }
            .into();
            ev.previous_status = if kind == EventKind::NoData {
                "UP"
            } else {
                "NO_DATA"
            }
            .into();
            ev.regions[0].status = ev.status.clone();
            ev.regions[0].down = false;
            ev.consecutive_failures = 0;
        }
        EventKind::CertExpiring | EventKind::CertRenewed => {
            ev.incident = None;
            ev.result = None;
            ev.status = "UP".into();
            ev.previous_status = "UP".into();
            ev.regions[0].down = false;
            ev.consecutive_failures = 0;
            ev.certificate = Some(EventCertificate {
                not_after_ms: 1_707_906_615_000,
                days_left: if kind == EventKind::CertExpiring {
                    12
                } else {
                    90
                },
                subject: "CN=api.example.com".into(),
                previous_not_after_ms: if kind == EventKind::CertRenewed {
                    1_706_000_000_000
                } else {
                    0
                },
            });
        }
        EventKind::Flapping | EventKind::FlappingEnded | EventKind::Test => {
            ev.incident = None;
        }
        _ => {}
    }
    ev
}

/// Every field at its bound, and markup of every service in the names: a monitor named to
/// ping everyone, an error of 4 KiB, a target of 2 KiB.
pub fn worst(kind: EventKind) -> NotificationEvent {
    let mut ev = event(kind);
    let name = "<!channel> @everyone **bold** <b>&amp; `x` [a](b) ".repeat(5);
    let m = ev.monitor.get_or_insert_default();
    m.name = name.chars().take(200).collect();
    m.target = format!("https://api.example.com/{}", "p/".repeat(1011));
    if let Some(r) = &mut ev.result {
        r.error_message = "connection reset <by> peer & ```retry``` "
            .repeat(120)
            .chars()
            .take(4096)
            .collect();
    }
    if let Some(i) = &mut ev.incident {
        i.cause = "x".repeat(4096);
    }
    ev
}

pub fn context<'a>(
    ev: &'a NotificationEvent,
    delivery_id: &'a str,
    variables: &'a Variables,
) -> Context<'a> {
    Context {
        event: ev,
        delivery_id,
        now_unix_secs: 1_705_314_615,
        variables,
    }
}
