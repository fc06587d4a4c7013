//! lookout-agent: receives its assignment from the coordinator over gRPC, runs the checks on
//! schedule and streams acknowledged result batches back.

pub mod backoff;
pub mod bench;
pub mod buffer;
pub mod checks;
pub mod config;
pub mod scheduler;
mod session;

use std::future::Future;

pub use config::{AgentConfig, ConfigError, Secret};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::checks::{Close, Targets};
use crate::scheduler::{Origin, Scheduler, SchedulerConfig};

/// Why the agent stopped other than by shutdown.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error("coordinator_url {url:?} is invalid: {reason}")]
    CoordinatorUrl { url: String, reason: String },
}

/// Runs the agent until `shutdown` completes: then, if connected, it drains (keeps checking
/// while the coordinator hands its monitors to the region's other agents, at most
/// `drain_timeout_ms`), stops scheduling, sends the buffered results and waits for their
/// acknowledgements (at most `shutdown_timeout_ms`) and returns `Ok`. A coordinator that
/// refuses the agent is retried every `refused_retry_secs`.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), AgentError> {
    config.validate()?;
    // Shutdown asked for, and (after the drain) the scheduler stopping.
    let stop = CancellationToken::new();
    let token = CancellationToken::new();
    let trigger = stop.clone();
    let watcher = tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let origin = Origin {
        agent_id: config.agent_id.clone(),
        region: config.region.clone(),
    };
    let (scheduler, driver) = Scheduler::spawn(
        SchedulerConfig::new(
            origin,
            config.max_concurrency,
            Targets::allowing_private(config.allow_private_targets),
            Close::resetting(config.close_with_reset),
        ),
        results_tx,
        token.clone(),
    );
    info!(
        agent_id = %config.agent_id,
        region = %config.region,
        coordinators = ?config.coordinator_addresses(),
        max_concurrency = config.max_concurrency,
        "agent starting"
    );
    // On a worker thread like the scheduler, not on the caller's (`block_on`) thread: every
    // result then reaches the session without waking another thread.
    let session_config = config.clone();
    let halt = token.clone();
    let session = tokio::spawn(async move {
        session::run(&session_config, scheduler, results_rx, stop, halt).await
    });
    let outcome = match session.await {
        Ok(outcome) => outcome,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Cancelled: the runtime itself is shutting down.
        Err(_) => Ok(()),
    };
    token.cancel();
    watcher.abort();
    // The driver only ends by the token; an error here is a panic inside it, already logged.
    let _ = driver.await;
    info!(agent_id = %config.agent_id, ok = outcome.is_ok(), "agent stopped");
    outcome
}
