//! Shutdown for every binary: SIGTERM or Ctrl-C cancels a token that the libraries watch,
//! and the binary then waits, with a bound, for their in-flight work to finish.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// How long a binary waits for in-flight work after the signal: under Kubernetes' default
/// 30 s grace period, so the process exits on its own before it is killed.
pub const DRAIN_BOUND: Duration = Duration::from_secs(25);

/// Work that did not finish within the bound after the shutdown signal.
#[derive(Debug, thiserror::Error)]
#[error("{what} did not finish within {} s of the shutdown signal", .bound.as_secs())]
pub struct DrainTimeout {
    pub what: String,
    pub bound: Duration,
}

/// Resolves on the first SIGTERM or Ctrl-C and returns its name. Where a handler cannot be
/// installed, the other one still works.
pub async fn signal() -> &'static str {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                "SIGTERM"
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<&'static str>();
    tokio::select! {
        name = ctrl_c => name,
        name = term => name,
    }
}

/// A token cancelled on the first SIGTERM or Ctrl-C, which is logged. Call it inside the
/// runtime, before anything slow, so an early signal is not missed.
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let name = signal().await;
        tracing::info!(signal = name, "shutting down: finishing in-flight work");
        trigger.cancel();
    });
    token
}

/// Runs `work` to its end, but once `stop` is cancelled gives it at most `bound` more.
pub async fn drain<T>(
    work: impl Future<Output = T>,
    stop: &CancellationToken,
    bound: Duration,
    what: &str,
) -> Result<T, DrainTimeout> {
    tokio::pin!(work);
    tokio::select! {
        out = &mut work => return Ok(out),
        () = stop.cancelled() => {}
    }
    tokio::time::timeout(bound, work)
        .await
        .map_err(|_| DrainTimeout {
            what: what.to_string(),
            bound,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn drain_waits_for_the_work_then_gives_up() {
        let stop = CancellationToken::new();
        let quick = drain(async { 7 }, &stop, DRAIN_BOUND, "quick").await;
        assert_eq!(quick.expect("finished before any signal"), 7);

        stop.cancel();
        let slow_but_in_time = drain(
            tokio::time::sleep(Duration::from_secs(3)),
            &stop,
            Duration::from_secs(5),
            "in time",
        )
        .await;
        assert!(slow_but_in_time.is_ok());

        let stuck = drain(
            std::future::pending::<()>(),
            &stop,
            Duration::from_secs(5),
            "the agent",
        )
        .await
        .expect_err("gives up");
        assert_eq!(
            stuck.to_string(),
            "the agent did not finish within 5 s of the shutdown signal"
        );
    }
}
