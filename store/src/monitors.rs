//! Monitor definitions: written by the coordinator, read by the notifier. The whole
//! `lookout.v1.Monitor` (secrets included) is stored protobuf-encoded and sealed (see
//! `seal.rs`) in `spec`, its key id in `spec_key_id`; the other columns mirror it in clear
//! for listing and for optimistic concurrency on `version`. A deleted monitor keeps its row,
//! marked `deleted_at_ms`: every reader but [`Store::monitor_record`] (the notifier's, which
//! still delivers the notification that resolves its incident) skips it. Each monitor belongs
//! to one project (`project_id`): the admin API reads, changes and deletes through the
//! `*_in_project` methods; the unscoped `get_monitor` and `list_monitors` are for internal
//! readers that serve every project (the coordinator's assignment, the notifier).

use crate::keys::spec_place;
use crate::projects::DEFAULT_PROJECT_ID;
use crate::{Row, Sql, Store, StoreError, now_ms};
use lookout_proto::Monitor;
use prost::Message;

impl Store {
    /// Inserts a new monitor into the default project (see [`Store::insert_monitor_in_project`]).
    pub async fn insert_monitor(&self, m: Monitor) -> Result<Monitor, StoreError> {
        self.insert_monitor_in_project(DEFAULT_PROJECT_ID, m).await
    }

    /// Inserts a new monitor into `project_id` with version 1 and both timestamps set to now;
    /// returns the stored monitor. An existing id is a `Conflict`, an unknown project
    /// `NotFound`, a project at its `max_monitors` a `MonitorQuota`. The count is raised by a
    /// guarded update in the insert's transaction, so concurrent creates cannot overshoot it
    /// (on PostgreSQL the second writer waits for the row and re-checks the guard). A deleted
    /// monitor under the same id (a declared id, deleted through the API) is replaced, and the
    /// new one continues its versions, so results of the old one stay older and never count.
    pub async fn insert_monitor_in_project(
        &self,
        project_id: &str,
        mut m: Monitor,
    ) -> Result<Monitor, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        // A write first: on SQLite a transaction that reads before it writes cannot wait for
        // another writer (it fails with "database is locked" at once).
        let counted = Sql::new(
            "UPDATE projects SET monitor_count = monitor_count + 1 \
             WHERE id = $1 AND monitor_count < max_monitors RETURNING max_monitors",
        )
        .bind(project_id);
        if tx.fetch_optional(counted).await?.is_none() {
            drop(tx);
            let p = self.get_project(project_id).await?;
            return Err(StoreError::MonitorQuota {
                max: p.quotas.max_monitors,
            });
        }
        // A deleted row no longer counts (its deletion lowered the count).
        let deleted = Sql::new(
            "DELETE FROM monitors WHERE id = $1 AND deleted_at_ms IS NOT NULL RETURNING version",
        )
        .bind(&m.id);
        let previous: Option<i64> = match tx.fetch_optional(deleted).await? {
            Some(row) => Some(row.get("version")?),
            None => None,
        };
        m.version = previous.map_or(1, |v| u64::try_from(v).unwrap_or(0).saturating_add(1));
        m.created_at_ms = now;
        m.updated_at_ms = now;
        let sql = Sql::new(
            "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, updated_at_ms, \
             spec_key_id, active_since_version, project_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4, $9)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(self.seal_spec(&m)?)
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.created_at_ms)
        .bind(m.updated_at_ms)
        .bind(self.keyring().current_id())
        .bind(project_id);
        match tx.execute(sql).await {
            Ok(_) => {
                attach(&mut tx, &m).await?;
                tx.commit().await?;
                Ok(m)
            }
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e),
        }
    }

    /// The monitor with `id` in `project_id`, or `NotFound` (also when it belongs to another
    /// project or is deleted).
    pub async fn get_monitor_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Monitor, StoreError> {
        let sql = Sql::new(
            "SELECT id, spec, spec_key_id FROM monitors WHERE id = $1 AND project_id = $2 \
             AND deleted_at_ms IS NULL",
        )
        .bind(id)
        .bind(project_id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.decode_row(&row)
    }

    /// At most `limit` monitors of `project_id` with ids after `after`, ordered by id (a
    /// keyset page: each page costs an index range scan however deep it is).
    pub async fn list_monitors_in_project(
        &self,
        project_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Monitor>, StoreError> {
        let sql = Sql::new(
            "SELECT id, spec, spec_key_id FROM monitors WHERE project_id = $1 \
             AND deleted_at_ms IS NULL AND (CAST($2 AS TEXT) IS NULL OR id > $2) \
             ORDER BY id LIMIT $3",
        )
        .bind(project_id)
        .bind(after)
        .bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(|r| self.decode_row(r)).collect()
    }

    /// The monitor with `id` in any project, or `NotFound` (also when deleted): for internal
    /// readers.
    pub async fn get_monitor(&self, id: &str) -> Result<Monitor, StoreError> {
        let sql = Sql::new(
            "SELECT id, spec, spec_key_id FROM monitors WHERE id = $1 AND deleted_at_ms IS NULL",
        )
        .bind(id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.decode_row(&row)
    }

    /// Every monitor of every project but the deleted ones, ordered by id (ids are
    /// time-ordered UUIDv7, so this is creation order): for internal readers.
    pub async fn list_monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        let rows = self
            .pool()
            .fetch_all(Sql::new(
                "SELECT id, spec, spec_key_id FROM monitors WHERE deleted_at_ms IS NULL ORDER BY id",
            ))
            .await?;
        rows.iter().map(|r| self.decode_row(r)).collect()
    }

    /// Replaces the definition of `m.id` if its stored version is still `expected_version`.
    /// The stored monitor gets version `expected_version + 1` and `updated_at_ms` now;
    /// `created_at_ms` is taken from `m`. Returns `NotFound` when the id does not exist and
    /// `Conflict` when another writer changed it first. Resuming a paused monitor makes the
    /// new version its `active_since_version`.
    pub async fn update_monitor(
        &self,
        mut m: Monitor,
        expected_version: u64,
    ) -> Result<Monitor, StoreError> {
        m.version = expected_version.saturating_add(1);
        m.updated_at_ms = now_ms();
        let sql = Sql::new(
            "UPDATE monitors SET name = $1, spec = $2, version = $3, paused = $4, updated_at_ms = $5, \
             spec_key_id = $8, active_since_version = CASE WHEN paused AND NOT $4 THEN $3 \
             ELSE active_since_version END \
             WHERE id = $6 AND version = $7 AND deleted_at_ms IS NULL",
        )
        .bind(&m.name)
        .bind(self.seal_spec(&m)?)
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.updated_at_ms)
        .bind(&m.id)
        .bind(version_i64(expected_version))
        .bind(self.keyring().current_id());
        let mut tx = self.begin().await?;
        if tx.execute(sql).await? == 1 {
            attach(&mut tx, &m).await?;
            tx.commit().await?;
            return Ok(m);
        }
        drop(tx);
        match self.get_monitor(&m.id).await {
            Ok(_) => Err(StoreError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Marks the monitor with `id` in any project deleted (see
    /// [`Store::delete_monitor_in_project`]).
    pub async fn delete_monitor(&self, id: &str) -> Result<u64, StoreError> {
        self.delete_monitor_where(None, id).await
    }

    /// Marks the monitor with `id` in `project_id` deleted now and returns its new version (one
    /// past the last), or `NotFound` (also when it belongs to another project). The row stays
    /// for the notifier (see [`Store::monitor_record`]); the project's monitor count drops at
    /// once, in the same transaction.
    pub async fn delete_monitor_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<u64, StoreError> {
        self.delete_monitor_where(Some(project_id), id).await
    }

    async fn delete_monitor_where(
        &self,
        project_id: Option<&str>,
        id: &str,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let sql = Sql::new(
            "UPDATE monitors SET deleted_at_ms = $1, updated_at_ms = $1, version = version + 1 \
             WHERE id = $2 AND deleted_at_ms IS NULL \
             AND (CAST($3 AS TEXT) IS NULL OR project_id = $3) RETURNING version, project_id",
        )
        .bind(now_ms())
        .bind(id)
        .bind(project_id);
        let row = tx.fetch_optional(sql).await?.ok_or(StoreError::NotFound)?;
        let version: i64 = row.get("version")?;
        let owner: String = row.get("project_id")?;
        let uncount = Sql::new(
            "UPDATE projects SET monitor_count = monitor_count - 1 \
             WHERE id = $1 AND monitor_count > 0",
        )
        .bind(owner);
        tx.execute(uncount).await?;
        tx.commit().await?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    /// The monitor with `id` whether deleted or not, with its lifecycle columns, or `NotFound`:
    /// the notifier's reader, which resolves and notifies for deleted monitors too.
    pub async fn monitor_record(&self, id: &str) -> Result<MonitorRecord, StoreError> {
        let sql = Sql::new(
            "SELECT id, spec, spec_key_id, version, deleted_at_ms, active_since_version, \
             project_id FROM monitors WHERE id = $1",
        )
        .bind(id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        let mut monitor = self.decode_row(&row)?;
        // A deletion bumps the column, not the encoded definition.
        let version: i64 = row.get("version")?;
        monitor.version = u64::try_from(version).unwrap_or(0);
        let active: i64 = row.get("active_since_version")?;
        Ok(MonitorRecord {
            monitor,
            project_id: row.get("project_id")?,
            deleted_at_ms: row.get("deleted_at_ms")?,
            active_since_version: u64::try_from(active).unwrap_or(0),
        })
    }
}

impl Store {
    /// Deleted or paused monitors that still have an open incident, with their version and
    /// whether they are deleted (else paused): what a lifecycle event was lost for, since only
    /// that event lets the notifier resolve such an incident.
    pub async fn inactive_monitors_with_open_incidents(
        &self,
    ) -> Result<Vec<InactiveMonitor>, StoreError> {
        let sql = Sql::new(
            "SELECT m.id, m.version, m.deleted_at_ms FROM monitors m \
             JOIN incidents i ON i.monitor_id = m.id AND i.status = 'open' \
             WHERE m.deleted_at_ms IS NOT NULL OR m.paused ORDER BY m.id",
        );
        self.pool()
            .fetch_all(sql)
            .await?
            .iter()
            .map(|r| {
                let version: i64 = r.get("version")?;
                Ok(InactiveMonitor {
                    id: r.get("id")?,
                    version: u64::try_from(version).unwrap_or(0),
                    deleted: r.get::<Option<i64>>("deleted_at_ms")?.is_some(),
                })
            })
            .collect()
    }
}

/// A deleted or paused monitor (see [`Store::inactive_monitors_with_open_incidents`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InactiveMonitor {
    pub id: String,
    pub version: u64,
    /// Deleted; otherwise paused.
    pub deleted: bool,
}

/// A stored monitor with its lifecycle, as the notifier reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRecord {
    pub monitor: Monitor,
    pub project_id: String,
    /// When it was deleted; `None` while it exists.
    pub deleted_at_ms: Option<i64>,
    /// The version it last became active at (created, or resumed after a pause): results
    /// produced with an older version are stale.
    pub active_since_version: u64,
}

impl MonitorRecord {
    /// Whether a result produced with `version` counts: the monitor exists, runs, and the
    /// result is not from before its last pause (0: a result without a version counts).
    pub fn counts(&self, version: u64) -> bool {
        self.deleted_at_ms.is_none()
            && !self.monitor.paused
            && (version == 0 || version >= self.active_since_version)
    }
}

/// Makes `monitor_integrations` list exactly `m.integration_ids` for `m`.
pub(crate) async fn attach(tx: &mut crate::db::Tx, m: &Monitor) -> Result<(), StoreError> {
    tx.execute(Sql::new("DELETE FROM monitor_integrations WHERE monitor_id = $1").bind(&m.id))
        .await?;
    for id in &m.integration_ids {
        let sql = Sql::new(
            "INSERT INTO monitor_integrations (monitor_id, integration_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(&m.id)
        .bind(id);
        tx.execute(sql).await?;
    }
    Ok(())
}

/// Versions are u64 on the wire and BIGINT in SQL; no monitor reaches 2^63 changes.
fn version_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// The protobuf of `m`, sealed under the current key for the row of `m.id`.
    pub(crate) fn seal_spec(&self, m: &Monitor) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .keyring()
            .seal(&spec_place(&m.id), &m.encode_to_vec())?)
    }

    /// A row read with `id, spec, spec_key_id`. A row without a key id is one stored before
    /// encryption at rest that no start has sealed yet (`Store::open` seals them).
    pub(crate) fn decode_row(&self, row: &Row) -> Result<Monitor, StoreError> {
        let id: String = row.get("id")?;
        let spec: Vec<u8> = row.get("spec")?;
        let key_id: Option<String> = row.get("spec_key_id")?;
        let plain = match key_id {
            Some(_) => self
                .keyring()
                .open(&spec_place(&id), &spec)
                .map_err(|source| StoreError::Unseal {
                    id: id.clone(),
                    source,
                })?,
            None => spec,
        };
        Monitor::decode(plain.as_slice()).map_err(|source| StoreError::Decode { id, source })
    }
}
