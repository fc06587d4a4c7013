//! Benchmarks that print their figures and goals (`lookout-notifier bench <name>`): result
//! processing per core, consumption against a bare Kafka consumer, alert latency under
//! load, and signed deliveries per second. Each returns a [`Report`]; a missed goal makes the
//! command exit non-zero, and a broker that fails is reported as such, not as a figure.

mod broker;
mod consume;
mod deliveries;
mod feed;
mod latency;
mod processing;
mod receiver;

use std::fmt;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{HttpCheck, Integration, SignatureMode, WebhookIntegration, monitor};
use lookout_proto::{CheckResult, CheckStatus, Monitor};
use lookout_store::{Keyring, Store, StoreError};

pub use consume::ConsumeArgs;
pub use deliveries::DeliveriesArgs;
pub use latency::LatencyArgs;
pub use processing::ProcessingArgs;

/// The benchmarks.
#[derive(Debug, Subcommand)]
pub enum Bench {
    /// Results per second per core through decoding, the incident engine and batching
    /// (in-process bus, SQLite store, every monitor healthy). Goal >= 200,000.
    Processing(ProcessingArgs),
    /// The notifier's consume rate from a real broker as a ratio to a bare rdkafka consumer
    /// reading the same topic in the same run. Goal >= 0.8.
    Consume(ConsumeArgs),
    /// Alert latency from a failing result produced to Kafka to the webhook request, under
    /// healthy background load. Goal p50 <= 20 ms, p99 <= 100 ms.
    Latency(LatencyArgs),
    /// Signed webhook deliveries per second drained from the outbox. Goal >= 5,000.
    Deliveries(DeliveriesArgs),
}

/// Where the broker comes from, for the benchmarks that need one.
#[derive(Debug, Clone, Args)]
pub struct BrokerArgs {
    /// Use this running broker (`host:port`) instead of starting a fresh tansu.
    #[arg(long, env = "LOOKOUT_TEST_KAFKA")]
    pub kafka: Option<String>,
    /// The tansu binary (built with the libsql engine) started per run when `--kafka` is
    /// not given.
    #[arg(long, env = "LOOKOUT_TANSU", default_value_os_t = default_tansu())]
    pub tansu: PathBuf,
}

fn default_tansu() -> PathBuf {
    let home = std::env::var_os("HOME").unwrap_or_default();
    PathBuf::from(home).join(".cache/tansu-0.6.0/bin/tansu")
}

/// Why a benchmark produced no figure.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The broker crashed, hung or refused: a fact about the broker, not about Lookout.
    #[error("broker failure: {0}")]
    Broker(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Setup(String),
}

impl BenchError {
    fn setup(what: &str, e: impl fmt::Display) -> BenchError {
        BenchError::Setup(format!("{what}: {e}"))
    }
}

/// The outcome of one benchmark: its figures, printed, and whether every goal held.
#[derive(Debug, Default)]
pub struct Report {
    pub lines: Vec<String>,
    pub met: bool,
}

impl Report {
    fn new() -> Report {
        Report {
            lines: Vec::new(),
            met: true,
        }
    }

    fn info(&mut self, line: String) {
        self.lines.push(line);
    }

    /// One figure against its goal: `name: value unit (goal op bound) ok|MISSED`.
    fn goal(&mut self, name: &str, value: f64, unit: &str, op: Goal, bound: f64) {
        let ok = match op {
            Goal::AtLeast => value >= bound,
            Goal::AtMost => value <= bound,
        };
        self.met &= ok;
        let sign = match op {
            Goal::AtLeast => ">=",
            Goal::AtMost => "<=",
        };
        let verdict = if ok { "ok" } else { "MISSED" };
        self.lines.push(format!(
            "{name}: {} {unit} (goal {sign} {}) {verdict}",
            figure(value),
            figure(bound)
        ));
    }
}

#[derive(Debug, Clone, Copy)]
enum Goal {
    AtLeast,
    AtMost,
}

/// A figure with thousands separators above 100, two decimals below.
fn figure(v: f64) -> String {
    if v.abs() < 100.0 {
        return format!("{v:.2}");
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}

pub async fn run(bench: Bench) -> Result<Report, BenchError> {
    let mut report = match bench {
        Bench::Processing(a) => processing::run(a).await?,
        Bench::Consume(a) => consume::run(a).await?,
        Bench::Latency(a) => latency::run(a).await?,
        Bench::Deliveries(a) => deliveries::run(a).await?,
    };
    report.info(format!("load average at the end: {}", load_average()));
    Ok(report)
}

/// A fresh SQLite store in `dir` with a generated key.
async fn sqlite_store(dir: &std::path::Path) -> Result<Store, BenchError> {
    let keyring = Keyring::generate("bench").map_err(|e| BenchError::setup("key", e))?;
    let url = format!("sqlite://{}", dir.join("bench.db").display());
    Ok(Store::open(&url, keyring).await?)
}

/// A webhook integration `id` posting the native body to `url`, signed with a secret.
async fn webhook(store: &Store, id: &str, url: &str) -> Result<Integration, BenchError> {
    let i = Integration {
        id: id.into(),
        name: format!("bench {id}"),
        rate_limit_per_minute: lookout_render::validate::MAX_RATE_LIMIT_PER_MINUTE,
        kind: Some(Kind::Webhook(WebhookIntegration {
            url: url.into(),
            method: "POST".into(),
            secret: "bench-secret".into(),
            signature: SignatureMode::Lookout as i32,
            ..Default::default()
        })),
        ..Default::default()
    };
    Ok(store
        .insert_integration_in_project(lookout_store::projects::DEFAULT_PROJECT_ID, "webhook", i)
        .await?)
}

/// `count` HTTP monitors `mon_<prefix><i>` in `regions` notifying `integration`.
async fn monitors(
    store: &Store,
    prefix: &str,
    count: usize,
    regions: &[String],
    failure_threshold: u32,
    integration: &str,
) -> Result<Vec<String>, BenchError> {
    let mut ids = Vec::with_capacity(count);
    for i in 0..count {
        let m = Monitor {
            id: format!("mon_{prefix}{i}"),
            name: format!("bench {prefix}{i}"),
            regions: regions.to_vec(),
            interval_secs: 30,
            timeout_ms: 5_000,
            failure_threshold,
            success_threshold: 1,
            region_quorum: 1,
            integration_ids: vec![integration.to_string()],
            check: Some(monitor::Check::Http(HttpCheck {
                url: "https://api.example.com/health".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        ids.push(store.insert_monitor(m).await?.id);
    }
    Ok(ids)
}

/// A result of `monitor_id` in `region`, due at `scheduled_at_ms`.
fn result(
    monitor_id: &str,
    region: &str,
    status: CheckStatus,
    scheduled_at_ms: i64,
) -> CheckResult {
    let down = status == CheckStatus::Down;
    CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: monitor_id.into(),
        monitor_version: 1,
        region: region.into(),
        agent_id: format!("agent-{region}"),
        status: status as i32,
        scheduled_at_ms,
        started_at_ms: scheduled_at_ms,
        duration_us: if down { 5_000_000 } else { 245_000 },
        status_code: (!down).then_some(200),
        error_message: if down {
            "connection refused".into()
        } else {
            String::new()
        },
        check_kind: "http".into(),
        ..Default::default()
    }
}

fn regions(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("region-{i}")).collect()
}

/// Notifier settings for a bench: local receivers allowed, offsets under `group`.
fn notifier_config(group: &str) -> crate::NotifierConfig {
    let mut c = crate::NotifierConfig::default();
    c.kafka.group_id = group.into();
    c.delivery.allow_private_destinations = true;
    c.delivery.timeout_ms = 10_000;
    c
}

/// User plus system CPU time of this process so far, in seconds (`/proc/self/stat`, what
/// `getrusage(RUSAGE_SELF)` reports, in clock ticks).
fn process_cpu_secs() -> f64 {
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .map_or(0.0, |ticks| ticks as f64 / 100.0)
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg says.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}
