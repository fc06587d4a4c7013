//! `lookout-notifier`: the notifier as its own process, consuming `lookout.results` from Kafka
//! until SIGTERM or Ctrl-C, then finishing in-flight work with a bound.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lookout_bus::KafkaConsumer;
use lookout_notifier::NotifierConfig;
use lookout_runtime::shutdown;
use lookout_store::{Keyring, Store};

/// Lookout notifier: turns check results into incidents and signed webhooks.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// YAML config file; `LOOKOUT_*` environment variables override it.
    #[arg(long, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
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
