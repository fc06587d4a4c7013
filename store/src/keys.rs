//! The store's side of secrets at rest: at open, the key checks (a wrong or missing key stops
//! the process before anything sealed is read) and the sealing of plaintext rows left from
//! before encryption; later, `rotate_secrets` re-sealing rows under the current key.

use crate::{Sql, Store, StoreError, now_ms};

/// What a key check seals; opening it proves the configured key of that id is the one used.
const CHECK_VALUE: &[u8] = b"lookout key check";
/// Rows read per page while sealing or rotating, so 100,000 monitors never sit in memory.
const PAGE: u32 = 500;

fn check_place(id: &str) -> Vec<u8> {
    format!("seal_key_checks.sealed\0{id}").into_bytes()
}

/// Where a monitor's sealed spec lives: the value opens only in the row it was sealed for.
pub(crate) fn spec_place(monitor_id: &str) -> Vec<u8> {
    format!("monitors.spec\0{monitor_id}").into_bytes()
}

impl Store {
    /// Records a key check for every configured key that has none, then refuses a keyring that
    /// disagrees with the database: a check that does not open with the configured key of its
    /// id, or rows sealed with an id that is not configured. Finally seals plaintext rows.
    pub(crate) async fn verify_keys(&self) -> Result<(), StoreError> {
        let keyring = self.keyring();
        for id in keyring.ids() {
            let sealed = keyring.seal(&check_place(id), CHECK_VALUE)?;
            let sql = Sql::new(
                "INSERT INTO seal_key_checks (key_id, sealed, created_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (key_id) DO NOTHING",
            )
            .bind(id)
            .bind(sealed)
            .bind(now_ms());
            self.pool().execute(sql).await?;
        }
        // Read back after inserting: of two processes starting at once with different keys
        // under one id, the second finds the first's check and stops.
        let checks = self
            .pool()
            .fetch_all(Sql::new("SELECT key_id, sealed FROM seal_key_checks"))
            .await?;
        for row in &checks {
            let id: String = row.get("key_id")?;
            if !keyring.contains(&id) {
                continue;
            }
            let sealed: Vec<u8> = row.get("sealed")?;
            match keyring.open(&check_place(&id), &sealed) {
                Ok(v) if v == CHECK_VALUE => {}
                _ => return Err(StoreError::WrongKey { id }),
            }
        }
        let used = self
            .pool()
            .fetch_all(Sql::new(
                "SELECT DISTINCT spec_key_id FROM monitors WHERE spec_key_id IS NOT NULL \
                 ORDER BY spec_key_id",
            ))
            .await?;
        let mut used = used
            .iter()
            .map(|row| row.get::<String>("spec_key_id"))
            .collect::<Result<Vec<_>, _>>()?;
        used.extend(self.integration_key_ids().await?);
        for id in used {
            if !keyring.contains(&id) {
                return Err(StoreError::MissingKey { id });
            }
        }
        let sealed = self.reseal(false).await?;
        if sealed > 0 {
            tracing::info!(
                monitors = sealed,
                key_id = keyring.current_id(),
                "sealed monitor definitions stored before encryption at rest"
            );
        }
        Ok(())
    }

    /// Re-seals every monitor not sealed with the current key (plaintext rows included) and
    /// returns how many it changed; a second run changes none. Afterwards no row needs the
    /// older keys, and they can be removed from the configuration.
    pub async fn rotate_secrets(&self) -> Result<u64, StoreError> {
        Ok(self.reseal(true).await? + self.reseal_integrations().await?)
    }

    /// Seals under the current key the plaintext monitors and, when `rotate`, those sealed
    /// with another key; a page at a time in id order.
    async fn reseal(&self, rotate: bool) -> Result<u64, StoreError> {
        let keyring = self.keyring();
        let current = keyring.current_id();
        let mut after = String::new();
        let mut changed = 0;
        loop {
            let sql = Sql::new(
                "SELECT id, spec, spec_key_id FROM monitors WHERE (spec_key_id IS NULL \
                 OR ($1 AND spec_key_id <> $2)) AND id > $3 ORDER BY id LIMIT $4",
            )
            .bind(rotate)
            .bind(current)
            .bind(after.as_str())
            .bind(PAGE);
            let rows = self.pool().fetch_all(sql).await?;
            let Some(last) = rows.last() else {
                return Ok(changed);
            };
            after = last.get("id")?;
            for row in &rows {
                let id: String = row.get("id")?;
                let spec: Vec<u8> = row.get("spec")?;
                let old: Option<String> = row.get("spec_key_id")?;
                let place = spec_place(&id);
                let plain = match &old {
                    Some(_) => {
                        keyring
                            .open(&place, &spec)
                            .map_err(|source| StoreError::Unseal {
                                id: id.clone(),
                                source,
                            })?
                    }
                    None => spec,
                };
                let sealed = keyring.seal(&place, &plain)?;
                // Only if nobody re-sealed or rewrote it meanwhile; a row that changed is
                // already under the current key.
                let sql = Sql::new(
                    "UPDATE monitors SET spec = $1, spec_key_id = $2 WHERE id = $3 \
                     AND ((CAST($4 AS TEXT) IS NULL AND spec_key_id IS NULL) OR spec_key_id = $4)",
                )
                .bind(sealed)
                .bind(current)
                .bind(&id)
                .bind(old);
                changed += self.pool().execute(sql).await?;
            }
        }
    }
}
