//! Events, integrations and golden-file checks shared by the webhook format tests.
#![allow(dead_code)]

use std::path::PathBuf;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    BodyFormat, EventCertificate, EventIncident, EventKind, EventMonitor, EventRegion, EventResult,
    Integration, NotificationEvent, SignatureMode, TemplateSyntax, WebhookIntegration,
};
use lookout_render::{Context, Request, Variables};

pub const OPENED_MS: i64 = 1_705_314_615_000;

/// The reference documents' monitor: `API Server` in `us-east-1`.
pub fn monitor() -> EventMonitor {
    EventMonitor {
        id: "mon_abc123xyz789".into(),
        name: "API Server".into(),
        kind: "http".into(),
        target: "https://api.example.com/health".into(),
        version: 1,
    }
}

pub fn incident() -> EventIncident {
    EventIncident {
        id: "inc_0001".into(),
        opened_at_ms: OPENED_MS,
        resolved_at_ms: 0,
        regions: vec!["us-east-1".into()],
        cause: "Connection timeout after 30 seconds".into(),
        severity: "critical".into(),
        acknowledged_at_ms: 0,
    }
}

pub fn down_result() -> EventResult {
    EventResult {
        id: "res_0001".into(),
        region: "us-east-1".into(),
        status: "DOWN".into(),
        started_at_ms: OPENED_MS,
        scheduled_at_ms: OPENED_MS,
        duration_us: 30_000_000,
        status_code: None,
        error_message: "Connection timeout after 30 seconds".into(),
        failure: "timeout".into(),
    }
}

pub fn up_result() -> EventResult {
    EventResult {
        id: "res_0002".into(),
        region: "us-east-1".into(),
        status: "UP".into(),
        started_at_ms: 1_705_315_350_000,
        scheduled_at_ms: 1_705_315_350_000,
        duration_us: 245_000,
        status_code: Some(200),
        error_message: String::new(),
        failure: String::new(),
    }
}

fn region(status: &str, failures: u32) -> EventRegion {
    EventRegion {
        region: "us-east-1".into(),
        status: status.into(),
        consecutive_failures: failures,
        down: status == "DOWN",
    }
}

/// An event of `kind` as the incident engine raises it, for the reference monitor.
pub fn event(kind: EventKind) -> NotificationEvent {
    let mut ev = NotificationEvent {
        kind: kind as i32,
        project_id: "prj_default".into(),
        monitor: Some(monitor()),
        incident: Some(incident()),
        result: Some(down_result()),
        regions: vec![region("DOWN", 3)],
        status: "DOWN".into(),
        previous_status: "UP".into(),
        consecutive_failures: 3,
        level: 1,
        at_ms: OPENED_MS,
        ..Default::default()
    };
    let later = OPENED_MS + 735_000;
    match kind {
        EventKind::Incident | EventKind::Unspecified => {}
        EventKind::Escalation => {
            ev.result = None;
            ev.previous_status = "DOWN".into();
            ev.consecutive_failures = 8;
            ev.regions = vec![region("DOWN", 8)];
            ev.level = 2;
            ev.at_ms = OPENED_MS + 300_000;
        }
        EventKind::Reminder => {
            ev.result = None;
            ev.previous_status = "DOWN".into();
            ev.reminder = 1;
            ev.at_ms = OPENED_MS + 600_000;
        }
        EventKind::Recovery => {
            ev.result = Some(up_result());
            ev.regions = vec![region("UP", 0)];
            ev.status = "UP".into();
            ev.previous_status = "DOWN".into();
            ev.consecutive_failures = 0;
            ev.at_ms = later;
            if let Some(i) = ev.incident.as_mut() {
                i.resolved_at_ms = later;
            }
        }
        EventKind::Degraded => {
            let mut r = up_result();
            r.status = "DEGRADED".into();
            r.duration_us = 4_200_000;
            r.error_message = "response time 4200 ms is above 2000 ms".into();
            r.failure = "assertion".into();
            ev.result = Some(r);
            ev.regions = vec![region("DEGRADED", 2)];
            ev.status = "DEGRADED".into();
            ev.consecutive_failures = 2;
            if let Some(i) = ev.incident.as_mut() {
                i.severity = "warning".into();
                i.cause = "response time 4200 ms is above 2000 ms".into();
            }
        }
        EventKind::DegradedRecovery => {
            ev.result = Some(up_result());
            ev.regions = vec![region("UP", 0)];
            ev.status = "UP".into();
            ev.previous_status = "DEGRADED".into();
            ev.consecutive_failures = 0;
            ev.at_ms = later;
            if let Some(i) = ev.incident.as_mut() {
                i.severity = "warning".into();
                i.resolved_at_ms = later;
            }
        }
        EventKind::NoData | EventKind::DataResumed => {
            ev.incident = None;
            ev.result = Some(EventResult {
                id: "res_0003".into(),
                region: "us-east-1".into(),
                status: "NO_DATA".into(),
                scheduled_at_ms: 1_705_315_000_000,
                error_message: "no agent connected in region us-east-1".into(),
                ..Default::default()
            });
            ev.regions = vec![region("NO_DATA", 0)];
            ev.status = "NO_DATA".into();
            ev.consecutive_failures = 0;
            ev.at_ms = 1_705_315_000_000;
            if kind == EventKind::DataResumed {
                ev.result = Some(up_result());
                ev.regions = vec![region("UP", 0)];
                ev.status = "UP".into();
                ev.previous_status = "NO_DATA".into();
            }
        }
        EventKind::CertExpiring | EventKind::CertRenewed => {
            ev.incident = None;
            ev.result = Some(up_result());
            ev.regions = vec![region("UP", 0)];
            ev.status = "UP".into();
            ev.previous_status = "UP".into();
            ev.consecutive_failures = 0;
            ev.certificate = Some(EventCertificate {
                not_after_ms: 1_707_906_615_000,
                days_left: 30,
                subject: "api.example.com".into(),
                previous_not_after_ms: 0,
            });
            if kind == EventKind::CertRenewed {
                ev.certificate = Some(EventCertificate {
                    not_after_ms: 1_713_090_615_000,
                    days_left: 89,
                    subject: "api.example.com".into(),
                    previous_not_after_ms: 1_707_906_615_000,
                });
            }
        }
        EventKind::Flapping | EventKind::FlappingEnded => {
            ev.incident = None;
            ev.consecutive_failures = 1;
            ev.regions = vec![region("DOWN", 1)];
            if kind == EventKind::FlappingEnded {
                ev.result = Some(up_result());
                ev.regions = vec![region("UP", 0)];
                ev.status = "UP".into();
                ev.previous_status = "DOWN".into();
                ev.consecutive_failures = 0;
            }
        }
        EventKind::Test => {
            ev = lookout_render::sample_event();
            ev.kind = EventKind::Test as i32;
        }
    }
    ev
}

pub fn webhook(url: &str) -> WebhookIntegration {
    WebhookIntegration {
        url: url.into(),
        ..Default::default()
    }
}

pub fn integration(w: WebhookIntegration) -> Integration {
    Integration {
        id: "int_test".into(),
        kind: Some(Kind::Webhook(w)),
        ..Default::default()
    }
}

/// A webhook with a Handlebars (or Go) body template.
pub fn templated(
    url: &str,
    syntax: TemplateSyntax,
    template: &str,
    json: bool,
) -> WebhookIntegration {
    WebhookIntegration {
        url: url.into(),
        body: BodyFormat::Template as i32,
        syntax: syntax as i32,
        template: template.into(),
        template_is_json: json,
        ..Default::default()
    }
}

pub fn signed(mut w: WebhookIntegration, mode: SignatureMode, secret: &str) -> WebhookIntegration {
    w.signature = mode as i32;
    w.secret = secret.into();
    w
}

pub fn render_with(
    w: &WebhookIntegration,
    ev: &NotificationEvent,
    vars: &Variables,
) -> Result<Request, lookout_render::RenderError> {
    let ctx = Context {
        event: ev,
        delivery_id: "dlv_0001",
        now_unix_secs: 1_705_314_620,
        variables: vars,
    };
    lookout_render::render(&integration(w.clone()), &ctx)
}

pub fn render(w: &WebhookIntegration, ev: &NotificationEvent) -> Request {
    render_with(w, ev, &Variables::new()).expect("renders")
}

pub fn body_text(r: &Request) -> String {
    String::from_utf8(r.body.clone()).expect("utf-8 body")
}

pub fn header<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Golden files hold the exact bytes sent plus a final newline; `LOOKOUT_UPDATE_GOLDEN=1`
/// rewrites them.
pub fn golden(path: &str, body: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(path);
    let mut got = String::from_utf8(body.to_vec()).expect("utf-8 body");
    got.push('\n');
    if std::env::var_os("LOOKOUT_UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &got).expect("write golden file");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "golden file {} ({e}); run with LOOKOUT_UPDATE_GOLDEN=1",
            path.display()
        )
    });
    assert_eq!(
        got,
        want,
        "{} differs; rerun with LOOKOUT_UPDATE_GOLDEN=1 if intended",
        path.display()
    );
}
