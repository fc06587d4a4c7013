//! The agent against a real tonic AgentGateway on 127.0.0.1: assignment in, TCP checks run
//! against a local listener, batches out and acked; a coordinator restart with unacked
//! batches gets them again; a wrong token stops the agent with an error.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_agent::{AgentConfig, AgentError, Secret};
use lookout_proto::CheckStatus;
use lookout_proto::v1::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use lookout_proto::v1::{
    AgentMessage, Assignment, CoordinatorMessage, Hello, Monitor, ResultAck, ResultBatch, TcpCheck,
    Welcome, agent_message, coordinator_message, monitor,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

const TOKEN: &str = "agent-token-1";

/// What one gateway saw.
#[derive(Default)]
struct Seen {
    hellos: Vec<Hello>,
    batches: Vec<ResultBatch>,
    heartbeats: usize,
    authorization: Vec<String>,
}

struct Gateway {
    assignment: Assignment,
    ack: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
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
        if auth != format!("Bearer {TOKEN}") {
            return Err(Status::unauthenticated("unknown agent token"));
        }
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let (seen, ack, stop, assignment) = (
            Arc::clone(&self.seen),
            Arc::clone(&self.ack),
            self.stop.clone(),
            self.assignment.clone(),
        );
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
                            let _ = tx
                                .send(Ok(send(coordinator_message::Msg::Ack(ResultAck { seq }))))
                                .await;
                        }
                    }
                    Ok(Some(AgentMessage {
                        msg: Some(agent_message::Msg::Heartbeat(_)),
                    })) => {
                        seen.lock().expect("lock").heartbeats += 1;
                    }
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

struct Server {
    seen: Arc<Mutex<Seen>>,
    ack: Arc<AtomicBool>,
    stop: CancellationToken,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Server {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("gateway stops in time")
            .expect("gateway task")
            .expect("gateway serve");
    }
}

fn serve(listener: TcpListener, assignment: Assignment) -> Server {
    let seen = Arc::new(Mutex::new(Seen::default()));
    let ack = Arc::new(AtomicBool::new(true));
    let stop = CancellationToken::new();
    let gateway = Gateway {
        assignment,
        ack: Arc::clone(&ack),
        seen: Arc::clone(&seen),
        stop: stop.clone(),
    };
    let shutdown = stop.clone();
    let task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(AgentGatewayServer::new(gateway))
            .serve_with_incoming_shutdown(
                TcpListenerStream::new(listener),
                shutdown.cancelled_owned(),
            ),
    );
    Server {
        seen,
        ack,
        stop,
        task,
    }
}

/// Accepts TCP connections and closes them: the target of the assigned TCP check.
async fn tcp_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind target");
    let addr = listener.local_addr().expect("target addr");
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            drop(socket);
        }
    });
    addr
}

fn assignment(target: SocketAddr) -> Assignment {
    let monitor = Monitor {
        id: "mon_tcp".into(),
        name: "tcp target".into(),
        regions: vec!["eu".into()],
        interval_secs: 1,
        timeout_ms: 2_000,
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
    }
}

fn config(addr: SocketAddr, token: &str) -> AgentConfig {
    let mut c = AgentConfig::new("agent-eu-1", "eu", Secret::new(token));
    c.coordinator_url = format!("http://{addr}");
    c.batch_max = 2;
    c.batch_linger_ms = 100;
    c
}

/// Polls `cond` until it holds or `secs` pass.
async fn wait_for(what: &str, secs: u64, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

fn epoch_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("fits")
}

fn result_ids(batches: &[ResultBatch]) -> HashSet<String> {
    batches
        .iter()
        .flat_map(|b| b.results.iter().map(|r| r.id.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_batched_acked_and_resent_after_a_restart() {
    let target = tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let first = serve(listener, assignment(target));
    let stop_agent = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(
        config(addr, TOKEN),
        stop_agent.clone().cancelled_owned(),
    ));

    // Results arrive in batches of at most 2, with increasing seq, and heartbeats flow.
    wait_for("three acked batches", 15, || {
        first.seen.lock().expect("lock").batches.len() >= 3
    })
    .await;
    wait_for("a heartbeat", 5, || {
        first.seen.lock().expect("lock").heartbeats >= 1
    })
    .await;
    {
        let seen = first.seen.lock().expect("lock");
        assert_eq!(seen.authorization[0], format!("Bearer {TOKEN}"));
        let hello = &seen.hellos[0];
        assert_eq!(
            (hello.agent_id.as_str(), hello.region.as_str()),
            ("agent-eu-1", "eu")
        );
        assert_eq!(hello.last_assignment_version, 0);
        let seqs: Vec<u64> = seen.batches.iter().map(|b| b.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        for r in seen.batches.iter().flat_map(|b| &b.results) {
            assert_eq!(r.status, CheckStatus::Up as i32, "{r:?}");
            assert_eq!(
                (
                    r.monitor_id.as_str(),
                    r.monitor_version,
                    r.check_kind.as_str()
                ),
                ("mon_tcp", 3, "tcp")
            );
            assert_eq!(
                (r.agent_id.as_str(), r.region.as_str()),
                ("agent-eu-1", "eu")
            );
            assert!(r.started_at_ms >= r.scheduled_at_ms);
        }
        assert!(
            seen.batches
                .iter()
                .all(|b| (1..=2).contains(&b.results.len()))
        );
    }

    // The coordinator stops acknowledging, then goes away.
    first.ack.store(false, Ordering::SeqCst);
    let acked_batches = first.seen.lock().expect("lock").batches.len();
    wait_for("two unacked batches", 15, || {
        first.seen.lock().expect("lock").batches.len() >= acked_batches + 2
    })
    .await;
    let (unacked, last_seq) = {
        let seen = first.seen.lock().expect("lock");
        let unacked = result_ids(&seen.batches[acked_batches..]);
        (unacked, seen.batches.last().map_or(0, |b| b.seq))
    };
    let first_ids = result_ids(&first.seen.lock().expect("lock").batches);
    first.stop().await;
    let down_from_ms = epoch_ms();
    // Checks continue while no coordinator listens.
    sleep(Duration::from_millis(2500)).await;
    let down_until_ms = epoch_ms();

    // A new coordinator on the same address gets every unacked result again, under new seqs.
    let listener = TcpListener::bind(addr).await.expect("rebind gateway");
    let second = serve(listener, assignment(target));
    wait_for("the unacked results resent", 20, || {
        let seen = second.seen.lock().expect("lock");
        let ids = result_ids(&seen.batches);
        unacked.iter().all(|id| ids.contains(id))
    })
    .await;
    wait_for("results checked while disconnected", 10, || {
        let seen = second.seen.lock().expect("lock");
        seen.batches.iter().flat_map(|b| &b.results).any(|r| {
            !first_ids.contains(&r.id)
                && r.scheduled_at_ms > down_from_ms
                && r.scheduled_at_ms < down_until_ms
        })
    })
    .await;
    {
        let seen = second.seen.lock().expect("lock");
        assert!(
            seen.batches.iter().all(|b| b.seq > last_seq),
            "seq numbers are never reused"
        );
        assert_eq!(
            seen.hellos[0].last_assignment_version, 7,
            "Hello names the last applied assignment"
        );
    }

    stop_agent.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops in time");
    outcome.expect("agent task").expect("agent stops cleanly");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_stops_the_agent_with_an_error() {
    let target = tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let server = serve(listener, assignment(target));
    let run = lookout_agent::run(config(addr, "not-the-token"), std::future::pending());
    let outcome = tokio::time::timeout(Duration::from_secs(15), run)
        .await
        .expect("agent gives up in time");
    match outcome {
        Err(AgentError::Refused { code, message }) => {
            assert_eq!(code, tonic::Code::Unauthenticated);
            assert!(message.contains("unknown agent token"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let err = AgentError::Refused {
        code: tonic::Code::Unauthenticated,
        message: String::new(),
    };
    assert!(!err.to_string().contains("not-the-token"));
    assert_eq!(
        server.seen.lock().expect("lock").authorization,
        vec!["Bearer not-the-token".to_string()]
    );
    server.stop().await;
}
