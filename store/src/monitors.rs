//! Monitor definitions: written by the coordinator, read by the notifier. The whole
//! `lookout.v1.Monitor` (secrets included) is stored protobuf-encoded and sealed (see
//! `seal.rs`) in `spec`, its key id in `spec_key_id`; the other columns mirror it in clear
//! for listing and for optimistic concurrency on `version`.

use crate::keys::spec_place;
use crate::{Row, Sql, Store, StoreError, now_ms};
use lookout_proto::Monitor;
use prost::Message;

impl Store {
    /// Inserts a new monitor with version 1 and both timestamps set to now; returns the
    /// stored monitor. An existing id is a `Conflict`.
    pub async fn insert_monitor(&self, mut m: Monitor) -> Result<Monitor, StoreError> {
        let now = now_ms();
        m.version = 1;
        m.created_at_ms = now;
        m.updated_at_ms = now;
        let sql = Sql::new(
            "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, updated_at_ms, \
             spec_key_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(self.seal_spec(&m)?)
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.created_at_ms)
        .bind(m.updated_at_ms)
        .bind(self.keyring().current_id());
        match self.pool().execute(sql).await {
            Ok(_) => Ok(m),
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e),
        }
    }

    /// The monitor with `id`, or `NotFound`.
    pub async fn get_monitor(&self, id: &str) -> Result<Monitor, StoreError> {
        let sql = Sql::new("SELECT id, spec, spec_key_id FROM monitors WHERE id = $1").bind(id);
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
                "SELECT id, spec, spec_key_id FROM monitors ORDER BY id",
            ))
            .await?;
        rows.iter().map(|r| self.decode_row(r)).collect()
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
            "UPDATE monitors SET name = $1, spec = $2, version = $3, paused = $4, updated_at_ms = $5, \
             spec_key_id = $8 WHERE id = $6 AND version = $7",
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

    /// Deletes the monitor with `id`, or returns `NotFound`.
    pub async fn delete_monitor(&self, id: &str) -> Result<(), StoreError> {
        let sql = Sql::new("DELETE FROM monitors WHERE id = $1").bind(id);
        if self.pool().execute(sql).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
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
