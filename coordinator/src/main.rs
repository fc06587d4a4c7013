//! `lookout-coordinator`: loads the YAML config (plus `LOOKOUT_*` overrides), opens the store,
//! makes sure the Kafka results topic exists and serves until SIGTERM or Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use lookout_bus::{KafkaPublisher, ensure_topic};
use lookout_coordinator::{CoordinatorConfig, serve};
use lookout_store::Store;

/// Lookout coordinator: admin API, agent gateway and result publishing.
#[derive(Parser)]
#[command(name = "lookout-coordinator", version)]
struct Args {
    /// YAML configuration file; `LOOKOUT_*` environment variables override its fields.
    #[arg(long, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("lookout-coordinator: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = load_config(args.config.as_deref()).await?;
    let store = Store::open(&config.store_url)
        .await
        .map_err(|e| format!("opening store {}: {e}", config.store_url))?;
    ensure_topic(&config.kafka).await.map_err(|e| {
        format!(
            "creating topic {:?} on {}: {e}",
            config.kafka.topic, config.kafka.brokers
        )
    })?;
    let publisher =
        KafkaPublisher::new(&config.kafka).map_err(|e| format!("kafka producer: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|e| format!("binding grpc_addr {}: {e}", config.grpc_addr))?;
    serve(
        config,
        store,
        Arc::new(publisher),
        listener,
        shutdown_signal(),
    )
    .await
    .map_err(|e| e.to_string())
}

async fn load_config(path: Option<&std::path::Path>) -> Result<CoordinatorConfig, String> {
    let mut config = match path {
        Some(p) => {
            let text = tokio::fs::read_to_string(p)
                .await
                .map_err(|e| format!("reading config {}: {e}", p.display()))?;
            CoordinatorConfig::from_yaml(&text)
                .map_err(|e| format!("config {}: {e}", p.display()))?
        }
        None => CoordinatorConfig::from_yaml("{}").map_err(|e| e.to_string())?,
    };
    config
        .apply_env(|k| std::env::var(k).ok())
        .map_err(|e| format!("environment: {e}"))?;
    config
        .validate()
        .map_err(|e| format!("invalid config: {e}"))?;
    Ok(config)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
