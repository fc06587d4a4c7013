//! Lifecycle events in the consumer: the coordinator's event that a monitor was deleted or
//! paused resolves its open incident, saying why, and drops its counters.

use lookout_proto::v1::MonitorLifecycle;
use lookout_proto::{CheckResult, Monitor};
use lookout_store::notifier::{IncidentStatus, OutboxEvent};
use tracing::{debug, info};

use super::{Output, Tracked, enqueue, event_time};
use crate::IncidentEventKind;
use crate::incidents::MonitorState;
use crate::payload::lifecycle_body;

/// The lifecycle event a record carries, if it is one.
pub(super) fn lifecycle_of(r: &CheckResult) -> Option<MonitorLifecycle> {
    match MonitorLifecycle::try_from(r.lifecycle) {
        Ok(MonitorLifecycle::Unspecified) => None,
        Ok(what) => Some(what),
        // A newer coordinator's event this notifier does not know: not a check result either.
        Err(_) => Some(MonitorLifecycle::Unspecified),
    }
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
        p.events.push(super::event(
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
