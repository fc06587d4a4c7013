//! One agent session on the gateway: authenticate the Hello (token bound to its region), join
//! the assignment, stream the snapshot and deltas, take in result batches (see [`crate::intake`])
//! and hand them to [`crate::publish`], drop the agent when it stays silent, and on shutdown
//! finish publishing and acknowledging what was accepted before closing.

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use lookout_bus::ResultPublisher;
use lookout_proto::bounds::{MAX_RECONCILE_MONITORS, excerpt, quote};
use lookout_proto::v1::{
    AgentMessage, Assignment, CoordinatorMessage, Hello, ResultBatch, ResultRefused, Welcome,
    agent_message::Msg, coordinator_message::Msg as Out,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout};
use tokio_util::sync::CancellationToken;

use crate::auth::AgentTokens;
use crate::error::{DomainError, field_error};
use crate::hub::{Hub, Joined, OutboxItem};
use crate::intake::{self, Intake};
use crate::publish;
use crate::run_now::RunNowBroker;
use lookout_proto::chunk;

/// Messages to the agent; the gRPC layer streams them as they are.
pub type OutSender = mpsc::Sender<Result<CoordinatorMessage, tonic::Status>>;

/// Why a replica that does not lead refuses a session.
pub const NOT_LEADING: &str = "this coordinator replica does not lead; connect to the leader";

/// How long an agent is asked to wait after a refused batch (and every batch in that time is
/// refused too, so the agent's resend keeps their order).
const REFUSED_RETRY: Duration = Duration::from_secs(1);

/// Result batches received but not yet published, per session.
const BATCH_QUEUE: usize = 8;

/// Everything agent sessions share.
pub struct Gateway {
    hub: Arc<Hub>,
    run_now: Arc<RunNowBroker>,
    tokens: AgentTokens,
    regions: Arc<[String]>,
    publisher: Arc<dyn ResultPublisher>,
    heartbeat: Duration,
    shutdown: CancellationToken,
    /// On shutdown, how long accepted batches may take to be published and acknowledged.
    drain: Duration,
}

/// How a session is timed.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub heartbeat: Duration,
    pub shutdown_drain: Duration,
}

impl Gateway {
    pub fn new(
        hub: Arc<Hub>,
        run_now: Arc<RunNowBroker>,
        tokens: AgentTokens,
        regions: Arc<[String]>,
        publisher: Arc<dyn ResultPublisher>,
        timing: Timing,
        shutdown: CancellationToken,
    ) -> Gateway {
        Gateway {
            hub,
            run_now,
            tokens,
            regions,
            publisher,
            heartbeat: timing.heartbeat,
            shutdown,
            drain: timing.shutdown_drain,
        }
    }

    /// Whether this replica leads, and so serves agents.
    pub async fn leads(&self) -> bool {
        self.hub.epoch().await.is_some()
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
            None => return Ok(()),
            Some(Err(status)) => return Err(stream_failed("", &status)),
            Some(Ok(AgentMessage {
                msg: Some(Msg::Hello(h)),
            })) => h,
            Some(Ok(_)) => {
                return Err(field_error("hello", "the first message must be Hello").into());
            }
        };
        let bound = self.tokens.check(&hello.agent_id, token).inspect_err(|e| {
            let agent_id = excerpt(&hello.agent_id);
            tracing::warn!(%agent_id, reason = %e, "agent refused");
        })?;
        if !self.regions.contains(&hello.region) {
            let reason = format!(
                "unknown region {}, known regions: {}",
                quote(&hello.region),
                self.regions.join(", ")
            );
            return Err(field_error("hello.region", reason).into());
        }
        if bound != hello.region {
            let (agent_id, region) = (quote(&hello.agent_id), quote(&hello.region));
            let reason = format!(
                "hello.region: the token of agent {agent_id} is bound to region {bound:?}, not {region}"
            );
            tracing::warn!(%agent_id, %region, %bound, "agent refused: token used from another region");
            return Err(DomainError::PermissionDenied(reason));
        }
        let capacity = intake::capacity(hello.capacity)?;
        if hello.running.len() > MAX_RECONCILE_MONITORS {
            let reason = format!(
                "lists {} monitors, at most {MAX_RECONCILE_MONITORS} (send none to get a snapshot)",
                hello.running.len()
            );
            return Err(field_error("hello.running", reason).into());
        }
        let heartbeat_interval_ms = u32::try_from(self.heartbeat.as_millis()).unwrap_or(u32::MAX);
        let Some(leader_epoch) = self.hub.epoch().await else {
            return Err(unavailable(NOT_LEADING));
        };
        self.send(
            out,
            Out::Welcome(Welcome {
                heartbeat_interval_ms,
                leader_epoch,
            }),
        )
        .await?;
        let joined = self
            .hub
            .join(
                &hello.agent_id,
                &hello.region,
                &hello.version,
                capacity,
                hello.last_assignment_version,
            )
            .await
            .ok_or_else(|| unavailable(NOT_LEADING))?;
        tracing::info!(
            agent_id = %hello.agent_id, region = %hello.region, capacity, epoch = leader_epoch,
            monitors = joined.snapshot_len(), running = hello.running.len(), "agent joined"
        );
        let (batches, rx) = mpsc::channel(BATCH_QUEUE);
        let publishing = tokio::spawn(publish::in_order(self.publisher.clone(), rx, out.clone()));
        let mut intake = Intake::new(&hello.agent_id, &hello.region);
        let result = self
            .serve(
                &hello,
                &joined,
                &mut inbound,
                out,
                &mut intake,
                batches,
                publishing,
            )
            .await;
        intake.log_drops(Instant::now(), true);
        self.hub
            .leave(&hello.agent_id, &hello.region, joined.session)
            .await;
        self.run_now.session_ended(&hello.agent_id, joined.session);
        let reason = match &result {
            Ok(()) => "agent closed the stream".to_string(),
            Err(e) => e.to_string(),
        };
        tracing::info!(agent_id = %hello.agent_id, region = %hello.region, %reason, "agent left");
        result
    }

    #[allow(clippy::too_many_arguments)] // one session's parts, borrowed from `run`
    async fn serve<S>(
        &self,
        hello: &Hello,
        joined: &Joined,
        inbound: &mut S,
        out: &OutSender,
        intake: &mut Intake,
        batches: mpsc::Sender<ResultBatch>,
        mut publishing: tokio::task::JoinHandle<Option<String>>,
    ) -> Result<(), DomainError>
    where
        S: Stream<Item = Result<AgentMessage, tonic::Status>> + Unpin + Send,
    {
        let outcome = async {
            // An agent that says what it runs gets the difference; one that does not, all.
            if hello.running.is_empty() {
                let parts = joined.snapshot_parts(chunk::MAX_ASSIGNMENT_BYTES);
                self.send_parts(out, joined, parts).await?;
            } else {
                self.send_assignment(out, joined, joined.reconcile(&hello.running)).await?;
            }
            let mut last_seen = Instant::now();
            let mut refusing_until: Option<Instant> = None;
            loop {
                tokio::select! {
                    msg = inbound.next() => {
                        let msg = match msg {
                            None => return Ok(()),
                            Some(Err(status)) => return Err(stream_failed(&hello.agent_id, &status).into()),
                            Some(Ok(msg)) => msg,
                        };
                        last_seen = Instant::now();
                        match msg.msg {
                            Some(Msg::Results(batch)) => {
                                // A full queue: the bus is not taking results. Refused batches
                                // (and all for a pause after one) stay with the agent, which
                                // sends them again; the session stays up.
                                let now = Instant::now();
                                let permit = match refusing_until {
                                    Some(until) if now < until => None,
                                    _ => batches.try_reserve().ok(),
                                };
                                match permit {
                                    Some(permit) => {
                                        refusing_until = None;
                                        permit.send(self.accept(hello, joined, intake, batch).await?);
                                    }
                                    None if batches.is_closed() => return Err(unavailable("result publishing stopped").into()),
                                    None => {
                                        refusing_until = Some(*refusing_until.get_or_insert(now + REFUSED_RETRY));
                                        let refused = ResultRefused {
                                            seq: batch.seq,
                                            retry_after_ms: u32::try_from(REFUSED_RETRY.as_millis()).unwrap_or(u32::MAX),
                                            reason: "the result bus is not taking results; keep them and send them again".into(),
                                        };
                                        self.send(out, Out::Refused(refused)).await?;
                                    }
                                }
                            }
                            Some(Msg::Hello(_)) => {
                                return Err(DomainError::from(field_error("hello", "sent twice in one session")).into());
                            }
                            Some(Msg::RunNowResult(answer)) => {
                                let request_id = excerpt(&answer.request_id).into_owned();
                                if !self.run_now.answer(&hello.agent_id, joined.session, answer) {
                                    tracing::debug!(agent_id = %hello.agent_id, %request_id, "dropped a run-now result nobody waits for");
                                }
                            }
                            Some(Msg::Heartbeat(beat)) => {
                                self.hub.heartbeat(&hello.agent_id, &hello.region, joined.session, &beat).await;
                            }
                            Some(Msg::Drain(drain)) => {
                                if self.hub.drain(&hello.agent_id, &hello.region, joined.session).await {
                                    tracing::info!(
                                        agent_id = %hello.agent_id, region = %hello.region,
                                        reason = %excerpt(&drain.reason), "agent draining: handing its monitors over"
                                    );
                                } else {
                                    tracing::debug!(agent_id = %hello.agent_id, "repeated drain ignored");
                                }
                            }
                            None => {}
                        }
                    }

                    item = joined.outbox.next() => match item {
                        OutboxItem::Delta(a) => self.send_assignment(out, joined, a).await?,
                        OutboxItem::RunNow(r) => self.send(out, Out::RunNow(*r)).await?,
                        OutboxItem::Drained(d) => {
                            tracing::info!(
                                agent_id = %hello.agent_id, region = %hello.region, monitors = d.moved,
                                handed_over = d.handed_over, "agent drained"
                            );
                            self.send(out, Out::Drained(d)).await?;
                        }
                        OutboxItem::Closed(reason) => return Err(unavailable(&reason).into()),
                    },
                    () = sleep_until(last_seen + self.silence_limit()) => {
                        tracing::warn!(agent_id = %hello.agent_id, "no heartbeat from agent, dropping it");
                        return Err(unavailable("no heartbeat received for three intervals").into());
                    }
                    done = &mut publishing => {
                        let reason = done.ok().flatten().unwrap_or_else(|| "publishing stopped".into());
                        return Err(unavailable(&format!("result bus unavailable, resend after reconnecting: {reason}")).into());
                    }
                    () = self.shutdown.cancelled() => return Err(Stop::Shutdown),
                }
            }
        }
        .await;
        match outcome {
            Err(Stop::Shutdown) => {
                // Accepted batches are published and acknowledged before the session closes.
                drop(batches);
                if timeout(self.drain, &mut publishing).await.is_err() {
                    tracing::warn!(agent_id = %hello.agent_id, "shutdown: accepted results not all published in time");
                    publishing.abort();
                }
                Err(unavailable("coordinator is shutting down"))
            }
            Err(Stop::Failed(e)) => {
                publishing.abort();
                Err(e)
            }
            Ok(()) => {
                publishing.abort();
                Ok(())
            }
        }
    }

    /// Bounds, stamps and filters one batch; what is left is handed to the publisher (an empty
    /// batch too: its acknowledgement keeps the agent's buffer moving).
    async fn accept(
        &self,
        hello: &Hello,
        joined: &Joined,
        intake: &mut Intake,
        batch: ResultBatch,
    ) -> Result<ResultBatch, DomainError> {
        intake::check_batch(batch.results.len())?;
        let mut results = batch.results;
        intake.admit(&mut results);
        let dropped = self
            .hub
            .retain_assigned(&hello.agent_id, &hello.region, joined.session, &mut results)
            .await;
        intake.not_assigned(dropped);
        intake.log_drops(Instant::now(), false);
        Ok(ResultBatch {
            seq: batch.seq,
            results,
        })
    }

    /// Sends an assignment, split into parts small enough for any gRPC client.
    async fn send_assignment(
        &self,
        out: &OutSender,
        joined: &Joined,
        a: Assignment,
    ) -> Result<(), DomainError> {
        let a = Assignment {
            leader_epoch: joined.epoch,
            ..a
        };
        let parts = chunk::split(a, chunk::MAX_ASSIGNMENT_BYTES, || {
            joined.outbox.next_version()
        });
        self.send_parts(out, joined, parts).await
    }

    /// Sends the parts of one assignment in order, then records the last one sent.
    async fn send_parts(
        &self,
        out: &OutSender,
        joined: &Joined,
        parts: impl IntoIterator<Item = Assignment>,
    ) -> Result<(), DomainError> {
        let mut last = None;
        for part in parts {
            last = Some(part.version);
            self.send(out, Out::Assignment(part)).await?;
        }
        if let Some(last) = last {
            joined.outbox.sent(last);
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

/// The agent's stream failed: a message over the size limit, an undecodable message or a
/// broken connection. Logged with its code and reason, never taken for a clean close.
fn stream_failed(agent_id: &str, status: &tonic::Status) -> DomainError {
    tracing::warn!(%agent_id, code = ?status.code(), message = %status.message(), "agent stream failed");
    DomainError::Stream(status.clone())
}

/// Why the session loop stopped: the coordinator is stopping (drain first) or anything else.
enum Stop {
    Shutdown,
    Failed(DomainError),
}

impl From<DomainError> for Stop {
    fn from(e: DomainError) -> Stop {
        Stop::Failed(e)
    }
}
