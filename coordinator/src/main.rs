//! `lookout-coordinator`: loads the YAML config (plus `LOOKOUT_*` overrides), opens the store,
//! makes sure the Kafka results topic exists and serves gRPC (and REST, with `rest_addr`)
//! until SIGTERM or Ctrl-C, then waits (with a bound) for the batches it accepted to be
//! published.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use lookout_bus::{KafkaPublisher, ensure_topic};
use lookout_coordinator::{CoordinatorConfig, RestServer, serve_with_rest};
use lookout_runtime::shutdown;
use lookout_store::{Keyring, Store};

/// Lookout coordinator: admin API, agent gateway and result publishing.
#[derive(Parser)]
#[command(name = "lookout-coordinator", version)]
struct Args {
    /// YAML configuration file; `LOOKOUT_*` environment variables override its fields.
    #[arg(long, env = "LOOKOUT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Benchmark: assign monitors in several regions to agents joining at once, then one
    /// leaving; prints each figure beside its goal.
    BenchAssign(lookout_coordinator::bench::AssignArgs),
    /// Benchmark: results from agent streams through the coordinator into the broker, as a
    /// ratio to a bare rdkafka producer against the same broker.
    BenchIngest(lookout_coordinator::bench::ingest::IngestArgs),
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = Args::parse();
    let bench = match args.command.take() {
        Some(Command::BenchAssign(bench)) => Some((
            "bench-assign",
            lookout_coordinator::bench::assign(bench).await,
        )),
        Some(Command::BenchIngest(bench)) => Some((
            "bench-ingest",
            lookout_coordinator::bench::ingest::ingest(bench).await,
        )),
        None => None,
    };
    if let Some((name, outcome)) = bench {
        return match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lookout-coordinator {name}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let outcome = match lookout_runtime::logging::init("info") {
        Ok(()) => run(args).await,
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            lookout_runtime::logging::fatal("lookout-coordinator", &message);
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let stop = shutdown::on_signal();
    let config = CoordinatorConfig::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    let keyring = Keyring::from_process(config.secret_key_file.as_deref())
        .map_err(|e| format!("secret key: {e}"))?;
    let store = Store::open(&config.store_url, keyring)
        .await
        .map_err(|e| format!("opening the store: {e}"))?;
    ensure_topic(&config.kafka)
        .await
        .map_err(|e| format!("creating topic {:?}: {e}", config.kafka.topic))?;
    let publisher =
        KafkaPublisher::new(&config.kafka).map_err(|e| format!("kafka producer: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.grpc_addr)
        .await
        .map_err(|e| format!("binding grpc_addr {}: {e}", config.grpc_addr))?;
    let rest = match config.rest_addr {
        Some(addr) => Some(RestServer::new(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("binding rest_addr {addr}: {e}"))?,
        )),
        None => None,
    };
    let served = serve_with_rest(
        config,
        store,
        Arc::new(publisher),
        listener,
        rest,
        stop.clone().cancelled_owned(),
    );
    shutdown::drain(served, &stop, shutdown::DRAIN_BOUND, "the coordinator")
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    tracing::info!("coordinator stopped");
    Ok(())
}
