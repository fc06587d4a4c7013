//! Real servers on 127.0.0.1 for the tests: an HTTP target whose status the test flips, one
//! answering a large JSON document, and a webhook receiver that records every request and answers with a chosen status.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{any, post};

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("test server");
    });
    addr
}

/// An HTTP target answering every request with the current status.
pub struct Target {
    pub addr: SocketAddr,
    state: Arc<TargetState>,
}

#[derive(Default)]
struct TargetState {
    status: AtomicU16,
    /// Requests answered with a status of 500 or above.
    failed: AtomicU64,
}

impl Target {
    pub async fn start(status: u16) -> Target {
        let state = Arc::new(TargetState::default());
        state.status.store(status, Ordering::SeqCst);
        let router = Router::new()
            .fallback(any(answer))
            .with_state(state.clone());
        Target {
            addr: serve(router).await,
            state,
        }
    }

    /// How many requests were answered with 5xx so far.
    pub fn failed_answers(&self) -> u64 {
        self.state.failed.load(Ordering::SeqCst)
    }

    pub fn url(&self) -> String {
        format!("http://{}/health", self.addr)
    }

    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }
}

async fn answer(State(state): State<Arc<TargetState>>) -> (StatusCode, &'static str) {
    let code = StatusCode::from_u16(state.status.load(Ordering::SeqCst))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if code.is_server_error() {
        state.failed.fetch_add(1, Ordering::SeqCst);
    }
    (code, "target\n")
}

/// An HTTP target answering every request with the same large, valid JSON document: a
/// string of `len` characters.
pub struct JsonTarget {
    pub addr: SocketAddr,
}

impl JsonTarget {
    pub async fn start(len: usize) -> JsonTarget {
        let body = Bytes::from(format!("\"{}\"", "y".repeat(len)));
        let router = Router::new().fallback(any(move || {
            let body = body.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, "application/json")],
                    body,
                )
            }
        }));
        JsonTarget {
            addr: serve(router).await,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/big.json", self.addr)
    }
}

/// One request received by a [`Receiver`].
#[derive(Clone, Debug)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("webhook body is JSON")
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

#[derive(Default)]
struct Inbox {
    received: Mutex<Vec<Received>>,
    status: AtomicU16,
}

/// A webhook receiver recording every POST to /hook.
pub struct Receiver {
    pub addr: SocketAddr,
    inbox: Arc<Inbox>,
}

impl Receiver {
    pub async fn start(status: u16) -> Receiver {
        let inbox = Arc::new(Inbox {
            received: Mutex::new(Vec::new()),
            status: AtomicU16::new(status),
        });
        let router = Router::new()
            .route("/hook", post(record))
            .with_state(inbox.clone());
        Receiver {
            addr: serve(router).await,
            inbox,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.inbox.received.lock().expect("inbox lock").clone()
    }

    /// Received requests whose JSON `context.notification_type` is `kind` (incident, recovery).
    pub fn of_type(&self, kind: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.json()["context"]["notification_type"] == kind)
            .collect()
    }

    pub fn set_status(&self, status: u16) {
        self.inbox.status.store(status, Ordering::SeqCst);
    }
}

async fn record(State(inbox): State<Arc<Inbox>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    inbox
        .received
        .lock()
        .expect("inbox lock")
        .push(Received { headers, body });
    StatusCode::from_u16(inbox.status.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK)
}

/// A TCP port on 127.0.0.1 that accepts every connection and closes it: the target of TCP
/// checks that stay UP.
pub async fn tcp_target() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            drop(conn);
        }
    });
    addr
}
