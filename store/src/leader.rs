//! Leadership among coordinator replicas on one PostgreSQL database: the leader is whoever
//! holds a session-level advisory lock on a dedicated connection ([`LeaderLock`]); each term
//! increments the epoch in `coordinator_leader`, which every write only a leader may make is
//! checked against (fencing). Beside it, the monitor change feed the leader tails (appended by
//! a trigger in every writing transaction, in commit order: migration 0017) and the agent
//! registry the leader publishes for the other replicas. On SQLite (one coordinator) the lock
//! is always held.

use std::str::FromStr;

use prost::Message as _;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection};

use lookout_proto::v1::Agent;

use crate::{Sql, Store, StoreError, now_ms};

/// The advisory lock key of the leader ("lookout" in ASCII).
const LEADER_LOCK_KEY: i64 = 0x006c_6f6f_6b6f_7574;

/// Who leads, as the last claim wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderRow {
    pub epoch: u64,
    /// The replica's name (`instance_id`, or host and process id).
    pub holder: String,
    /// Where agents reach that replica's gateway.
    pub address: String,
    pub since_ms: i64,
}

/// One write to a monitor, in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorChange {
    pub seq: i64,
    pub monitor_id: String,
}

/// The connection holding (or trying for) the leader lock. Closing it, or losing it, releases
/// the lock on the server.
pub struct LeaderLock {
    /// `None` on SQLite.
    options: Option<PgConnectOptions>,
    conn: Option<PgConnection>,
}

impl LeaderLock {
    /// Takes the lock unless another session holds it. A broken connection is an error (the
    /// next call reconnects).
    pub async fn try_acquire(&mut self) -> Result<bool, StoreError> {
        let Some(options) = &self.options else {
            return Ok(true);
        };
        if self.conn.is_none() {
            self.conn = Some(PgConnection::connect_with(options).await?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let got: Result<bool, sqlx::Error> = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await;
        match got {
            Ok(got) => Ok(got),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }

    /// Whether the lock is still held: the connection answers and the lock is among its
    /// session's. Any error means it may not be (the caller steps down).
    pub async fn check(&mut self) -> Result<bool, StoreError> {
        if self.options.is_none() {
            return Ok(true);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false);
        };
        let held: Result<bool, sqlx::Error> = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND pid = pg_backend_pid() AND granted \
             AND ((classid::bigint << 32) | objid::bigint) = $1)",
        )
        .bind(LEADER_LOCK_KEY)
        .fetch_one(&mut *conn)
        .await;
        match held {
            Ok(held) => Ok(held),
            Err(e) => {
                self.conn = None;
                Err(e.into())
            }
        }
    }

    /// Gives the lock up, then closes its connection. Unlocked first: the server frees the
    /// locks of a closed session only once its backend has exited, a moment later, and the
    /// next leader should not wait for that.
    pub async fn release(&mut self) {
        if let Some(mut conn) = self.conn.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(LEADER_LOCK_KEY)
                .execute(&mut conn)
                .await;
            if let Err(e) = unlocked {
                tracing::warn!(error = %e, "could not unlock the leader lock; closing its connection frees it");
            }
            // A connection that cannot close cleanly is dropped, which ends the session too.
            let _ = conn.close().await;
        }
    }
}

impl Store {
    /// A lock connection to this store's database, not yet connected. Its TCP keepalives are
    /// short, so the server notices a vanished leader within about 15 s even without a FIN.
    pub fn leader_lock(&self) -> Result<LeaderLock, StoreError> {
        let options = match &self.pg_url {
            None => None,
            Some(url) => Some(
                PgConnectOptions::from_str(&url.0)?
                    .application_name("lookout-coordinator-leader")
                    .options([
                        ("tcp_keepalives_idle", "5"),
                        ("tcp_keepalives_interval", "2"),
                        ("tcp_keepalives_count", "3"),
                    ]),
            ),
        };
        Ok(LeaderLock {
            options,
            conn: None,
        })
    }

    /// Starts a term: increments the epoch and records `holder` at `address` as the leader.
    /// Call it while holding the lock.
    pub async fn claim_leadership(&self, holder: &str, address: &str) -> Result<u64, StoreError> {
        let row = self
            .pool()
            .fetch_one(
                Sql::new(
                    "INSERT INTO coordinator_leader (id, epoch, holder, address, since_ms) \
                     VALUES (1, 1, $1, $2, $3) \
                     ON CONFLICT (id) DO UPDATE SET epoch = coordinator_leader.epoch + 1, \
                     holder = excluded.holder, address = excluded.address, since_ms = excluded.since_ms \
                     RETURNING epoch",
                )
                .bind(holder)
                .bind(address)
                .bind(now_ms()),
            )
            .await?;
        let epoch: i64 = row.get("epoch")?;
        Ok(epoch.max(0) as u64)
    }

    /// The leader as last claimed, if any replica ever led.
    pub async fn leader(&self) -> Result<Option<LeaderRow>, StoreError> {
        let row = self
            .pool()
            .fetch_optional(Sql::new(
                "SELECT epoch, holder, address, since_ms FROM coordinator_leader WHERE id = 1",
            ))
            .await?;
        row.map(|r| {
            Ok(LeaderRow {
                epoch: r.get::<i64>("epoch")?.max(0) as u64,
                holder: r.get("holder")?,
                address: r.get("address")?,
                since_ms: r.get("since_ms")?,
            })
        })
        .transpose()
    }

    /// The number of the newest change in the feed (0 when none was ever made).
    pub async fn monitor_feed_head(&self) -> Result<i64, StoreError> {
        let row = self
            .pool()
            .fetch_one(Sql::new("SELECT seq FROM monitor_feed_head WHERE id = 1"))
            .await?;
        row.get("seq")
    }

    /// At most `limit` changes after change `after`, oldest first.
    pub async fn monitor_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> Result<Vec<MonitorChange>, StoreError> {
        let rows = self
            .pool()
            .fetch_all(
                Sql::new(
                    "SELECT seq, monitor_id FROM monitor_changes WHERE seq > $1 \
                     ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(limit),
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MonitorChange {
                    seq: r.get("seq")?,
                    monitor_id: r.get("monitor_id")?,
                })
            })
            .collect()
    }

    /// Forgets changes made before `before_ms`; returns how many.
    pub async fn prune_monitor_changes(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.pool()
            .execute(Sql::new("DELETE FROM monitor_changes WHERE at_ms < $1").bind(before_ms))
            .await
    }

    /// Replaces the published agent registry with `agents`, as the leader of `epoch`; a
    /// deposed leader (another term began) is refused with [`StoreError::Fenced`].
    pub async fn publish_agents(&self, epoch: u64, agents: &[Agent]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        // Locks the leader row: a claim waits for this write, and this write sees a claim.
        let current = tx
            .execute(
                Sql::new("UPDATE coordinator_leader SET epoch = epoch WHERE id = 1 AND epoch = $1")
                    .bind(epoch as i64),
            )
            .await?;
        if current == 0 {
            return Err(StoreError::Fenced { epoch });
        }
        tx.execute(Sql::new("DELETE FROM agent_registry")).await?;
        let now = now_ms();
        for a in agents {
            tx.execute(
                Sql::new(
                    "INSERT INTO agent_registry (agent_id, region, epoch, updated_ms, agent) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&a.agent_id)
                .bind(&a.region)
                .bind(epoch as i64)
                .bind(now)
                .bind(a.encode_to_vec()),
            )
            .await?;
        }
        tx.commit().await
    }

    /// The registry the leader published last (of `region`, or every region when empty),
    /// with when it was written.
    pub async fn published_agents(&self, region: &str) -> Result<(Vec<Agent>, i64), StoreError> {
        let rows = self
            .pool()
            .fetch_all(
                Sql::new(
                    "SELECT agent_id, updated_ms, agent FROM agent_registry \
                     WHERE $1 = '' OR region = $1 ORDER BY region, agent_id",
                )
                .bind(region),
            )
            .await?;
        let mut updated = 0;
        let mut agents = Vec::with_capacity(rows.len());
        for r in &rows {
            updated = updated.max(r.get::<i64>("updated_ms")?);
            let bytes: Vec<u8> = r.get("agent")?;
            let agent = Agent::decode(bytes.as_slice()).map_err(|source| StoreError::Decode {
                id: r.get("agent_id").unwrap_or_default(),
                source,
            })?;
            agents.push(agent);
        }
        Ok((agents, updated))
    }
}
