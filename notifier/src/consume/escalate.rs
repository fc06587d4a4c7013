//! Escalation in the consumer: at each result while an incident stays open (results keep
//! coming every interval while a monitor is down), the monitor's escalation levels are judged
//! by failures since the opening and by time since it; a level reached is stored on the
//! incident and announced (EVENT_KIND_ESCALATION) to the integrations of every level up to
//! it. Only monitors with an open incident and escalation levels get here.

use lookout_proto::CheckResult;
use lookout_proto::v1::EventKind;
use tracing::info;

use super::{Output, Tracked, base, event_time, notify_incident};
use crate::engine::{escalation, gate};
use crate::events::{incident_part, result_part};
use crate::incidents::Thresholds;
use crate::monitors::Current;

pub(super) fn escalate(p: &mut Output, tracked: &mut Tracked, monitor: &Current, r: &CheckResult) {
    let m = &monitor.monitor;
    if m.escalation.is_empty() {
        return;
    }
    let Some(inc) = tracked.open.as_mut() else {
        return;
    };
    // Receivers that never heard of the incident are not told it escalated.
    if !gate::follow_up(&gate::Context::default(), inc.silenced) {
        return;
    }
    let failure = Thresholds::of(m).failure;
    let open = escalation::Open {
        level: inc.level.max(1),
        opened_at_ms: inc.opened_at_ms,
        acknowledged: inc.acknowledged_at_ms.is_some(),
        extra_failures: tracked
            .machine
            .worst_failures(&m.regions)
            .saturating_sub(failure),
    };
    let at = event_time(r);
    let Some(level) = escalation::reached(&m.escalation, &open, at) else {
        return;
    };
    inc.level = level;
    inc.escalated_at_ms = Some(at);
    let inc = inc.clone();
    info!(monitor_id = %m.id, incident_id = %inc.id, level, "incident escalated");
    let status = tracked.machine.health.label();
    let mut ev = base(EventKind::Escalation, monitor, tracked, at).build(status, status);
    ev.level = level;
    ev.incident = Some(incident_part(&inc));
    ev.result = Some(result_part(r));
    ev.consecutive_failures = tracked.machine.failures(&r.region);
    notify_incident(p, monitor, &inc, ev);
    p.batch.incidents.push(inc);
}
