//! The `lookout-agent` binary: runs the agent until SIGTERM/Ctrl-C (then sends its last
//! results, with a bound), or one of the benchmarks.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use lookout_agent::{AgentConfig, Secret, bench};
use lookout_runtime::shutdown;

/// Lookout agent: runs the checks the coordinator assigns and streams the results back.
#[derive(Parser)]
#[command(name = "lookout-agent", version)]
struct Cli {
    /// YAML configuration file; the flags and environment below override its fields.
    #[arg(long, env = "LOOKOUT_AGENT_CONFIG")]
    config: Option<PathBuf>,
    /// Coordinator agent-gateway URL.
    #[arg(long, env = "LOOKOUT_COORDINATOR_URL")]
    coordinator_url: Option<String>,
    /// Further coordinator replicas, comma-separated (`coordinator_urls`).
    #[arg(long, env = "LOOKOUT_COORDINATOR_URLS", value_delimiter = ',')]
    coordinator_urls: Option<Vec<String>>,
    /// PEM file with a private CA trusted for an https:// coordinator.
    #[arg(long, env = "LOOKOUT_COORDINATOR_CA_FILE")]
    coordinator_ca_file: Option<PathBuf>,
    /// PEM client certificate for a coordinator that requires one (mTLS).
    #[arg(long, env = "LOOKOUT_COORDINATOR_CLIENT_CERT_FILE")]
    coordinator_client_cert_file: Option<PathBuf>,
    /// PEM private key of the client certificate.
    #[arg(long, env = "LOOKOUT_COORDINATOR_CLIENT_KEY_FILE")]
    coordinator_client_key_file: Option<PathBuf>,
    #[arg(long, env = "LOOKOUT_AGENT_ID")]
    agent_id: Option<String>,
    #[arg(long, env = "LOOKOUT_REGION")]
    region: Option<String>,
    /// Agent token (prefer the environment variable: flags show up in `ps`).
    #[arg(long, env = "LOOKOUT_AGENT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Checks running at the same time, at most.
    #[arg(long, env = "LOOKOUT_AGENT_MAX_CONCURRENCY")]
    max_concurrency: Option<usize>,
    /// Let checks reach loopback, private and link-local addresses (off on cluster agents).
    #[arg(long, env = "LOOKOUT_ALLOW_PRIVATE_TARGETS")]
    allow_private_targets: Option<bool>,
    /// Close check connections with a reset, leaving no TIME_WAIT socket per check.
    #[arg(long, env = "LOOKOUT_CLOSE_WITH_RESET")]
    close_with_reset: Option<bool>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Probe-cost batch benchmark (../shared/peers/probe_cost.sh contract): reads PROBE_KIND,
    /// PROBE_URL, PROBE_ADDR, PROBE_CHECKS, PROBE_CONC, PROBE_DURATION_S; prints
    /// `checks=<done> ok=<succeeded>`.
    Bench,
    /// Scheduler scale benchmark: N monitors at a fixed interval against local targets.
    BenchScale(bench::ScaleArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    match cli.command {
        // On a worker thread, where the agent's own session and scheduler run.
        Some(Command::Bench) => runtime
            .block_on(on_worker(bench::probe_batch_from_env()))
            .map_err(Into::into),
        Some(Command::BenchScale(args)) => runtime
            .block_on(on_worker(bench::scale(args)))
            .map_err(Into::into),
        None => {
            lookout_runtime::logging::init("info")?;
            let ran = config(&cli).and_then(|config| {
                // The drain and the last sends each have their own bound; this one is for a
                // stuck stop.
                let bound = shutdown::DRAIN_BOUND.max(Duration::from_millis(
                    config.drain_timeout_ms + config.shutdown_timeout_ms + 5_000,
                ));
                runtime.block_on(async {
                    let stop = shutdown::on_signal();
                    let ran = lookout_agent::run(config, stop.clone().cancelled_owned());
                    shutdown::drain(ran, &stop, bound, "the agent")
                        .await?
                        .context("agent stopped")
                })
            });
            if let Err(e) = &ran {
                lookout_runtime::logging::fatal("lookout-agent", &format!("{e:#}"));
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Runs `work` as a task of the runtime rather than on the thread that blocks on it.
async fn on_worker<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(work).await {
        Ok(done) => done,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

fn config(cli: &Cli) -> anyhow::Result<AgentConfig> {
    let mut config = match &cli.config {
        Some(path) => AgentConfig::from_yaml_file(path)?,
        None => {
            let missing =
                |what: &str| anyhow::anyhow!("{what} is required (flag, environment or --config)");
            AgentConfig::new(
                cli.agent_id
                    .clone()
                    .ok_or_else(|| missing("--agent-id / LOOKOUT_AGENT_ID"))?,
                cli.region
                    .clone()
                    .ok_or_else(|| missing("--region / LOOKOUT_REGION"))?,
                Secret::new(
                    cli.token
                        .clone()
                        .ok_or_else(|| missing("--token / LOOKOUT_AGENT_TOKEN"))?,
                ),
            )
        }
    };
    if let Some(v) = &cli.coordinator_url {
        config.coordinator_url = v.clone();
    }
    if let Some(v) = &cli.coordinator_urls {
        config.coordinator_urls = v
            .iter()
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty())
            .collect();
    }
    if let Some(v) = &cli.coordinator_ca_file {
        config.coordinator_ca_file = Some(v.clone());
    }
    if let Some(v) = &cli.coordinator_client_cert_file {
        config.coordinator_client_cert_file = Some(v.clone());
    }
    if let Some(v) = &cli.coordinator_client_key_file {
        config.coordinator_client_key_file = Some(v.clone());
    }
    if let Some(v) = &cli.agent_id {
        config.agent_id = v.clone();
    }
    if let Some(v) = &cli.region {
        config.region = v.clone();
    }
    if let Some(v) = &cli.token {
        config.token = Secret::new(v.clone());
    }
    if let Some(v) = cli.max_concurrency {
        config.max_concurrency = v;
    }
    if let Some(v) = cli.close_with_reset {
        config.close_with_reset = v;
    }
    if let Some(v) = cli.allow_private_targets {
        config.allow_private_targets = v;
    }
    config.validate()?;
    Ok(config)
}
