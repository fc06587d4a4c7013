//! Monitor definitions: written by the coordinator, read by the notifier. The whole
//! `lookout.v1.Monitor` (secrets included) is stored protobuf-encoded and sealed (see
//! `seal.rs`) in `spec`, its key id in `spec_key_id`; the other columns mirror it in clear
//! for listing and for optimistic concurrency on `version`. A deleted monitor keeps its row,
//! marked `deleted_at_ms`: every reader but [`Store::monitor_record`] (the notifier's, which
//! still delivers the notification that resolves its incident) skips it.

use crate::keys::spec_place;
use crate::{Row, Sql, Store, StoreError, now_ms};
use lookout_proto::Monitor;
use prost::Message;

impl Store {
    /// Inserts a new monitor with version 1 and both timestamps set to now; returns the
    /// stored monitor. An existing id is a `Conflict`. A deleted monitor under the same id (a
    /// declared id, deleted through the API) is replaced, and the new one continues its
    /// versions, so results of the old one stay older and never count.
    pub async fn insert_monitor(&self, mut m: Monitor) -> Result<Monitor, StoreError> {
        let now = now_ms();
        let mut tx = self.begin().await?;
        // A write first: on SQLite a transaction that reads before it writes cannot wait for
        // another writer (it fails with "database is locked" at once).
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
             spec_key_id, active_since_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $4)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(self.seal_spec(&m)?)
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.created_at_ms)
        .bind(m.updated_at_ms)
        .bind(self.keyring().current_id());
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

    /// The monitor with `id`, or `NotFound`.
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

    /// Every monitor, ordered by id (ids are time-ordered UUIDv7, so this is creation order).
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
        if self.pool().execute(sql).await? == 1 {
            return Ok(m);
        }
        match self.get_monitor(&m.id).await {
            Ok(_) => Err(StoreError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Marks the monitor with `id` deleted at `now` and returns its new version (one past the
    /// last), or `NotFound`. The row stays for the notifier (see [`Store::monitor_record`]).
    pub async fn delete_monitor(&self, id: &str) -> Result<u64, StoreError> {
        let sql = Sql::new(
            "UPDATE monitors SET deleted_at_ms = $1, updated_at_ms = $1, version = version + 1 \
             WHERE id = $2 AND deleted_at_ms IS NULL RETURNING version",
        )
        .bind(now_ms())
        .bind(id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        let version: i64 = row.get("version")?;
        Ok(u64::try_from(version).unwrap_or(0))
    }

    /// The monitor with `id` whether deleted or not, with its lifecycle columns, or `NotFound`:
    /// the notifier's reader, which resolves and notifies for deleted monitors too.
    pub async fn monitor_record(&self, id: &str) -> Result<MonitorRecord, StoreError> {
        let sql = Sql::new(
            "SELECT id, spec, spec_key_id, version, deleted_at_ms, active_since_version \
             FROM monitors WHERE id = $1",
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
            deleted_at_ms: row.get("deleted_at_ms")?,
            active_since_version: u64::try_from(active).unwrap_or(0),
        })
    }
}

/// A stored monitor with its lifecycle, as the notifier reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorRecord {
    pub monitor: Monitor,
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

/// Versions are u64 on the wire and BIGINT in SQL; no monitor reaches 2^63 changes.
fn version_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// The protobuf of `m`, sealed under the current key for the row of `m.id`.
    fn seal_spec(&self, m: &Monitor) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .keyring()
            .seal(&spec_place(&m.id), &m.encode_to_vec())?)
    }

    /// A row read with `id, spec, spec_key_id`. A row without a key id is one stored before
    /// encryption at rest that no start has sealed yet (`Store::open` seals them).
    fn decode_row(&self, row: &Row) -> Result<Monitor, StoreError> {
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
