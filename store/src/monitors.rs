//! Monitor definitions: written by the coordinator, read by the notifier. The whole
//! `lookout.v1.Monitor` (secrets included) is stored protobuf-encoded in `spec`; the other
//! columns mirror it for listing and for optimistic concurrency on `version`. Each monitor
//! belongs to one project (`project_id`): the admin API reads and deletes through the
//! `*_in_project` methods; the unscoped `get_monitor` and `list_monitors` are for internal
//! readers that serve every project (the coordinator's assignment, the notifier).

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
    /// (on PostgreSQL the second writer waits for the row and re-checks the guard).
    pub async fn insert_monitor_in_project(
        &self,
        project_id: &str,
        mut m: Monitor,
    ) -> Result<Monitor, StoreError> {
        let now = now_ms();
        m.version = 1;
        m.created_at_ms = now;
        m.updated_at_ms = now;
        let mut tx = self.begin().await?;
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
        let sql = Sql::new(
            "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, updated_at_ms, \
             project_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(m.encode_to_vec())
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.created_at_ms)
        .bind(m.updated_at_ms)
        .bind(project_id);
        match tx.execute(sql).await {
            Ok(_) => {
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
    /// project).
    pub async fn get_monitor_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Monitor, StoreError> {
        let sql = Sql::new("SELECT id, spec FROM monitors WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_row(&row)
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
            "SELECT id, spec FROM monitors WHERE project_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3",
        )
        .bind(project_id)
        .bind(after)
        .bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(decode_row).collect()
    }

    /// The monitor with `id` in any project, or `NotFound`: for internal readers.
    pub async fn get_monitor(&self, id: &str) -> Result<Monitor, StoreError> {
        let sql = Sql::new("SELECT id, spec FROM monitors WHERE id = $1").bind(id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_row(&row)
    }

    /// Every monitor of every project, ordered by id (ids are time-ordered UUIDv7, so this is creation order).
    pub async fn list_monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        let rows = self
            .pool()
            .fetch_all(Sql::new("SELECT id, spec FROM monitors ORDER BY id"))
            .await?;
        rows.iter().map(decode_row).collect()
    }

    /// Replaces the definition of `m.id` if its stored version is still `expected_version`.
    /// The stored monitor gets version `expected_version + 1` and `updated_at_ms` now;
    /// `created_at_ms` is taken from `m`. Returns `NotFound` when the id does not exist and
    /// `Conflict` when another writer changed it first.
    pub async fn update_monitor(
        &self,
        mut m: Monitor,
        expected_version: u64,
    ) -> Result<Monitor, StoreError> {
        m.version = expected_version.saturating_add(1);
        m.updated_at_ms = now_ms();
        let sql = Sql::new(
            "UPDATE monitors SET name = $1, spec = $2, version = $3, paused = $4, updated_at_ms = $5 \
             WHERE id = $6 AND version = $7",
        )
        .bind(&m.name)
        .bind(m.encode_to_vec())
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.updated_at_ms)
        .bind(&m.id)
        .bind(version_i64(expected_version));
        if self.pool().execute(sql).await? == 1 {
            return Ok(m);
        }
        match self.get_monitor(&m.id).await {
            Ok(_) => Err(StoreError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Deletes the monitor with `id` in any project, or returns `NotFound`.
    pub async fn delete_monitor(&self, id: &str) -> Result<(), StoreError> {
        self.delete_monitor_where(None, id).await
    }

    /// Deletes the monitor with `id` in `project_id`, or returns `NotFound` (also when it
    /// belongs to another project).
    pub async fn delete_monitor_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.delete_monitor_where(Some(project_id), id).await
    }

    /// Deletes the row and lowers its project's monitor count in one transaction.
    async fn delete_monitor_where(
        &self,
        project_id: Option<&str>,
        id: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let sql = Sql::new(
            "DELETE FROM monitors WHERE id = $1 AND (CAST($2 AS TEXT) IS NULL OR project_id = $2) \
             RETURNING project_id",
        )
        .bind(id)
        .bind(project_id);
        let row = tx.fetch_optional(sql).await?.ok_or(StoreError::NotFound)?;
        let owner: String = row.get("project_id")?;
        let uncount = Sql::new(
            "UPDATE projects SET monitor_count = monitor_count - 1 \
             WHERE id = $1 AND monitor_count > 0",
        )
        .bind(owner);
        tx.execute(uncount).await?;
        tx.commit().await
    }
}

/// Versions are u64 on the wire and BIGINT in SQL; no monitor reaches 2^63 changes.
fn version_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn decode_row(row: &Row) -> Result<Monitor, StoreError> {
    let id: String = row.get("id")?;
    let spec: Vec<u8> = row.get("spec")?;
    Monitor::decode(spec.as_slice()).map_err(|source| StoreError::Decode { id, source })
}
