//! Flapping in the consumer: each health change of a monitor with a `flapping` policy is
//! counted (`engine::flapping`); more than `changes` in the window start an episode, announced
//! once (FLAPPING). While it lasts, incidents still open and resolve but their notifications
//! are held (`engine::gate`); at the first result a whole window after the last change the
//! episode ends (FLAPPING_ENDED) and `maintenance::catch_up` sends what changed meanwhile.
//! The state is stored with the batch whenever it changes, so a restart keeps the episode.

use lookout_proto::CheckResult;
use lookout_proto::v1::EventKind;
use tracing::info;

use super::{Output, Tracked, base, event_time, maintenance, notify, store_monitor_state};
use crate::engine::flapping::FlapEvent;
use crate::engine::gate;
use crate::events::result_part;
use crate::monitors::Current;

/// Before a result's transition is applied: ends an episode a whole window after its last
/// change, then counts the change (`changed`: the result changes the monitor's health).
pub(super) fn observe(
    p: &mut Output,
    tracked: &mut Tracked,
    monitor: &Current,
    r: &CheckResult,
    changed: bool,
) {
    let m = &monitor.monitor;
    let policy = m.flapping.as_ref();
    if policy.is_none() && !tracked.flap.flapping && tracked.flap.changes.is_empty() {
        return;
    }
    let at = event_time(r);
    let before = tracked.flap.clone();
    let mut events = Vec::new();
    events.extend(tracked.flap.settle(policy, at));
    if changed {
        events.extend(tracked.flap.changed(policy, at));
    }
    if tracked.flap != before {
        store_monitor_state(p, tracked, &m.id);
    }
    for e in events {
        let kind = match e {
            FlapEvent::Started => EventKind::Flapping,
            FlapEvent::Ended => EventKind::FlappingEnded,
        };
        let send = gate::other(&maintenance::context(m, false, at));
        info!(monitor_id = %m.id, event = kind.label(), notify = send, "flapping");
        if !send {
            continue;
        }
        // Flapping is no status of its own: both name the health the monitor has now.
        let status = tracked.machine.health.label();
        let mut ev = base(kind, monitor, tracked, at).build(status, status);
        ev.result = Some(result_part(r));
        notify(p, monitor, None, ev);
    }
}
