//! The scheduler task: the table of assigned monitors and a hierarchical timing wheel
//! (`DelayQueue`) holding exactly one entry per monitor, its next due time. Each expiry is
//! O(1): dispatch the run, compute the next due time, re-insert.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use lookout_proto::v1::Assignment;
use lookout_proto::{FailureClass, Monitor};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;
use tracing::{debug, info, warn};

use super::execute::{Executor, Job};
use super::schedule::Schedule;
use super::{CheckBuilder, Shared};
use crate::checks::Check;

/// Entries further out than this are parked and re-examined (the wheel's range is ~2 years;
/// a rare cron can be further away).
const MAX_PARK_MS: i64 = 30 * 24 * 3_600_000;
/// Expired entries handled per wake-up before commands get a turn.
const FIRE_CHUNK: usize = 1024;
/// Monitors of an assignment applied between two looks at the wheel.
const APPLY_SLICE: usize = 256;
/// How long a monitor left out of a snapshot is kept aside. A large snapshot arrives as a
/// snapshot part and delta parts; a monitor that comes back unchanged in a later part keeps
/// its check and its next due time instead of being rebuilt (and possibly skipping a run).
const PARK_GRACE: Duration = Duration::from_secs(10);

struct Entry {
    monitor: Arc<Monitor>,
    check: Arc<dyn Check>,
    schedule: Schedule,
    /// The wheel entry for the next due time; `None` when a cron never matches again.
    key: Option<Key>,
}

/// An assignment applied a slice at a time, so that due checks keep starting on time while
/// a large one (100,000 monitors take ~0.3 s to build) is applied.
struct Applying {
    version: u64,
    snapshot: bool,
    upserts: std::vec::IntoIter<Monitor>,
    removals: Vec<String>,
    counts: Counts,
}

#[derive(Default)]
struct Counts {
    added: usize,
    changed: usize,
    kept: usize,
    removed: usize,
}

/// A monitor left out of a snapshot, kept for `PARK_GRACE`.
struct Parked {
    entry: Entry,
    due_ms: Option<i64>,
    since: Instant,
}

struct Due {
    id: Arc<str>,
    due_ms: i64,
}

pub(super) struct Driver {
    executor: Executor,
    build: CheckBuilder,
    shared: Arc<Shared>,
    table: HashMap<Arc<str>, Entry>,
    parked: HashMap<Arc<str>, Parked>,
    wheel: DelayQueue<Due>,
}

impl Driver {
    pub(super) fn new(executor: Executor, build: CheckBuilder, shared: Arc<Shared>) -> Driver {
        Driver {
            executor,
            build,
            shared,
            table: HashMap::new(),
            parked: HashMap::new(),
            wheel: DelayQueue::new(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Assignment>,
        shutdown: CancellationToken,
    ) {
        let mut fired = Vec::with_capacity(FIRE_CHUNK);
        let mut applying: Option<Applying> = None;
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                () = poll_fn(|cx| {
                    while fired.len() < FIRE_CHUNK {
                        match self.wheel.poll_expired(cx) {
                            Poll::Ready(Some(expired)) => fired.push(expired.into_inner()),
                            // Empty or not yet due; inserts only happen on this task, which
                            // builds a new future (and polls again) after each.
                            Poll::Ready(None) | Poll::Pending => break,
                        }
                    }
                    if fired.is_empty() { Poll::Pending } else { Poll::Ready(()) }
                }) => {
                    for due in fired.drain(..) {
                        self.fire(due);
                    }
                }
                () = std::future::ready(()), if applying.is_some() => {
                    applying = applying.and_then(|a| self.apply_slice(a));
                }
                command = commands.recv(), if applying.is_none() => match command {
                    Some(assignment) => applying = Some(self.begin_apply(assignment)),
                    None => break,
                },
            }
        }
        debug!(monitors = self.table.len(), "scheduler stopped");
    }

    fn fire(&mut self, due: Due) {
        let Some(entry) = self.table.get_mut(&due.id) else {
            return;
        };
        entry.key = None;
        let clock = self.executor.clock();
        let now_ms = clock.now_ms();
        if now_ms < due.due_ms {
            // A parked far-future entry: not due yet, park it again.
            entry.key = Some(insert(
                &mut self.wheel,
                clock,
                Arc::clone(&due.id),
                due.due_ms,
                now_ms,
            ));
            return;
        }
        let next = entry.schedule.next_after(due.due_ms);
        let job = Job {
            monitor: Arc::clone(&entry.monitor),
            check: Arc::clone(&entry.check),
            due_ms: due.due_ms,
            window_end_ms: next.unwrap_or(due.due_ms + i64::from(entry.monitor.timeout_ms.max(1))),
        };
        let next = match next {
            Some(next) if next <= now_ms => {
                // The scheduler itself fell behind by a whole window (process suspended,
                // CPU starved): report the gap once and continue from now.
                let late_ms = now_ms - due.due_ms;
                self.executor.missed(
                    &job,
                    FailureClass::Overload,
                    format!("agent fell behind by {late_ms} ms; the window ended before the check could start"),
                );
                entry.schedule.next_after(now_ms)
            }
            next => {
                self.executor.dispatch(job);
                next
            }
        };
        if let Some(next) = next {
            entry.key = Some(insert(&mut self.wheel, clock, due.id, next, now_ms));
        }
    }

    /// Starts applying `assignment`: a snapshot first sets aside the monitors it leaves out.
    fn begin_apply(&mut self, assignment: Assignment) -> Applying {
        let mut counts = Counts::default();
        self.parked.retain(|_, p| p.since.elapsed() < PARK_GRACE);
        if assignment.snapshot {
            let wanted: HashSet<&str> = assignment.upserts.iter().map(|m| m.id.as_str()).collect();
            let stale: Vec<Arc<str>> = self
                .table
                .keys()
                .filter(|id| !wanted.contains(&***id))
                .cloned()
                .collect();
            counts.removed += stale.len();
            for id in stale {
                self.park(&id);
            }
        }
        Applying {
            version: assignment.version,
            snapshot: assignment.snapshot,
            upserts: assignment.upserts.into_iter(),
            removals: assignment.removals,
            counts,
        }
    }

    /// Applies the next `APPLY_SLICE` upserts; at the end the removals. `None` once done.
    fn apply_slice(&mut self, mut a: Applying) -> Option<Applying> {
        for monitor in a.upserts.by_ref().take(APPLY_SLICE) {
            match self.upsert(monitor) {
                Upsert::Added => a.counts.added += 1,
                Upsert::Changed => a.counts.changed += 1,
                Upsert::Kept => a.counts.kept += 1,
                Upsert::Removed => a.counts.removed += 1,
                Upsert::Refused => {}
            }
        }
        if a.upserts.len() > 0 {
            return Some(a);
        }
        for id in &a.removals {
            a.counts.removed += usize::from(self.remove(id));
        }
        self.shared
            .active
            .store(self.table.len(), Ordering::Relaxed);
        let c = &a.counts;
        info!(
            version = a.version,
            snapshot = a.snapshot,
            added = c.added,
            changed = c.changed,
            kept = c.kept,
            removed = c.removed,
            kept_aside = self.parked.len(),
            active = self.table.len(),
            "assignment applied"
        );
        None
    }

    fn upsert(&mut self, monitor: Monitor) -> Upsert {
        if monitor.paused {
            return if self.remove(&monitor.id) {
                Upsert::Removed
            } else {
                Upsert::Kept
            };
        }
        if let Some(restored) = self.restore(&monitor) {
            return restored;
        }
        if self
            .table
            .get(monitor.id.as_str())
            .is_some_and(|entry| *entry.monitor == monitor)
        {
            return Upsert::Kept;
        }
        let built = Schedule::for_monitor(&monitor)
            .map_err(|e| e.to_string())
            .and_then(|schedule| Ok((schedule, (self.build)(&monitor).map_err(|e| e.reason)?)));
        let (schedule, check) = match built {
            Ok(built) => built,
            Err(reason) => {
                warn!(monitor_id = %monitor.id, %reason, "monitor cannot run on this agent");
                self.remove(&monitor.id);
                self.executor.refused(
                    &monitor,
                    format!("the agent cannot run this check: {reason}"),
                );
                return Upsert::Refused;
            }
        };
        let clock = self.executor.clock();
        let now_ms = clock.now_ms();
        let monitor = Arc::new(monitor);
        if let Some(entry) = self.table.get_mut(monitor.id.as_str()) {
            entry.monitor = monitor;
            entry.check = check;
            if entry.schedule != schedule {
                if let Some(key) = entry.key.take() {
                    self.wheel.try_remove(&key);
                }
                entry.key = schedule.next_after(now_ms).map(|next| {
                    insert(
                        &mut self.wheel,
                        clock,
                        Arc::from(entry.monitor.id.as_str()),
                        next,
                        now_ms,
                    )
                });
                entry.schedule = schedule;
            }
            return Upsert::Changed;
        }
        let id: Arc<str> = Arc::from(monitor.id.as_str());
        let key = schedule
            .next_after(now_ms)
            .map(|next| insert(&mut self.wheel, clock, Arc::clone(&id), next, now_ms));
        self.table.insert(
            id,
            Entry {
                monitor,
                check,
                schedule,
                key,
            },
        );
        Upsert::Added
    }

    /// Takes a monitor off the wheel but keeps it aside for `PARK_GRACE`.
    fn park(&mut self, id: &str) {
        if let Some((id, mut entry)) = self.table.remove_entry(id) {
            let due_ms = entry
                .key
                .take()
                .and_then(|key| self.wheel.try_remove(&key))
                .map(|expired| expired.into_inner().due_ms);
            self.parked.insert(
                id,
                Parked {
                    entry,
                    due_ms,
                    since: Instant::now(),
                },
            );
        }
    }

    /// Puts back a monitor parked by a recent snapshot when it returns unchanged, with its
    /// check and next due time (a due time that passed meanwhile fires at once).
    fn restore(&mut self, monitor: &Monitor) -> Option<Upsert> {
        if self.table.contains_key(monitor.id.as_str()) {
            return None;
        }
        let (id, parked) = self.parked.remove_entry(monitor.id.as_str())?;
        if *parked.entry.monitor != *monitor || parked.since.elapsed() >= PARK_GRACE {
            return None;
        }
        let mut entry = parked.entry;
        let clock = self.executor.clock();
        let now_ms = clock.now_ms();
        let due_ms = parked.due_ms.or_else(|| entry.schedule.next_after(now_ms));
        entry.key = due_ms.map(|due| insert(&mut self.wheel, clock, Arc::clone(&id), due, now_ms));
        self.table.insert(id, entry);
        Some(Upsert::Kept)
    }

    fn remove(&mut self, id: &str) -> bool {
        self.parked.remove(id);
        match self.table.remove(id) {
            Some(entry) => {
                if let Some(key) = entry.key {
                    self.wheel.try_remove(&key);
                }
                true
            }
            None => false,
        }
    }
}

enum Upsert {
    Added,
    Changed,
    Kept,
    Removed,
    Refused,
}

fn insert(
    wheel: &mut DelayQueue<Due>,
    clock: super::Clock,
    id: Arc<str>,
    due_ms: i64,
    now_ms: i64,
) -> Key {
    let wake_ms = due_ms.min(now_ms.saturating_add(MAX_PARK_MS));
    wheel.insert_at(Due { id, due_ms }, clock.instant_at(wake_ms))
}
