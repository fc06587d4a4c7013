//! Escalation and reminders in the consumer: at each result while an incident stays open
//! (results keep coming every interval while a monitor is down), by the result's time, the
//! monitor's escalation levels are judged by failures since the opening and by time since it
//! (a level reached is stored on the incident and announced, EVENT_KIND_ESCALATION, to the
//! integrations of every level up to it), and a due reminder is sent (EVENT_KIND_REMINDER).
//! Both are written in the batch's transaction with its offsets, so each happens once. Only
//! monitors with an open incident get here.

use lookout_proto::CheckResult;
use lookout_proto::v1::EventKind;
use tracing::info;

use super::maintenance;
use super::{Output, Tracked, base, event_time, notify_incident};
use crate::engine::{escalation, gate, reminders};
use crate::events::{incident_part, result_part};
use crate::incidents::Thresholds;
use crate::monitors::Current;

/// Escalation first: a reminder due at the same result then carries the new level.
pub(super) fn follow_ups(
    p: &mut Output,
    tracked: &mut Tracked,
    monitor: &Current,
    r: &CheckResult,
) {
    escalate(p, tracked, monitor, r);
    remind(p, tracked, monitor, r);
}

fn remind(p: &mut Output, tracked: &mut Tracked, monitor: &Current, r: &CheckResult) {
    let m = &monitor.monitor;
    let Some(inc) = tracked.open.as_mut() else {
        return;
    };
    if !gate::follow_up(
        &maintenance::context(m, tracked.flap.flapping, event_time(r)),
        inc.silenced,
    ) {
        return;
    }
    let at = event_time(r);
    let policy = m.reminders.as_ref();
    // A policy added while the incident was open starts counting now.
    let next = inc
        .next_reminder_at_ms
        .or_else(|| reminders::first_at(policy, at));
    let Some(due) = reminders::due(
        policy,
        inc.acknowledged_at_ms.is_some(),
        inc.reminders_sent,
        next,
        at,
    ) else {
        if next != inc.next_reminder_at_ms && inc.reminders_sent == 0 {
            inc.next_reminder_at_ms = next;
            p.batch.incidents.push(inc.clone());
        }
        return;
    };
    inc.reminders_sent = inc.reminders_sent.saturating_add(1);
    inc.next_reminder_at_ms = due.next_at_ms;
    let inc = inc.clone();
    info!(monitor_id = %m.id, incident_id = %inc.id, reminder = inc.reminders_sent, "incident reminder");
    let status = tracked.machine.health.label();
    let mut ev = base(EventKind::Reminder, monitor, tracked, at).build(status, status);
    ev.reminder = due.sent_before;
    ev.incident = Some(incident_part(&inc));
    ev.result = Some(result_part(r));
    ev.consecutive_failures = tracked.machine.failures(&r.region);
    notify_incident(p, monitor, &inc, ev);
    p.batch.incidents.push(inc);
}

fn escalate(p: &mut Output, tracked: &mut Tracked, monitor: &Current, r: &CheckResult) {
    let m = &monitor.monitor;
    if m.escalation.is_empty() {
        return;
    }
    let Some(inc) = tracked.open.as_mut() else {
        return;
    };
    // Receivers that never heard of the incident are not told it escalated.
    if !gate::follow_up(
        &maintenance::context(m, tracked.flap.flapping, event_time(r)),
        inc.silenced,
    ) {
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
