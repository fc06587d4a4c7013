//! `lookout-agent bench-scale`: the real scheduler with N monitors at one interval against
//! local HTTP and TCP targets; prints checks/s, start lateness, missed runs, RSS and CPU per
//! check for each N.

use std::time::Duration;

use lookout_proto::{CheckStatus, Monitor};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, sleep_until};
use tokio_util::sync::CancellationToken;

use super::{BenchError, Target, bench_monitor, box_busy_us, memory_mib, process_cpu_us};
use crate::checks::Targets;
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
        "bench-scale: interval {} s, {} s per size, {}% http ({}) / tcp ({}), max_concurrency {}",
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
        let r = run_size(&args, size).await?;
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

async fn run_size(args: &ScaleArgs, size: usize) -> Result<ScaleReport, BenchError> {
    let monitors = (0..size)
        .map(|i| {
            let target = if i % 100 < args.http_percent {
                Target::Http(&args.http_url)
            } else {
                Target::Tcp(&args.tcp_addr)
            };
            bench_monitor(format!("bench-{size}-{i}"), target, args.interval_secs)
        })
        .collect::<Result<Vec<Monitor>, BenchError>>()?;
    let setup = Instant::now();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let origin = Origin {
        agent_id: "bench".into(),
        region: super::REGION.into(),
    };
    let (scheduler, task) = Scheduler::spawn(
        // Local HTTP and TCP targets: the bench measures the scheduler, not the target rule.
        SchedulerConfig::new(origin, args.max_concurrency, Targets::AnyAddress),
        tx,
        shutdown.clone(),
    );
    scheduler.apply(lookout_proto::v1::Assignment {
        version: 1,
        snapshot: true,
        upserts: monitors,
        removals: vec![],
    });
    while scheduler.active_monitors() < size {
        sleep(Duration::from_millis(10)).await;
    }
    let schedule_secs = setup.elapsed().as_secs_f64();
    let start_ms = crate::scheduler::Clock::system().now_ms();
    let start = Instant::now();
    let cpu0 = process_cpu_us();
    let box0 = box_busy_us();
    let end = start + Duration::from_secs(args.duration_secs);
    // lateness histogram in whole milliseconds; the last bucket holds everything later
    let mut late = vec![0u64; 10_001];
    let mut report = ScaleReport {
        monitors: size,
        ..ScaleReport::default()
    };
    let mut chunk = Vec::with_capacity(1024);
    let mut timeline: Vec<(u64, u64)> = Vec::new();
    loop {
        tokio::select! {
            () = sleep_until(end) => break,
            n = rx.recv_many(&mut chunk, 1024) => {
                if n == 0 {
                    break;
                }
                for r in chunk.drain(..) {
                    if r.scheduled_at_ms < start_ms {
                        continue;
                    }
                    report.checks += 1;
                    if r.status == CheckStatus::Missed as i32 {
                        report.missed += 1;
                        continue;
                    }
                    report.up += u64::from(r.status == CheckStatus::Up as i32);
                    let ms = usize::try_from((r.started_at_ms - r.scheduled_at_ms).max(0)).unwrap_or(usize::MAX);
                    let bucket = ms.min(late.len() - 1);
                    late[bucket] += 1;
                    if args.timeline {
                        let second = usize::try_from((r.scheduled_at_ms - start_ms) / 1000).unwrap_or(0);
                        if timeline.len() <= second {
                            timeline.resize(second + 1, (0u64, 0u64));
                        }
                        timeline[second].0 += 1;
                        timeline[second].1 = timeline[second].1.max(ms as u64);
                    }
                }
            }
        }
    }
    let cpu_us = process_cpu_us().saturating_sub(cpu0);
    let box_us = box_busy_us().saturating_sub(box0);
    for (second, (checks, worst_ms)) in timeline.iter().enumerate() {
        println!(
            "  {size} monitors, second {second:>3}: {checks:>6} checks due, worst lateness {worst_ms} ms"
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    (report.rss_mib, report.peak_rss_mib) = memory_mib();
    shutdown.cancel();
    drop(scheduler);
    while rx.recv().await.is_some() {}
    let _ = task.await;
    report.checks_per_sec = report.checks as f64 / elapsed;
    report.cpu_us_per_check = if report.checks == 0 {
        0.0
    } else {
        cpu_us as f64 / report.checks as f64
    };
    report.schedule_secs = schedule_secs;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    report.others_percent = 100.0 * box_us.saturating_sub(cpu_us) as f64 / (elapsed * 1e6 * cpus);
    let ran: u64 = late.iter().sum();
    let quantile = |q: f64| {
        let target = ((ran as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (ms, n) in late.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return ms as u64;
            }
        }
        0
    };
    report.lateness_p50_ms = quantile(0.50);
    report.lateness_p99_ms = quantile(0.99);
    report.lateness_max_ms = late.iter().rposition(|n| *n > 0).unwrap_or(0) as u64;
    Ok(report)
}
