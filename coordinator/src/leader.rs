//! Leadership among coordinator replicas sharing one PostgreSQL database. Every replica serves
//! the admin API; only the leader serves agents, computes the assignment, watches for missing
//! data and publishes the agent registry. Leading means holding the store's leader lock
//! (a PostgreSQL advisory lock on a dedicated connection, [`lookout_store::leader`]):
//!
//! - A follower tries for the lock every sixth of `leader_lease_ms`. Once it has it, it starts
//!   a term (the epoch in the store grows by one) and waits a whole lease before it leads,
//!   so a leader that lost the lock without noticing has stopped by then.
//! - The leader checks its lock every sixth of a lease (each store call it makes is bounded
//!   by as much) and steps down when no check succeeded for two thirds of a lease: agent
//!   sessions end (their agents reconnect to the new leader), the gateway's health turns
//!   NOT_SERVING, the lock is released.
//! - Every assignment carries the epoch, and an agent refuses one older than the newest it
//!   saw; the agent registry is written only by the leader of the current epoch.
//! - Monitor changes reach the leader through the store's change feed, whichever replica
//!   made them; the leader's own changes are also applied at once.
//!
//! On SQLite there is one coordinator, which leads from the start.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use lookout_proto::v1::agent_gateway_server::AgentGatewayServer;
use lookout_store::leader::LeaderLock;
use lookout_store::{Backend, Store, StoreError, now_ms};
use tokio::time::{Instant, MissedTickBehavior, sleep, timeout};
use tokio_util::sync::CancellationToken;
use tonic::metadata::MetadataValue;
use tonic_health::server::HealthReporter;

use crate::grpc::gateway::GatewayService;
use crate::hub::Hub;
use crate::no_data::NoDataWatch;
use crate::session::NOT_LEADING;

/// Changes read from the feed per query.
const FEED_PAGE: u32 = 1000;
/// How often the leader reads the change feed.
const FEED_EVERY: Duration = Duration::from_millis(250);
/// How long changes stay in the feed (a leader that just began reads from the head on).
const FEED_RETENTION_MS: i64 = 10 * 60 * 1000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often the leader publishes the agent registry for the other replicas.
const REGISTRY_EVERY: Duration = Duration::from_secs(2);
/// How long a follower reuses the leader's URL it read.
const HINT_FRESH: Duration = Duration::from_secs(1);

/// This replica's part in the leadership.
pub struct Leadership {
    store: Store,
    hub: Arc<Hub>,
    no_data: Arc<NoDataWatch>,
    health: HealthReporter,
    holder: String,
    address: String,
    lease: Duration,
    /// The leader's URL as last read from the store (followers tell agents), and when.
    hint: std::sync::Mutex<Option<(Instant, Option<String>)>>,
}

/// Why a campaign for the lock failed (the lock is then released and tried for again).
#[derive(Debug, thiserror::Error)]
enum CampaignError {
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("the store did not answer in time")]
    Timeout,
    #[error("the leader lock of epoch {0} was lost before leading")]
    LostLock(u64),
}

/// Why a term ended.
enum TermEnd {
    Shutdown,
    Lost(String),
}

impl Leadership {
    /// `holder` names this replica, `address` is where agents reach it, `lease` is
    /// `leader_lease_ms`.
    pub fn new(
        store: Store,
        hub: Arc<Hub>,
        no_data: Arc<NoDataWatch>,
        health: HealthReporter,
        holder: String,
        address: String,
        lease: Duration,
    ) -> Leadership {
        Leadership {
            store,
            hub,
            no_data,
            health,
            holder,
            address,
            lease,
            hint: std::sync::Mutex::new(None),
        }
    }

    fn tick(&self) -> Duration {
        self.lease / 6
    }

    /// On SQLite: takes the (always free) lock and leads before returning (with the feed
    /// position for [`Leadership::run`]), so a single coordinator serves agents from its first
    /// accepted connection. On PostgreSQL nothing happens here (`None`); [`Leadership::run`]
    /// competes for the lock.
    pub async fn start(&self, lock: &mut LeaderLock) -> Result<Option<i64>, StoreError> {
        if self.store.backend() != Backend::Sqlite {
            self.set_gateway_health(false).await;
            return Ok(None);
        }
        lock.try_acquire().await?;
        let epoch = self
            .store
            .claim_leadership(&self.holder, &self.address)
            .await?;
        Ok(Some(self.promote(epoch).await?))
    }

    /// Competes for the lock and leads while holding it, until `stop`. `leading` is the
    /// feed position [`Leadership::start`] returned when it already made this replica lead. Returns the lock, still
    /// held when this replica led at the end: the caller releases it once the agent sessions
    /// finished publishing what they accepted, so the next leader takes over without waiting
    /// for this one's connection to time out.
    pub async fn run(
        self: Arc<Self>,
        mut lock: LeaderLock,
        leading: Option<i64>,
        stop: CancellationToken,
    ) -> LeaderLock {
        // The change feed's position while leading.
        let mut leading = leading;
        let mut last_error_log: Option<Instant> = None;
        loop {
            let Some(cursor) = leading else {
                match self.campaign(&mut lock, &stop).await {
                    Ok(Some(epoch)) => match self.promote(epoch).await {
                        Ok(head) => leading = Some(head),
                        Err(e) => {
                            tracing::warn!(epoch, error = %e, "could not load the monitors to lead; giving the lock up");
                            lock.release().await;
                        }
                    },
                    Ok(None) => return lock,
                    Err(e) => {
                        let now = Instant::now();
                        if last_error_log
                            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(30))
                        {
                            last_error_log = Some(now);
                            tracing::warn!(error = %e, "could not compete for leadership; retrying");
                        }
                        lock.release().await;
                    }
                }
                if leading.is_none() && pause(&stop, self.tick()).await {
                    return lock;
                }
                continue;
            };
            let epoch = self.hub.epoch().await.unwrap_or_default();
            match self.lead(epoch, cursor, &mut lock, &stop).await {
                TermEnd::Shutdown => {
                    // Sessions finish publishing first (they stop on the same signal).
                    self.set_gateway_health(false).await;
                    return lock;
                }
                TermEnd::Lost(reason) => {
                    tracing::error!(epoch, %reason, "stopped leading");
                    self.set_gateway_health(false).await;
                    let reason = format!("this coordinator replica stopped leading: {reason}");
                    self.hub.demote(&reason).await;
                    lock.release().await;
                    leading = None;
                }
            }
        }
    }

    /// Tries for the lock until it is taken (`Some(epoch)` once the fencing wait is over) or
    /// `stop` (`None`).
    async fn campaign(
        &self,
        lock: &mut LeaderLock,
        stop: &CancellationToken,
    ) -> Result<Option<u64>, CampaignError> {
        let bound = self.lease;
        loop {
            let got = tokio::select! {
                () = stop.cancelled() => return Ok(None),
                got = timeout(bound, lock.try_acquire()) => got,
            };
            if got.map_err(|_| CampaignError::Timeout)?? {
                break;
            }
            if pause(stop, self.tick()).await {
                return Ok(None);
            }
        }
        let claim = self.store.claim_leadership(&self.holder, &self.address);
        let epoch = timeout(bound, claim)
            .await
            .map_err(|_| CampaignError::Timeout)??;
        tracing::info!(
            epoch,
            lease_ms = self.lease.as_millis() as u64,
            "took the leader lock; leading after one lease"
        );
        // A deposed leader that has not noticed yet stops within a lease of its last check.
        let until = Instant::now() + self.lease;
        while Instant::now() < until {
            if pause(stop, self.tick()).await {
                return Ok(None);
            }
            match timeout(self.tick(), lock.check()).await {
                Ok(Ok(true)) => {}
                _ => return Err(CampaignError::LostLock(epoch)),
            }
        }
        Ok(Some(epoch))
    }

    /// Loads the monitors and starts admitting agents in term `epoch`.
    /// Returns the change feed's head as it was before the monitors were read: following the
    /// feed from there misses nothing committed meanwhile (a change read twice is applied
    /// once).
    async fn promote(&self, epoch: u64) -> Result<i64, StoreError> {
        let started = Instant::now();
        let head = self.store.monitor_feed_head().await?;
        let monitors = self.store.list_monitors().await?;
        let n = monitors.len();
        self.no_data.reload(&monitors).await;
        self.hub.promote(epoch, monitors).await;
        self.set_gateway_health(true).await;
        tracing::info!(
            epoch,
            holder = %self.holder,
            address = %self.address,
            monitors = n,
            load_ms = started.elapsed().as_millis() as u64,
            "leading: serving agents"
        );
        Ok(head)
    }

    /// One term: checks the lock, reads the change feed after `cursor` (see
    /// [`Leadership::promote`]), publishes the registry, prunes the feed, until the lock is in
    /// doubt or `stop`.
    async fn lead(
        &self,
        epoch: u64,
        mut cursor: i64,
        lock: &mut LeaderLock,
        stop: &CancellationToken,
    ) -> TermEnd {
        let tick = self.tick();
        let give_up = self.lease * 2 / 3;
        // Other replicas exist only on PostgreSQL: the feed and the published registry are
        // theirs.
        let replicas = self.store.backend() == Backend::Postgres;
        let mut checks = interval(tick);
        let mut feed_tick = interval(FEED_EVERY);
        let mut registry = interval(REGISTRY_EVERY);
        let mut prune = interval(PRUNE_EVERY);
        let mut last_ok = Instant::now();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return TermEnd::Shutdown,
                _ = checks.tick() => {
                    match timeout(tick, lock.check()).await {
                        Ok(Ok(true)) => last_ok = Instant::now(),
                        Ok(Ok(false)) => return TermEnd::Lost("the leader lock is no longer held".into()),
                        Ok(Err(e)) => tracing::warn!(epoch, error = %e, "could not check the leader lock"),
                        Err(_) => tracing::warn!(epoch, "checking the leader lock timed out"),
                    }
                    if last_ok.elapsed() >= give_up {
                        return TermEnd::Lost(format!(
                            "the leader lock could not be confirmed for {} ms", give_up.as_millis()
                        ));
                    }
                }
                _ = feed_tick.tick(), if replicas => {
                    match timeout(tick, self.follow_feed(&mut cursor)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::warn!(epoch, error = %e, "could not read the change feed; retrying"),
                        Err(_) => tracing::debug!(epoch, "reading the change feed took a while; going on next time"),
                    }
                }
                _ = registry.tick(), if replicas => {
                    let agents = self.hub.agents("").await;
                    match timeout(tick, self.store.publish_agents(epoch, &agents)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(StoreError::Fenced { .. })) => {
                            return TermEnd::Lost("another replica began a newer term".into());
                        }
                        Ok(Err(e)) => tracing::warn!(epoch, error = %e, "could not publish the agent registry"),
                        Err(_) => tracing::debug!(epoch, "publishing the agent registry timed out"),
                    }
                }
                _ = prune.tick(), if replicas => {
                    if let Ok(Err(e)) = timeout(tick, self.store.prune_monitor_changes(now_ms() - FEED_RETENTION_MS)).await {
                        tracing::warn!(epoch, error = %e, "could not prune the change feed");
                    }
                }
            }
        }
    }

    /// Applies the changes after `cursor`, page by page, moving it along.
    async fn follow_feed(&self, cursor: &mut i64) -> Result<(), StoreError> {
        loop {
            let changes = self.store.monitor_changes_after(*cursor, FEED_PAGE).await?;
            let mut seen = HashSet::new();
            for c in &changes {
                if seen.insert(c.monitor_id.as_str()) {
                    self.hub.refresh_monitor(&c.monitor_id).await;
                    self.no_data.refresh(&c.monitor_id).await;
                }
            }
            if let Some(last) = changes.last() {
                *cursor = last.seq;
            }
            if changes.len() < FEED_PAGE as usize {
                return Ok(());
            }
        }
    }

    async fn set_gateway_health(&self, serving: bool) {
        if serving {
            self.health
                .set_serving::<AgentGatewayServer<GatewayService>>()
                .await;
        } else {
            self.health
                .set_not_serving::<AgentGatewayServer<GatewayService>>()
                .await;
        }
    }

    /// The status a replica that does not lead refuses an agent's session with: UNAVAILABLE,
    /// with [`lookout_proto::LEADER_METADATA`] holding the leader's URL (empty while none is
    /// known).
    pub async fn refusal(&self) -> tonic::Status {
        let mut status = tonic::Status::unavailable(NOT_LEADING);
        let url = self
            .leader_url()
            .await
            .filter(|url| *url != self.address)
            .unwrap_or_default();
        let value = MetadataValue::try_from(url.as_str())
            .unwrap_or_else(|_| MetadataValue::from_static(""));
        status
            .metadata_mut()
            .insert(lookout_proto::LEADER_METADATA, value);
        status
    }

    /// The leader's advertised URL, read from the store at most every [`HINT_FRESH`].
    async fn leader_url(&self) -> Option<String> {
        if let Some((at, url)) = self.hint.lock().expect("hint lock poisoned").clone()
            && at.elapsed() < HINT_FRESH
        {
            return url;
        }
        let url = match timeout(self.tick(), self.store.leader()).await {
            Ok(Ok(row)) => row.map(|r| r.address),
            _ => None,
        };
        *self.hint.lock().expect("hint lock poisoned") = Some((Instant::now(), url.clone()));
        url
    }
}

fn interval(every: Duration) -> tokio::time::Interval {
    let mut i = tokio::time::interval(every);
    i.set_missed_tick_behavior(MissedTickBehavior::Delay);
    i
}

/// Sleeps `d`; true when `stop` came first.
async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = sleep(d) => false,
    }
}
