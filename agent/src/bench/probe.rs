//! `lookout-agent bench`: the batch contract of `probe_cost.sh`. At most PROBE_CHECKS checks
//! with PROBE_CONC in flight through the scheduler's executor (concurrency limit, timeout,
//! result building) and the real `HttpCheck`/`TcpCheck`, each on a fresh connection.

use std::sync::Arc;
use std::time::Duration;

use lookout_proto::CheckStatus;
use lookout_proto::validate::ValidMonitor;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{BenchError, Target, bench_monitor};
use crate::checks;
use crate::scheduler::{Clock, Executor, Job, Origin, Runnable};

/// The `PROBE_*` environment of the contract.
#[derive(Debug, Clone)]
pub struct ProbeEnv {
    pub kind: String,
    pub url: String,
    pub addr: String,
    pub checks: u64,
    pub concurrency: usize,
    pub duration: Duration,
    /// `LOOKOUT_CLOSE_WITH_RESET=true`: close with a reset, as an agent with `close_with_reset`.
    pub close: checks::Close,
}

impl ProbeEnv {
    pub fn from_env() -> Result<ProbeEnv, BenchError> {
        fn var(name: &'static str, default: &str) -> String {
            std::env::var(name).unwrap_or_else(|_| default.to_string())
        }
        fn number(name: &'static str, default: &str) -> Result<u64, BenchError> {
            var(name, default)
                .trim()
                .parse()
                .map_err(|e| BenchError::Env {
                    name,
                    reason: format!("not a number: {e}"),
                })
        }
        let kind = var("PROBE_KIND", "http");
        if kind != "http" && kind != "tcp" {
            return Err(BenchError::Env {
                name: "PROBE_KIND",
                reason: format!("{kind:?} is not http or tcp"),
            });
        }
        let concurrency = number("PROBE_CONC", "100")?;
        if concurrency == 0 {
            return Err(BenchError::Env {
                name: "PROBE_CONC",
                reason: "must be at least 1".into(),
            });
        }
        Ok(ProbeEnv {
            kind,
            url: var("PROBE_URL", "http://127.0.0.1:18080/"),
            addr: var("PROBE_ADDR", "127.0.0.1:18080"),
            checks: number("PROBE_CHECKS", "0")?,
            concurrency: usize::try_from(concurrency).unwrap_or(usize::MAX),
            duration: Duration::from_secs(number("PROBE_DURATION_S", "15")?),
            close: match var("LOOKOUT_CLOSE_WITH_RESET", "false").trim() {
                "true" | "1" => checks::Close::Reset,
                "false" | "0" | "" => checks::Close::Orderly,
                other => {
                    return Err(BenchError::Env {
                        name: "LOOKOUT_CLOSE_WITH_RESET",
                        reason: format!("{other:?} is not true or false"),
                    });
                }
            },
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeReport {
    pub done: u64,
    pub ok: u64,
}

/// Reads the environment, runs the batch and prints `checks=<done> ok=<succeeded>`.
pub async fn probe_batch_from_env() -> Result<(), BenchError> {
    let env = ProbeEnv::from_env()?;
    let report = probe_batch(&env).await?;
    println!("checks={} ok={}", report.done, report.ok);
    Ok(())
}

/// Runs the batch: keeps `concurrency` checks in flight until `checks` were started or
/// `duration` passed, then waits for the ones in flight.
pub async fn probe_batch(env: &ProbeEnv) -> Result<ProbeReport, BenchError> {
    let target = if env.kind == "tcp" {
        Target::Tcp(&env.addr)
    } else {
        Target::Http(&env.url)
    };
    let monitor = ValidMonitor::try_from(bench_monitor("bench".into(), target, 60)?)?;
    // The bench measures probe cost against local targets it was pointed at.
    let check = checks::build_valid(&monitor, checks::Targets::AnyAddress, env.close)?;
    let run = Arc::new(Runnable::new(&monitor, check));
    if env.checks == 0 {
        return Ok(ProbeReport { done: 0, ok: 0 });
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let clock = Clock::system();
    let origin = Origin {
        agent_id: "bench".into(),
        region: super::REGION.into(),
    };
    let executor = Executor::new(env.concurrency, clock, origin, tx, CancellationToken::new());
    let stop_at = Instant::now() + env.duration;
    // The window never closes during the run: every check gets its full timeout.
    let window_end_ms =
        clock.now_ms() + i64::try_from(env.duration.as_millis()).unwrap_or(i64::MAX / 2) + 60_000;
    let job = |due_ms| Job {
        run: Arc::clone(&run),
        due_ms,
        window_end_ms,
    };
    let mut started = 0u64;
    while started < env.checks.min(env.concurrency as u64) {
        executor.dispatch(job(clock.now_ms()));
        started += 1;
    }
    let mut report = ProbeReport { done: 0, ok: 0 };
    while report.done < started {
        let Some(result) = rx.recv().await else { break };
        report.done += 1;
        report.ok += u64::from(result.status == CheckStatus::Up as i32);
        if started < env.checks && Instant::now() < stop_at {
            executor.dispatch(job(clock.now_ms()));
            started += 1;
        }
    }
    Ok(report)
}
