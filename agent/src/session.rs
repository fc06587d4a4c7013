//! The connection to the coordinator: connect with backoff, Hello, heartbeats, assignments
//! into the scheduler, result batches out and acknowledgements back. Results are buffered
//! (bounded) the whole time, connected or not, and unacknowledged ones are resent. A refused
//! agent (bad or rotated token) keeps retrying slowly and loudly; on shutdown the buffer is
//! flushed and acknowledged within `shutdown_timeout_ms`.

use std::future::Future;
use std::time::Duration;

use lookout_proto::CheckResult;
use lookout_proto::bounds::{MAX_GATEWAY_MESSAGE_BYTES, MAX_RECONCILE_MONITORS};
use lookout_proto::v1::agent_gateway_client::AgentGatewayClient;
use lookout_proto::v1::{
    AgentMessage, CoordinatorMessage, Drain, Heartbeat, Hello, ResultBatch, RunNow, RunNowResult,
    RunningMonitor, agent_message, coordinator_message,
};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior, sleep, sleep_until, timeout};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request, Status, Streaming};
use tracing::{debug, error, info, warn};

use crate::AgentError;
use crate::backoff::Backoff;
use crate::buffer::ResultBuffer;
use crate::config::{AgentConfig, ConfigError};
use crate::scheduler::Scheduler;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const WELCOME_TIMEOUT: Duration = Duration::from_secs(15);
const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(10);
const MIN_HEARTBEAT: Duration = Duration::from_millis(100);
/// Outbound messages queued for the stream; when full, results wait in the buffer.
const OUTBOUND_QUEUE: usize = 16;
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);
/// Finished one-shot runs waiting for the stream.
const RUN_NOW_QUEUE: usize = 32;
/// Bounds of the pause a refused batch asks for.
const MIN_REFUSED_RETRY: Duration = Duration::from_millis(100);
const MAX_REFUSED_RETRY: Duration = Duration::from_secs(30);
/// How long after a session of a newer leadership term an older term is refused.
const STALE_TERM_WINDOW: Duration = Duration::from_secs(60);

/// Why a session ended.
enum Ended {
    Shutdown,
    /// Worth retrying; `welcomed` says whether the coordinator had accepted the agent.
    Transient {
        welcomed: bool,
        reason: String,
    },
    /// The coordinator refused the agent itself (bad token, token of another region): retried
    /// only after `refused_retry_secs`, since the token may be rotated meanwhile.
    Refused(Status),
    /// A coordinator replica that does not lead; `leader` is the URL it named, if any.
    NotLeader {
        leader: Option<String>,
    },
}

/// Runs sessions until shutdown. `stop` asks for it; `halt` stops the scheduler, which the
/// session cancels once the drain is over (at once when not connected).
pub(crate) async fn run(
    config: &AgentConfig,
    scheduler: Scheduler,
    results: mpsc::UnboundedReceiver<CheckResult>,
    stop: CancellationToken,
    halt: CancellationToken,
) -> Result<(), AgentError> {
    let addresses = config.coordinator_addresses();
    let mut endpoints = Vec::with_capacity(addresses.len());
    for url in &addresses {
        endpoints.push(endpoint(url, config).await?);
    }
    let authorization: MetadataValue<_> = format!("Bearer {}", config.token.expose())
        .parse()
        .map_err(|_| {
            AgentError::Config(ConfigError::Invalid {
                field: "token",
                reason: "contains characters not allowed in a header".into(),
            })
        })?;
    let mut link = Link {
        config,
        scheduler,
        results,
        results_open: true,
        buffer: ResultBuffer::new(config.buffer_max_results),
        stop,
        halt,
        authorization,
        last_drop_log: None,
        drain_until: None,
        newest_epoch: None,
        send_paused_until: None,
        last_refused_log: None,
    };
    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(30));
    // A replica answered, so the cluster is up: the leader is worth asking for again soon.
    let mut leader_backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let refused_retry = Duration::from_secs(config.refused_retry_secs);
    let mut refused_backoff = Backoff::new(refused_retry, refused_retry);
    let mut current = 0;
    // Sessions that failed since the last welcomed one: every address is tried once before
    // backing off.
    let mut failed = 0usize;
    loop {
        let url = addresses[current].as_str();
        let delay = match link.session(&endpoints[current], url).await {
            Ended::Shutdown => {
                link.stopped();
                return Ok(());
            }
            Ended::Refused(_) if link.stop.is_cancelled() => {
                link.halt.cancel();
                link.stopped();
                return Ok(());
            }
            Ended::Refused(status) => {
                let delay = refused_backoff.next_delay();
                error!(
                    %url,
                    agent_id = %config.agent_id,
                    region = %config.region,
                    code = ?status.code(),
                    message = %status.message(),
                    retry_in_secs = delay.as_secs(),
                    buffered = link.buffer.len(),
                    "the coordinator refused this agent: check its token and region in the coordinator's agent_tokens; checks continue and results are buffered"
                );
                delay
            }
            Ended::NotLeader { leader } => {
                let named = leader
                    .as_deref()
                    .and_then(|l| addresses.iter().position(|a| a == l.trim_end_matches('/')));
                current = named.unwrap_or((current + 1) % addresses.len());
                let delay = leader_backoff.next_delay();
                info!(
                    %url,
                    leader = leader.as_deref().unwrap_or("none yet"),
                    next = %addresses[current],
                    retry_in_ms = delay.as_millis() as u64,
                    "this coordinator replica does not lead; moving to the leader"
                );
                if leader.is_some() && named.is_none() {
                    warn!(
                        leader = leader.as_deref().unwrap_or_default(),
                        "the leader's address is not among coordinator_url and coordinator_urls; trying the next configured one"
                    );
                }
                delay
            }
            Ended::Transient { welcomed, reason } => {
                if welcomed {
                    backoff.reset();
                    leader_backoff.reset();
                    failed = 0;
                }
                failed += 1;
                current = (current + 1) % addresses.len();
                let delay = if failed.is_multiple_of(addresses.len()) {
                    backoff.next_delay()
                } else {
                    Duration::ZERO
                };
                warn!(
                    %url,
                    %reason,
                    next = %addresses[current],
                    retry_in_ms = delay.as_millis() as u64,
                    buffered = link.buffer.len(),
                    "coordinator session lost; checks continue on the last assignment"
                );
                delay
            }
        };
        link.buffer.requeue(Instant::now());
        if link.while_draining(sleep(delay)).await.is_none() {
            link.stopped();
            return Ok(());
        }
    }
}

struct Link<'a> {
    config: &'a AgentConfig,
    scheduler: Scheduler,
    results: mpsc::UnboundedReceiver<CheckResult>,
    results_open: bool,
    buffer: ResultBuffer,
    /// Shutdown was asked for.
    stop: CancellationToken,
    /// The scheduler stops: the drain is over (or was not possible).
    halt: CancellationToken,
    authorization: MetadataValue<tonic::metadata::Ascii>,
    last_drop_log: Option<Instant>,
    /// Once shutdown was asked for: when sending the last results gives up.
    drain_until: Option<Instant>,
    /// The newest leadership term a session was welcomed in, and when that session ended
    /// (`None` while it runs).
    newest_epoch: Option<(u64, Option<Instant>)>,
    /// After a refused batch: no batch goes out before this.
    send_paused_until: Option<Instant>,
    last_refused_log: Option<Instant>,
}

impl Link<'_> {
    fn stopped(&self) {
        if !self.buffer.is_empty() {
            warn!(
                results = self.buffer.len(),
                "stopping with unacknowledged results"
            );
        }
    }

    /// Once the scheduler stopped, the moment sending the last results gives up
    /// (`shutdown_timeout_ms` after the first call); `None` while checks run.
    fn drain_deadline(&mut self) -> Option<Instant> {
        if !self.halt.is_cancelled() {
            return None;
        }
        let timeout = Duration::from_millis(self.config.shutdown_timeout_ms);
        Some(
            *self
                .drain_until
                .get_or_insert_with(|| Instant::now() + timeout),
        )
    }

    /// Every result the scheduler will ever produce is acknowledged.
    fn drained(&self) -> bool {
        !self.results_open && self.buffer.is_empty()
    }

    /// Runs `fut` while moving finished results into the buffer. `None` on shutdown once
    /// nothing is left to send or the drain deadline passed: until then a shutdown does not
    /// interrupt reconnecting, so results buffered while disconnected still get out. Not
    /// connected, a shutdown stops the checks at once: there is no coordinator to drain to.
    async fn while_draining<F: Future>(&mut self, fut: F) -> Option<F::Output> {
        tokio::pin!(fut);
        let mut chunk = Vec::new();
        loop {
            let deadline = self.drain_deadline();
            if deadline.is_some_and(|d| self.drained() || Instant::now() >= d) {
                return None;
            }
            tokio::select! {
                biased;
                () = self.stop.cancelled(), if deadline.is_none() => self.halt.cancel(),
                () = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => return None,
                out = &mut fut => return Some(out),
                n = self.results.recv_many(&mut chunk, 1024), if self.results_open => {
                    if n == 0 {
                        self.results_open = false;
                    }
                    self.store(&mut chunk);
                }
            }
        }
    }

    fn store(&mut self, chunk: &mut Vec<CheckResult>) {
        let now = Instant::now();
        let full = self.buffer.extend(chunk.drain(..), now);
        let max_age_ms = i64::try_from(self.config.buffer_max_age_secs * 1000).unwrap_or(i64::MAX);
        let cutoff = crate::scheduler::Clock::system()
            .now_ms()
            .saturating_sub(max_age_ms);
        let old = self.buffer.expire(cutoff);
        if full + old > 0
            && self
                .last_drop_log
                .is_none_or(|t| now.duration_since(t) >= DROP_LOG_EVERY)
        {
            self.last_drop_log = Some(now);
            warn!(
                dropped_total = self.buffer.dropped(),
                buffer_full = full,
                too_old = old,
                max_results = self.config.buffer_max_results,
                max_age_secs = self.config.buffer_max_age_secs,
                "dropped the oldest unacknowledged results (the buffer is full or they waited too long)"
            );
        }
    }

    async fn session(&mut self, endpoint: &Endpoint, url: &str) -> Ended {
        let transient = |reason: String| Ended::Transient {
            welcomed: false,
            reason,
        };
        let channel = match self.while_draining(endpoint.connect()).await {
            None => return Ended::Shutdown,
            Some(Err(e)) => return transient(format!("connect: {}", lookout_runtime::causes(&e))),
            Some(Ok(channel)) => channel,
        };
        let (out, out_rx) = mpsc::channel(OUTBOUND_QUEUE);
        // What runs already, so the coordinator answers with a delta (a reconnect of an agent
        // with many monitors then costs no snapshot); above the bound, a snapshot.
        let running = if self.scheduler.active_monitors() <= MAX_RECONCILE_MONITORS {
            let running = self.scheduler.running().await;
            if running.len() <= MAX_RECONCILE_MONITORS {
                running
                    .into_iter()
                    .map(|(id, version)| RunningMonitor {
                        id: id.to_string(),
                        version,
                    })
                    .collect()
            } else {
                Vec::new()
            }
        } else {
            Vec::new()
        };
        let hello = Hello {
            agent_id: self.config.agent_id.clone(),
            region: self.config.region.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            capacity: self.config.capacity,
            last_assignment_version: self.scheduler.assignment_version(),
            running,
        };
        if out
            .try_send(message(agent_message::Msg::Hello(hello)))
            .is_err()
        {
            return transient("outbound queue closed".into());
        }
        let mut request = Request::new(ReceiverStream::new(out_rx));
        request
            .metadata_mut()
            .insert("authorization", self.authorization.clone());
        let mut client = client(channel);
        let inbound = match self.while_draining(client.session(request)).await {
            None => return Ended::Shutdown,
            Some(Err(status)) => return classify(status, false),
            Some(Ok(response)) => response.into_inner(),
        };
        let ended = self.connected(inbound, out, url).await;
        self.send_paused_until = None;
        if let Some((_, ended_at)) = self.newest_epoch.as_mut()
            && ended_at.is_none()
        {
            *ended_at = Some(Instant::now());
        }
        ended
    }

    async fn connected(
        &mut self,
        mut inbound: Streaming<CoordinatorMessage>,
        out: mpsc::Sender<AgentMessage>,
        url: &str,
    ) -> Ended {
        let welcome = match self
            .while_draining(timeout(WELCOME_TIMEOUT, inbound.message()))
            .await
        {
            None => return Ended::Shutdown,
            Some(Err(_)) => {
                return Ended::Transient {
                    welcomed: false,
                    reason: "no Welcome in time".into(),
                };
            }
            Some(Ok(Err(status))) => return classify(status, false),
            Some(Ok(Ok(None))) => {
                return Ended::Transient {
                    welcomed: false,
                    reason: "stream closed before Welcome".into(),
                };
            }
            Some(Ok(Ok(Some(msg)))) => match msg.msg {
                Some(coordinator_message::Msg::Welcome(w)) => w,
                other => {
                    return Ended::Transient {
                        welcomed: false,
                        reason: format!("expected Welcome first, got {other:?}"),
                    };
                }
            },
        };
        let epoch = welcome.leader_epoch;
        if let Some(reason) = self.stale(epoch) {
            return Ended::Transient {
                welcomed: false,
                reason,
            };
        }
        self.newest_epoch = Some((epoch, None));
        let heartbeat_every = heartbeat_interval(welcome.heartbeat_interval_ms);
        info!(%url, epoch, heartbeat_ms = heartbeat_every.as_millis() as u64, "connected to coordinator");
        let mut heartbeat =
            tokio::time::interval_at(Instant::now() + heartbeat_every, heartbeat_every);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let linger = Duration::from_millis(self.config.batch_linger_ms);
        let batch_max = self.config.batch_max;
        let batch_max_bytes = self.config.batch_max_bytes;
        let mut chunk = Vec::new();
        // One-shot runs finish on their own tasks; their results go out on this session only.
        let (run_now_tx, mut run_now_rx) = mpsc::channel::<RunNowResult>(RUN_NOW_QUEUE);
        let ended = |reason: String| Ended::Transient {
            welcomed: true,
            reason,
        };
        // Each applied assignment is reported at once (a drain elsewhere may wait for it).
        let mut applied = self.scheduler.applied_version();
        // While draining: when to stop waiting for Drained.
        let mut handover_until: Option<Instant> = None;
        loop {
            let now = Instant::now();
            let drain_deadline = self.drain_deadline();
            let linger_now = if drain_deadline.is_some() {
                Duration::ZERO
            } else {
                linger
            };
            // After a refusal the coordinator is given `retry_after_ms` before the next batch.
            let paused = self.send_paused_until.filter(|t| *t > now);
            let ready = paused.is_none() && self.buffer.ready(now, batch_max, linger_now);
            let flush_at = self
                .buffer
                .flush_at(linger_now)
                .filter(|_| !ready && paused.is_none());
            let drained = self.drained();
            if drain_deadline.is_some_and(|deadline| drained || now >= deadline) {
                return Ended::Shutdown;
            }
            let handing_over = handover_until.is_some() && drain_deadline.is_none();
            tokio::select! {
                biased;
                () = self.stop.cancelled(), if drain_deadline.is_none() && handover_until.is_none() => {
                    if self.config.drain_timeout_ms == 0 {
                        self.halt.cancel();
                        debug!(buffered = self.buffer.len(), "shutting down: sending the last results");
                        continue;
                    }
                    let drain = Drain { reason: "the agent is shutting down".into() };
                    if out.try_send(message(agent_message::Msg::Drain(drain))).is_err() {
                        self.halt.cancel();
                        continue;
                    }
                    info!(monitors = self.scheduler.active_monitors(), timeout_ms = self.config.drain_timeout_ms, "shutting down: handing the monitors to the region's other agents");
                    handover_until = Some(Instant::now() + Duration::from_millis(self.config.drain_timeout_ms));
                }
                () = sleep_until(handover_until.unwrap_or(now)), if handing_over => {
                    warn!(timeout_ms = self.config.drain_timeout_ms, "no Drained from the coordinator in time; stopping the checks");
                    self.halt.cancel();
                }
                () = sleep_until(drain_deadline.unwrap_or(now)), if drain_deadline.is_some() => {}
                msg = inbound.message() => match msg {
                    Ok(Some(msg)) => self.handle(msg, epoch, drain_deadline.is_some(), &run_now_tx).await,
                    Ok(None) => return ended("coordinator closed the stream".into()),
                    Err(status) => return classify(status, true),
                },
                permit = out.reserve(), if ready => match (permit, self.buffer.take_batch(batch_max, batch_max_bytes, now)) {
                    (Ok(permit), Some(batch)) => {
                        debug!(seq = batch.seq, results = batch.results.len(), "sending batch");
                        permit.send(message(agent_message::Msg::Results(ResultBatch { seq: batch.seq, results: batch.results })));
                    }
                    (Ok(_), None) => {}
                    (Err(_), _) => return ended("outbound stream closed".into()),
                },
                Some(done) = run_now_rx.recv() => {
                    debug!(request_id = %done.request_id, "sending a run-now result");
                    if out.send(message(agent_message::Msg::RunNowResult(done))).await.is_err() {
                        return ended("outbound stream closed".into());
                    }
                }
                () = sleep_until(flush_at.unwrap_or(now)), if flush_at.is_some() => {}
                () = sleep_until(paused.unwrap_or(now)), if paused.is_some() => {}
                n = self.results.recv_many(&mut chunk, batch_max), if self.results_open => {
                    if n == 0 {
                        self.results_open = false;
                    }
                    self.store(&mut chunk);
                }
                _ = heartbeat.tick() => {
                    // A full queue means the stream is stuck; the next beat tries again.
                    let _ = out.try_send(self.heartbeat(*applied.borrow()));
                }
                Ok(()) = applied.changed() => {
                    let version = *applied.borrow_and_update();
                    if out.send(self.heartbeat(version)).await.is_err() {
                        return ended("outbound stream closed".into());
                    }
                }
            }
        }
    }

    fn heartbeat(&self, applied_assignment_version: u64) -> AgentMessage {
        message(agent_message::Msg::Heartbeat(Heartbeat {
            sent_at_ms: crate::scheduler::Clock::system().now_ms(),
            active_monitors: u32::try_from(self.scheduler.active_monitors()).unwrap_or(u32::MAX),
            buffered_results: u32::try_from(self.buffer.len()).unwrap_or(u32::MAX),
            applied_assignment_version,
            dropped_results: self.buffer.dropped(),
        }))
    }

    /// Why a session welcomed in leadership term `epoch` must not be used: a newer term was
    /// seen within [`STALE_TERM_WINDOW`] (a deposed leader that has not noticed yet). Past
    /// that window a lower term is taken, with a warning: the coordinator's store was
    /// replaced, and waiting would never end.
    fn stale(&self, epoch: u64) -> Option<String> {
        let (newest, ended) = self.newest_epoch?;
        if epoch >= newest {
            return None;
        }
        if ended.is_some_and(|at| at.elapsed() >= STALE_TERM_WINDOW) {
            warn!(
                epoch,
                newest, "the coordinator's leadership term went back (a new store?); following it"
            );
            return None;
        }
        Some(format!(
            "stale leader: this replica leads term {epoch}, and term {newest} began since"
        ))
    }

    async fn handle(
        &mut self,
        msg: CoordinatorMessage,
        epoch: u64,
        draining: bool,
        run_now: &mpsc::Sender<RunNowResult>,
    ) {
        match msg.msg {
            Some(coordinator_message::Msg::RunNow(RunNow {
                request_id,
                monitor,
            })) => {
                debug!(%request_id, "running a check now");
                let scheduler = self.scheduler.clone();
                let done = run_now.clone();
                tokio::spawn(async move {
                    let result = scheduler.run_now(monitor.unwrap_or_default()).await;
                    // A closed channel: the session ended, and the coordinator gave up on it.
                    let _ = done
                        .send(RunNowResult {
                            request_id,
                            result: Some(result),
                        })
                        .await;
                });
            }
            Some(coordinator_message::Msg::Refused(r)) => {
                let now = Instant::now();
                let back = self.buffer.refused(r.seq, now);
                let retry = Duration::from_millis(u64::from(r.retry_after_ms))
                    .clamp(MIN_REFUSED_RETRY, MAX_REFUSED_RETRY);
                self.send_paused_until = Some(now + retry);
                if back > 0
                    && self
                        .last_refused_log
                        .is_none_or(|t| now.duration_since(t) >= DROP_LOG_EVERY)
                {
                    self.last_refused_log = Some(now);
                    warn!(
                        seq = r.seq,
                        results = back,
                        buffered = self.buffer.len(),
                        retry_in_ms = retry.as_millis() as u64,
                        reason = %lookout_proto::bounds::excerpt(&r.reason),
                        "the coordinator cannot publish results now; they stay buffered and go again"
                    );
                }
            }
            Some(coordinator_message::Msg::Ack(ack)) => {
                let n = self.buffer.ack(ack.seq);
                debug!(seq = ack.seq, results = n, "batch acknowledged");
            }
            Some(coordinator_message::Msg::Assignment(a)) if a.leader_epoch < epoch => {
                warn!(
                    version = a.version,
                    assignment_epoch = a.leader_epoch,
                    epoch,
                    "ignored an assignment of an older leadership term"
                );
            }
            Some(coordinator_message::Msg::Assignment(assignment)) if !draining => {
                // Waits while the scheduler's queue is full: the stream is read again once
                // the monitors before these are applied (at most milliseconds).
                self.scheduler.apply(assignment).await;
            }
            Some(coordinator_message::Msg::Assignment(_)) => {}
            Some(coordinator_message::Msg::Drained(d)) if self.stop.is_cancelled() => {
                info!(
                    monitors = d.moved,
                    handed_over = d.handed_over,
                    "drained: the coordinator moved the monitors; stopping the checks"
                );
                self.halt.cancel();
            }
            Some(coordinator_message::Msg::Drained(_)) => debug!("Drained without a drain ignored"),
            Some(coordinator_message::Msg::Welcome(_)) => debug!("repeated Welcome ignored"),
            None => debug!("empty coordinator message ignored"),
        }
    }
}

/// The endpoint of coordinator `url`, with TLS for an `https://` one: system roots plus the
/// configured private CA, and the client certificate when the coordinator asks for one (mTLS).
async fn endpoint(url: &str, config: &AgentConfig) -> Result<Endpoint, AgentError> {
    let bad = |reason: String| AgentError::CoordinatorUrl {
        url: url.to_string(),
        reason,
    };
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| bad(e.to_string()))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(20))
        .keep_alive_timeout(Duration::from_secs(10));
    if !url.starts_with("https://") {
        return Ok(endpoint);
    }
    let read = |path: &std::path::Path| {
        let path = path.to_path_buf();
        async move {
            tokio::fs::read(&path).await.map_err(|source| {
                AgentError::Config(ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })
            })
        }
    };
    let mut tls = ClientTlsConfig::new().with_native_roots();
    if let Some(path) = &config.coordinator_ca_file {
        tls = tls.ca_certificate(Certificate::from_pem(read(path).await?));
    }
    if let (Some(cert), Some(key)) = (
        &config.coordinator_client_cert_file,
        &config.coordinator_client_key_file,
    ) {
        tls = tls.identity(Identity::from_pem(read(cert).await?, read(key).await?));
    }
    endpoint
        .tls_config(tls)
        .map_err(|e| bad(format!("TLS setup: {e}")))
}

/// The gateway's message limit on this end too: the coordinator splits assignments well
/// under it and batches are cut by `batch_max_bytes`, so a refusal is a bug worth its log line.
fn client(channel: Channel) -> AgentGatewayClient<Channel> {
    AgentGatewayClient::new(channel)
        .max_decoding_message_size(MAX_GATEWAY_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_GATEWAY_MESSAGE_BYTES)
}

fn message(msg: agent_message::Msg) -> AgentMessage {
    AgentMessage { msg: Some(msg) }
}

fn heartbeat_interval(ms: u32) -> Duration {
    if ms == 0 {
        DEFAULT_HEARTBEAT
    } else {
        Duration::from_millis(u64::from(ms)).max(MIN_HEARTBEAT)
    }
}

/// A refusal of the agent itself is retried slowly; everything else (coordinator restarting,
/// network, overload, a message over the size limit) is retried with the usual backoff, and
/// its code and reason are logged.
fn classify(status: Status, welcomed: bool) -> Ended {
    if status.code() == Code::Unavailable
        && let Some(leader) = status.metadata().get(lookout_proto::LEADER_METADATA)
    {
        let leader = leader.to_str().unwrap_or_default().trim();
        return Ended::NotLeader {
            leader: (!leader.is_empty()).then(|| leader.to_string()),
        };
    }
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => Ended::Refused(status),
        _ => Ended::Transient {
            welcomed,
            reason: match std::error::Error::source(&status) {
                // A TLS refusal (no client certificate under mTLS) is only in the source.
                Some(cause) => format!(
                    "{:?}: {}: {}",
                    status.code(),
                    status.message(),
                    lookout_runtime::causes(cause)
                ),
                None => format!("{:?}: {}", status.code(), status.message()),
            },
        },
    }
}
