//! Scheduler tests on a paused clock with scripted checks: spreading, edges of the window,
//! missed runs, shutdown and assignment changes.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use lookout_proto::v1::{Assignment, Timings};
use lookout_proto::validate::ValidMonitor;
use lookout_proto::{CheckResult, CheckStatus, FailureClass, Monitor};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

use super::{Clock, Origin, Scheduler, SchedulerConfig, phase_hash};
use crate::checks::{BuildError, Check, Outcome};

/// 2026-01-31T23:59:00Z.
const START_MS: i64 = 1_769_903_940_000;

struct UpCheck;
impl Check for UpCheck {
    fn run(&self, _deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(async { Outcome::up(Timings::default()) })
    }
}

/// Answers like an icmp check: UP with ping statistics.
struct PingCheck;
impl Check for PingCheck {
    fn run(&self, _deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(async {
            let mut o = Outcome::up(Timings::default());
            o.ping = Some(crate::checks::PingStats {
                sent: 3,
                received: 2,
                rtt_min_us: 10,
                rtt_avg_us: 20,
                rtt_max_us: 30,
            });
            o
        })
    }
}

/// Never answers: holds its concurrency slot until the scheduler's timeout.
struct HangCheck;
impl Check for HangCheck {
    fn run(&self, _deadline: Instant) -> BoxFuture<'_, Outcome> {
        Box::pin(std::future::pending())
    }
}

fn build(valid: &ValidMonitor) -> Result<Box<dyn Check>, BuildError> {
    let monitor = valid.spec();
    match monitor.name.as_str() {
        "hang" => Ok(Box::new(HangCheck)),
        "ping" => Ok(Box::new(PingCheck)),
        "broken" => Err(BuildError {
            monitor_id: monitor.id.clone(),
            reason: "no prober".into(),
        }),
        "huge" => Err(BuildError {
            monitor_id: monitor.id.clone(),
            reason: format!("url {:?} is too long", "x".repeat(1 << 20)),
        }),
        _ => Ok(Box::new(UpCheck)),
    }
}

struct Harness {
    scheduler: Scheduler,
    results: mpsc::UnboundedReceiver<CheckResult>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(max_concurrency: usize) -> Harness {
    start_with(max_concurrency, Arc::new(build))
}

fn start_with(max_concurrency: usize, build: super::CheckBuilder) -> Harness {
    let config = SchedulerConfig {
        origin: Origin {
            agent_id: "agent-1".into(),
            region: "eu".into(),
        },
        max_concurrency,
        clock: Clock::starting_at(START_MS),
        build,
    };
    let (tx, results) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let (scheduler, task) = Scheduler::spawn(config, tx, shutdown.clone());
    Harness {
        scheduler,
        results,
        shutdown,
        task,
    }
}

fn monitor(id: &str, name: &str, interval_secs: u32, version: u64) -> Monitor {
    Monitor {
        id: id.into(),
        name: name.into(),
        regions: vec!["eu".into()],
        interval_secs,
        // As long as validation allows: the whole interval.
        timeout_ms: (interval_secs * 1000).min(60_000),
        version,
        check: Some(lookout_proto::v1::monitor::Check::Tcp(
            lookout_proto::v1::TcpCheck {
                address: "127.0.0.1:9".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn snapshot(version: u64, upserts: Vec<Monitor>) -> Assignment {
    Assignment {
        version,
        snapshot: true,
        upserts,
        removals: vec![],
        leader_epoch: 0,
    }
}

fn drain(rx: &mut mpsc::UnboundedReceiver<CheckResult>) -> Vec<CheckResult> {
    let mut out = Vec::new();
    while let Ok(r) = rx.try_recv() {
        out.push(r);
    }
    out
}

fn phase_of(id: &str, period_ms: i64) -> i64 {
    (phase_hash(id) % period_ms as u64) as i64
}

#[tokio::test(start_paused = true)]
async fn runs_on_the_phase_and_spreads_monitors() {
    let mut h = start(10_000);
    let monitors: Vec<Monitor> = (0..1000)
        .map(|i| monitor(&format!("mon_{i}"), "up", 10, 1))
        .collect();
    h.scheduler.apply(snapshot(1, monitors)).await;
    sleep(Duration::from_millis(30_000)).await;
    let results = drain(&mut h.results);
    assert_eq!(h.scheduler.active_monitors(), 1000);
    assert_eq!(h.scheduler.assignment_version(), 1);
    // 3 periods of 10 s: every monitor ran three times, on its own phase, on time.
    assert_eq!(results.len(), 3000, "results in 30 s");
    let mut per_second = [0u32; 10];
    for r in &results {
        assert_eq!(r.status, CheckStatus::Up as i32);
        assert_eq!(
            (r.scheduled_at_ms - phase_of(&r.monitor_id, 10_000)).rem_euclid(10_000),
            0
        );
        assert_eq!(
            r.started_at_ms, r.scheduled_at_ms,
            "no lateness on a paused clock"
        );
        assert_eq!(
            (
                r.region.as_str(),
                r.agent_id.as_str(),
                r.check_kind.as_str()
            ),
            ("eu", "agent-1", "tcp")
        );
        assert!(uuid::Uuid::parse_str(&r.id).is_ok_and(|u| u.get_version_num() == 7));
        per_second[(r.scheduled_at_ms.rem_euclid(10_000) / 1000) as usize] += 1;
    }
    for n in per_second {
        assert!(
            (240..=360).contains(&n),
            "uneven spread over the period: {per_second:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_unchanged_upsert_keeps_the_schedule() {
    let mut h = start(10);
    let phase = phase_of("mon_a", 10_000);
    h.scheduler
        .apply(snapshot(1, vec![monitor("mon_a", "up", 10, 1)]))
        .await;
    sleep(Duration::from_millis(25_000)).await;
    // Same spec and version again (snapshot and delta), then a changed spec with the same
    // interval: none may add, skip or move a run.
    h.scheduler
        .apply(snapshot(2, vec![monitor("mon_a", "up", 10, 1)]))
        .await;
    h.scheduler
        .apply(Assignment {
            version: 3,
            snapshot: false,
            upserts: vec![monitor("mon_a", "up", 10, 1)],
            removals: vec![],
            leader_epoch: 0,
        })
        .await;
    sleep(Duration::from_millis(10_000)).await;
    h.scheduler
        .apply(Assignment {
            version: 4,
            snapshot: false,
            upserts: vec![monitor("mon_a", "renamed", 10, 2)],
            removals: vec![],
            leader_epoch: 0,
        })
        .await;
    sleep(Duration::from_millis(20_000)).await;
    let results = drain(&mut h.results);
    let due: Vec<i64> = results.iter().map(|r| r.scheduled_at_ms).collect();
    let first = START_MS + (phase - START_MS).rem_euclid(10_000);
    let first = if first == START_MS {
        first + 10_000
    } else {
        first
    };
    let expected: Vec<i64> = (0..due.len() as i64).map(|k| first + k * 10_000).collect();
    assert_eq!(due, expected);
    assert!(due.len() >= 5, "{due:?}");
    // runs after the change carry the new version
    assert_eq!(results.last().map(|r| r.monitor_version), Some(2));
    assert_eq!(h.scheduler.assignment_version(), 4);
}

#[tokio::test(start_paused = true)]
async fn removal_and_snapshot_stop_monitors() {
    let mut h = start(10);
    h.scheduler
        .apply(snapshot(
            1,
            vec![monitor("mon_a", "up", 1, 1), monitor("mon_b", "up", 1, 1)],
        ))
        .await;
    sleep(Duration::from_millis(3_000)).await;
    h.scheduler
        .apply(Assignment {
            version: 2,
            snapshot: false,
            upserts: vec![],
            removals: vec!["mon_a".into()],
            leader_epoch: 0,
        })
        .await;
    sleep(Duration::from_millis(1)).await;
    drain(&mut h.results);
    sleep(Duration::from_millis(3_000)).await;
    let ids: Vec<String> = drain(&mut h.results)
        .into_iter()
        .map(|r| r.monitor_id)
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id == "mon_b"),
        "{ids:?}"
    );
    h.scheduler
        .apply(snapshot(3, vec![monitor("mon_c", "up", 1, 1)]))
        .await;
    sleep(Duration::from_millis(1)).await;
    drain(&mut h.results);
    sleep(Duration::from_millis(3_000)).await;
    let ids: Vec<String> = drain(&mut h.results)
        .into_iter()
        .map(|r| r.monitor_id)
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| id == "mon_c"),
        "{ids:?}"
    );
    assert_eq!(h.scheduler.active_monitors(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_check_that_cannot_start_in_its_window_is_missed() {
    let mut h = start(1);
    // "hog" holds the only slot for 60 s (its timeout); "victim" is due every second.
    let hog_phase = phase_of("hog", 60_000);
    h.scheduler
        .apply(snapshot(
            1,
            vec![monitor("hog", "hang", 60, 1), monitor("victim", "up", 1, 1)],
        ))
        .await;
    sleep(Duration::from_millis(185_000)).await;
    let results = drain(&mut h.results);
    let hog_runs: Vec<&CheckResult> = results.iter().filter(|r| r.monitor_id == "hog").collect();
    assert!(hog_runs.len() >= 2);
    for r in &hog_runs {
        assert_eq!(r.status, CheckStatus::Down as i32);
        assert_eq!(r.failure_class, FailureClass::Timeout as i32);
        // the timeout plus the guard's grace: HangCheck ignores its deadline
        assert_eq!(r.duration_us, 60_100_000);
    }
    // the hog held the slot for the victim's whole window [t, t + 1 s]
    let hog_busy = |t: i64| {
        hog_runs
            .iter()
            .any(|r| r.started_at_ms < t && t + 1000 < r.started_at_ms + 60_000)
    };
    let (mut missed, mut up) = (0, 0);
    for r in results.iter().filter(|r| r.monitor_id == "victim") {
        if hog_busy(r.scheduled_at_ms) {
            missed += 1;
            assert_eq!(r.status, CheckStatus::Missed as i32, "{r:?}");
            assert_eq!(r.failure_class, FailureClass::Overload as i32);
            assert!(
                r.error_message.contains("slots stayed busy"),
                "{}",
                r.error_message
            );
            // reported when its window closed, not earlier, not later
            assert_eq!(r.started_at_ms, r.scheduled_at_ms + 1000);
        } else if r.status == CheckStatus::Up as i32 {
            up += 1;
        }
    }
    assert!(missed >= 100, "missed {missed}");
    assert!(
        up >= 1,
        "victim ran {up} times while the slot was free (hog phase {hog_phase} ms)"
    );
}

#[tokio::test(start_paused = true)]
async fn shutdown_reports_waiting_and_running_checks() {
    let mut h = start(1);
    // From its first run on, "hog" always holds the only slot and "victim" (due every
    // second) always has a run waiting for it.
    h.scheduler
        .apply(snapshot(
            1,
            vec![monitor("hog", "hang", 60, 1), monitor("victim", "up", 1, 1)],
        ))
        .await;
    sleep(Duration::from_millis(75_300)).await;
    h.shutdown.cancel();
    let mut all = drain(&mut h.results);
    // the channel closes once the scheduler and every check it started have finished
    while let Some(r) = h.results.recv().await {
        all.push(r);
    }
    h.task.await.expect("scheduler task ends");
    let shutdown: Vec<&CheckResult> = all
        .iter()
        .filter(|r| r.failure_class == FailureClass::Shutdown as i32)
        .collect();
    assert!(
        shutdown
            .iter()
            .all(|r| r.status == CheckStatus::Missed as i32)
    );
    let said = |text: &str| shutdown.iter().any(|r| r.error_message.contains(text));
    assert!(
        said("shut down while the check was running"),
        "{shutdown:?}"
    );
    assert!(
        said("shut down before the check could start"),
        "{shutdown:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_monitor_that_cannot_be_built_is_reported() {
    let mut h = start(1);
    h.scheduler
        .apply(snapshot(1, vec![monitor("mon_x", "broken", 10, 1)]))
        .await;
    let r = h.results.recv().await.expect("a result");
    assert_eq!(
        (r.monitor_id.as_str(), r.status),
        ("mon_x", CheckStatus::Missed as i32)
    );
    assert_eq!(r.failure_class, FailureClass::Internal as i32);
    assert_eq!(
        r.error_message,
        "the agent cannot run this check: no prober"
    );
    assert_eq!(h.scheduler.active_monitors(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_quoting_a_huge_spec_is_bounded() {
    let mut h = start(1);
    h.scheduler
        .apply(snapshot(1, vec![monitor("mon_x", "huge", 10, 1)]))
        .await;
    let r = h.results.recv().await.expect("a result");
    assert_eq!(r.failure_class, FailureClass::Internal as i32);
    assert!(
        r.error_message
            .starts_with("the agent cannot run this check: url \"xxx"),
        "{}",
        &r.error_message[..80]
    );
    assert!(r.error_message.len() <= lookout_proto::bounds::MAX_ERROR_MESSAGE_BYTES);
    assert!(r.error_message.ends_with(lookout_proto::bounds::ELLIPSIS));
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_in_parts_keeps_unchanged_monitors() {
    let builds = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&builds);
    let mut h = start_with(
        10,
        Arc::new(move |m: &ValidMonitor| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            build(m)
        }),
    );
    let (a, b) = (monitor("mon_a", "up", 10, 1), monitor("mon_b", "up", 10, 1));
    h.scheduler
        .apply(snapshot(1, vec![a.clone(), b.clone()]))
        .await;
    sleep(Duration::from_millis(15_000)).await;
    // A reconnect brings the same assignment split in two: a snapshot part with mon_a only
    // and a delta part with mon_b. mon_b must neither be rebuilt nor lose or move a run.
    h.scheduler.apply(snapshot(2, vec![a])).await;
    sleep(Duration::from_millis(1)).await;
    h.scheduler
        .apply(Assignment {
            version: 3,
            snapshot: false,
            upserts: vec![b],
            removals: vec![],
            leader_epoch: 0,
        })
        .await;
    sleep(Duration::from_millis(25_000)).await;
    assert_eq!(
        builds.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "no check rebuilt"
    );
    assert_eq!(h.scheduler.active_monitors(), 2);
    let due: Vec<i64> = drain(&mut h.results)
        .into_iter()
        .filter(|r| r.monitor_id == "mon_b")
        .map(|r| r.scheduled_at_ms)
        .collect();
    assert_eq!(due.len(), 4, "{due:?}");
    assert!(due.windows(2).all(|w| w[1] - w[0] == 10_000), "{due:?}");
}

#[tokio::test(start_paused = true)]
async fn ping_statistics_reach_the_result() {
    let mut h = start(10);
    h.scheduler
        .apply(snapshot(1, vec![monitor("mon_ping", "ping", 1, 1)]))
        .await;
    sleep(Duration::from_millis(2_500)).await;
    let results = drain(&mut h.results);
    let r = results.first().expect("a result");
    let ping = r.ping.as_ref().expect("ping statistics in the CheckResult");
    assert_eq!(
        (
            ping.sent,
            ping.received,
            ping.rtt_min_us,
            ping.rtt_avg_us,
            ping.rtt_max_us
        ),
        (3, 2, 10, 20, 30)
    );
    h.shutdown.cancel();
    let _ = h.task.await;
}

fn one_shot(id: &str, name: &str) -> Monitor {
    Monitor {
        regions: vec!["eu".into()],
        timeout_ms: 2_000,
        ..monitor(id, name, 60, 0)
    }
}

#[tokio::test(start_paused = true)]
async fn run_now_answers_its_result_and_never_sends_it() {
    let mut h = start(1);
    let up = h.scheduler.run_now(one_shot("run_1", "up")).await;
    assert_eq!(
        (up.monitor_id.as_str(), up.status),
        ("run_1", CheckStatus::Up as i32)
    );
    assert_eq!(
        (up.region.as_str(), up.agent_id.as_str()),
        ("eu", "agent-1")
    );

    // The same timeout and slot rules as a scheduled run.
    let hung = h.scheduler.run_now(one_shot("run_2", "hang")).await;
    assert_eq!(hung.status, CheckStatus::Down as i32);
    assert_eq!(hung.failure_class, FailureClass::Timeout as i32);
    assert!(
        hung.error_message.contains("2000 ms"),
        "{}",
        hung.error_message
    );

    // One that cannot be built, or is no valid monitor, is MISSED saying why.
    let broken = h.scheduler.run_now(one_shot("run_3", "broken")).await;
    assert_eq!(broken.status, CheckStatus::Missed as i32);
    assert_eq!(broken.failure_class, FailureClass::Internal as i32);
    assert!(
        broken.error_message.contains("no prober"),
        "{}",
        broken.error_message
    );
    let invalid = h.scheduler.run_now(Monitor::default()).await;
    assert_eq!(invalid.status, CheckStatus::Missed as i32);
    assert!(
        invalid.error_message.starts_with("name:"),
        "{}",
        invalid.error_message
    );
    let huge = h.scheduler.run_now(one_shot("run_4", "huge")).await;
    assert!(huge.error_message.len() <= lookout_proto::bounds::MAX_ERROR_MESSAGE_BYTES);

    assert!(
        drain(&mut h.results).is_empty(),
        "one-shot results are not published"
    );
    assert_eq!(h.scheduler.active_monitors(), 0, "nor scheduled");
    h.shutdown.cancel();
    h.task.await.expect("scheduler stops");
    // The handle that runs one-shot checks holds no result sender: the channel still closes
    // (the session's drain waits for that).
    assert!(h.results.recv().await.is_none());
}

#[tokio::test(start_paused = true)]
async fn apply_waits_while_the_queue_is_full() {
    let h = start(10);
    let part = |version: u64, from: usize| Assignment {
        version,
        snapshot: false,
        upserts: (from..from + super::MAX_QUEUED_MONITORS)
            .map(|i| monitor(&format!("mon_{i}"), "up", 60, 1))
            .collect(),
        removals: vec![],
        leader_epoch: 0,
    };
    // The first part fills the queue; the driver has not run yet (one thread, no yield).
    h.scheduler.apply(part(1, 0)).await;
    let second = h.scheduler.apply(part(2, super::MAX_QUEUED_MONITORS));
    tokio::pin!(second);
    assert!(
        futures::poll!(second.as_mut()).is_pending(),
        "a full queue makes apply wait"
    );
    assert_eq!(h.scheduler.assignment_version(), 2);
    second.await;
    while h.scheduler.active_monitors() < 2 * super::MAX_QUEUED_MONITORS {
        sleep(Duration::from_millis(10)).await;
    }
}
