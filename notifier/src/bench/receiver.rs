//! A local webhook receiver on 127.0.0.1:0 (axum) answering 200: counts requests and notes,
//! per monitor id in the native body, when its first request arrived.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use tokio_util::sync::CancellationToken;

use super::BenchError;

#[derive(Default)]
pub(super) struct Seen {
    pub requests: AtomicU64,
    /// Monitor id → arrival of its first request.
    pub arrivals: Mutex<HashMap<String, Instant>>,
}

pub(super) struct Receiver {
    /// Base URL; any path under it is accepted.
    pub url: String,
    pub seen: Arc<Seen>,
    stop: CancellationToken,
}

impl Receiver {
    pub async fn start() -> Result<Receiver, BenchError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| BenchError::setup("binding the receiver", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| BenchError::setup("receiver address", e))?;
        let seen = Arc::new(Seen::default());
        let app = Router::new()
            .route("/hook/{n}", post(hook))
            .with_state(seen.clone());
        let stop = CancellationToken::new();
        let until = stop.clone();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(until.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "bench receiver stopped");
            }
        });
        Ok(Receiver {
            url: format!("http://{addr}/hook"),
            seen,
            stop,
        })
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn hook(State(seen): State<Arc<Seen>>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    seen.requests.fetch_add(1, Ordering::AcqRel);
    let monitor = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["monitor"]["id"].as_str().map(str::to_string));
    if let Some(id) = monitor
        && let Ok(mut arrivals) = seen.arrivals.lock()
    {
        arrivals.entry(id).or_insert(at);
    }
    StatusCode::OK
}
