//! Maintenance windows in the consumer: inside one (by the result's time) an incident's
//! notifications are held (`engine::gate`); at the first result after the window ends, the
//! receivers hear what changed meanwhile: the incident that opened and is still open, or the
//! recovery of the one announced before. Monitors without windows never parse anything.

use lookout_proto::v1::EventKind;
use lookout_proto::{CheckResult, Monitor};
use tracing::{info, warn};

use super::{Output, Tracked, base, event_time, notify_incident};
use crate::engine::gate::{self, CatchUp};
use crate::engine::maintenance::Windows;
use crate::events::{incident_part, result_part};
use crate::incidents::Health;
use crate::monitors::Current;

/// Whether `m` is inside one of its maintenance windows at `at_ms`.
pub(super) fn held(m: &Monitor, at_ms: i64) -> bool {
    if m.maintenance.is_empty() {
        return false;
    }
    match Windows::new(&m.maintenance) {
        Ok(w) => w.active_until(at_ms).is_some(),
        Err(e) => {
            // Validation refuses these; only a newer coordinator's spec gets here.
            warn!(monitor_id = %m.id, error = %e, "maintenance window ignored");
            false
        }
    }
}

/// The gate's context of `m` at `at_ms`, `flapping` or not (parents matter at opening only).
pub(super) fn context(m: &Monitor, flapping: bool, at_ms: i64) -> gate::Context {
    gate::Context {
        in_maintenance: held(m, at_ms),
        flapping,
        ..gate::Context::default()
    }
}

/// After each result: if a held notification is waiting and neither a window nor a flapping
/// episode holds it any more, it is sent now.
pub(super) fn catch_up(p: &mut Output, tracked: &mut Tracked, monitor: &Current, r: &CheckResult) {
    let m = &monitor.monitor;
    let waiting = tracked.open.as_ref().is_some_and(|i| i.silenced) || tracked.held.is_some();
    if !waiting {
        return;
    }
    let at = event_time(r);
    let ctx = context(m, tracked.flap.flapping, at);
    if let Some(inc) = tracked.open.as_mut() {
        let caused = inc.caused_by_incident_id.is_some();
        if gate::hold_ended(&ctx, true, inc.silenced, caused) != Some(CatchUp::Incident) {
            return;
        }
        inc.silenced = false;
        let inc = inc.clone();
        info!(monitor_id = %m.id, incident_id = %inc.id, "hold over: incident announced");
        let health = tracked.machine.health;
        let kind = match health {
            Health::Degraded => EventKind::Degraded,
            _ => EventKind::Incident,
        };
        let mut ev = base(kind, monitor, tracked, at).build(health.label(), "UP");
        ev.incident = Some(incident_part(&inc));
        ev.result = Some(result_part(r));
        ev.consecutive_failures = tracked.machine.failures(&r.region);
        notify_incident(p, monitor, &inc, ev);
        p.batch.incidents.push(inc);
        return;
    }
    let Some(mut inc) = tracked.held.take() else {
        return;
    };
    if gate::hold_ended(&ctx, false, inc.silenced, false) != Some(CatchUp::Recovery) {
        tracked.held = Some(inc);
        return;
    }
    inc.silenced = false;
    info!(monitor_id = %m.id, incident_id = %inc.id, "hold over: recovery sent");
    let (kind, previous) = if inc.severity == Health::Degraded.severity() {
        (EventKind::DegradedRecovery, Health::Degraded)
    } else {
        (EventKind::Recovery, Health::Down)
    };
    let mut ev = base(kind, monitor, tracked, at).build("UP", previous.label());
    ev.incident = Some(incident_part(&inc));
    ev.result = Some(result_part(r));
    notify_incident(p, monitor, &inc, ev);
    p.batch.incidents.push(inc);
}
