//! The scheduler: keeps the assigned monitors on a timing wheel and starts each one when it
//! is due, under a global concurrency limit; `Scheduler` is the handle the session drives.

mod clock;
mod driver;
mod execute;
mod schedule;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use lookout_proto::v1::Assignment;
use lookout_proto::validate::ValidMonitor;
use lookout_proto::{CheckResult, Monitor};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use clock::Clock;
pub use execute::{About, Executor, Job, OneShot, Origin, ResultSender, Runnable};
pub use schedule::{Schedule, ScheduleError, parse_cron, phase_hash};

use crate::checks::{self, BuildError, Check, Close, Targets};

/// Builds the check of a validated monitor; `checks::build_valid` in production, a scripted
/// check in tests.
pub type CheckBuilder =
    Arc<dyn Fn(&ValidMonitor) -> Result<Box<dyn Check>, BuildError> + Send + Sync>;

/// Monitors handed to [`Scheduler::apply`] and not yet applied, at most: `apply` waits for
/// room. A coordinator streams a large assignment in parts much faster than checks are built
/// (µs each), and a queued protobuf monitor takes about a kilobyte; without this bound a
/// million monitors would all sit in the queue at once.
pub const MAX_QUEUED_MONITORS: usize = 20_000;

/// What the scheduler needs besides the assignment.
#[derive(Clone)]
pub struct SchedulerConfig {
    pub origin: Origin,
    pub max_concurrency: usize,
    pub clock: Clock,
    pub build: CheckBuilder,
}

impl SchedulerConfig {
    /// Production settings: system clock, the real probers, connecting where `targets` permits
    /// and ending connections by `close`.
    pub fn new(
        origin: Origin,
        max_concurrency: usize,
        targets: Targets,
        close: Close,
    ) -> SchedulerConfig {
        SchedulerConfig {
            origin,
            max_concurrency,
            clock: Clock::system(),
            build: Arc::new(move |m: &ValidMonitor| checks::build_valid(m, targets, close)),
        }
    }
}

/// Handle to a running scheduler. Dropping every handle, or cancelling the shutdown token,
/// stops it; checks waiting for a slot then report MISSED (shutdown).
#[derive(Clone)]
pub struct Scheduler {
    commands: mpsc::UnboundedSender<driver::Command>,
    /// Room in the queue of monitors not yet applied (`MAX_QUEUED_MONITORS`).
    room: Arc<Semaphore>,
    shared: Arc<Shared>,
    /// One-shot runs share the scheduled runs' concurrency limit.
    one_shot: OneShot,
    build: CheckBuilder,
}

struct Shared {
    requested_version: AtomicU64,
    active: AtomicUsize,
    /// Version of the last assignment fully applied (0 before the first).
    applied_version: watch::Sender<u64>,
}

impl Scheduler {
    /// Starts the scheduler task. Results of every run go to `results`; the sender is dropped
    /// once the scheduler and every check it started have finished.
    pub fn spawn(
        config: SchedulerConfig,
        results: ResultSender,
        shutdown: CancellationToken,
    ) -> (Scheduler, JoinHandle<()>) {
        let (commands, command_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            requested_version: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            applied_version: watch::Sender::new(0),
        });
        let executor = Executor::new(
            config.max_concurrency,
            config.clock,
            config.origin,
            results,
            shutdown.clone(),
        );
        let one_shot = executor.one_shot();
        let room = Arc::new(Semaphore::new(MAX_QUEUED_MONITORS));
        let driver = driver::Driver::new(executor, Arc::clone(&config.build), Arc::clone(&shared));
        let task = tokio::spawn(driver.run(command_rx, shutdown));
        let scheduler = Scheduler {
            commands,
            room,
            shared,
            one_shot,
            build: config.build,
        };
        (scheduler, task)
    }

    /// Applies a snapshot or delta. Monitors it does not change keep their schedule. Waits
    /// while `MAX_QUEUED_MONITORS` are queued (one larger assignment waits for an empty
    /// queue); a stopped scheduler dropped what it held, so the wait ends then too.
    pub async fn apply(&self, assignment: Assignment) {
        self.shared
            .requested_version
            .store(assignment.version, Ordering::Relaxed);
        let wanted = assignment.upserts.len().clamp(1, MAX_QUEUED_MONITORS);
        let wanted = u32::try_from(wanted).unwrap_or(u32::MAX);
        // The semaphore is never closed; a closed channel means the scheduler stopped
        // (shutdown), with nothing left to apply to.
        let room = Arc::clone(&self.room).acquire_many_owned(wanted).await.ok();
        let _ = self.commands.send(driver::Command::Apply(assignment, room));
    }

    /// The id and version of every monitor on the schedule (not those a snapshot just set
    /// aside), once the assignments handed to `apply` so far are applied. Empty once the
    /// scheduler stopped.
    pub async fn running(&self) -> Vec<(Arc<str>, u64)> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.commands.send(driver::Command::Running(tx)).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Version of the last assignment handed to `apply` (0 before the first). Not the highest
    /// ever seen: a coordinator that starts numbering again must not be told the agent is ahead.
    pub fn assignment_version(&self) -> u64 {
        self.shared.requested_version.load(Ordering::Relaxed)
    }

    /// Runs `monitor` once, now, outside the schedule, and returns its result: MISSED (class
    /// `internal`, saying why) when its check cannot be built, as for an assignment. The run
    /// gets the monitor's timeout and waits for a check slot at most that long.
    pub async fn run_now(&self, monitor: Monitor) -> CheckResult {
        // Validated here for its defaults (the timeout) too, not only by the builder.
        let valid = match ValidMonitor::try_from(monitor.clone()) {
            Ok(valid) => valid,
            Err(e) => return self.one_shot.refusal(&monitor, e.to_string()),
        };
        let check = match (self.build)(&valid) {
            Ok(check) => check,
            Err(e) => return self.one_shot.refusal(&monitor, e.reason),
        };
        let run = Arc::new(Runnable::new(&valid, check));
        let due_ms = self.one_shot.clock().now_ms();
        let window_ms = i64::from(run.timeout_ms.max(1));
        let job = Job {
            run,
            due_ms,
            window_end_ms: due_ms.saturating_add(window_ms),
        };
        self.one_shot.run_once(job).await
    }

    /// The version of the last assignment fully applied: every monitor of it is on the
    /// schedule (or refused), every removal done. Changes as assignments finish applying.
    pub fn applied_version(&self) -> watch::Receiver<u64> {
        self.shared.applied_version.subscribe()
    }

    /// Monitors currently scheduled.
    pub fn active_monitors(&self) -> usize {
        self.shared.active.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests;
