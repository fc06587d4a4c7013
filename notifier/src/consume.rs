//! The consumer loop: reads result batches, runs the incident state machine per monitor and
//! region, and stores changed counters, incidents, outbox rows and offsets in one
//! transaction per batch. Records below the stored offset were already applied and are skipped;
//! per (monitor, region), a result older than the newest applied one or seen before is ignored.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use lookout_bus::{BusError, Record, ResultConsumer};
use lookout_proto::v1::{EventKind, NotificationEvent};
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::notifier::{
    IncidentRow, IncidentStatus, MonitorStateRow, NotifierBatch, OffsetAdvance, OutboxRow,
    OutboxState, RegionStateRow,
};
use lookout_store::{Store, StoreError, now_ms};
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::dedup::{Verdict, Watermark};
use crate::engine::certificate::CertState;
use crate::engine::flapping::FlapState;
use crate::engine::{escalation, gate, reminders};
use crate::events::{Base, incident_part, result_part};
use crate::incidents::{DataChange, Health, MonitorState, RegionCounters, Thresholds};
use crate::integrations::Destinations;
use crate::monitors::{Current, MonitorCache};
use crate::{IncidentEvent, IncidentEventKind, NotifierError};

mod certificate;
mod degraded;
mod escalate;
mod flapping;
mod lifecycle;
mod maintenance;
use lifecycle::{ended, lifecycle_of};

/// Records handled per transaction at most.
const MAX_BATCH: usize = 500;
/// Offsets of batches that changed nothing are still stored this often, bounding the replay
/// after a restart (replaying them is harmless: they change nothing again).
const OFFSET_FLUSH: Duration = Duration::from_secs(5);
/// Longest pause between retries of a failed poll or store write.
const RETRY_MAX: Duration = Duration::from_secs(10);
/// How often admin actions on incidents are looked for (see `actions`), in ms.
const ACTIONS_CHECK_MS: i64 = 1_000;
/// How long an integration's event filter is trusted without reading it again.
const INTEGRATION_TTL: Duration = Duration::from_secs(5);

/// One monitor's machine plus its open incident row.
#[derive(Debug, Clone, Default)]
struct Tracked {
    machine: MonitorState,
    open: Option<IncidentRow>,
    /// Per region, the newest applied result. Kept in memory for every result and stored with
    /// the region's counters when they change: a result that changes nothing leaves nothing a
    /// replay of it could change either.
    seen: HashMap<String, Watermark>,
    /// The last incident, resolved inside a maintenance window after it was announced: its
    /// recovery is sent when the window ends.
    held: Option<IncidentRow>,
    /// The newest certificate seen and whether its expiry was announced.
    cert: CertState,
    /// Recent health changes and whether the monitor is flapping.
    flap: FlapState,
}

pub(crate) struct ConsumeLoop {
    store: Store,
    consumer: Box<dyn ResultConsumer>,
    group: String,
    topic: String,
    /// Next offset to handle per partition.
    next: HashMap<i32, i64>,
    /// Next offset per partition as stored.
    stored: HashMap<i32, i64>,
    last_flush: Instant,
    monitors: MonitorCache,
    /// Integrations' event filters, read when a notification is enqueued.
    destinations: Destinations,
    states: HashMap<String, Tracked>,
    /// Offsets and state must be reread from the store before the next batch.
    needs_reload: bool,
    /// When admin actions on incidents were last looked for (Unix ms): the monitors they
    /// changed are forgotten, so their state is read again from the store.
    acted_checked_ms: i64,
    events: Option<broadcast::Sender<IncidentEvent>>,
    /// Wakes the dispatcher after new outbox rows were stored.
    ready: Arc<Notify>,
}

/// What one batch changes, before it is stored.
#[derive(Default)]
struct Pending {
    out: Output,
    work: HashMap<String, Tracked>,
    next: HashMap<i32, i64>,
}

/// The rows and events a batch produces.
#[derive(Default)]
struct Output {
    batch: NotifierBatch,
    events: Vec<IncidentEvent>,
    /// Notifications to enqueue, one outbox row per integration that accepts the event.
    notices: Vec<Notice>,
}

/// One event for some integrations of a monitor.
struct Notice {
    event: NotificationEvent,
    incident_id: Option<String>,
    monitor_id: String,
    project_id: String,
    integration_ids: Vec<String>,
}

impl ConsumeLoop {
    pub(crate) fn new(
        store: Store,
        consumer: Box<dyn ResultConsumer>,
        group: &str,
        events: Option<broadcast::Sender<IncidentEvent>>,
        ready: Arc<Notify>,
    ) -> ConsumeLoop {
        let topic = consumer.topic().to_string();
        ConsumeLoop {
            monitors: MonitorCache::new(store.clone()),
            destinations: Destinations::new(store.clone(), INTEGRATION_TTL),
            store,
            consumer,
            group: group.to_string(),
            topic,
            next: HashMap::new(),
            stored: HashMap::new(),
            last_flush: Instant::now(),
            states: HashMap::new(),
            needs_reload: true,
            acted_checked_ms: now_ms(),
            events,
            ready,
        }
    }

    /// Consumes until `stop` is cancelled, then stores and commits the positions it handled.
    /// Store failures are retried with backoff (the batch is recomputed from fresh state each
    /// time); only a closed bus ends the loop with an error.
    pub(crate) async fn run(mut self, stop: CancellationToken) -> Result<(), NotifierError> {
        let out = self.consume(&stop).await;
        self.flush_offsets().await;
        out
    }

    async fn consume(&mut self, stop: &CancellationToken) -> Result<(), NotifierError> {
        if !self.consumer.durable() {
            // The log starts over with the process: old positions mean nothing.
            self.store
                .forget_notifier_offsets(&self.group, &self.topic)
                .await?;
        }
        let mut delay = Duration::from_millis(100);
        loop {
            let polled = tokio::select! {
                () = stop.cancelled() => return Ok(()),
                r = self.consumer.poll(MAX_BATCH) => r,
            };
            let records = match polled {
                Ok(r) => r,
                Err(BusError::Closed) => return Err(BusError::Closed.into()),
                Err(e) => {
                    warn!(error = %e, "polling results failed");
                    if !pause(stop, &mut delay).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            delay = Duration::from_millis(100);
            loop {
                match self.handle(&records).await {
                    Ok(()) => break,
                    Err(StoreError::Conflict) => {
                        // Another consumer stored this partition's position since we read
                        // it: reload and recompute; records it already applied are skipped.
                        info!("offsets moved by another consumer; reloading");
                        self.needs_reload = true;
                    }
                    Err(e) => {
                        warn!(error = %e, records = records.len(), "storing a batch failed; retrying with fresh state");
                        self.needs_reload = true;
                        if !pause(stop, &mut delay).await {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// Loads stored offsets and forgets cached state: at start and after a rebalance, when a
    /// partition may come from another notifier.
    async fn reload(&mut self) -> Result<(), StoreError> {
        let offsets = self
            .store
            .notifier_offsets(&self.group, &self.topic)
            .await?;
        self.stored = offsets.into_iter().collect();
        self.next = self.stored.clone();
        self.states.clear();
        self.monitors.clear();
        self.destinations.clear();
        Ok(())
    }

    async fn handle(&mut self, records: &[Record]) -> Result<(), StoreError> {
        if self.consumer.take_assignment_change() {
            info!("partition assignment changed; reloading offsets and state");
            self.needs_reload = true;
        }
        if self.needs_reload {
            self.reload().await?;
            self.needs_reload = false;
        }
        self.forget_acted_on().await?;
        let mut p = loop {
            let mut p = self.compute(records).await?;
            p.out.batch.held_open = self.held_open(&p.work);
            let changed = !p.out.batch.states.is_empty()
                || !p.out.batch.incidents.is_empty()
                || !p.out.batch.cleared.is_empty();
            if changed || self.last_flush.elapsed() >= OFFSET_FLUSH {
                p.out.batch.offsets = self.advances(&p.next);
            }
            if p.out.batch.is_empty() {
                break p;
            }
            let stale = self
                .store
                .apply_notifier_batch(&self.group, &self.topic, &p.out.batch, now_ms())
                .await?;
            if stale.is_empty() {
                self.stored_offsets(&p.out.batch.offsets);
                if !p.out.batch.outbox.is_empty() {
                    self.ready.notify_one();
                }
                break p;
            }
            // Resolved by hand while this batch was computed on the cached copies: nothing
            // was written; the batch is computed again with those monitors read afresh, so
            // the results after the resolve count from zero.
            for id in &stale {
                info!(monitor_id = %id, "incident resolved by hand meanwhile; reading the monitor again");
                self.states.remove(id);
            }
        };
        self.next = std::mem::take(&mut p.next);
        self.states.extend(std::mem::take(&mut p.work));
        if let Some(tx) = &self.events {
            for ev in p.out.events {
                // No subscriber is fine: events are for whoever watches.
                let _ = tx.send(ev);
            }
        }
        Ok(())
    }

    /// (monitor, incident) for the incidents the batch's copies hold open, as cached before
    /// the batch or as they are now (one loaded from the store during the batch).
    fn held_open(&self, work: &HashMap<String, Tracked>) -> Vec<(String, String)> {
        let mut held = Vec::new();
        for (id, t) in work {
            let before = self.states.get(id).and_then(|c| c.open.as_ref());
            for i in before.into_iter().chain(t.open.as_ref()) {
                if !held.iter().any(|(_, h): &(String, String)| *h == i.id) {
                    held.push((id.clone(), i.id.clone()));
                }
            }
        }
        held
    }

    /// Every `ACTIONS_CHECK_MS`, forgets the monitors whose incidents an admin action changed
    /// (acknowledged, resolved by hand) since the last look, by any notifier.
    async fn forget_acted_on(&mut self) -> Result<(), StoreError> {
        let now = now_ms();
        if now - self.acted_checked_ms < ACTIONS_CHECK_MS {
            return Ok(());
        }
        // A little overlap: an action applied as the last look ran is not missed.
        let since = self.acted_checked_ms - ACTIONS_CHECK_MS;
        for id in self.store.monitors_acted_on_since(since).await? {
            self.states.remove(&id);
        }
        self.acted_checked_ms = now;
        Ok(())
    }

    /// How the stored positions move to `next`.
    fn advances(&self, next: &HashMap<i32, i64>) -> Vec<OffsetAdvance> {
        next.iter()
            .filter(|(part, off)| self.stored.get(part) != Some(off))
            .map(|(part, off)| OffsetAdvance {
                partition: *part,
                from: self.stored.get(part).copied(),
                to: *off,
            })
            .collect()
    }

    /// After `offsets` were stored: remembers them and commits them to the bus.
    fn stored_offsets(&mut self, offsets: &[OffsetAdvance]) {
        if offsets.is_empty() {
            return;
        }
        self.last_flush = Instant::now();
        let positions: Vec<(i32, i64)> = offsets.iter().map(|o| (o.partition, o.to)).collect();
        self.stored.extend(positions.iter().copied());
        if let Err(e) = self.consumer.commit(&positions) {
            // The store holds the position; the broker's copy only lags.
            warn!(error = %e, "committing offsets to the bus failed");
        }
    }

    /// At shutdown: stores and commits the positions of batches that changed nothing (they
    /// are otherwise stored only every `OFFSET_FLUSH`), so the next start resumes exactly
    /// here. A failure only means those records are read again, which changes nothing.
    async fn flush_offsets(&mut self) {
        if self.needs_reload {
            // The positions in memory are not known to be ours.
            return;
        }
        let batch = NotifierBatch {
            offsets: self.advances(&self.next),
            ..Default::default()
        };
        if batch.is_empty() {
            return;
        }
        match self
            .store
            .apply_notifier_batch(&self.group, &self.topic, &batch, now_ms())
            .await
        {
            Ok(_) => self.stored_offsets(&batch.offsets),
            Err(e) => {
                warn!(error = %e, "storing offsets at shutdown failed; the next start reads the last records again")
            }
        }
    }

    /// Runs the records through the state machine on copies of the cached state.
    async fn compute(&mut self, records: &[Record]) -> Result<Pending, StoreError> {
        let mut p = Pending {
            next: self.next.clone(),
            ..Default::default()
        };
        let mut dirty: BTreeSet<(String, String)> = BTreeSet::new();
        for rec in records {
            if rec.offset < p.next.get(&rec.partition).copied().unwrap_or(0) {
                continue;
            }
            p.next.insert(rec.partition, rec.offset.saturating_add(1));
            let r = &rec.result;
            if let Some(what) = lifecycle_of(r) {
                let Some(record) = self.monitors.reread(&r.monitor_id).await? else {
                    continue;
                };
                let tracked =
                    tracked(&self.store, &self.states, &mut p.work, &r.monitor_id).await?;
                ended(&mut p.out, tracked, &record, r, what);
                // Counters changed earlier in this batch are dropped with the stored ones.
                dirty.retain(|(m, _)| m != &r.monitor_id);
                continue;
            }
            let Some(monitor) = self.monitors.get(&r.monitor_id, r.monitor_version).await? else {
                continue;
            };
            let monitor = &*monitor;
            let tracked = tracked(&self.store, &self.states, &mut p.work, &r.monitor_id).await?;
            if monitor.monitor.regions.contains(&r.region) {
                let mark = tracked.seen.entry(r.region.clone()).or_default();
                let verdict = mark.admit(&r.id, r.scheduled_at_ms, now_ms());
                if verdict != Verdict::Apply {
                    debug!(monitor_id = %r.monitor_id, region = %r.region, result_id = %r.id,
                        scheduled_at_ms = r.scheduled_at_ms, ?verdict, "result ignored");
                    continue;
                }
            }
            let status = CheckStatus::try_from(r.status).unwrap_or(CheckStatus::Unspecified);
            let step = tracked.machine.apply(
                &Thresholds::of(&monitor.monitor),
                &monitor.monitor.regions,
                &r.region,
                status,
            );
            if step.region_changed {
                dirty.insert((r.monitor_id.clone(), r.region.clone()));
            }
            // Data is back before the result that brought it opens or resolves anything.
            if let Some(change) = step.data {
                data_changed(&mut p.out, tracked, monitor, r, change);
            }
            let transition = step.transition;
            // Only an opening asks about the parent: healthy monitors read nothing.
            let parent = match transition {
                Some(c) if c.opens() => {
                    parent_incident(&self.store, &p.work, &monitor.monitor).await?
                }
                _ => None,
            };
            let tracked = p.work.get_mut(&r.monitor_id).expect("taken above");
            // Counted first: the change that starts an episode is held with the rest of it.
            flapping::observe(&mut p.out, tracked, monitor, r, transition.is_some());
            match transition {
                Some(c) if c.opens() => open(&mut p.out, tracked, monitor, r, c.to, parent),
                Some(c) if c.resolves() => resolve(&mut p.out, tracked, monitor, r, c.from),
                Some(c) => degraded::severity_changed(&mut p.out, tracked, monitor, r, c),
                // Escalation and reminders are judged at each result while an incident stays open.
                None if tracked.open.is_some() => {
                    escalate::follow_ups(&mut p.out, tracked, monitor, r)
                }
                None => {}
            }
            maintenance::catch_up(&mut p.out, tracked, monitor, r);
            certificate::observe(&mut p.out, tracked, monitor, r);
        }
        let notices = std::mem::take(&mut p.out.notices);
        for n in notices {
            enqueue(&self.destinations, &mut p.out.batch, n).await?;
        }
        for (monitor_id, region) in dirty {
            let tracked = p.work.get(&monitor_id);
            let c = tracked
                .and_then(|t| t.machine.regions.get(&region))
                .copied()
                .unwrap_or_default();
            let mark = tracked
                .and_then(|t| t.seen.get(&region))
                .cloned()
                .unwrap_or_default();
            p.out.batch.states.push(RegionStateRow {
                monitor_id,
                region,
                down: c.down,
                consecutive_failures: c.failures,
                consecutive_successes: c.successes,
                last_status: c.last_status.label().to_string(),
                newest_scheduled_at_ms: mark.newest_ms,
                newest_result_ids: mark.ids,
                degraded: c.degraded,
                consecutive_degraded: c.degraded_streak,
            });
        }
        Ok(p)
    }
}

/// One pending outbox row per integration of `n` whose event filter takes the event; an
/// integration that no longer exists is skipped (and logged).
async fn enqueue(
    destinations: &Destinations,
    batch: &mut NotifierBatch,
    n: Notice,
) -> Result<(), StoreError> {
    let kind = EventKind::try_from(n.event.kind).unwrap_or(EventKind::Unspecified);
    let payload = prost::Message::encode_to_vec(&n.event);
    let now = now_ms();
    for id in &n.integration_ids {
        let Some(integration) = destinations.integration(id).await? else {
            warn!(monitor_id = %n.monitor_id, integration_id = %id, "attached integration not found; not notified");
            continue;
        };
        if !lookout_render::sends(&integration, &n.event) {
            debug!(monitor_id = %n.monitor_id, integration_id = %id, event = kind.label(), "filtered out by the integration, or of no use to its kind");
            continue;
        }
        batch.outbox.push(OutboxRow {
            id: format!("dlv_{}", uuid::Uuid::now_v7()),
            project_id: n.project_id.clone(),
            incident_id: n.incident_id.clone(),
            monitor_id: Some(n.monitor_id.clone()),
            integration_id: id.clone(),
            event: kind,
            channel: lookout_render::kind_name(&integration).to_string(),
            payload: payload.clone(),
            attempts: 0,
            next_attempt_at_ms: now,
            state: OutboxState::Pending,
            last_error: None,
            created_at_ms: now,
        });
    }
    Ok(())
}

/// The batch's working copy of a monitor's state, taken from the cache or the store.
async fn tracked<'w>(
    store: &Store,
    states: &HashMap<String, Tracked>,
    work: &'w mut HashMap<String, Tracked>,
    monitor_id: &str,
) -> Result<&'w mut Tracked, StoreError> {
    if !work.contains_key(monitor_id) {
        let t = match states.get(monitor_id) {
            Some(t) => t.clone(),
            None => load(store, monitor_id).await?,
        };
        work.insert(monitor_id.to_string(), t);
    }
    Ok(work.get_mut(monitor_id).expect("inserted above"))
}

/// Sleeps `delay` (doubling it for next time) unless stopped first; false when stopped.
async fn pause(stop: &CancellationToken, delay: &mut Duration) -> bool {
    let d = *delay;
    *delay = (d * 2).min(RETRY_MAX);
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(d) => true,
    }
}

async fn load(store: &Store, monitor_id: &str) -> Result<Tracked, StoreError> {
    let mut t = Tracked::default();
    for row in store.region_states(monitor_id).await? {
        let c = RegionCounters {
            down: row.down,
            failures: row.consecutive_failures,
            successes: row.consecutive_successes,
            last_status: status_from_label(&row.last_status),
            degraded: row.degraded,
            degraded_streak: row.consecutive_degraded,
        };
        t.seen.insert(
            row.region.clone(),
            Watermark {
                newest_ms: row.newest_scheduled_at_ms,
                ids: row.newest_result_ids,
            },
        );
        t.machine.regions.insert(row.region, c);
    }
    if let Some(s) = store.monitor_state(monitor_id).await? {
        t.cert = CertState {
            not_after_ms: s.cert_not_after_ms,
            warned: s.cert_warned,
        };
        t.flap = FlapState {
            changes: s.flap_changes.into(),
            flapping: s.flapping,
        };
    }
    t.open = store.open_incident(monitor_id).await?;
    if t.open.is_none() {
        t.held = store
            .list_incidents(Some(monitor_id), 1)
            .await?
            .into_iter()
            .find(|i| i.status == IncidentStatus::Resolved && i.silenced);
    }
    t.machine.health = match &t.open {
        None => Health::Up,
        Some(inc) if inc.severity == Health::Degraded.severity() => Health::Degraded,
        Some(_) => Health::Down,
    };
    Ok(t)
}

fn status_from_label(label: &str) -> CheckStatus {
    [
        CheckStatus::Up,
        CheckStatus::Down,
        CheckStatus::Degraded,
        CheckStatus::Missed,
        CheckStatus::NoData,
    ]
    .into_iter()
    .find(|s| s.label() == label)
    .unwrap_or(CheckStatus::Unspecified)
}

/// When `r` happened: its start, or when it was due if it never started (now without either).
fn event_time(r: &CheckResult) -> i64 {
    match (r.started_at_ms, r.scheduled_at_ms) {
        (s, _) if s > 0 => s,
        (_, d) if d > 0 => d,
        _ => now_ms(),
    }
}

/// The monitor left UP for `to`: a critical incident (DOWN) or a warning one (DEGRADED) opens.
/// The open critical incident of `m`'s parent monitor, if it names one and it is down: read
/// from this batch's work when the parent is in it, else from the store (another notifier
/// may own the parent's partition).
async fn parent_incident(
    store: &Store,
    work: &HashMap<String, Tracked>,
    m: &Monitor,
) -> Result<Option<String>, StoreError> {
    let parent = &m.parent_monitor_id;
    if parent.is_empty() {
        return Ok(None);
    }
    let open = match work.get(parent) {
        Some(t) => t.open.clone(),
        None => store.open_incident(parent).await?,
    };
    Ok(open
        .filter(|i| i.severity != Health::Degraded.severity())
        .map(|i| i.id))
}

/// The monitor left UP for `to`: a critical incident (DOWN) or a warning one (DEGRADED) opens.
/// While its parent is down (`parent`: the parent's incident) it opens silently, listed as
/// caused by the parent's.
fn open(
    p: &mut Output,
    tracked: &mut Tracked,
    monitor: &Current,
    r: &CheckResult,
    to: Health,
    parent: Option<String>,
) {
    let m = &monitor.monitor;
    let cause = if r.error_message.is_empty() {
        format!("{} in {}", to.label(), r.region)
    } else {
        r.error_message.clone()
    };
    let mut inc = IncidentRow::opening(
        format!("inc_{}", uuid::Uuid::now_v7()),
        m.id.clone(),
        event_time(r),
        to.severity(),
    );
    inc.cause = cause.clone();
    inc.next_reminder_at_ms = reminders::first_at(m.reminders.as_ref(), inc.opened_at_ms);
    inc.regions = match to {
        Health::Down => tracked.machine.down_regions(&m.regions),
        _ => tracked.machine.unhealthy_regions(&m.regions),
    };
    let (decision, caused_by) = gate::opened(&gate::Context {
        parent_incident: parent,
        in_maintenance: maintenance::held(m, inc.opened_at_ms),
        flapping: tracked.flap.flapping,
    });
    inc.silenced = decision.silenced;
    inc.caused_by_incident_id = caused_by;
    info!(monitor_id = %m.id, incident_id = %inc.id, regions = ?inc.regions, severity = %inc.severity,
        caused_by = ?inc.caused_by_incident_id, notify = decision.send, "incident opened");
    let kind = match to {
        Health::Degraded => EventKind::Degraded,
        _ => EventKind::Incident,
    };
    let mut ev = base(kind, monitor, tracked, inc.opened_at_ms).build(to.label(), "UP");
    ev.incident = Some(incident_part(&inc));
    ev.result = Some(result_part(r));
    ev.consecutive_failures = tracked.machine.failures(&r.region);
    if decision.send {
        notify_incident(p, monitor, &inc, ev);
    }
    p.events.push(event(
        IncidentEventKind::Opened,
        m,
        &inc,
        cause,
        inc.opened_at_ms,
    ));
    p.batch.incidents.push(inc.clone());
    tracked.open = Some(inc);
}

/// The monitor is UP again from `from`: its incident resolves (a recovery, or a degraded
/// recovery for a warning incident).
fn resolve(
    p: &mut Output,
    tracked: &mut Tracked,
    monitor: &Current,
    r: &CheckResult,
    from: Health,
) {
    let m = &monitor.monitor;
    let Some(mut inc) = tracked.open.take() else {
        warn!(monitor_id = %m.id, "incident resolved but no open incident is stored");
        return;
    };
    let at = event_time(r);
    inc.status = IncidentStatus::Resolved;
    inc.resolved_at_ms = Some(at);
    let caused = inc.caused_by_incident_id.is_some();
    let decision = gate::resolved(
        &maintenance::context(m, tracked.flap.flapping, at),
        inc.silenced,
        caused,
    );
    inc.silenced = decision.silenced;
    // Held: its recovery goes out when the window ends.
    tracked.held = decision.silenced.then(|| inc.clone());
    info!(monitor_id = %m.id, incident_id = %inc.id, notify = decision.send, "incident resolved");
    let kind = match from {
        Health::Degraded => EventKind::DegradedRecovery,
        _ => EventKind::Recovery,
    };
    let mut ev = base(kind, monitor, tracked, at).build("UP", from.label());
    ev.incident = Some(incident_part(&inc));
    ev.result = Some(result_part(r));
    if caused {
        ev.caused_by_monitor_id = m.parent_monitor_id.clone();
    }
    if decision.send {
        notify_incident(p, monitor, &inc, ev);
    }
    let message = format!(
        "{} in {}",
        CheckStatus::try_from(r.status)
            .unwrap_or(CheckStatus::Up)
            .label(),
        r.region
    );
    p.events
        .push(event(IncidentEventKind::Resolved, m, &inc, message, at));
    p.batch.incidents.push(inc);
}

/// A region lost or regained its data: its receivers hear of it unless the monitor turned
/// that off (`notify_no_data: false`). Never touches the incident. The monitor's status is
/// `NO_DATA` while a region has none, and `DOWN` or `UP` by its incident otherwise.
fn data_changed(
    p: &mut Output,
    tracked: &Tracked,
    monitor: &Current,
    r: &CheckResult,
    change: DataChange,
) {
    let m = &monitor.monitor;
    let kind = match change {
        DataChange::Lost => EventKind::NoData,
        DataChange::Resumed => EventKind::DataResumed,
    };
    let notify_on = m.notify_no_data != Some(false);
    info!(monitor_id = %m.id, region = %r.region, event = kind.label(), reason = %r.error_message, notify = notify_on, "data flow changed");
    if notify_on {
        let by_incident = tracked.machine.health.label();
        let (status, previous) = match change {
            DataChange::Lost => ("NO_DATA", by_incident),
            DataChange::Resumed => (by_incident, "NO_DATA"),
        };
        let mut ev = base(kind, monitor, tracked, event_time(r)).build(status, previous);
        ev.result = Some(result_part(r));
        ev.consecutive_failures = tracked.machine.failures(&r.region);
        notify(p, monitor, None, ev);
    }
}

/// Stores `tracked`'s per-monitor engine state (certificate and flapping) with the batch,
/// once per monitor: the last call of the batch wins.
fn store_monitor_state(p: &mut Output, tracked: &Tracked, monitor_id: &str) {
    p.batch
        .monitor_states
        .retain(|s| s.monitor_id != monitor_id);
    p.batch.monitor_states.push(MonitorStateRow {
        monitor_id: monitor_id.to_string(),
        cert_not_after_ms: tracked.cert.not_after_ms,
        cert_warned: tracked.cert.warned,
        flapping: tracked.flap.flapping,
        flap_changes: tracked.flap.changes.iter().copied().collect(),
    });
}

/// The common parts of an event about `monitor`.
fn base<'a>(kind: EventKind, monitor: &'a Current, tracked: &'a Tracked, at_ms: i64) -> Base<'a> {
    Base {
        kind,
        project_id: &monitor.project_id,
        monitor: &monitor.monitor,
        machine: &tracked.machine,
        at_ms,
    }
}

/// Queues `event` for every integration `monitor` attaches.
fn notify(p: &mut Output, monitor: &Current, incident_id: Option<&str>, event: NotificationEvent) {
    p.notices.push(Notice {
        event,
        incident_id: incident_id.map(str::to_string),
        monitor_id: monitor.monitor.id.clone(),
        project_id: monitor.project_id.clone(),
        integration_ids: monitor.monitor.integration_ids.clone(),
    });
}

/// Queues `event` about `inc` for the monitor's integrations and those of every escalation
/// level the incident reached.
fn notify_incident(
    p: &mut Output,
    monitor: &Current,
    inc: &IncidentRow,
    mut event: NotificationEvent,
) {
    let m = &monitor.monitor;
    event.level = inc.level.max(1);
    p.notices.push(Notice {
        event,
        incident_id: Some(inc.id.clone()),
        monitor_id: m.id.clone(),
        project_id: monitor.project_id.clone(),
        integration_ids: escalation::integrations(&m.integration_ids, &m.escalation, inc.level),
    });
}

fn event(
    kind: IncidentEventKind,
    monitor: &Monitor,
    inc: &IncidentRow,
    message: String,
    at_ms: i64,
) -> IncidentEvent {
    IncidentEvent {
        kind,
        incident_id: inc.id.clone(),
        monitor_id: monitor.id.clone(),
        monitor_name: monitor.name.clone(),
        regions: inc.regions.clone(),
        message,
        at_ms,
    }
}
