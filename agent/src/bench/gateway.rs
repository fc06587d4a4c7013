//! `lookout-agent bench-scale --via-gateway`: the agent as its own process (this binary in
//! its normal mode), fed over gRPC. This process plays the coordinator's side of
//! `AgentGateway/Session`: it answers Hello with a Welcome, streams the assignment split into
//! parts by the coordinator's own rule (`lookout_proto::chunk`, 1 MiB each), acknowledges
//! every result batch and reads the agent's heartbeats. The figures are the agent process's:
//! RSS and peak RSS, CPU per check, and the time from the first part sent until a heartbeat
//! reports every monitor scheduled.

use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lookout_proto::bounds::MAX_GATEWAY_MESSAGE_BYTES;
use lookout_proto::chunk;
use lookout_proto::v1::agent_gateway_server::{AgentGateway, AgentGatewayServer};
use lookout_proto::v1::{
    AgentMessage, Assignment, CoordinatorMessage, ResultAck, Welcome, agent_message,
    coordinator_message,
};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, sleep};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use super::scale::{Measured, Monitors, ScaleArgs, ScaleReport, Tally};
use super::{BenchError, box_busy_us, process_cpu_us};

/// Heartbeats carry the count of scheduled monitors; often, so the set-up time is exact to
/// about this much.
const HEARTBEAT_MS: u32 = 100;
/// The agent must have scheduled every monitor within this long.
const SETUP_LIMIT: Duration = Duration::from_secs(600);

/// What the session tells the benchmark.
struct Feed {
    /// The assignment in parts, made before the agent starts: its set-up time counts what the
    /// agent does with the parts, not their making (the coordinator's work).
    parts: Mutex<Vec<Assignment>>,
    /// Monitors scheduled, from the last heartbeat.
    active: AtomicUsize,
    /// When the first part was sent.
    first_part: Mutex<Option<oneshot::Sender<Instant>>>,
    /// Results of the measured window, once it started.
    tally: Mutex<Option<Tally>>,
}

struct BenchGateway {
    feed: Arc<Feed>,
}

#[tonic::async_trait]
impl AgentGateway for BenchGateway {
    type SessionStream = ReceiverStream<Result<CoordinatorMessage, Status>>;

    async fn session(
        &self,
        req: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::SessionStream>, Status> {
        let (out, rx) = mpsc::channel(32);
        let feed = Arc::clone(&self.feed);
        tokio::spawn(serve(feed, req.into_inner(), out));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn message(msg: coordinator_message::Msg) -> Result<CoordinatorMessage, Status> {
    Ok(CoordinatorMessage { msg: Some(msg) })
}

/// One agent session: Welcome, the assignment in parts (on its own task, so that result
/// batches are acknowledged meanwhile), then heartbeats and acks until the agent goes.
async fn serve(
    feed: Arc<Feed>,
    mut inbound: Streaming<AgentMessage>,
    out: mpsc::Sender<Result<CoordinatorMessage, Status>>,
) {
    let welcome = Welcome {
        heartbeat_interval_ms: HEARTBEAT_MS,
        leader_epoch: 0,
    };
    if out
        .send(message(coordinator_message::Msg::Welcome(welcome)))
        .await
        .is_err()
    {
        return;
    }
    let parts = out.clone();
    let sender = Arc::clone(&feed);
    tokio::spawn(async move {
        // The first session takes them all; the bench counts on one.
        let all = sender
            .parts
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        if let Some(tx) = sender.first_part.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(Instant::now());
        }
        for part in all {
            if parts
                .send(message(coordinator_message::Msg::Assignment(part)))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    while let Ok(Some(msg)) = inbound.message().await {
        match msg.msg {
            Some(agent_message::Msg::Heartbeat(beat)) => {
                feed.active
                    .store(beat.active_monitors as usize, Ordering::Relaxed);
            }
            Some(agent_message::Msg::Results(batch)) => {
                if let Ok(mut guard) = feed.tally.lock()
                    && let Some(tally) = guard.as_mut()
                {
                    for r in &batch.results {
                        tally.add(r);
                    }
                }
                let ack = ResultAck { seq: batch.seq };
                if out
                    .send(message(coordinator_message::Msg::Ack(ack)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Kills the agent process when the benchmark ends, however it ends.
struct Agent(tokio::process::Child);

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.start_kill();
    }
}

pub(super) async fn run_size(args: &ScaleArgs, size: usize) -> Result<ScaleReport, BenchError> {
    let io = |what: &'static str| move |source| BenchError::Io { what, source };
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(io("binding the gateway"))?;
    let addr = listener.local_addr().map_err(io("binding the gateway"))?;
    let (first_tx, first_rx) = oneshot::channel();
    let monitors = Monitors::new(args, size)?;
    let whole = Assignment {
        version: 1,
        snapshot: true,
        upserts: (0..size).map(|i| monitors.get(i)).collect(),
        removals: vec![],
        leader_epoch: 0,
    };
    let mut version = 1;
    let parts = chunk::split(whole, chunk::MAX_ASSIGNMENT_BYTES, || {
        version += 1;
        version
    });
    let feed = Arc::new(Feed {
        parts: Mutex::new(parts),
        active: AtomicUsize::new(0),
        first_part: Mutex::new(Some(first_tx)),
        tally: Mutex::new(None),
    });
    let service = AgentGatewayServer::new(BenchGateway {
        feed: Arc::clone(&feed),
    })
    .max_decoding_message_size(MAX_GATEWAY_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_GATEWAY_MESSAGE_BYTES);
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    let exe = std::env::current_exe().map_err(io("finding this binary"))?;
    let child = tokio::process::Command::new(exe)
        .args(["--agent-id", "bench-gateway", "--region", super::REGION])
        .arg("--coordinator-url")
        .arg(format!("http://{addr}"))
        .arg("--max-concurrency")
        .arg(args.max_concurrency.to_string())
        // Local targets: the bench measures the agent, not the target rule.
        .args(["--allow-private-targets", "true"])
        .arg("--close-with-reset")
        .arg(args.close_with_reset.to_string())
        .env("LOOKOUT_AGENT_TOKEN", "bench")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(io("starting the agent"))?;
    let pid = child
        .id()
        .ok_or_else(|| BenchError::Gateway("the agent exited at once".into()))?
        .to_string();
    let agent = Agent(child);
    let first = tokio::time::timeout(SETUP_LIMIT, first_rx)
        .await
        .map_err(|_| BenchError::Gateway("the agent never connected".into()))?
        .map_err(|_| BenchError::Gateway("the session ended before any part".into()))?;
    while feed.active.load(Ordering::Relaxed) < size {
        if first.elapsed() > SETUP_LIMIT {
            return Err(BenchError::Gateway(format!(
                "the agent scheduled {} of {size} monitors in {} s",
                feed.active.load(Ordering::Relaxed),
                SETUP_LIMIT.as_secs()
            )));
        }
        sleep(Duration::from_millis(5)).await;
    }
    let schedule_secs = first.elapsed().as_secs_f64();
    let start_ms = crate::scheduler::Clock::system().now_ms();
    if let Ok(mut tally) = feed.tally.lock() {
        *tally = Some(Tally::new(start_ms, args.timeline));
    }
    let start = Instant::now();
    let cpu0 = process_cpu_us(&pid);
    let box0 = box_busy_us();
    sleep(Duration::from_secs(args.duration_secs)).await;
    let cpu_us = process_cpu_us(&pid).saturating_sub(cpu0);
    let box_us = box_busy_us().saturating_sub(box0);
    let elapsed = start.elapsed().as_secs_f64();
    let (rss, peak) = lookout_runtime::memory_mib(&pid);
    // Results of the window's last checks still on their way are left out, like the
    // in-process run's; what arrived is counted.
    let tally = feed
        .tally
        .lock()
        .ok()
        .and_then(|mut t| t.take())
        .ok_or_else(|| BenchError::Gateway("no results were counted".into()))?;
    drop(agent);
    let _ = stop.send(());
    let _ = server.await;
    Ok(tally.report(Measured {
        monitors: size,
        elapsed,
        cpu_us,
        box_us,
        rss_mib: rss,
        peak_rss_mib: peak,
        schedule_secs,
    }))
}
