//! The monitor moved between DEGRADED and DOWN without coming back UP: its one open incident
//! changes severity and its receivers hear the new state (Checkly's ALERT_DEGRADED_FAILURE
//! reads DEGRADED -> DOWN, a degraded event with previous status DOWN reads DOWN -> DEGRADED).

use lookout_proto::CheckResult;
use lookout_proto::v1::EventKind;
use tracing::{info, warn};

use super::maintenance;
use super::{Output, Tracked, base, event_time, notify_incident};
use crate::engine::gate;
use crate::events::{incident_part, result_part};
use crate::incidents::{Change, Health};
use crate::monitors::Current;

pub(super) fn severity_changed(
    p: &mut Output,
    tracked: &mut Tracked,
    monitor: &Current,
    r: &CheckResult,
    change: Change,
) {
    let m = &monitor.monitor;
    let Some(inc) = tracked.open.as_mut() else {
        warn!(monitor_id = %m.id, from = change.from.label(), to = change.to.label(), "health changed but no open incident is stored");
        return;
    };
    inc.severity = change.to.severity().to_string();
    if change.to == Health::Down {
        inc.regions = tracked.machine.down_regions(&m.regions);
    }
    info!(monitor_id = %m.id, incident_id = %inc.id, from = change.from.label(), to = change.to.label(), "incident severity changed");
    let inc = inc.clone();
    let kind = match change.to {
        Health::Down => EventKind::Incident,
        _ => EventKind::Degraded,
    };
    let mut ev =
        base(kind, monitor, tracked, event_time(r)).build(change.to.label(), change.from.label());
    ev.incident = Some(incident_part(&inc));
    ev.result = Some(result_part(r));
    ev.consecutive_failures = tracked.machine.failures(&r.region);
    // Receivers that never heard of the incident (opened under a down parent) hear nothing
    // of its severity either.
    if gate::follow_up(
        &maintenance::context(m, tracked.flap.flapping, event_time(r)),
        inc.silenced,
    ) {
        notify_incident(p, monitor, &inc, ev);
    }
    p.batch.incidents.push(inc);
}
