//! Building the `NotificationEvent` the outbox stores: what happened to a monitor, from its
//! definition, the triggering result and the incident state machine. Carries no secret
//! (credentials in the monitor's target are redacted).

use lookout_proto::v1::{
    EventIncident, EventKind, EventMonitor, EventRegion, EventResult, NotificationEvent,
};
use lookout_proto::{CheckResult, CheckStatus, FailureClass, Monitor};
use lookout_store::notifier::IncidentRow;

use crate::incidents::MonitorState;

/// What a monitor is, as events show it.
pub(crate) fn monitor_part(m: &Monitor) -> EventMonitor {
    let target = m.target();
    EventMonitor {
        id: m.id.clone(),
        name: m.name.clone(),
        kind: m.kind().to_string(),
        target: lookout_proto::redact_url_credentials(&target).unwrap_or(target),
        version: m.version,
    }
}

/// The triggering result, as events show it.
pub(crate) fn result_part(r: &CheckResult) -> EventResult {
    EventResult {
        id: r.id.clone(),
        region: r.region.clone(),
        status: CheckStatus::try_from(r.status)
            .unwrap_or(CheckStatus::Unspecified)
            .label()
            .to_string(),
        started_at_ms: r.started_at_ms,
        scheduled_at_ms: r.scheduled_at_ms,
        duration_us: r.duration_us,
        status_code: r.status_code,
        error_message: r.error_message.clone(),
        failure: FailureClass::try_from(r.failure_class)
            .unwrap_or(FailureClass::Unspecified)
            .label()
            .to_string(),
    }
}

/// An incident, as events show it.
pub(crate) fn incident_part(inc: &IncidentRow) -> EventIncident {
    EventIncident {
        id: inc.id.clone(),
        opened_at_ms: inc.opened_at_ms,
        resolved_at_ms: inc.resolved_at_ms.unwrap_or(0),
        regions: inc.regions.clone(),
        cause: inc.cause.clone(),
        severity: if inc.severity.is_empty() {
            "critical".into()
        } else {
            inc.severity.clone()
        },
        acknowledged_at_ms: inc.acknowledged_at_ms.unwrap_or(0),
    }
}

/// Every region of `m` as `machine` knows it (`PENDING` for one not heard from).
pub(crate) fn regions_part(m: &Monitor, machine: &MonitorState) -> Vec<EventRegion> {
    m.regions
        .iter()
        .map(|region| match machine.regions.get(region) {
            Some(c) => EventRegion {
                region: region.clone(),
                status: c.last_status.label().to_string(),
                consecutive_failures: c.failures,
                down: c.down,
            },
            None => EventRegion {
                region: region.clone(),
                status: "PENDING".into(),
                ..Default::default()
            },
        })
        .collect()
}

/// The parts every event has.
pub(crate) struct Base<'a> {
    pub kind: EventKind,
    pub project_id: &'a str,
    pub monitor: &'a Monitor,
    pub machine: &'a MonitorState,
    pub at_ms: i64,
}

impl Base<'_> {
    /// The event, with `status` after and `previous_status` before it.
    pub(crate) fn build(&self, status: &str, previous_status: &str) -> NotificationEvent {
        NotificationEvent {
            kind: self.kind as i32,
            project_id: self.project_id.to_string(),
            monitor: Some(monitor_part(self.monitor)),
            regions: regions_part(self.monitor, self.machine),
            status: status.to_string(),
            previous_status: previous_status.to_string(),
            level: 1,
            at_ms: self.at_ms,
            ..Default::default()
        }
    }
}
