//! Test harness: a real coordinator on 127.0.0.1:0 with an in-memory store and an in-process
//! bus, admin and agent clients, and helpers that poll with deadlines.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use lookout_bus::{InProcBus, ResultPublisher};
use lookout_coordinator::{CoordinatorConfig, RestServer, serve_with_rest};
use lookout_proto::v1::agent_gateway_client::AgentGatewayClient;
use lookout_proto::v1::http_check::Auth;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::project_service_client::ProjectServiceClient;
use lookout_proto::v1::token_service_client::TokenServiceClient;
use lookout_proto::v1::{
    AgentMessage, Assignment, CoordinatorMessage, CreateProjectRequest, CreateTokenRequest,
    Heartbeat, Hello, HttpCheck, Monitor, agent_message::Msg, coordinator_message::Msg as Out,
    monitor::Check,
};
use lookout_store::Store;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::{Request, Status, Streaming};

pub const PROJECT_TOKEN: &str = "project-token-1";
pub const OPERATOR_TOKEN: &str = "operator-token-1";
pub const DEADLINE: Duration = Duration::from_secs(10);

pub struct Harness {
    pub addr: SocketAddr,
    /// The REST API's address, for a harness started with it.
    pub rest: Option<SocketAddr>,
    pub store: Store,
    pub bus: InProcBus,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

pub fn config(heartbeat_ms: u32) -> CoordinatorConfig {
    let yaml = format!(
        "regions: [eu, us]\nproject_tokens: [{PROJECT_TOKEN}]\n\
         operator_tokens: [{OPERATOR_TOKEN}]\n\
         agent_tokens:\n  a1: {{region: eu, token: tok-a1}}\n  a2: {{region: eu, token: tok-a2}}\n\
         \x20 a3: {{region: eu, token: tok-a3}}\n  u1: {{region: us, token: tok-u1}}\n\
         heartbeat_interval_ms: {heartbeat_ms}\n"
    );
    let c = CoordinatorConfig::from_yaml(&yaml).expect("test config parses");
    c.validate().expect("test config is valid");
    c
}

impl Harness {
    pub async fn start() -> Harness {
        Harness::start_with(1_000, None).await
    }

    /// Starts a coordinator; `publisher` replaces the in-process bus publisher when given.
    pub async fn start_with(
        heartbeat_ms: u32,
        publisher: Option<Arc<dyn ResultPublisher>>,
    ) -> Harness {
        let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("in-memory store");
        Harness::start_on(store, heartbeat_ms, publisher).await
    }

    /// Starts a coordinator with the REST API on another loopback port, on `store`.
    pub async fn start_rest_on(store: Store) -> Harness {
        let rest = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        Harness::start_inner(store, config(1_000), None, Some(rest)).await
    }

    /// Starts a coordinator with `cfg` and the REST API on `store`.
    #[allow(dead_code)]
    pub async fn start_rest_configured(store: Store, cfg: CoordinatorConfig) -> Harness {
        let rest = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        Harness::start_inner(store, cfg, None, Some(rest)).await
    }

    /// Starts a coordinator with `cfg` on a fresh in-memory store.
    pub async fn start_configured(cfg: CoordinatorConfig) -> Harness {
        let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("in-memory store");
        Harness::start_inner(store, cfg, None, None).await
    }

    /// Starts a coordinator on an existing store (for monitors seeded before start).
    pub async fn start_on(
        store: Store,
        heartbeat_ms: u32,
        publisher: Option<Arc<dyn ResultPublisher>>,
    ) -> Harness {
        Harness::start_inner(store, config(heartbeat_ms), publisher, None).await
    }

    async fn start_inner(
        store: Store,
        cfg: CoordinatorConfig,
        publisher: Option<Arc<dyn ResultPublisher>>,
        rest: Option<tokio::net::TcpListener>,
    ) -> Harness {
        let bus = InProcBus::new();
        let publisher = publisher.unwrap_or_else(|| Arc::new(bus.publisher()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let s = store.clone();
        let rest_addr = rest.as_ref().map(|l| l.local_addr().expect("local addr"));
        let rest = rest.map(RestServer::new);
        let server = tokio::spawn(async move {
            serve_with_rest(cfg, s, publisher, listener, rest, shutdown)
                .await
                .expect("coordinator serves");
        });
        Harness {
            addr,
            rest: rest_addr,
            store,
            bus,
            stop: Some(stop),
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://<rest addr><path>`.
    pub fn rest_url(&self, path: &str) -> String {
        let addr = self.rest.expect("started with the REST API");
        format!("http://{addr}{path}")
    }

    pub async fn admin(&self) -> Admin {
        self.admin_with(Some(PROJECT_TOKEN)).await
    }

    /// A connected channel for any admin service's client.
    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect admin")
    }

    pub async fn admin_with(&self, token: Option<&str>) -> Admin {
        let channel = Channel::from_shared(self.url())
            .expect("url")
            .connect()
            .await
            .expect("connect admin");
        Admin {
            client: MonitorServiceClient::new(channel),
            token: token.map(str::to_string),
        }
    }

    /// Stops the server and waits for it to finish, proving shutdown ends agent sessions.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(DEADLINE, &mut self.server)
            .await
            .expect("server stops in time")
            .expect("server task");
    }
}

/// `msg` with `authorization: Bearer <token>`.
pub fn bearer<T>(token: &str, msg: T) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    r
}

/// Admin client that adds the bearer token to every call.
pub struct Admin {
    pub client: MonitorServiceClient<Channel>,
    token: Option<String>,
}

impl Admin {
    pub fn req<T>(&self, msg: T) -> Request<T> {
        let mut r = Request::new(msg);
        if let Some(t) = &self.token {
            r.metadata_mut().insert(
                "authorization",
                format!("Bearer {t}").parse().expect("ascii token"),
            );
        }
        r
    }

    pub async fn create(&mut self, m: Monitor) -> Result<Monitor, Status> {
        let req = self.req(lookout_proto::v1::CreateMonitorRequest { monitor: Some(m) });
        Ok(self.client.create_monitor(req).await?.into_inner())
    }

    pub async fn delete(&mut self, id: &str) -> Result<(), Status> {
        let req = self.req(lookout_proto::v1::DeleteMonitorRequest { id: id.into() });
        self.client.delete_monitor(req).await.map(|_| ())
    }

    pub async fn pause(&mut self, id: &str, paused: bool) -> Result<Monitor, Status> {
        let req = self.req(lookout_proto::v1::PauseMonitorRequest {
            id: id.into(),
            paused,
        });
        Ok(self.client.pause_monitor(req).await?.into_inner())
    }
}

/// A project and one of its tokens, made through the API with the operator token.
pub struct Tenant {
    pub id: String,
    pub token: String,
}

pub async fn tenant(ch: &Channel, name: &str) -> Tenant {
    let mut projects = ProjectServiceClient::new(ch.clone());
    let p = projects
        .create_project(bearer(
            OPERATOR_TOKEN,
            CreateProjectRequest {
                name: name.into(),
                quotas: None,
            },
        ))
        .await
        .expect("create project")
        .into_inner();
    let mut tokens = TokenServiceClient::new(ch.clone());
    let t = tokens
        .create_token(bearer(
            OPERATOR_TOKEN,
            CreateTokenRequest {
                project_id: p.id.clone(),
                name: "test".into(),
            },
        ))
        .await
        .expect("create token")
        .into_inner();
    Tenant {
        id: p.id,
        token: t.secret,
    }
}

pub fn http_monitor(name: &str, regions: &[&str]) -> Monitor {
    Monitor {
        name: name.into(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        interval_secs: 30,
        check: Some(Check::Http(HttpCheck {
            url: "http://127.0.0.1:9/health".into(),
            auth: Some(Auth::BearerToken("hook-secret".into())),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A scripted agent: applies assignments to `assigned` as a real agent would.
pub struct TestAgent {
    pub id: String,
    pub tx: mpsc::Sender<AgentMessage>,
    pub rx: Streaming<CoordinatorMessage>,
    pub assigned: BTreeMap<String, Monitor>,
    pub version: u64,
    pub acks: Vec<u64>,
    heartbeats: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeats.take() {
            h.abort();
        }
    }
}

/// Opens a session and sends Hello; the first reply tells whether the coordinator accepted it.
pub async fn open_session(
    addr: SocketAddr,
    token: Option<&str>,
    hello: Hello,
) -> Result<(mpsc::Sender<AgentMessage>, Streaming<CoordinatorMessage>), Status> {
    let mut client = AgentGatewayClient::connect(format!("http://{addr}"))
        .await
        .expect("connect gateway");
    let (tx, rx) = mpsc::channel(16);
    tx.send(AgentMessage {
        msg: Some(Msg::Hello(hello)),
    })
    .await
    .expect("queue hello");
    let mut req = Request::new(ReceiverStream::new(rx));
    if let Some(t) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("ascii token"),
        );
    }
    let stream = client.session(req).await?.into_inner();
    Ok((tx, stream))
}

pub fn hello(id: &str, region: &str) -> Hello {
    Hello {
        agent_id: id.into(),
        region: region.into(),
        version: "test".into(),
        capacity: 1,
        last_assignment_version: 0,
        running: vec![],
    }
}

/// Receives one message within the deadline; `Err` is the status the stream ended with.
pub async fn recv(rx: &mut Streaming<CoordinatorMessage>) -> Result<Option<Out>, Status> {
    let msg = tokio::time::timeout(DEADLINE, rx.message())
        .await
        .expect("coordinator answers in time")?;
    Ok(msg.and_then(|m| m.msg))
}

impl TestAgent {
    /// Connects as agent `id` (token `tok-<id>`) and reads Welcome and the snapshot.
    /// With `heartbeat_every`, a task keeps the session alive.
    pub async fn connect(
        addr: SocketAddr,
        id: &str,
        region: &str,
        heartbeat_every: Option<Duration>,
    ) -> TestAgent {
        let (tx, mut rx) = open_session(addr, Some(&format!("tok-{id}")), hello(id, region))
            .await
            .expect("session opens");
        match recv(&mut rx).await.expect("welcome") {
            Some(Out::Welcome(w)) => assert!(w.heartbeat_interval_ms > 0),
            other => panic!("expected Welcome, got {other:?}"),
        }
        let heartbeats = heartbeat_every.map(|every| {
            let tx = tx.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let hb = AgentMessage {
                        msg: Some(Msg::Heartbeat(Heartbeat::default())),
                    };
                    if tx.send(hb).await.is_err() {
                        return;
                    }
                }
            })
        });
        let mut agent = TestAgent {
            id: id.into(),
            tx,
            rx,
            assigned: BTreeMap::new(),
            version: 0,
            acks: Vec::new(),
            heartbeats,
        };
        match agent.next().await.expect("snapshot") {
            Some(Out::Assignment(a)) => assert!(a.snapshot, "first assignment is a snapshot"),
            other => panic!("expected the assignment snapshot, got {other:?}"),
        }
        agent
    }

    fn apply(&mut self, a: Assignment) {
        assert!(
            a.version > self.version,
            "assignment versions increase: {} after {}",
            a.version,
            self.version
        );
        self.version = a.version;
        if a.snapshot {
            self.assigned.clear();
        }
        for id in a.removals {
            self.assigned.remove(&id);
        }
        for m in a.upserts {
            self.assigned.insert(m.id.clone(), m);
        }
    }

    /// Receives and applies one message; an assignment is reported applied at once, as a
    /// real agent reports it (moves towards this agent complete on that report).
    pub async fn next(&mut self) -> Result<Option<Out>, Status> {
        let msg = recv(&mut self.rx).await?;
        match &msg {
            Some(Out::Assignment(a)) => {
                self.apply(a.clone());
                let report = Heartbeat {
                    applied_assignment_version: a.version,
                    ..Heartbeat::default()
                };
                // A closed session is the test's to notice on its next receive.
                let _ = self
                    .tx
                    .send(AgentMessage {
                        msg: Some(Msg::Heartbeat(report)),
                    })
                    .await;
            }
            Some(Out::Ack(a)) => self.acks.push(a.seq),
            _ => {}
        }
        Ok(msg)
    }

    /// Applies messages until `done(self)` holds; fails at the deadline.
    pub async fn until(&mut self, what: &str, done: impl Fn(&TestAgent) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done(self) {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.next()).await {
                Err(_) => panic!(
                    "agent {}: timed out waiting until {what}; has {:?}",
                    self.id,
                    self.ids()
                ),
                Ok(Err(s)) => panic!(
                    "agent {}: stream ended with {s:?} waiting until {what}",
                    self.id
                ),
                Ok(Ok(None)) => panic!("agent {}: stream closed waiting until {what}", self.id),
                Ok(Ok(Some(_))) => {}
            }
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.assigned.keys().cloned().collect()
    }

    pub async fn send(&self, msg: Msg) {
        self.tx
            .send(AgentMessage { msg: Some(msg) })
            .await
            .expect("session is open");
    }
}

/// A REST API client with one token (or none).
pub struct Rest {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// One REST answer; `body` is `null` when empty. Every non-empty answer must be JSON.
pub struct Reply {
    pub status: u16,
    pub body: serde_json::Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Rest {
    pub fn new(h: &Harness, token: Option<&str>) -> Rest {
        Rest {
            client: reqwest::Client::new(),
            base: h.rest_url(""),
            token: token.map(str::to_string),
        }
    }

    /// `method path` with `body` (raw bytes, sent as JSON as curl -d with
    /// `Content-Type: application/json` would).
    pub async fn raw(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .timeout(DEADLINE);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.expect("the REST API answers");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                panic!(
                    "{status}: answer is not JSON ({e}): {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(&b).expect("json"));
        self.raw(method, path, bytes).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: serde_json::Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }
}

impl Reply {
    /// Asserts the status, showing the body when it differs.
    pub fn expect(self, status: u16) -> Reply {
        assert_eq!(self.status, status, "body: {}", self.body);
        self
    }

    /// Asserts a JSON error with `status`, `code` and (when given) `field`.
    pub fn expect_error(self, status: u16, code: &str, field: Option<&str>) -> Reply {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error"], code, "body: {}", self.body);
        let message = self.body["message"].as_str().unwrap_or_default();
        match field {
            Some(f) => {
                assert_eq!(self.body["field"], f, "body: {}", self.body);
                assert!(
                    message.starts_with(&format!("{f}: ")),
                    "message names the field: {message}"
                );
            }
            None => assert!(!message.is_empty(), "a message: {}", self.body),
        }
        self
    }
}
