//! `lookout-agent bench-scale`: the real scheduler with N monitors at one interval against
//! local HTTP and TCP targets; prints checks/s, start lateness, missed runs, RSS and CPU per
//! check for each N.

use std::time::Duration;

use lookout_proto::{CheckResult, CheckStatus, Monitor};
use prost::Message;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{BenchError, Target, bench_monitor, box_busy_us, process_cpu_us};
use crate::checks::{Close, Targets};
use crate::scheduler::{Origin, Scheduler, SchedulerConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct ScaleArgs {
    /// Monitor counts to run, one after the other.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,100000")]
    pub sizes: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    pub interval_secs: u32,
    /// Measured time per size (after every monitor is scheduled).
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    #[arg(long, env = "PROBE_URL", default_value = "http://127.0.0.1:18080/")]
    pub http_url: String,
    #[arg(long, env = "PROBE_ADDR", default_value = "127.0.0.1:18080")]
    pub tcp_addr: String,
    /// Share of HTTP monitors (the rest are TCP), in percent.
    #[arg(long, default_value_t = 50)]
    pub http_percent: usize,
    #[arg(long, default_value_t = 1000)]
    pub max_concurrency: usize,
    /// Also print, per second of the run, the checks due in it and their worst lateness.
    #[arg(long)]
    pub timeline: bool,
    /// Run the agent as its own process, fed over gRPC: this process plays the coordinator's
    /// side of the gateway (Welcome, the assignment in 1 MiB parts, acks) and reports the
    /// agent process's RSS, CPU and the time until it has scheduled every monitor.
    #[arg(long)]
    pub via_gateway: bool,
    /// Close check connections with a reset (the agent's `close_with_reset`).
    #[arg(long)]
    pub close_with_reset: bool,
}

/// Figures for one monitor count.
#[derive(Debug, Clone, Default)]
pub struct ScaleReport {
    pub monitors: usize,
    pub checks: u64,
    pub up: u64,
    pub missed: u64,
    pub checks_per_sec: f64,
    pub lateness_p50_ms: u64,
    pub lateness_p99_ms: u64,
    pub lateness_max_ms: u64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub cpu_us_per_check: f64,
    pub schedule_secs: f64,
    /// Busy CPU outside this process (the target server, other load), % of all CPUs.
    pub others_percent: f64,
}

pub async fn scale(args: ScaleArgs) -> Result<(), BenchError> {
    println!(
        "bench-scale{}: interval {} s, {} s per size, {}% http ({}) / tcp ({}), max_concurrency {}",
        if args.via_gateway {
            " via the gateway"
        } else {
            ""
        },
        args.interval_secs,
        args.duration_secs,
        args.http_percent,
        args.http_url,
        args.tcp_addr,
        args.max_concurrency
    );
    println!(
        "{:>8} {:>9} {:>9} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8} {:>8} {:>9} {:>8} {:>7}",
        "monitors",
        "checks",
        "checks/s",
        "up",
        "missed",
        "p50_ms",
        "p99_ms",
        "max_ms",
        "rss_MiB",
        "peak_MiB",
        "cpu_us/ck",
        "setup_s",
        "others%"
    );
    for &size in &args.sizes {
        let r = if args.via_gateway {
            super::gateway::run_size(&args, size).await?
        } else {
            run_size(&args, size).await?
        };
        println!(
            "{:>8} {:>9} {:>9.0} {:>8} {:>7} {:>7} {:>7} {:>7} {:>8.1} {:>8.1} {:>9.1} {:>8.2} {:>7.0}",
            r.monitors,
            r.checks,
            r.checks_per_sec,
            r.up,
            r.missed,
            r.lateness_p50_ms,
            r.lateness_p99_ms,
            r.lateness_max_ms,
            r.rss_mib,
            r.peak_rss_mib,
            r.cpu_us_per_check,
            r.schedule_secs,
            r.others_percent
        );
    }
    Ok(())
}

/// Monitors per assignment message: about what fits the coordinator's 1 MiB parts.
const PART_MONITORS: usize = 10_000;

/// Makes the benchmark's monitors: one validated monitor per kind, copied with a new id, so
/// the defaults are filled exactly as the coordinator fills them without validating a million
/// monitors here as well.
pub(super) struct Monitors {
    http: Monitor,
    tcp: Monitor,
    http_percent: usize,
    size: usize,
}

impl Monitors {
    pub(super) fn new(args: &ScaleArgs, size: usize) -> Result<Monitors, BenchError> {
        Ok(Monitors {
            http: bench_monitor(
                "bench-http".into(),
                Target::Http(&args.http_url),
                args.interval_secs,
            )?,
            tcp: bench_monitor(
                "bench-tcp".into(),
                Target::Tcp(&args.tcp_addr),
                args.interval_secs,
            )?,
            http_percent: args.http_percent,
            size,
        })
    }

    pub(super) fn get(&self, i: usize) -> Monitor {
        let template = if i % 100 < self.http_percent {
            &self.http
        } else {
            &self.tcp
        };
        let id = format!("bench-{}-{i}", self.size);
        Monitor {
            name: id.clone(),
            id,
            ..template.clone()
        }
    }
}

async fn run_size(args: &ScaleArgs, size: usize) -> Result<ScaleReport, BenchError> {
    let monitors = Monitors::new(args, size)?;
    // In parts, as the coordinator sends a large assignment (a snapshot, then deltas), encoded
    // beforehand: set-up counts what the agent does with a part it receives (decode, validate,
    // build, schedule), not the coordinator's making it.
    let parts: Vec<Vec<u8>> = (0..size.max(1))
        .step_by(PART_MONITORS)
        .enumerate()
        .map(|(part, start)| {
            let end = (start + PART_MONITORS).min(size);
            lookout_proto::v1::Assignment {
                version: part as u64 + 1,
                snapshot: part == 0,
                upserts: (start..end).map(|i| monitors.get(i)).collect(),
                removals: vec![],
                leader_epoch: 0,
            }
            .encode_to_vec()
        })
        .collect();
    let setup = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let origin = Origin {
        agent_id: "bench".into(),
        region: super::REGION.into(),
    };
    let (scheduler, task) = Scheduler::spawn(
        // Local HTTP and TCP targets: the bench measures the scheduler, not the target rule.
        SchedulerConfig::new(
            origin,
            args.max_concurrency,
            Targets::AnyAddress,
            Close::resetting(args.close_with_reset),
        ),
        tx,
        shutdown.clone(),
    );
    for part in parts {
        let assignment = lookout_proto::v1::Assignment::decode(part.as_slice())?;
        scheduler.apply(assignment).await;
    }
    while scheduler.active_monitors() < size {
        sleep(Duration::from_millis(10)).await;
    }
    let schedule_secs = setup.elapsed().as_secs_f64();
    let start_ms = crate::scheduler::Clock::system().now_ms();
    let start = Instant::now();
    let cpu0 = process_cpu_us("self");
    let box0 = box_busy_us();
    let end = start + Duration::from_secs(args.duration_secs);
    let mut tally = Tally::new(start_ms, args.timeline);
    let mut chunk = Vec::with_capacity(1024);
    loop {
        tokio::select! {
            () = sleep_until(end) => break,
            n = rx.recv_many(&mut chunk, 1024) => {
                if n == 0 {
                    break;
                }
                for r in chunk.drain(..) {
                    tally.add(&r);
                }
            }
        }
    }
    let cpu_us = process_cpu_us("self").saturating_sub(cpu0);
    let box_us = box_busy_us().saturating_sub(box0);
    let elapsed = start.elapsed().as_secs_f64();
    let (rss, peak) = lookout_runtime::memory_mib("self");
    shutdown.cancel();
    drop(scheduler);
    while rx.recv().await.is_some() {}
    let _ = task.await;
    Ok(tally.report(Measured {
        monitors: size,
        elapsed,
        cpu_us,
        box_us,
        rss_mib: rss,
        peak_rss_mib: peak,
        schedule_secs,
    }))
}

/// What a run measured besides its results.
pub(super) struct Measured {
    pub monitors: usize,
    pub elapsed: f64,
    /// CPU of the agent (this process, or the agent process via the gateway).
    pub cpu_us: u64,
    pub box_us: u64,
    pub rss_mib: f64,
    pub peak_rss_mib: f64,
    pub schedule_secs: f64,
}

/// Counts the results due in the measured window: start lateness in whole milliseconds (the
/// last bucket holds everything later), missed runs, and per second when asked.
pub(super) struct Tally {
    start_ms: i64,
    late: Vec<u64>,
    checks: u64,
    up: u64,
    missed: u64,
    timeline: Option<Vec<(u64, u64)>>,
}

impl Tally {
    pub(super) fn new(start_ms: i64, timeline: bool) -> Tally {
        Tally {
            start_ms,
            late: vec![0; 10_001],
            checks: 0,
            up: 0,
            missed: 0,
            timeline: timeline.then(Vec::new),
        }
    }

    pub(super) fn add(&mut self, r: &CheckResult) {
        if r.scheduled_at_ms < self.start_ms {
            return;
        }
        self.checks += 1;
        if r.status == CheckStatus::Missed as i32 {
            self.missed += 1;
            return;
        }
        self.up += u64::from(r.status == CheckStatus::Up as i32);
        let ms =
            usize::try_from((r.started_at_ms - r.scheduled_at_ms).max(0)).unwrap_or(usize::MAX);
        let bucket = ms.min(self.late.len() - 1);
        self.late[bucket] += 1;
        if let Some(timeline) = self.timeline.as_mut() {
            let second = usize::try_from((r.scheduled_at_ms - self.start_ms) / 1000).unwrap_or(0);
            if timeline.len() <= second {
                timeline.resize(second + 1, (0, 0));
            }
            timeline[second].0 += 1;
            timeline[second].1 = timeline[second].1.max(ms as u64);
        }
    }

    pub(super) fn report(self, m: Measured) -> ScaleReport {
        for (second, (checks, worst_ms)) in self.timeline.iter().flatten().enumerate() {
            println!(
                "  {} monitors, second {second:>3}: {checks:>6} checks due, worst lateness {worst_ms} ms",
                m.monitors
            );
        }
        let ran: u64 = self.late.iter().sum();
        let quantile = |q: f64| {
            let target = ((ran as f64) * q).ceil() as u64;
            let mut seen = 0;
            for (ms, n) in self.late.iter().enumerate() {
                seen += n;
                if seen >= target.max(1) {
                    return ms as u64;
                }
            }
            0
        };
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        ScaleReport {
            monitors: m.monitors,
            checks: self.checks,
            up: self.up,
            missed: self.missed,
            checks_per_sec: self.checks as f64 / m.elapsed,
            lateness_p50_ms: quantile(0.50),
            lateness_p99_ms: quantile(0.99),
            lateness_max_ms: self.late.iter().rposition(|n| *n > 0).unwrap_or(0) as u64,
            rss_mib: m.rss_mib,
            peak_rss_mib: m.peak_rss_mib,
            cpu_us_per_check: if self.checks == 0 {
                0.0
            } else {
                m.cpu_us as f64 / self.checks as f64
            },
            schedule_secs: m.schedule_secs,
            others_percent: 100.0 * m.box_us.saturating_sub(m.cpu_us) as f64
                / (m.elapsed * 1e6 * cpus),
        }
    }
}
