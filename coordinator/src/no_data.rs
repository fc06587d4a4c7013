//! No-data detection: the coordinator sees every accepted result and knows every monitor's
//! regions and schedule, so it notices a (monitor, region) that yields no usable result for
//! [`SILENT_INTERVALS`] intervals and publishes a synthetic `NO_DATA` result for it on the bus.
//!
//! - Usable data is an `UP`, `DOWN` or `DEGRADED` result; `MISSED` results are remembered only
//!   for the reason they give.
//! - The clock of a (monitor, region) starts when the monitor is created or changed and at
//!   each usable result. After a coordinator (re)start, the monitors it already had start
//!   their clock [`RECONNECT_GRACE`] later, once every running agent has had time to come
//!   back (an agent's reconnect backoff is at most 30 s); so a restart reports nothing
//!   early, and then at most one result per (monitor, region).
//! - A `NO_DATA` result is published once when the silence starts, then again every
//!   [`REMIND_INTERVALS`] intervals (at least [`MIN_REMIND`] apart) while it lasts, so a
//!   notifier that lost its state learns it again; the notifier tells receivers only once.
//! - While the result bus fails, or stalls (a publish of results still pending after
//!   [`STALLED`]: Kafka reports a failure only after its message timeout), agents keep their
//!   results: silences count only from [`RECONNECT_GRACE`] after the last failure or stall.
//! - Memory is one small entry per (monitor, region) of every active monitor.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use lookout_bus::{BusError, ResultPublisher};
use lookout_proto::bounds::MAX_ERROR_MESSAGE_BYTES;
use lookout_proto::bounds::truncate_bytes;
use lookout_proto::{CheckResult, CheckStatus, FailureClass, Monitor};
use lookout_store::{Store, StoreError, now_ms};
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::hub::Hub;

/// Intervals without a usable result before a (monitor, region) has no data.
pub const SILENT_INTERVALS: u32 = 3;
/// Intervals between two reminders of a silence that lasts.
pub const REMIND_INTERVALS: u32 = 10;
/// Shortest time between two reminders, so one-second monitors do not flood the bus.
pub const MIN_REMIND: Duration = Duration::from_secs(60);
/// Room for running agents to reconnect after the coordinator starts.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(30);
/// How often silences are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Per-check timeout when a monitor leaves it unset (as validation defaults it).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The last `MISSED` result of a (monitor, region).
#[derive(Debug, Clone)]
struct Missed {
    at: Instant,
    class: FailureClass,
    /// The agent's reason, bounded to [`MAX_ERROR_MESSAGE_BYTES`].
    message: String,
}

/// What is known about one (monitor, region).
#[derive(Debug, Clone)]
struct Silence {
    /// Start of the current silence: the last usable result, or when watching began.
    since: Instant,
    missed: Option<Missed>,
    /// When the last `NO_DATA` result was published for this silence.
    reported: Option<Instant>,
}

/// One active monitor.
#[derive(Debug, Clone)]
struct Watched {
    version: u64,
    kind: &'static str,
    /// Time between two runs: the interval, or for cron the gap between its next two runs.
    period: Duration,
    /// Room for the last run to finish and be delivered: the check's timeout, at most a period.
    grace: Duration,
    cron: bool,
    regions: HashMap<String, Silence>,
}

impl Watched {
    fn silence_limit(&self) -> Duration {
        self.period * SILENT_INTERVALS + self.grace
    }

    fn remind_every(&self) -> Duration {
        (self.period * REMIND_INTERVALS).max(MIN_REMIND)
    }

    /// Why `region` has no data, for people.
    fn reason(&self, region: &str, s: &Silence, agents: bool, now: Instant) -> String {
        if !agents {
            return format!("no agent connected in region {region}");
        }
        let window = self.silence_limit();
        match &s.missed {
            // The agent reports a check it cannot build once, with its reason.
            Some(m) if m.class == FailureClass::Internal => m.message.clone(),
            Some(m) if now.duration_since(m.at) <= window => format!(
                "only MISSED results for {SILENT_INTERVALS} intervals: {}",
                m.message
            ),
            _ if self.cron => format!("no result for the last {SILENT_INTERVALS} scheduled runs"),
            _ => format!(
                "no result for {SILENT_INTERVALS} intervals ({} s)",
                (self.period * SILENT_INTERVALS).as_secs()
            ),
        }
    }
}

/// The pure bookkeeping of the detector; the caller supplies the time.
#[derive(Debug, Default)]
pub struct Tracker {
    monitors: HashMap<String, Watched>,
    /// No silence counts from before this: the result bus failed until shortly before, so
    /// results may be waiting in agents' buffers (see [`Tracker::bus_failed`]).
    quiet_until: Option<Instant>,
}

impl Tracker {
    /// Starts or keeps watching `m` in each of its regions. A new monitor, a new region or a
    /// changed version starts its clock at `now` (which may be ahead: see [`RECONNECT_GRACE`]);
    /// a paused monitor is not watched.
    pub fn track(&mut self, m: &Monitor, now: Instant) {
        let Some(period) = period(m) else {
            self.monitors.remove(&m.id);
            return;
        };
        if m.paused || m.regions.is_empty() {
            self.monitors.remove(&m.id);
            return;
        }
        let timeout = match m.timeout_ms {
            0 => DEFAULT_TIMEOUT,
            ms => Duration::from_millis(u64::from(ms)),
        };
        let old = self.monitors.remove(&m.id);
        let changed = old.as_ref().is_none_or(|o| o.version != m.version);
        let mut old_regions = old.map(|o| o.regions).unwrap_or_default();
        let regions = m
            .regions
            .iter()
            .map(|r| {
                let mut s = old_regions.remove(r).unwrap_or(Silence {
                    since: now,
                    missed: None,
                    reported: None,
                });
                if changed {
                    // The agent gets the new version now; give it the same room as a new monitor.
                    s.since = now;
                }
                (r.clone(), s)
            })
            .collect();
        self.monitors.insert(
            m.id.clone(),
            Watched {
                version: m.version,
                kind: m.kind(),
                period,
                grace: timeout.min(period),
                cron: !m.cron.trim().is_empty(),
                regions,
            },
        );
    }

    /// Stops watching a deleted monitor.
    pub fn forget(&mut self, monitor_id: &str) {
        self.monitors.remove(monitor_id);
    }

    /// Takes one result the bus accepted.
    pub fn observe(&mut self, r: &CheckResult, now: Instant) {
        let Some(s) = self
            .monitors
            .get_mut(&r.monitor_id)
            .and_then(|w| w.regions.get_mut(&r.region))
        else {
            return;
        };
        match r.status() {
            CheckStatus::Up | CheckStatus::Down | CheckStatus::Degraded => {
                s.since = now;
                s.missed = None;
                s.reported = None;
            }
            CheckStatus::Missed => {
                s.missed = Some(Missed {
                    at: now,
                    class: r.failure_class(),
                    message: truncate_bytes(&r.error_message, MAX_ERROR_MESSAGE_BYTES).into_owned(),
                });
            }
            CheckStatus::NoData | CheckStatus::Unspecified => {}
        }
    }

    /// The `NO_DATA` results due at `now`: silences that just passed their limit and lasting
    /// ones due for a reminder. `connected` are the regions with at least one agent.
    /// Publishing failed at `now`: agents keep their results until the bus takes them again,
    /// so silences count only from [`RECONNECT_GRACE`] after the last failure.
    pub fn bus_failed(&mut self, now: Instant) {
        let quiet = now + RECONNECT_GRACE;
        self.quiet_until = Some(self.quiet_until.map_or(quiet, |q| q.max(quiet)));
    }

    pub fn due(
        &mut self,
        now: Instant,
        connected: &HashSet<String>,
        wall_ms: i64,
    ) -> Vec<CheckResult> {
        let mut out = Vec::new();
        for (monitor_id, w) in &mut self.monitors {
            let (limit, remind) = (w.silence_limit(), w.remind_every());
            let mut reasons = Vec::new();
            for (region, s) in &w.regions {
                let since = self.quiet_until.map_or(s.since, |q| q.max(s.since));
                let due = match s.reported {
                    None => now.saturating_duration_since(since) >= limit,
                    Some(at) => now.duration_since(at) >= remind,
                };
                if due {
                    let reason = w.reason(region, s, connected.contains(region), now);
                    reasons.push((region.clone(), reason));
                }
            }
            for (region, reason) in reasons {
                if let Some(s) = w.regions.get_mut(&region) {
                    s.reported = Some(now);
                }
                let mut r = CheckResult {
                    id: uuid::Uuid::now_v7().to_string(),
                    monitor_id: monitor_id.clone(),
                    monitor_version: w.version,
                    region,
                    status: CheckStatus::NoData as i32,
                    scheduled_at_ms: wall_ms,
                    check_kind: w.kind.to_string(),
                    error_message: reason,
                    ..CheckResult::default()
                };
                r.bound_text();
                out.push(r);
            }
        }
        out
    }

    /// The bus refused `results`: their silences are reported again at the next sweep.
    pub fn unreport(&mut self, results: &[CheckResult]) {
        for r in results {
            if let Some(s) = self
                .monitors
                .get_mut(&r.monitor_id)
                .and_then(|w| w.regions.get_mut(&r.region))
            {
                s.reported = None;
            }
        }
    }
}

/// Time between two runs of `m`; `None` for a monitor without a usable schedule (validation
/// refuses those, so none is stored).
fn period(m: &Monitor) -> Option<Duration> {
    let pattern = m.cron.trim();
    if pattern.is_empty() {
        return (m.interval_secs > 0).then(|| Duration::from_secs(u64::from(m.interval_secs)));
    }
    use croner::parser::{CronParser, Seconds, Year};
    let cron = CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .ok()?;
    let now = chrono::DateTime::from_timestamp_millis(now_ms())?;
    let first = cron.find_next_occurrence(&now, false).ok()?;
    let second = cron.find_next_occurrence(&first, false).ok()?;
    (second - first).to_std().ok()
}

/// The detector: watches every monitor, is fed the results the bus accepted, and publishes
/// `NO_DATA` results from a periodic sweep.
pub struct NoDataWatch {
    tracker: Mutex<Tracker>,
    store: Store,
    hub: Arc<Hub>,
    publisher: Arc<dyn ResultPublisher>,
    /// Publishes of results in flight, by number, with when each started: one that takes
    /// longer than [`STALLED`] means the bus is stuck (Kafka reports a failure only after
    /// its message timeout), which counts as a failure.
    in_flight: std::sync::Mutex<HashMap<u64, Instant>>,
    next_publish: std::sync::atomic::AtomicU64,
}

/// A publish in flight this long means the bus is not taking results.
const STALLED: Duration = Duration::from_secs(1);

impl NoDataWatch {
    /// Watches every stored monitor, from [`RECONNECT_GRACE`] on.
    pub async fn load(
        store: Store,
        hub: Arc<Hub>,
        publisher: Arc<dyn ResultPublisher>,
    ) -> Result<NoDataWatch, StoreError> {
        let monitors = store.list_monitors().await?;
        let watch = NoDataWatch::new(store, hub, publisher);
        watch.reload(&monitors).await;
        Ok(watch)
    }

    /// Watches nothing until [`NoDataWatch::reload`] (a replica that does not lead yet).
    pub fn new(store: Store, hub: Arc<Hub>, publisher: Arc<dyn ResultPublisher>) -> NoDataWatch {
        NoDataWatch {
            tracker: Mutex::new(Tracker::default()),
            store,
            hub,
            publisher,
            in_flight: std::sync::Mutex::new(HashMap::new()),
            next_publish: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Watches `monitors` (every stored one) instead, from [`RECONNECT_GRACE`] on: this replica has just
    /// begun leading, and the agents have yet to come over from the previous leader.
    pub async fn reload(&self, monitors: &[Monitor]) {
        let start = Instant::now() + RECONNECT_GRACE;
        let mut tracker = Tracker::default();
        for m in monitors {
            tracker.track(m, start);
        }
        *self.tracker.lock().await = tracker;
    }

    /// Re-reads monitor `id` after a change (created, updated, paused, resumed or deleted).
    pub async fn refresh(&self, id: &str) {
        match self.store.get_monitor(id).await {
            Ok(m) => self.tracker.lock().await.track(&m, Instant::now()),
            Err(StoreError::NotFound) => self.tracker.lock().await.forget(id),
            Err(e) => {
                // Kept as it was: at worst a change reports no data late or once too often.
                tracing::warn!(monitor_id = %id, error = %e, "no-data watch could not read a changed monitor");
            }
        }
    }

    /// A publisher that hands every result it published to this watch: the gateway publishes
    /// through it, so only results the bus accepted count as data.
    pub fn observing(self: &Arc<Self>, inner: Arc<dyn ResultPublisher>) -> ObservingPublisher {
        ObservingPublisher {
            inner,
            watch: self.clone(),
        }
    }

    /// Sweeps every [`SWEEP_EVERY`] until `stop`.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => self.sweep().await,
            }
        }
    }

    async fn sweep(&self) {
        // Only the leader sees results; another replica would take silence for no data.
        if self.hub.epoch().await.is_none() {
            return;
        }
        let connected = self.hub.regions_with_agents().await;
        let now = Instant::now();
        let stalled = self
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .any(|started| now.saturating_duration_since(*started) >= STALLED);
        let due = {
            let mut tracker = self.tracker.lock().await;
            if stalled {
                tracker.bus_failed(now);
            }
            tracker.due(now, &connected, now_ms())
        };
        if due.is_empty() {
            return;
        }
        for r in &due {
            tracing::info!(monitor_id = %r.monitor_id, region = %r.region, reason = %r.error_message, "no data");
        }
        if let Err(e) = self.publisher.publish(&due).await {
            tracing::warn!(results = due.len(), error = %e, "publishing NO_DATA results failed; retrying");
            self.tracker.lock().await.unreport(&due);
        }
    }
}

/// One publish in flight, forgotten however it ends (done, failed, or its future dropped).
struct InFlight<'a> {
    watch: &'a NoDataWatch,
    number: u64,
}

impl<'a> InFlight<'a> {
    fn start(watch: &'a NoDataWatch) -> InFlight<'a> {
        let number = watch
            .next_publish
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        watch
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(number, Instant::now());
        InFlight { watch, number }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.watch
            .in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&self.number);
    }
}

/// See [`NoDataWatch::observing`].
pub struct ObservingPublisher {
    inner: Arc<dyn ResultPublisher>,
    watch: Arc<NoDataWatch>,
}

impl ResultPublisher for ObservingPublisher {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            let _in_flight = InFlight::start(&self.watch);
            if let Err(e) = self.inner.publish(results).await {
                // A refusal of some results for good is the bus answering, not a failure.
                if !matches!(e, BusError::Refused(_)) {
                    self.watch.tracker.lock().await.bus_failed(Instant::now());
                }
                return Err(e);
            }
            let now = Instant::now();
            let mut tracker = self.watch.tracker.lock().await;
            for r in results {
                tracker.observe(r, now);
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
