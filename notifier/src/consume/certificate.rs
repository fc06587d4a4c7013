//! Certificate expiry in the consumer: each https or tls result carries its certificate; the
//! monitor notifies once when it comes within the threshold of expiry (CERT_EXPIRING) and once
//! when a later one replaces it (CERT_RENEWED). The state is stored only when it changes, so a
//! healthy certificate costs one write, on first sight.

use lookout_proto::CheckResult;
use lookout_proto::v1::{EventCertificate, EventKind};
use tracing::info;

use super::{Output, Tracked, base, event_time, maintenance, notify, store_monitor_state};
use crate::engine::certificate::{self, CertEvent, days_left};
use crate::engine::gate;
use crate::events::result_part;
use crate::monitors::Current;

pub(super) fn observe(p: &mut Output, tracked: &mut Tracked, monitor: &Current, r: &CheckResult) {
    let m = &monitor.monitor;
    let (Some(facts), Some(days)) = (r.certificate.as_ref(), certificate::threshold_days(m)) else {
        return;
    };
    let at = event_time(r);
    let (events, changed) = certificate::observe(&mut tracked.cert, facts, days, at);
    if !changed {
        return;
    }
    store_monitor_state(p, tracked, &m.id);
    let send = gate::other(&maintenance::context(m, false, at));
    for e in events {
        let (kind, previous) = match e {
            CertEvent::Expiring { .. } => (EventKind::CertExpiring, 0),
            CertEvent::Renewed {
                previous_not_after_ms,
            } => (EventKind::CertRenewed, previous_not_after_ms),
        };
        info!(monitor_id = %m.id, event = kind.label(), not_after_ms = facts.not_after_ms, notify = send, "certificate");
        if !send {
            continue;
        }
        let status = tracked.machine.health.label();
        let mut ev = base(kind, monitor, tracked, at).build(status, status);
        ev.result = Some(result_part(r));
        ev.certificate = Some(EventCertificate {
            not_after_ms: facts.not_after_ms,
            days_left: days_left(facts.not_after_ms, at),
            subject: facts.subject.clone(),
            previous_not_after_ms: previous,
        });
        notify(p, monitor, None, ev);
    }
}
