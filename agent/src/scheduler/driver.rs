//! The scheduler task: the table of assigned monitors and a hierarchical timing wheel
//! (`DelayQueue`) holding exactly one entry per monitor, its next due time. Each expiry is
//! O(1): dispatch the run, compute the next due time, re-insert.

use std::collections::{HashMap, HashSet};
use std::future::poll_fn;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Poll;
use std::time::Duration;

use lookout_proto::v1::Assignment;
use lookout_proto::validate::ValidMonitor;
use lookout_proto::{FailureClass, Monitor};
use prost::Message;
use slab::Slab;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::time::DelayQueue;
use tokio_util::time::delay_queue::Key;
use tracing::{debug, error, info, warn};

use super::execute::{About, Executor, Job, Runnable};
use super::schedule::{IdHasher, Schedule};
use super::{CheckBuilder, Shared};
use crate::checks::Check;

/// Entries further out than this are parked and re-examined (the wheel's range is ~2 years;
/// a rare cron can be further away).
const MAX_PARK_MS: i64 = 30 * 24 * 3_600_000;
/// Expired entries handled per wake-up before commands get a turn.
const FIRE_CHUNK: usize = 1024;
/// Monitors of an assignment classified between two looks at the wheel.
const APPLY_SLICE: usize = 256;
/// Monitors the builder gets at a time, at most.
const BUILD_BATCH: usize = 1024;
/// How long a monitor left out of a snapshot is kept aside. A large snapshot arrives as a
/// snapshot part and delta parts; a monitor that comes back unchanged in a later part keeps
/// its check and its next due time instead of being rebuilt (and possibly skipping a run).
const PARK_GRACE: Duration = Duration::from_secs(10);

struct Entry {
    run: Arc<Runnable>,
    /// Of the monitor as it was sent: an upsert with the same one changes nothing.
    fingerprint: u64,
    schedule: Schedule,
    /// The wheel entry for the next due time; `None` when a cron never matches again.
    key: Option<Key>,
}

/// An assignment applied a slice at a time, so that due checks keep starting on time while
/// a large one (a million monitors take 3-4 s to build here) is applied.
struct Applying {
    version: u64,
    snapshot: bool,
    upserts: std::vec::IntoIter<Monitor>,
    removals: Vec<String>,
    counts: Counts,
    /// Upserts that need a check built, with their fingerprints and slots, for the builder's
    /// next turn.
    queued: Vec<(Monitor, u64, Option<usize>)>,
    /// Id hashes of those queued or being built: a second upsert of one of them waits until
    /// the first is installed, so upserts take effect in their order.
    pending: HashSet<u64, BuildHasherDefault<Prehashed>>,
    /// Room in the queue of monitors not yet applied, given back once this one is applied.
    _room: Option<OwnedSemaphorePermit>,
}

impl Applying {
    /// Whether the next upsert may be classified now.
    fn can_classify(&self) -> bool {
        self.queued.len() < BUILD_BATCH
            && self
                .upserts
                .as_slice()
                .first()
                .is_some_and(|m| !self.pending.contains(&id_hash(&m.id)))
    }

    fn count(&mut self, upsert: Upsert) {
        match upsert {
            Upsert::Added => self.counts.added += 1,
            Upsert::Changed => self.counts.changed += 1,
            Upsert::Kept => self.counts.kept += 1,
            Upsert::Removed => self.counts.removed += 1,
            Upsert::Refused => {}
        }
    }
}

/// An upsert as the driver first sees it: settled at once (paused, unchanged), or a spec to
/// validate and build a check for, off the driver's task (with its fingerprint).
enum Classified {
    Done(Upsert),
    /// With its fingerprint and its slot when it is on the table already.
    Build(u64, Option<usize>),
}

/// What the builder made of one upsert.
struct Prepared {
    /// The monitor's slot when it was classified (nothing else touches its id meanwhile:
    /// `Applying::pending`).
    slot: Option<usize>,
    id: Arc<str>,
    version: u64,
    kind: &'static str,
    fingerprint: u64,
    built: Result<(Schedule, u32, Box<dyn Check>), String>,
}

/// Validates `monitor` with the admin API's own rules and builds its schedule and check; the
/// spec is dropped then: only the runnable form stays.
fn prepare(
    build: &CheckBuilder,
    monitor: Monitor,
    fingerprint: u64,
    slot: Option<usize>,
) -> Prepared {
    let id: Arc<str> = Arc::from(monitor.id.as_str());
    let (version, kind) = (monitor.version, monitor.kind());
    let built = ValidMonitor::try_from(monitor)
        .map_err(|e| e.to_string())
        .and_then(|valid| {
            let schedule = Schedule::for_monitor(valid.spec()).map_err(|e| e.to_string())?;
            let check = build(&valid).map_err(|e| e.reason)?;
            Ok((schedule, valid.spec().timeout_ms, check))
        });
    Prepared {
        slot,
        id,
        version,
        kind,
        fingerprint,
        built,
    }
}

/// Checks being built for an assignment, off the driver's task (blocking pool): one batch
/// at a time, so applying a large assignment takes at most one more core, and due checks keep
/// starting on time meanwhile.
type Building = JoinHandle<Vec<Prepared>>;

/// What the handle asks of the driver.
pub(super) enum Command {
    /// An assignment on its way to the driver, with the room it takes in the queue.
    Apply(Assignment, Option<OwnedSemaphorePermit>),
    /// The id and version of every scheduled monitor, once the assignment being applied is.
    Running(oneshot::Sender<Vec<(Arc<str>, u64)>>),
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

/// A wheel entry: the slot of a monitor in the table and when it is due. A monitor's wheel
/// entry leaves the wheel whenever the monitor leaves the table, so a slot is never stale.
struct Due {
    slot: usize,
    due_ms: i64,
}

/// The assigned monitors: entries in a slab, found through an index from the 64-bit hash of
/// their id to their slot. Growing the index moves 16-byte buckets and never reads an id
/// again (at a million monitors, rehashing a map keyed by the ids themselves, one cache miss
/// per id, was a tenth of the time to apply them). Two ids with the same hash (a chance of
/// about 2^-45 among a million) are told apart through `collided`, keyed by the id.
#[derive(Default)]
struct Table {
    index: HashMap<u64, usize, BuildHasherDefault<Prehashed>>,
    collided: HashMap<Arc<str>, usize, IdHash>,
    entries: Slab<Entry>,
}

fn id_hash(id: &str) -> u64 {
    let mut h = IdHasher::default();
    h.write(id.as_bytes());
    h.finish()
}

impl Table {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn slot(&self, id: &str) -> Option<usize> {
        match self.index.get(&id_hash(id)) {
            Some(&slot) if *self.entries[slot].run.id == *id => Some(slot),
            _ => self.collided.get(id).copied(),
        }
    }

    /// Adds a monitor that is not in the table (`slot` said so).
    fn insert(&mut self, entry: Entry) -> usize {
        let id = Arc::clone(&entry.run.id);
        let slot = self.entries.insert(entry);
        match self.index.entry(id_hash(&id)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(slot);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(id, slot);
            }
        }
        slot
    }

    fn remove(&mut self, id: &str) -> Option<Entry> {
        let hash = id_hash(id);
        let slot = match self.index.get(&hash) {
            Some(&slot) if *self.entries[slot].run.id == *id => {
                self.index.remove(&hash);
                slot
            }
            _ => self.collided.remove(id)?,
        };
        Some(self.entries.remove(slot))
    }

    fn ids(&self) -> impl Iterator<Item = &Arc<str>> {
        self.entries.iter().map(|(_, e)| &e.run.id)
    }
}

/// The hash of the maps keyed by id: FNV-1a, a few cycles per byte. The ids come from the
/// coordinator ("mon_" + UUIDv7), not from whoever creates monitors, so a keyed hash's
/// flooding defence buys nothing here.
type IdHash = BuildHasherDefault<IdHasher>;

/// The index's hasher: its keys are hashes already.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; any other input still hashes deterministically.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

pub(super) struct Driver {
    executor: Executor,
    build: CheckBuilder,
    shared: Arc<Shared>,
    table: Table,
    parked: HashMap<Arc<str>, Parked, IdHash>,
    wheel: DelayQueue<Due>,
    /// Keys the fingerprints (random per process, so no spec can be made to collide).
    fingerprint_keys: RandomState,
    /// Reused for each monitor's encoding while fingerprinting it.
    scratch: Vec<u8>,
}

impl Driver {
    pub(super) fn new(executor: Executor, build: CheckBuilder, shared: Arc<Shared>) -> Driver {
        Driver {
            executor,
            build,
            shared,
            table: Table::default(),
            parked: HashMap::default(),
            wheel: DelayQueue::new(),
            fingerprint_keys: RandomState::new(),
            scratch: Vec::new(),
        }
    }

    pub(super) async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        shutdown: CancellationToken,
    ) {
        let mut fired = Vec::with_capacity(FIRE_CHUNK);
        let mut applying: Option<Applying> = None;
        let mut building: Option<Building> = None;
        loop {
            // Classify while the builder is busy; once it is idle, hand it the queue or
            // finish the assignment.
            let step = applying
                .as_ref()
                .is_some_and(|a| building.is_none() || a.can_classify());
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
                Some(built) = async {
                    match building.as_mut() {
                        Some(handle) => Some(handle.await),
                        None => None,
                    }
                }, if building.is_some() => {
                    building = None;
                    let Some(a) = applying.as_mut() else { continue };
                    // The next batch first, so the builder works while these are installed.
                    let next: HashSet<u64, BuildHasherDefault<Prehashed>> =
                        a.queued.iter().map(|(m, _, _)| id_hash(&m.id)).collect();
                    a.pending = next;
                    self.hand_over(a, &mut building);
                    match built {
                        Ok(prepared) => {
                            for p in prepared {
                                let upsert = self.install(p);
                                a.count(upsert);
                            }
                        }
                        // A panic while building is a bug; those monitors stay unapplied.
                        Err(e) => error!(error = %e, "building checks failed"),
                    }
                }
                () = std::future::ready(()), if step => {
                    applying = applying.and_then(|a| self.apply_step(a, &mut building));
                }
                command = commands.recv(), if applying.is_none() => match command {
                    Some(Command::Apply(assignment, room)) => applying = Some(self.begin_apply(assignment, room)),
                    Some(Command::Running(answer)) => {
                        let running = self.table.entries.iter().map(|(_, e)| (Arc::clone(&e.run.id), e.run.version)).collect();
                        // The asker may have given up (its session ended).
                        let _ = answer.send(running);
                    }
                    None => break,
                },
            }
        }
        if let Some(handle) = building {
            handle.abort();
        }
        debug!(monitors = self.table.len(), "scheduler stopped");
    }

    fn fire(&mut self, due: Due) {
        let Some(entry) = self.table.entries.get_mut(due.slot) else {
            return;
        };
        entry.key = None;
        let clock = self.executor.clock();
        let now_ms = clock.now_ms();
        if now_ms < due.due_ms {
            // A parked far-future entry: not due yet, park it again.
            entry.key = Some(insert(&mut self.wheel, clock, due.slot, due.due_ms, now_ms));
            return;
        }
        let next = entry.schedule.next_after(due.due_ms);
        let job = Job {
            run: Arc::clone(&entry.run),
            due_ms: due.due_ms,
            window_end_ms: next.unwrap_or(due.due_ms + i64::from(entry.run.timeout_ms.max(1))),
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
            entry.key = Some(insert(&mut self.wheel, clock, due.slot, next, now_ms));
        }
    }

    /// Starts applying `assignment`: a snapshot first sets aside the monitors it leaves out.
    fn begin_apply(
        &mut self,
        assignment: Assignment,
        room: Option<OwnedSemaphorePermit>,
    ) -> Applying {
        let mut counts = Counts::default();
        self.parked.retain(|_, p| p.since.elapsed() < PARK_GRACE);
        if assignment.snapshot {
            let wanted: HashSet<&str, IdHash> =
                assignment.upserts.iter().map(|m| m.id.as_str()).collect();
            let stale: Vec<Arc<str>> = self
                .table
                .ids()
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
            queued: Vec::new(),
            pending: HashSet::default(),
            _room: room,
        }
    }

    /// Classifies up to `APPLY_SLICE` more upserts; when the builder is idle, hands it the
    /// queued ones; once all are installed, applies the removals. `None` once done.
    fn apply_step(&mut self, mut a: Applying, building: &mut Option<Building>) -> Option<Applying> {
        let mut classified = 0;
        while classified < APPLY_SLICE && a.can_classify() {
            let Some(monitor) = a.upserts.next() else {
                break;
            };
            classified += 1;
            match self.classify(&monitor) {
                Classified::Done(upsert) => a.count(upsert),
                Classified::Build(fingerprint, slot) => {
                    a.pending.insert(id_hash(&monitor.id));
                    a.queued.push((monitor, fingerprint, slot));
                }
            }
        }
        if building.is_some() {
            return Some(a);
        }
        if !a.queued.is_empty() {
            self.hand_over(&mut a, building);
            return Some(a);
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
        self.shared.applied_version.send_replace(a.version);
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

    /// Gives the builder the queued upserts, if it is idle and there are any.
    fn hand_over(&self, a: &mut Applying, building: &mut Option<Building>) {
        if building.is_some() || a.queued.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut a.queued);
        let build = Arc::clone(&self.build);
        *building = Some(tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|(monitor, fingerprint, slot)| prepare(&build, monitor, fingerprint, slot))
                .collect()
        }));
    }

    fn classify(&mut self, monitor: &Monitor) -> Classified {
        if monitor.paused {
            return Classified::Done(if self.remove(&monitor.id) {
                Upsert::Removed
            } else {
                Upsert::Kept
            });
        }
        let fingerprint = self.fingerprint(monitor);
        let slot = self.table.slot(&monitor.id);
        match slot {
            Some(slot) if self.table.entries[slot].fingerprint == fingerprint => {
                Classified::Done(Upsert::Kept)
            }
            Some(_) => Classified::Build(fingerprint, slot),
            None => match self.restore(&monitor.id, fingerprint) {
                Some(restored) => Classified::Done(restored),
                None => Classified::Build(fingerprint, None),
            },
        }
    }

    /// Puts a built monitor on the table and the wheel, or reports why it cannot run.
    fn install(&mut self, p: Prepared) -> Upsert {
        let Prepared {
            slot,
            id,
            version,
            kind,
            fingerprint,
            built,
        } = p;
        let (schedule, timeout_ms, check) = match built {
            Ok(built) => built,
            Err(reason) => {
                warn!(monitor_id = %id, %reason, "monitor cannot run on this agent");
                self.remove(&id);
                let about = About {
                    id: &id,
                    version,
                    kind,
                };
                self.executor
                    .refused(about, format!("the agent cannot run this check: {reason}"));
                return Upsert::Refused;
            }
        };
        let run = Arc::new(Runnable {
            id: Arc::clone(&id),
            version,
            timeout_ms,
            kind,
            check,
        });
        let clock = self.executor.clock();
        let now_ms = clock.now_ms();
        // Still this monitor's slot (checked, as cheaply as a lookup would be).
        let slot = slot.filter(|s| self.table.entries.get(*s).is_some_and(|e| *e.run.id == *id));
        if let Some(slot) = slot {
            let entry = &mut self.table.entries[slot];
            entry.run = run;
            entry.fingerprint = fingerprint;
            if entry.schedule != schedule {
                if let Some(key) = entry.key.take() {
                    self.wheel.try_remove(&key);
                }
                entry.key = schedule
                    .next_after(now_ms)
                    .map(|next| insert(&mut self.wheel, clock, slot, next, now_ms));
                entry.schedule = schedule;
            }
            return Upsert::Changed;
        }
        let next = schedule.next_after(now_ms);
        let slot = self.table.insert(Entry {
            run,
            fingerprint,
            schedule,
            key: None,
        });
        self.table.entries[slot].key =
            next.map(|next| insert(&mut self.wheel, clock, slot, next, now_ms));
        Upsert::Added
    }

    /// Keyed SipHash over the monitor's protobuf encoding (deterministic: the message has no
    /// map fields). A changed monitor keeps its old fingerprint by a chance of 2^-64, and with
    /// keys drawn per process no spec can be made to collide on purpose.
    fn fingerprint(&mut self, monitor: &Monitor) -> u64 {
        self.scratch.clear();
        // Encoding into a Vec cannot fail: it grows as needed.
        let _ = monitor.encode(&mut self.scratch);
        let mut h = self.fingerprint_keys.build_hasher();
        h.write(&self.scratch);
        h.finish()
    }

    /// Takes a monitor off the wheel but keeps it aside for `PARK_GRACE`.
    fn park(&mut self, id: &str) {
        if let Some(mut entry) = self.table.remove(id) {
            let id = Arc::clone(&entry.run.id);
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
    /// `id` is not on the table.
    fn restore(&mut self, id: &str, fingerprint: u64) -> Option<Upsert> {
        let parked = self.parked.remove(id)?;
        if parked.entry.fingerprint != fingerprint || parked.since.elapsed() >= PARK_GRACE {
            return None;
        }
        let clock = self.executor.clock();
        let now_ms = clock.now_ms();
        let due_ms = parked
            .due_ms
            .or_else(|| parked.entry.schedule.next_after(now_ms));
        let slot = self.table.insert(parked.entry);
        self.table.entries[slot].key =
            due_ms.map(|due| insert(&mut self.wheel, clock, slot, due, now_ms));
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
    slot: usize,
    due_ms: i64,
    now_ms: i64,
) -> Key {
    let wake_ms = due_ms.min(now_ms.saturating_add(MAX_PARK_MS));
    wheel.insert_at(Due { slot, due_ms }, clock.instant_at(wake_ms))
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;
    use lookout_proto::v1::Timings;
    use tokio::time::Instant;

    use super::*;
    use crate::checks::{Check, Outcome};

    struct Noop;
    impl Check for Noop {
        fn run(&self, _deadline: Instant) -> BoxFuture<'_, Outcome> {
            Box::pin(async { Outcome::up(Timings::default()) })
        }
    }

    fn entry(id: &str) -> Entry {
        Entry {
            run: Arc::new(Runnable {
                id: Arc::from(id),
                version: 1,
                timeout_ms: 1000,
                kind: "tcp",
                check: Box::new(Noop),
            }),
            fingerprint: 0,
            schedule: Schedule::Interval {
                period_ms: 1000,
                phase_ms: 0,
            },
            key: None,
        }
    }

    #[test]
    fn ids_with_the_same_hash_are_told_apart() {
        let mut t = Table::default();
        let a = t.insert(entry("mon_a"));
        // As if mon_b hashed like mon_a: the index already holds mon_b's hash for mon_a.
        t.index.remove(&id_hash("mon_a"));
        t.index.insert(id_hash("mon_b"), a);
        let b = t.insert(entry("mon_b"));
        assert_eq!(t.collided.len(), 1, "the second id went aside");
        assert_eq!((t.slot("mon_b"), t.len()), (Some(b), 2));
        assert!(t.slot("mon_c").is_none());
        assert_eq!(
            t.remove("mon_b").map(|e| Arc::clone(&e.run.id)),
            Some(Arc::from("mon_b"))
        );
        assert!(t.slot("mon_b").is_none());
        assert_eq!(t.len(), 1);
    }
}
