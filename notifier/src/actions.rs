//! Admin actions on incidents (`lookout incidents ack|resolve`): the coordinator records a
//! request in `incident_actions`, and the notifier, the only writer of incidents, applies it
//! within about a second, each in one store transaction with what it causes. An
//! acknowledgement stamps the open incident (reminders and escalation stop); a manual resolve
//! resolves it with reason `manual`, queues a recovery for each of its integrations and drops
//! the monitor's counters, so it opens again only after fresh failures. Consumers forget what
//! they hold of a monitor an action changed (`ConsumeLoop`), so their next result reads it
//! from the store.

use std::sync::Arc;
use std::time::Duration;

use lookout_proto::v1::EventKind;
use lookout_store::notifier::{
    IncidentActionKind, IncidentActionRow, ManualResolution, OutboxRow, OutboxState,
};
use lookout_store::{Store, StoreError, now_ms};
use prost::Message;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::engine::escalation;
use crate::events::{Base, incident_part};
use crate::incidents::MonitorState;
use crate::integrations::Destinations;

/// How often pending actions are looked for.
const EVERY: Duration = Duration::from_millis(500);
/// Actions applied per round at most.
const PER_ROUND: u32 = 100;

/// Applies pending actions until `stop`; wakes the dispatcher after queuing recoveries.
pub(crate) async fn run(store: Store, ready: Arc<Notify>, stop: CancellationToken) {
    let destinations = Destinations::new(store.clone(), Duration::from_secs(1));
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(EVERY) => {}
        }
        match apply_pending(&store, &destinations).await {
            Ok(0) => {}
            Ok(_) => ready.notify_one(),
            Err(e) => warn!(error = %e, "applying incident actions failed; retrying"),
        }
    }
}

/// Applies what is pending; returns how many recoveries were queued.
async fn apply_pending(store: &Store, destinations: &Destinations) -> Result<usize, StoreError> {
    let mut queued = 0;
    for (a, monitor_id) in store.pending_incident_actions(PER_ROUND).await? {
        let now = now_ms();
        match a.action {
            IncidentActionKind::Ack => {
                let changed = store.apply_incident_ack(&a, now).await?;
                info!(incident_id = %a.incident_id, by = %a.actor, changed, "incident acknowledged");
            }
            IncidentActionKind::Resolve => {
                let r = resolution(store, destinations, &a, &monitor_id, now).await?;
                let n = r.outbox.len();
                let changed = store
                    .apply_incident_resolve(&a, &monitor_id, &r, now)
                    .await?;
                info!(incident_id = %a.incident_id, by = %a.actor, changed, "incident resolved by hand");
                if changed {
                    queued += n;
                }
            }
        }
    }
    Ok(queued)
}

/// The recoveries a manual resolve of `a`'s incident sends: one per integration of the
/// monitor and of every escalation level the incident reached, as their filters allow.
async fn resolution(
    store: &Store,
    destinations: &Destinations,
    a: &IncidentActionRow,
    monitor_id: &str,
    now: i64,
) -> Result<ManualResolution, StoreError> {
    let mut out = ManualResolution {
        resolved_at_ms: now,
        outbox: Vec::new(),
    };
    let Some(mut inc) = store.open_incident(monitor_id).await? else {
        return Ok(out);
    };
    if inc.id != a.incident_id {
        return Ok(out);
    }
    let record = match store.monitor_record(monitor_id).await {
        Ok(r) => r,
        Err(StoreError::NotFound) => return Ok(out),
        Err(e) => return Err(e),
    };
    inc.resolved_at_ms = Some(now);
    inc.resolved_reason = "manual".into();
    let machine = MonitorState::default();
    let m = &record.monitor;
    let mut ev = Base {
        kind: EventKind::Recovery,
        project_id: &record.project_id,
        monitor: m,
        machine: &machine,
        at_ms: now,
    }
    .build(
        "RESOLVED",
        if inc.severity == "warning" {
            "DEGRADED"
        } else {
            "DOWN"
        },
    );
    ev.incident = Some(incident_part(&inc));
    ev.resolved_reason = "manual".into();
    ev.level = inc.level.max(1);
    let payload = ev.encode_to_vec();
    for id in escalation::integrations(&m.integration_ids, &m.escalation, inc.level) {
        let Some(integration) = destinations.integration(&id).await? else {
            continue;
        };
        if !lookout_render::sends(&integration, &ev) {
            continue;
        }
        out.outbox.push(OutboxRow {
            id: format!("dlv_{}", uuid::Uuid::now_v7()),
            project_id: record.project_id.clone(),
            incident_id: Some(inc.id.clone()),
            monitor_id: Some(m.id.clone()),
            integration_id: id,
            event: EventKind::Recovery,
            channel: lookout_render::kind_name(&integration).to_string(),
            payload: payload.clone(),
            attempts: 0,
            next_attempt_at_ms: now,
            state: OutboxState::Pending,
            last_error: None,
            created_at_ms: now,
        });
    }
    Ok(out)
}
