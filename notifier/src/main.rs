//! `lookout-notifier`: the notifier as its own process, consuming `lookout.results` from Kafka
//! until SIGTERM or Ctrl-C, then finishing in-flight work with a bound; or one of the
//! benchmarks (`lookout-notifier bench <name>`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout_bus::KafkaConsumer;
use lookout_notifier::{NotifierConfig, bench};
use lookout_runtime::shutdown;
use lookout_store::{Keyring, Store};

/// Lookout notifier: turns check results into incidents and signed webhooks.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// YAML config file; `LOOKOUT_*` environment variables override it.
    #[arg(long, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a benchmark and prints its figures and goals; exits 1 when a goal is missed, 2
    /// when it could not run (a broker failure is said to be one).
    #[command(subcommand)]
    Bench(bench::Bench),
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    if let Some(Command::Bench(b)) = args.command.take() {
        return run_bench(b).await;
    }
    let outcome = match lookout_runtime::logging::init("info") {
        Ok(()) => run(args).await,
        Err(e) => Err(e.into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            lookout_runtime::logging::fatal("lookout-notifier", &format!("{e:#}"));
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let stop = shutdown::on_signal();
    let config = NotifierConfig::load(args.config.as_deref())?;
    let keyring = Keyring::from_process(config.secret_key_file.as_deref()).context("secret key")?;
    let store = Store::open(&config.store_url, keyring)
        .await
        .context("opening the store")?;
    // The coordinator creates the topic too; whichever starts first does it, so a group
    // member never waits on a topic that does not exist yet.
    lookout_bus::ensure_topic(&config.kafka)
        .await
        .context("creating the results topic")?;
    let consumer = KafkaConsumer::new(&config.kafka).context("creating the kafka consumer")?;
    tracing::info!(topic = %config.kafka.topic, group = %config.kafka.group_id, "notifier starting");
    let ran = lookout_notifier::run(
        config,
        store,
        Box::new(consumer),
        None,
        stop.clone().cancelled_owned(),
    );
    shutdown::drain(ran, &stop, shutdown::DRAIN_BOUND, "the notifier").await??;
    tracing::info!("notifier stopped");
    Ok(())
}

async fn run_bench(b: bench::Bench) -> ExitCode {
    // Warnings only: the benchmarks open many incidents on purpose.
    if let Err(e) = lookout_runtime::logging::init("warn") {
        eprintln!("lookout-notifier bench: {e}");
        return ExitCode::from(2);
    }
    match bench::run(b).await {
        Ok(report) => {
            for line in &report.lines {
                println!("{line}");
            }
            if report.met {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("lookout-notifier bench: {e}");
            ExitCode::from(2)
        }
    }
}
