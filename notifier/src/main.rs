//! `lookout-notifier`: the notifier as its own process, consuming `lookout.results` from Kafka.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use lookout_bus::KafkaConsumer;
use lookout_notifier::NotifierConfig;
use lookout_store::Store;
use tracing_subscriber::EnvFilter;

/// Lookout notifier: turns check results into incidents and signed webhooks.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// YAML config file; `LOOKOUT_*` environment variables override it.
    #[arg(long, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut config = match &args.config {
        Some(path) => {
            let text = tokio::fs::read_to_string(path)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            NotifierConfig::from_yaml(&text).with_context(|| format!("in {}", path.display()))?
        }
        None => NotifierConfig::default(),
    };
    config
        .apply_env(|k| std::env::var(k).ok())
        .context("in the environment")?;
    let store = Store::open(&config.store_url)
        .await
        .context("opening the store")?;
    // The coordinator creates the topic too; whichever starts first does it, so a group
    // member never waits on a topic that does not exist yet.
    lookout_bus::ensure_topic(&config.kafka)
        .await
        .context("creating the results topic")?;
    let consumer = KafkaConsumer::new(&config.kafka).context("creating the kafka consumer")?;
    tracing::info!(topic = %config.kafka.topic, group = %config.kafka.group_id, "notifier starting");
    lookout_notifier::run(config, store, Box::new(consumer), None, shutdown_signal()).await?;
    tracing::info!("notifier stopped");
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                () = ctrl_c => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            ctrl_c.await;
        }
    }
}
