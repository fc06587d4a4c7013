//! What a transition produces: the incident row, its outbox rows (one per webhook) and the
//! event for `lookout standalone`'s output, for incidents that open, resolve, or end because
//! the monitor was deleted or paused, and for regions that lose or regain their data.

use lookout_proto::v1::MonitorLifecycle;
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::notifier::{IncidentRow, IncidentStatus, OutboxEvent, OutboxRow, OutboxState};
use lookout_store::now_ms;
use tracing::{debug, info, warn};

use super::{Output, Tracked};
use crate::incidents::{DataChange, MonitorState};
use crate::payload::{data_body, lifecycle_body, result_time_ms, webhook_body};
use crate::{IncidentEvent, IncidentEventKind};

fn event_time(r: &CheckResult) -> i64 {
    match result_time_ms(r) {
        0 => now_ms(),
        t => t,
    }
}

pub(super) fn open(p: &mut Output, tracked: &mut Tracked, monitor: &Monitor, r: &CheckResult) {
    let cause = if r.error_message.is_empty() {
        format!("DOWN in {}", r.region)
    } else {
        r.error_message.clone()
    };
    let inc = IncidentRow {
        id: format!("inc_{}", uuid::Uuid::now_v7()),
        monitor_id: monitor.id.clone(),
        status: IncidentStatus::Open,
        opened_at_ms: event_time(r),
        resolved_at_ms: None,
        cause: cause.clone(),
        regions: tracked.machine.down_regions(&monitor.regions),
    };
    info!(monitor_id = %monitor.id, incident_id = %inc.id, regions = ?inc.regions, "incident opened");
    let body = webhook_body(
        monitor,
        r,
        OutboxEvent::Incident,
        tracked.machine.failures(&r.region),
    );
    enqueue(p, monitor, Some(&inc.id), OutboxEvent::Incident, body);
    p.events.push(event(
        IncidentEventKind::Opened,
        monitor,
        &inc,
        cause,
        inc.opened_at_ms,
    ));
    p.batch.incidents.push(inc.clone());
    tracked.open = Some(inc);
}

pub(super) fn resolve(p: &mut Output, tracked: &mut Tracked, monitor: &Monitor, r: &CheckResult) {
    let Some(mut inc) = tracked.open.take() else {
        warn!(monitor_id = %monitor.id, "incident resolved but no open incident is stored");
        return;
    };
    let at = event_time(r);
    inc.status = IncidentStatus::Resolved;
    inc.resolved_at_ms = Some(at);
    info!(monitor_id = %monitor.id, incident_id = %inc.id, "incident resolved");
    let body = webhook_body(monitor, r, OutboxEvent::Recovery, 0);
    enqueue(p, monitor, Some(&inc.id), OutboxEvent::Recovery, body);
    let message = format!(
        "{} in {}",
        CheckStatus::try_from(r.status)
            .unwrap_or(CheckStatus::Up)
            .label(),
        r.region
    );
    p.events.push(event(
        IncidentEventKind::Resolved,
        monitor,
        &inc,
        message,
        at,
    ));
    p.batch.incidents.push(inc);
}

/// The monitor was deleted or paused (`event` is the coordinator's lifecycle event): its
/// open incident resolves, saying why, and its counters are dropped, so a resumed monitor
/// starts fresh. An event this notifier does not know changes nothing.
pub(super) fn ended(
    p: &mut Output,
    tracked: &mut Tracked,
    monitor: &Monitor,
    event: &CheckResult,
    what: MonitorLifecycle,
) {
    if what == MonitorLifecycle::Unspecified {
        debug!(monitor_id = %monitor.id, lifecycle = event.lifecycle, "unknown lifecycle event ignored");
        return;
    }
    let reason = match what {
        MonitorLifecycle::Paused => "paused",
        _ => "deleted",
    };
    if let Some(mut inc) = tracked.open.take() {
        let at = event_time(event);
        inc.status = IncidentStatus::Resolved;
        inc.resolved_at_ms = Some(at);
        info!(monitor_id = %monitor.id, incident_id = %inc.id, reason, "incident resolved: monitor {reason}");
        let body = lifecycle_body(monitor, event, what);
        enqueue(p, monitor, Some(&inc.id), OutboxEvent::Recovery, body);
        let message = format!("monitor {reason}");
        p.events.push(self::event(
            IncidentEventKind::Resolved,
            monitor,
            &inc,
            message,
            at,
        ));
        p.batch.incidents.push(inc);
    }
    tracked.machine = MonitorState::default();
    tracked.seen.clear();
    p.batch.cleared.push(monitor.id.clone());
}

/// A region lost or regained its data: its receivers hear of it unless the monitor turned
/// that off (`notify_no_data: false`). Never touches the incident.
pub(super) fn data_changed(
    p: &mut Output,
    tracked: &Tracked,
    monitor: &Monitor,
    r: &CheckResult,
    change: DataChange,
) {
    let event = match change {
        DataChange::Lost => OutboxEvent::NoData,
        DataChange::Resumed => OutboxEvent::DataResumed,
    };
    let notify = monitor.notify_no_data != Some(false);
    info!(monitor_id = %monitor.id, region = %r.region, event = event.as_str(), reason = %r.error_message, notify, "data flow changed");
    if notify {
        let failures = tracked.machine.failures(&r.region);
        let body = data_body(monitor, r, event, tracked.open.is_some(), failures);
        enqueue(p, monitor, None, event, body);
    }
}

/// One outbox row per webhook of the monitor.
fn enqueue(
    p: &mut Output,
    monitor: &Monitor,
    incident_id: Option<&str>,
    event: OutboxEvent,
    body: Vec<u8>,
) {
    let now = now_ms();
    for w in &monitor.webhooks {
        p.batch.outbox.push(OutboxRow {
            id: format!("dlv_{}", uuid::Uuid::now_v7()),
            incident_id: incident_id.map(str::to_string),
            monitor_id: monitor.id.clone(),
            event,
            channel: "webhook".into(),
            url: w.url.clone(),
            secret: w.secret.clone(),
            payload: body.clone(),
            attempts: 0,
            next_attempt_at_ms: now,
            state: OutboxState::Pending,
            last_error: None,
            created_at_ms: now,
        });
    }
}

fn event(
    kind: IncidentEventKind,
    monitor: &Monitor,
    inc: &IncidentRow,
    message: String,
    at_ms: i64,
) -> IncidentEvent {
    IncidentEvent {
        kind,
        incident_id: inc.id.clone(),
        monitor_id: monitor.id.clone(),
        monitor_name: monitor.name.clone(),
        regions: inc.regions.clone(),
        message,
        at_ms,
    }
}
