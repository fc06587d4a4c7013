//! One agent session on the gateway: authenticate the Hello, join the assignment, stream the
//! snapshot and deltas, publish result batches in order and acknowledge each one only after
//! the bus accepted it, and drop the agent when it stays silent.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use lookout_bus::ResultPublisher;
use lookout_proto::v1::{
    AgentMessage, Assignment, CoordinatorMessage, Hello, ResultAck, ResultBatch, Welcome,
    agent_message::Msg, coordinator_message::Msg as Out,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::auth::AgentTokens;
use crate::chunk;
use crate::error::{DomainError, field_error};
use crate::hub::{Hub, Joined, OutboxItem};

/// Messages to the agent; the gRPC layer streams them as they are.
pub type OutSender = mpsc::Sender<Result<CoordinatorMessage, tonic::Status>>;

/// Result batches received but not yet published, per session.
const BATCH_QUEUE: usize = 8;

/// Everything agent sessions share.
pub struct Gateway {
    hub: Arc<Hub>,
    tokens: AgentTokens,
    regions: Arc<[String]>,
    publisher: Arc<dyn ResultPublisher>,
    heartbeat: Duration,
    shutdown: CancellationToken,
}

impl Gateway {
    pub fn new(
        hub: Arc<Hub>,
        tokens: AgentTokens,
        regions: Arc<[String]>,
        publisher: Arc<dyn ResultPublisher>,
        heartbeat: Duration,
        shutdown: CancellationToken,
    ) -> Gateway {
        Gateway {
            hub,
            tokens,
            regions,
            publisher,
            heartbeat,
            shutdown,
        }
    }

    /// How long an agent may stay silent (three heartbeat intervals).
    fn silence_limit(&self) -> Duration {
        self.heartbeat * 3
    }

    /// Runs one session until the agent leaves, is replaced, times out or the coordinator
    /// stops. The returned error is the status the stream ends with.
    pub async fn run<S>(
        &self,
        token: Option<&str>,
        mut inbound: S,
        out: &OutSender,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<AgentMessage, tonic::Status>> + Unpin + Send,
    {
        let first = timeout(self.silence_limit(), inbound.next())
            .await
            .map_err(|_| field_error("hello", "no Hello received in time"))?;
        let hello = match first {
            None | Some(Err(_)) => return Ok(()),
            Some(Ok(AgentMessage {
                msg: Some(Msg::Hello(h)),
            })) => h,
            Some(Ok(_)) => {
                return Err(field_error("hello", "the first message must be Hello").into());
            }
        };
        self.tokens.check(&hello.agent_id, token).inspect_err(|_| {
            tracing::warn!(agent_id = %hello.agent_id, "agent refused: bad token");
        })?;
        if !self.regions.contains(&hello.region) {
            let reason = format!(
                "unknown region {:?}, known regions: {}",
                hello.region,
                self.regions.join(", ")
            );
            return Err(field_error("hello.region", reason).into());
        }
        let heartbeat_interval_ms = u32::try_from(self.heartbeat.as_millis()).unwrap_or(u32::MAX);
        self.send(
            out,
            Out::Welcome(Welcome {
                heartbeat_interval_ms,
            }),
        )
        .await?;
        let joined = self
            .hub
            .join(
                &hello.agent_id,
                &hello.region,
                hello.capacity,
                hello.last_assignment_version,
            )
            .await;
        tracing::info!(
            agent_id = %hello.agent_id, region = %hello.region, capacity = hello.capacity,
            monitors = joined.snapshot.upserts.len(), "agent joined"
        );
        let (batches, rx) = mpsc::channel(BATCH_QUEUE);
        let publishing = tokio::spawn(publish_in_order(self.publisher.clone(), rx, out.clone()));
        let result = self
            .serve(&hello, &joined, &mut inbound, out, &batches, publishing)
            .await;
        self.hub
            .leave(&hello.agent_id, &hello.region, joined.session)
            .await;
        let reason = match &result {
            Ok(()) => "agent closed the stream".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::info!(agent_id = %hello.agent_id, region = %hello.region, %reason, "agent left");
        result
    }

    async fn serve<S>(
        &self,
        hello: &Hello,
        joined: &Joined,
        inbound: &mut S,
        out: &OutSender,
        batches: &mpsc::Sender<ResultBatch>,
        mut publishing: tokio::task::JoinHandle<Option<String>>,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<AgentMessage, tonic::Status>> + Unpin + Send,
    {
        let outcome = async {
            self.send_assignment(out, joined, joined.snapshot.clone()).await?;
            let mut last_seen = Instant::now();
            loop {
                tokio::select! {
                    msg = inbound.next() => {
                        let Some(Ok(msg)) = msg else { return Ok(()) };
                        last_seen = Instant::now();
                        match msg.msg {
                            Some(Msg::Results(mut batch)) => {
                                for r in &mut batch.results {
                                    // The session, not the payload, says who produced a result.
                                    r.agent_id.clone_from(&hello.agent_id);
                                    r.region.clone_from(&hello.region);
                                    if r.id.is_empty() {
                                        r.id = uuid::Uuid::now_v7().to_string();
                                    }
                                }
                                timeout(self.silence_limit(), batches.send(batch))
                                    .await
                                    .map_err(|_| unavailable("result batches are not being published in time"))?
                                    .map_err(|_| unavailable("result publishing stopped"))?;
                            }
                            Some(Msg::Hello(_)) => {
                                return Err(field_error("hello", "sent twice in one session").into());
                            }
                            Some(Msg::Heartbeat(_)) | None => {}
                        }
                    }
                    item = joined.outbox.next() => match item {
                        OutboxItem::Delta(a) => self.send_assignment(out, joined, a).await?,
                        OutboxItem::Closed(reason) => return Err(unavailable(&reason)),
                    },
                    () = sleep_until(last_seen + self.silence_limit()) => {
                        tracing::warn!(agent_id = %hello.agent_id, "no heartbeat from agent, dropping it");
                        return Err(unavailable("no heartbeat received for three intervals"));
                    }
                    done = &mut publishing => {
                        let reason = done.ok().flatten().unwrap_or_else(|| "publishing stopped".into());
                        return Err(unavailable(&format!("result bus unavailable, resend after reconnecting: {reason}")));
                    }
                    () = self.shutdown.cancelled() => return Err(unavailable("coordinator is shutting down")),
                }
            }
        }
        .await;
        publishing.abort();
        outcome
    }

    /// Sends an assignment, split into parts small enough for any gRPC client.
    async fn send_assignment(
        &self,
        out: &OutSender,
        joined: &Joined,
        a: Assignment,
    ) -> Result<(), DomainError> {
        for part in chunk::split(a, chunk::MAX_ASSIGNMENT_BYTES, || {
            joined.outbox.next_version()
        }) {
            self.send(out, Out::Assignment(part)).await?;
        }
        Ok(())
    }

    /// Sends one message, giving up on an agent that does not read its stream.
    async fn send(&self, out: &OutSender, msg: Out) -> Result<(), DomainError> {
        timeout(
            self.silence_limit(),
            out.send(Ok(CoordinatorMessage { msg: Some(msg) })),
        )
        .await
        .map_err(|_| unavailable("agent is not reading its stream"))?
        .map_err(|_| unavailable("agent disconnected"))
    }
}

fn unavailable(reason: &str) -> DomainError {
    DomainError::Unavailable(reason.to_string())
}

/// Publishes batches one after the other and acknowledges each once the bus accepted all of
/// its results. Returns the reason on the first failure: later batches are not published, so
/// the agent's resend after reconnecting keeps every monitor's results in order.
async fn publish_in_order(
    publisher: Arc<dyn ResultPublisher>,
    mut batches: mpsc::Receiver<ResultBatch>,
    out: OutSender,
) -> Option<String> {
    while let Some(batch) = batches.recv().await {
        if let Err(e) = publisher.publish(&batch.results).await {
            tracing::warn!(seq = batch.seq, results = batch.results.len(), error = %e, "publishing results failed; not acknowledged");
            return Some(e.to_string());
        }
        tracing::debug!(
            seq = batch.seq,
            results = batch.results.len(),
            "results published"
        );
        let ack = CoordinatorMessage {
            msg: Some(Out::Ack(ResultAck { seq: batch.seq })),
        };
        if out.send(Ok(ack)).await.is_err() {
            return None;
        }
    }
    None
}
