//! Runs one due check: waits for a slot of the global concurrency limit until the check's
//! window ends, runs it under its timeout, and turns the outcome into a `CheckResult`.

use std::sync::Arc;
use std::time::Duration;

use lookout_proto::v1::Timings;
use lookout_proto::validate::ValidMonitor;
use lookout_proto::{CheckResult, CheckStatus, FailureClass, Monitor};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, sleep_until, timeout_at};
use tokio_util::sync::CancellationToken;

use super::clock::Clock;
use crate::checks::{Check, Outcome};

/// A check must end by its deadline and say what timed out; this guard only stops one that
/// does not.
const GUARD_GRACE: Duration = Duration::from_millis(100);

/// Where finished results go (the session's buffer, or a benchmark's counter).
pub type ResultSender = mpsc::UnboundedSender<CheckResult>;

/// What a run needs of its monitor, built once per assignment and shared by every run: the
/// compiled check and the few spec fields a result carries. The protobuf spec itself is not
/// kept (it is most of a monitor's size, and an agent may hold a million).
pub struct Runnable {
    pub id: Arc<str>,
    pub version: u64,
    /// The validated timeout (defaults filled), in milliseconds.
    pub timeout_ms: u32,
    /// The check kind, as results name it ("http", "tcp", ...).
    pub kind: &'static str,
    pub check: Box<dyn Check>,
}

impl Runnable {
    /// The runnable form of a validated monitor with its built check.
    pub fn new(valid: &ValidMonitor, check: Box<dyn Check>) -> Runnable {
        let spec = valid.spec();
        Runnable {
            id: Arc::from(spec.id.as_str()),
            version: spec.version,
            timeout_ms: spec.timeout_ms,
            kind: spec.kind(),
            check,
        }
    }
}

/// The monitor a result is about: the fields every result carries.
#[derive(Debug, Clone, Copy)]
pub struct About<'a> {
    pub id: &'a str,
    pub version: u64,
    pub kind: &'static str,
}

impl<'a> From<&'a Monitor> for About<'a> {
    fn from(m: &'a Monitor) -> About<'a> {
        About {
            id: &m.id,
            version: m.version,
            kind: m.kind(),
        }
    }
}

impl<'a> From<&'a Runnable> for About<'a> {
    fn from(r: &'a Runnable) -> About<'a> {
        About {
            id: &r.id,
            version: r.version,
            kind: r.kind,
        }
    }
}

/// One due run of one monitor.
pub struct Job {
    pub run: Arc<Runnable>,
    /// When the run was due (epoch ms).
    pub due_ms: i64,
    /// When the next run is due: a run that has not started by then is MISSED, and a
    /// started run gets at most until then (its timeout is cut to the window).
    pub window_end_ms: i64,
}

/// Who the results come from.
#[derive(Debug, Clone)]
pub struct Origin {
    pub agent_id: String,
    pub region: String,
}

/// Starts jobs under the global concurrency limit; cheap to clone.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
    results: ResultSender,
}

/// Runs one-shot checks under an executor's limit, returning their results: it holds no
/// result sender, so the results channel still closes once the scheduler and its checks end.
#[derive(Clone)]
pub struct OneShot {
    inner: Arc<Inner>,
}

struct Inner {
    permits: Arc<Semaphore>,
    limit: usize,
    clock: Clock,
    origin: Origin,
    shutdown: CancellationToken,
}

impl Executor {
    pub fn new(
        max_concurrency: usize,
        clock: Clock,
        origin: Origin,
        results: ResultSender,
        shutdown: CancellationToken,
    ) -> Executor {
        let limit = max_concurrency.max(1);
        let permits = Arc::new(Semaphore::new(limit));
        Executor {
            inner: Arc::new(Inner {
                permits,
                limit,
                clock,
                origin,
                shutdown,
            }),
            results,
        }
    }

    /// Runs one-shot checks under this executor's limit.
    pub fn one_shot(&self) -> OneShot {
        OneShot {
            inner: Arc::clone(&self.inner),
        }
    }

    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// Runs `job` on its own task; its result (or a MISSED result) goes to the sender.
    pub fn dispatch(&self, job: Job) {
        let inner = Arc::clone(&self.inner);
        let results = self.results.clone();
        let permit = Arc::clone(&inner.permits).try_acquire_owned().ok();
        tokio::spawn(async move {
            let result = inner.execute(job, permit).await;
            send(&results, result);
        });
    }

    /// Reports `job` as MISSED without running it.
    pub fn missed(&self, job: &Job, class: FailureClass, reason: String) {
        let result = self.inner.missed(job, class, reason);
        send(&self.results, result);
    }

    /// Reports a result for a monitor that cannot run at all (its check cannot be built):
    /// `MISSED` with class `INTERNAL`, which the coordinator's no-data watch reports with
    /// this reason. The reason may quote the whole spec, so it is bounded here.
    pub fn refused(&self, about: About<'_>, reason: String) {
        send(&self.results, self.inner.refusal(about, reason));
    }
}

impl OneShot {
    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// Runs `job` under the same concurrency limit and rules as a scheduled run, and returns
    /// its result (bounded) instead of sending it: a one-shot run asked for by the
    /// coordinator, whose result is never published.
    pub async fn run_once(&self, job: Job) -> CheckResult {
        let permit = Arc::clone(&self.inner.permits).try_acquire_owned().ok();
        let mut result = self.inner.execute(job, permit).await;
        result.bound_text();
        result
    }

    /// The MISSED result of a monitor whose check cannot be built, as [`Executor::refused`]
    /// sends it.
    pub fn refusal(&self, monitor: &Monitor, reason: String) -> CheckResult {
        self.inner.refusal(monitor.into(), reason)
    }
}

/// Sends a finished result, bounded: every result leaves bounded, whichever check or path
/// produced its message.
fn send(results: &ResultSender, mut result: CheckResult) {
    result.bound_text();
    // A closed receiver means the agent is stopping; the result has nowhere to go.
    let _ = results.send(result);
}

impl Inner {
    /// The MISSED result (class `internal`, bounded) of a monitor that cannot run at all.
    fn refusal(&self, about: About<'_>, reason: String) -> CheckResult {
        let now = self.clock.now_ms();
        let mut result = self.result(
            about,
            now,
            now,
            CheckStatus::Missed,
            FailureClass::Internal,
            reason,
        );
        result.bound_text();
        result
    }

    /// Runs `job` with `permit`, or once a slot frees up (MISSED if none does before its
    /// window ends), and returns its result.
    async fn execute(&self, job: Job, permit: Option<OwnedSemaphorePermit>) -> CheckResult {
        let permit = match permit {
            Some(permit) => permit,
            None => match self.wait_for_slot(&job).await {
                Ok(permit) => permit,
                Err(missed) => return missed,
            },
        };
        self.run(job, permit).await
    }

    async fn wait_for_slot(&self, job: &Job) -> Result<OwnedSemaphorePermit, CheckResult> {
        let window_end = self.clock.instant_at(job.window_end_ms);
        tokio::select! {
            biased;
            () = self.shutdown.cancelled() => {
                Err(self.missed(job, FailureClass::Shutdown, "agent shut down before the check could start".into()))
            }
            permit = Arc::clone(&self.permits).acquire_owned() => permit.map_err(|_| {
                self.missed(job, FailureClass::Internal, "concurrency limit closed".into())
            }),
            () = sleep_until(window_end) => {
                let reason =
                    format!("all {} check slots stayed busy until the next run was due", self.limit);
                Err(self.missed(job, FailureClass::Overload, reason))
            }
        }
    }

    async fn run(&self, job: Job, permit: OwnedSemaphorePermit) -> CheckResult {
        if self.shutdown.is_cancelled() {
            return self.missed(
                &job,
                FailureClass::Shutdown,
                "agent shut down before the check could start".into(),
            );
        }
        let started = Instant::now();
        let started_ms = self.clock.ms_at(started);
        let timeout_ms = u64::from(job.run.timeout_ms.max(1));
        let window_ms = u64::try_from(job.window_end_ms.saturating_sub(job.due_ms))
            .unwrap_or(1)
            .max(1);
        let deadline = started + Duration::from_millis(timeout_ms.min(window_ms));
        let outcome = tokio::select! {
            biased;
            outcome = timeout_at(deadline + GUARD_GRACE, job.run.check.run(deadline)) => match outcome {
                Ok(outcome) => outcome,
                Err(_) => Outcome::down(
                    FailureClass::Timeout,
                    format!("no answer within {} ms", timeout_ms.min(window_ms)),
                    Timings::default(),
                ),
            },
            () = self.shutdown.cancelled() => {
                drop(permit);
                let reason = "agent shut down while the check was running".to_string();
                return self.result(job.run.as_ref().into(), job.due_ms, started_ms, CheckStatus::Missed, FailureClass::Shutdown, reason);
            }
        };
        drop(permit);
        let duration_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        let mut timings = outcome.timings;
        if timings.total_us == 0 {
            timings.total_us = duration_us;
        }
        let mut result = self.result(
            job.run.as_ref().into(),
            job.due_ms,
            started_ms,
            outcome.status,
            outcome.failure,
            outcome.message,
        );
        result.duration_us = duration_us;
        result.timings = Some(timings);
        result.status_code = outcome.status_code;
        result.ping = outcome.ping.map(|p| lookout_proto::v1::PingStats {
            sent: p.sent,
            received: p.received,
            rtt_min_us: p.rtt_min_us,
            rtt_avg_us: p.rtt_avg_us,
            rtt_max_us: p.rtt_max_us,
        });
        result.certificate = outcome.certificate;
        result
    }

    fn missed(&self, job: &Job, class: FailureClass, reason: String) -> CheckResult {
        let now = self.clock.now_ms();
        self.result(
            job.run.as_ref().into(),
            job.due_ms,
            now,
            CheckStatus::Missed,
            class,
            reason,
        )
    }

    fn result(
        &self,
        about: About<'_>,
        scheduled_at_ms: i64,
        started_at_ms: i64,
        status: CheckStatus,
        failure: FailureClass,
        message: String,
    ) -> CheckResult {
        CheckResult {
            id: uuid::Uuid::now_v7().to_string(),
            monitor_id: about.id.to_string(),
            monitor_version: about.version,
            region: self.origin.region.clone(),
            agent_id: self.origin.agent_id.clone(),
            status: status as i32,
            scheduled_at_ms,
            started_at_ms,
            duration_us: 0,
            timings: None,
            status_code: None,
            failure_class: failure as i32,
            error_message: message,
            check_kind: about.kind.to_string(),
            ping: None,
            lifecycle: 0,
            certificate: None,
        }
    }
}
