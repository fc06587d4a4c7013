//! Lifecycle events in the consumer: the coordinator's event that a monitor was deleted or
//! paused resolves its open incident, saying why, ends a flapping episode, and drops its
//! counters.

use lookout_proto::CheckResult;
use lookout_proto::v1::{EventKind, MonitorLifecycle};
use lookout_store::notifier::IncidentStatus;
use tracing::{debug, info};

use super::{
    Output, Tracked, base, event_time, maintenance, notify, notify_incident, store_monitor_state,
};
use crate::IncidentEventKind;
use crate::engine::flapping::FlapState;
use crate::engine::gate;
use crate::events::incident_part;
use crate::incidents::MonitorState;
use crate::monitors::Current;

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
/// open incident resolves, saying why (the recovery's status is `DELETED` or `PAUSED`, no
/// region recovered, `resolved_reason` is `deleted` or `paused`), a flapping episode ends
/// (FLAPPING_ENDED, status `DELETED` or `PAUSED`), and its counters and flapping history are
/// dropped, so a resumed monitor starts fresh. An event this notifier does not know changes
/// nothing.
pub(super) fn ended(
    p: &mut Output,
    tracked: &mut Tracked,
    current: &Current,
    event: &CheckResult,
    what: MonitorLifecycle,
) {
    let monitor = &current.monitor;
    if what == MonitorLifecycle::Unspecified {
        debug!(monitor_id = %monitor.id, lifecycle = event.lifecycle, "unknown lifecycle event ignored");
        return;
    }
    let (reason, status) = match what {
        MonitorLifecycle::Paused => ("paused", "PAUSED"),
        _ => ("deleted", "DELETED"),
    };
    let at = event_time(event);
    if let Some(mut inc) = tracked.open.take() {
        inc.status = IncidentStatus::Resolved;
        inc.resolved_at_ms = Some(at);
        inc.resolved_reason = reason.to_string();
        info!(monitor_id = %monitor.id, incident_id = %inc.id, reason, "incident resolved: monitor {reason}");
        let mut ev = base(EventKind::Recovery, current, tracked, at)
            .build(status, tracked.machine.health.label());
        ev.incident = Some(incident_part(&inc));
        ev.resolved_reason = reason.to_string();
        notify_incident(p, current, &inc, ev);
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
    if tracked.flap.flapping && gate::other(&maintenance::context(monitor, false, at)) {
        // The episode ends with the monitor: receivers that were told it started (a paging
        // service holds an alert open for it) hear that it ended.
        let ev = base(EventKind::FlappingEnded, current, tracked, at)
            .build(status, tracked.machine.health.label());
        info!(monitor_id = %monitor.id, reason, "flapping ended: monitor {reason}");
        notify(p, current, None, ev);
    }
    if tracked.flap != FlapState::default() {
        tracked.flap = FlapState::default();
        store_monitor_state(p, tracked, &monitor.id);
    }
    tracked.machine = MonitorState::default();
    tracked.seen.clear();
    p.batch.cleared.push(monitor.id.clone());
}
