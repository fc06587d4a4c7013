//! Local stand-ins for the services the presets speak to: an axum server on 127.0.0.1 that
//! records every request and answers as the service documents, refusing (with the reason)
//! a request whose shape the service would refuse. The checks per service are in
//! `services.rs`; events of every kind in `events.rs`. Shared with the notifier's preset
//! tests (`notifier/tests/presets.rs`).
#![allow(dead_code)] // each test target uses a different part

pub mod events;
pub mod html;
pub mod services;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Response};
use lookout_render::Request;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The status the stand-in answered.
    pub answered: u16,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the stand-in answers.
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type,
            body: body.into(),
        }
    }
}

type Service = dyn Fn(&Received) -> Reply + Send + Sync;

/// A running stand-in; stops when dropped.
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    log: Arc<Mutex<Vec<Received>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Receiver {
    pub async fn start(service: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Receiver {
        let service: Arc<Service> = Arc::new(service);
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = (service, log.clone());
        let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
            let (service, log) = state.clone();
            async move {
                let (parts, body) = req.into_parts();
                let body = axum::body::to_bytes(body, 2 << 20)
                    .await
                    .unwrap_or_default();
                let mut received = Received {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_string(),
                    query: parts.uri.query().map(str::to_string),
                    headers: parts.headers,
                    body: body.to_vec(),
                    answered: 0,
                };
                let reply = service(&received);
                received.answered = reply.status;
                log.lock().expect("no holder panicked").push(received);
                Response::builder()
                    .status(reply.status)
                    .header("content-type", reply.content_type)
                    .body(Body::from(reply.body))
                    .expect("a valid status and content type")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let base = format!("http://{}", listener.local_addr().expect("bound"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
                .expect("the stand-in serves");
        });
        Receiver {
            base,
            log,
            _stop: stop,
        }
    }

    /// Every request received so far.
    pub fn received(&self) -> Vec<Received> {
        self.log.lock().expect("no holder panicked").clone()
    }

    /// The requests it accepted (answered 2xx): a refused shape never counts.
    pub fn accepted(&self) -> Vec<Received> {
        let mut all = self.received();
        all.retain(|r| (200..300).contains(&r.answered));
        all
    }
}

/// Sends `req` as the notifier does and returns the status and body of the answer.
pub async fn send(req: &Request) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("a client");
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("an HTTP method");
    let mut r = client.request(method, &req.url).body(req.body.clone());
    for (n, v) in &req.headers {
        r = r.header(n, v);
    }
    let resp = r.send().await.expect("the local receiver answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}
