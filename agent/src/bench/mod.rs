//! Benchmarks that print figures: the probe-cost batch contract of `probe_cost.sh`
//! (`lookout-agent bench`) and the scheduler at scale (`lookout-agent bench-scale`).

mod gateway;
mod probe;
mod scale;

pub use probe::{ProbeEnv, ProbeReport, probe_batch, probe_batch_from_env};
pub use scale::{ScaleArgs, ScaleReport, scale};

use lookout_proto::Monitor;
use lookout_proto::v1::{HttpCheck, TcpCheck, monitor};

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("environment variable {name}: {reason}")]
    Env { name: &'static str, reason: String },
    #[error("benchmark monitor is invalid: {0}")]
    Monitor(#[from] lookout_proto::validate::FieldError),
    #[error(transparent)]
    Build(#[from] crate::checks::BuildError),
    #[error("{what}: {source}")]
    Io {
        what: &'static str,
        source: std::io::Error,
    },
    #[error("gateway benchmark: {0}")]
    Gateway(String),
    #[error("an encoded assignment part does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
}

const REGION: &str = "bench";

/// A validated monitor (defaults filled exactly as the coordinator would) for a target.
fn bench_monitor(
    id: String,
    target: Target<'_>,
    interval_secs: u32,
) -> Result<Monitor, BenchError> {
    let check = match target {
        Target::Http(url) => monitor::Check::Http(HttpCheck {
            url: url.to_string(),
            ..Default::default()
        }),
        Target::Tcp(address) => monitor::Check::Tcp(TcpCheck {
            address: address.to_string(),
            ..Default::default()
        }),
    };
    let m = Monitor {
        id: id.clone(),
        name: id,
        regions: vec![REGION.to_string()],
        interval_secs,
        // At most the interval, as validation requires.
        timeout_ms: interval_secs.saturating_mul(1000).min(5_000),
        version: 1,
        check: Some(check),
        ..Default::default()
    };
    Ok(lookout_proto::validate::monitor(m, &[REGION.to_string()])?)
}

#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Http(&'a str),
    Tcp(&'a str),
}

/// On-CPU time in microseconds of a whole process (`"self"` or a pid): all its live threads,
/// ns-precise schedstat; the coarser tick-based `/proc/<pid>/stat` when schedstat is
/// unavailable.
fn process_cpu_us(pid: &str) -> u64 {
    let mut total_ns = 0u64;
    let mut found = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let path = task.path().join("schedstat");
            if let Some(ns) = std::fs::read_to_string(path).ok().and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|f| f.parse::<u64>().ok())
            }) {
                total_ns += ns;
                found = true;
            }
        }
    }
    if found {
        return total_ns / 1000;
    }
    // utime + stime in clock ticks (USER_HZ, 100 on Linux).
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .map_or(0, |ticks| ticks * 10_000)
}

/// Busy time of all CPUs in microseconds (user, nice, system, irq, softirq) from /proc/stat.
fn box_busy_us() -> u64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| {
            let line = s.lines().next()?;
            let f: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            Some(f.first()? + f.get(1)? + f.get(2)? + f.get(5)? + f.get(6)?)
        })
        .map_or(0, |ticks| ticks * 10_000)
}
