//! A scripted AgentGateway on 127.0.0.1 for the session tests, a TCP target, and helpers.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_agent::{AgentConfig, Secret};
use lookout_proto::v1::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use lookout_proto::v1::{
    AgentMessage, Assignment, CoordinatorMessage, Drained, Hello, Monitor, ResultAck, ResultBatch,
    TcpCheck, Welcome, agent_message, coordinator_message, monitor,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};

pub const TOKEN: &str = "agent-token-1";

/// What one gateway saw.
#[derive(Default)]
pub struct Seen {
    pub hellos: Vec<Hello>,
    pub batches: Vec<ResultBatch>,
    pub heartbeats: usize,
    /// Drains asked for (each answered Drained after `drained_delay_ms`).
    pub drains: usize,
    pub authorization: Vec<String>,
}

pub struct Gateway {
    pub assignment: Assignment,
    pub ack: Arc<AtomicBool>,
    /// Acknowledgements go out this many milliseconds after their batch arrived.
    pub ack_delay_ms: Arc<AtomicU64>,
    /// Drained goes out this many milliseconds after the Drain (the hand-over, elsewhere).
    pub drained_delay_ms: Arc<AtomicU64>,
    /// The bearer token accepted (`TOKEN` unless a test rotates it).
    pub token: Arc<Mutex<String>>,
    /// The leadership term its Welcome and assignments carry.
    pub epoch: Arc<AtomicU64>,
    /// Set: a replica that does not lead, refusing sessions and naming this URL as the
    /// leader (empty: none known).
    pub not_leading: Arc<Mutex<Option<String>>>,
    pub seen: Arc<Mutex<Seen>>,
    pub stop: CancellationToken,
}

#[tonic::async_trait]
impl AgentGateway for Gateway {
    type SessionStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn session(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let auth = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.seen
            .lock()
            .expect("lock")
            .authorization
            .push(auth.clone());
        let accepted = self.token.lock().expect("lock").clone();
        if auth != format!("Bearer {accepted}") {
            return Err(Status::unauthenticated("unknown agent token"));
        }
        if let Some(leader) = self.not_leading.lock().expect("lock").clone() {
            let mut status = Status::unavailable("this coordinator replica does not lead");
            status.metadata_mut().insert(
                lookout_proto::LEADER_METADATA,
                leader.parse().expect("ascii URL"),
            );
            return Err(status);
        }
        let epoch = self.epoch.load(Ordering::SeqCst);
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let (seen, ack, stop, assignment) = (
            Arc::clone(&self.seen),
            Arc::clone(&self.ack),
            self.stop.clone(),
            Assignment {
                leader_epoch: epoch,
                ..self.assignment.clone()
            },
        );
        let ack_delay = Arc::clone(&self.ack_delay_ms);
        let drained_delay = Arc::clone(&self.drained_delay_ms);
        tokio::spawn(async move {
            let send = |msg| CoordinatorMessage { msg: Some(msg) };
            let Ok(Some(AgentMessage {
                msg: Some(agent_message::Msg::Hello(hello)),
            })) = inbound.message().await
            else {
                return;
            };
            seen.lock().expect("lock").hellos.push(hello);
            let _ = tx
                .send(Ok(send(coordinator_message::Msg::Welcome(Welcome {
                    heartbeat_interval_ms: 200,
                    leader_epoch: epoch,
                }))))
                .await;
            let _ = tx
                .send(Ok(send(coordinator_message::Msg::Assignment(assignment))))
                .await;
            loop {
                let msg = tokio::select! {
                    () = stop.cancelled() => return,
                    msg = inbound.message() => msg,
                };
                match msg {
                    Ok(Some(AgentMessage {
                        msg: Some(agent_message::Msg::Results(batch)),
                    })) => {
                        let seq = batch.seq;
                        seen.lock().expect("lock").batches.push(batch);
                        if ack.load(Ordering::SeqCst) {
                            let delay = Duration::from_millis(ack_delay.load(Ordering::SeqCst));
                            let tx = tx.clone();
                            tokio::spawn(async move {
                                sleep(delay).await;
                                let ack = send(coordinator_message::Msg::Ack(ResultAck { seq }));
                                let _ = tx.send(Ok(ack)).await;
                            });
                        }
                    }
                    Ok(Some(AgentMessage {
                        msg: Some(agent_message::Msg::Heartbeat(_)),
                    })) => {
                        seen.lock().expect("lock").heartbeats += 1;
                    }
                    Ok(Some(AgentMessage {
                        msg: Some(agent_message::Msg::Drain(_)),
                    })) => {
                        seen.lock().expect("lock").drains += 1;
                        let delay = Duration::from_millis(drained_delay.load(Ordering::SeqCst));
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            sleep(delay).await;
                            let drained = Drained {
                                moved: 1,
                                handed_over: true,
                            };
                            let _ = tx
                                .send(Ok(send(coordinator_message::Msg::Drained(drained))))
                                .await;
                        });
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

pub struct Server {
    pub seen: Arc<Mutex<Seen>>,
    pub ack: Arc<AtomicBool>,
    pub ack_delay_ms: Arc<AtomicU64>,
    pub drained_delay_ms: Arc<AtomicU64>,
    pub token: Arc<Mutex<String>>,
    pub epoch: Arc<AtomicU64>,
    pub not_leading: Arc<Mutex<Option<String>>>,
    pub stop: CancellationToken,
    pub task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("gateway stops in time")
            .expect("gateway task")
            .expect("gateway serve");
    }
}

pub fn serve(listener: TcpListener, assignment: Assignment) -> Server {
    serve_with(listener, assignment, None)
}

/// Like `serve`, over TLS with `identity` (certificate and key PEM).
pub fn serve_tls(listener: TcpListener, assignment: Assignment, identity: Identity) -> Server {
    serve_with(
        listener,
        assignment,
        Some(ServerTlsConfig::new().identity(identity)),
    )
}

fn serve_with(
    listener: TcpListener,
    assignment: Assignment,
    tls: Option<ServerTlsConfig>,
) -> Server {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let ack = Arc::new(AtomicBool::new(true));
    let ack_delay_ms = Arc::new(AtomicU64::new(0));
    let drained_delay_ms = Arc::new(AtomicU64::new(0));
    let token = Arc::new(Mutex::new(TOKEN.to_string()));
    let epoch = Arc::new(AtomicU64::new(0));
    let not_leading = Arc::new(Mutex::new(None));
    let stop = CancellationToken::new();
    let gateway = Gateway {
        assignment,
        ack: Arc::clone(&ack),
        ack_delay_ms: Arc::clone(&ack_delay_ms),
        drained_delay_ms: Arc::clone(&drained_delay_ms),
        token: Arc::clone(&token),
        epoch: Arc::clone(&epoch),
        not_leading: Arc::clone(&not_leading),
        seen: Arc::clone(&seen),
        stop: stop.clone(),
    };
    let shutdown = stop.clone();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).expect("server TLS config");
    }
    let task = tokio::spawn(
        builder
            .add_service(AgentGatewayServer::new(gateway))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown.cancelled_owned(),
            ),
    );
    Server {
        seen,
        ack,
        ack_delay_ms,
        drained_delay_ms,
        token,
        epoch,
        not_leading,
        stop,
        task,
    }
}

/// Accepts TCP connections and closes them: the target of the assigned TCP check.
pub async fn tcp_target() -> SocketAddr {
    counted_tcp_target().await.0
}

/// Like `tcp_target`, also counting the connections (one per check run).
pub async fn counted_tcp_target() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind target");
    let addr = listener.local_addr().expect("target addr");
    let count = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (addr, count)
}

pub fn assignment(target: SocketAddr) -> Assignment {
    let monitor = Monitor {
        id: "mon_tcp".into(),
        name: "tcp target".into(),
        regions: vec!["eu".into()],
        interval_secs: 1,
        timeout_ms: 1_000,
        version: 3,
        check: Some(monitor::Check::Tcp(TcpCheck {
            address: target.to_string(),
            ..Default::default()
        })),
        ..Default::default()
    };
    Assignment {
        version: 7,
        snapshot: true,
        upserts: vec![monitor],
        removals: vec![],
        leader_epoch: 0,
    }
}

pub fn config(addr: SocketAddr, token: &str) -> AgentConfig {
    let mut c = AgentConfig::new("agent-eu-1", "eu", Secret::new(token));
    c.coordinator_url = format!("http://{addr}");
    c.batch_max = 2;
    c.batch_linger_ms = 100;
    // The test targets listen on loopback.
    c.allow_private_targets = true;
    c
}

/// Polls `cond` until it holds or `secs` pass.
pub async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

pub fn epoch_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}

pub fn result_ids(batches: &[ResultBatch]) -> HashSet<String> {
    batches
        .iter()
        .flat_map(|b| b.results.iter().map(|r| r.id.clone()))
        .collect()
}
