//! Monitor definitions: written by the coordinator, read by the notifier. The whole
//! `lookout.v1.Monitor` (secrets included) is stored protobuf-encoded in `spec`; the other
//! columns mirror it for listing and for optimistic concurrency on `version`.

use lookout_proto::Monitor;
use prost::Message;
use sqlx::Row;

use crate::{Store, StoreError, now_ms};

impl Store {
    /// Inserts a new monitor with version 1 and both timestamps set to now; returns the
    /// stored monitor. An existing id is a `Conflict`.
    pub async fn insert_monitor(&self, mut m: Monitor) -> Result<Monitor, StoreError> {
        let now = now_ms();
        m.version = 1;
        m.created_at_ms = now;
        m.updated_at_ms = now;
        let res = sqlx::query(
            "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, updated_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&m.id)
        .bind(&m.name)
        .bind(m.encode_to_vec())
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.created_at_ms)
        .bind(m.updated_at_ms)
        .execute(self.pool())
        .await;
        match res {
            Ok(_) => Ok(m),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict),
            Err(e) => Err(e.into()),
        }
    }

    /// The monitor with `id`, or `NotFound`.
    pub async fn get_monitor(&self, id: &str) -> Result<Monitor, StoreError> {
        let row = sqlx::query("SELECT id, spec FROM monitors WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?
            .ok_or(StoreError::NotFound)?;
        decode_row(&row)
    }

    /// Every monitor, ordered by id (ids are time-ordered UUIDv7, so this is creation order).
    pub async fn list_monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        let rows = sqlx::query("SELECT id, spec FROM monitors ORDER BY id")
            .fetch_all(self.pool())
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
        let res = sqlx::query(
            "UPDATE monitors SET name = $1, spec = $2, version = $3, paused = $4, updated_at_ms = $5 \
             WHERE id = $6 AND version = $7",
        )
        .bind(&m.name)
        .bind(m.encode_to_vec())
        .bind(version_i64(m.version))
        .bind(m.paused)
        .bind(m.updated_at_ms)
        .bind(&m.id)
        .bind(version_i64(expected_version))
        .execute(self.pool())
        .await?;
        if res.rows_affected() == 1 {
            return Ok(m);
        }
        match self.get_monitor(&m.id).await {
            Ok(_) => Err(StoreError::Conflict),
            Err(e) => Err(e),
        }
    }

    /// Deletes the monitor with `id`, or returns `NotFound`.
    pub async fn delete_monitor(&self, id: &str) -> Result<(), StoreError> {
        let res = sqlx::query("DELETE FROM monitors WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

/// Versions are u64 on the wire and BIGINT in SQL; no monitor reaches 2^63 changes.
fn version_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn decode_row(row: &sqlx::sqlite::SqliteRow) -> Result<Monitor, StoreError> {
    let id: String = row.try_get("id")?;
    let spec: Vec<u8> = row.try_get("spec")?;
    Monitor::decode(spec.as_slice()).map_err(|source| StoreError::Decode { id, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::{TcpCheck, Webhook, monitor::Check};

    fn monitor(id: &str) -> Monitor {
        Monitor {
            id: id.into(),
            name: format!("name {id}"),
            regions: vec!["eu".into()],
            interval_secs: 30,
            webhooks: vec![Webhook {
                url: "http://h/x".into(),
                secret: "s3cret".into(),
                secret_set: true,
            }],
            check: Some(Check::Tcp(TcpCheck {
                address: "127.0.0.1:1".into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    async fn store() -> Store {
        Store::open("sqlite::memory:")
            .await
            .expect("open in-memory store")
    }

    #[tokio::test]
    async fn insert_get_list_keeps_secrets() {
        let s = store().await;
        let a = s.insert_monitor(monitor("mon_a")).await.expect("insert a");
        assert_eq!(a.version, 1);
        assert!(a.created_at_ms > 0);
        s.insert_monitor(monitor("mon_b")).await.expect("insert b");
        let got = s.get_monitor("mon_a").await.expect("get");
        assert_eq!(got, a);
        assert_eq!(got.webhooks[0].secret, "s3cret");
        let all = s.list_monitors().await.expect("list");
        let ids: Vec<_> = all.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids, ["mon_a", "mon_b"]);
        assert!(matches!(
            s.insert_monitor(monitor("mon_a")).await,
            Err(StoreError::Conflict)
        ));
    }

    #[tokio::test]
    async fn update_is_optimistic() {
        let s = store().await;
        let a = s.insert_monitor(monitor("mon_a")).await.expect("insert");
        let mut changed = a.clone();
        changed.name = "renamed".into();
        let v2 = s.update_monitor(changed.clone(), 1).await.expect("update");
        assert_eq!(v2.version, 2);
        assert_eq!(v2.created_at_ms, a.created_at_ms);
        assert_eq!(s.get_monitor("mon_a").await.expect("get").name, "renamed");
        assert!(matches!(
            s.update_monitor(changed.clone(), 1).await,
            Err(StoreError::Conflict)
        ));
        let mut missing = changed;
        missing.id = "mon_missing".into();
        assert!(matches!(
            s.update_monitor(missing, 1).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn delete_and_not_found() {
        let s = store().await;
        s.insert_monitor(monitor("mon_a")).await.expect("insert");
        s.delete_monitor("mon_a").await.expect("delete");
        assert!(matches!(
            s.get_monitor("mon_a").await,
            Err(StoreError::NotFound)
        ));
        assert!(matches!(
            s.delete_monitor("mon_a").await,
            Err(StoreError::NotFound)
        ));
    }
}
