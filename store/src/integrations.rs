//! Integrations and project variables: written by the coordinator, read by the notifier at
//! send time. Like monitors, a whole `lookout.v1.Integration` (secrets included) is stored
//! protobuf-encoded and sealed in `spec`; a variable's value is sealed too, secret or not.
//! `monitor_integrations` mirrors each monitor's `integration_ids`, so an integration still
//! attached cannot be deleted. The `system` column marks integrations a configuration file
//! declares (the coordinator refuses API changes to them).

use lookout_proto::v1::{Integration, Variable};
use prost::Message;

use crate::{Row, Sql, Store, StoreError, now_ms};

fn spec_place(id: &str) -> Vec<u8> {
    format!("integrations.spec\0{id}").into_bytes()
}

fn value_place(project_id: &str, name: &str) -> Vec<u8> {
    format!("project_variables.value\0{project_id}\0{name}").into_bytes()
}

const COLUMNS: &str = "id, project_id, spec, version, created_at_ms, updated_at_ms, system";

impl Store {
    /// Inserts `i` into `project_id` with version 1 and both timestamps now; `kind` is the
    /// short name of its kind (`webhook`, ...), `i.system` says whether a configuration file
    /// declares it. An existing id is a `Conflict`.
    pub async fn insert_integration_in_project(
        &self,
        project_id: &str,
        kind: &str,
        mut i: Integration,
    ) -> Result<Integration, StoreError> {
        let now = now_ms();
        i.project_id = project_id.to_string();
        i.version = 1;
        i.created_at_ms = now;
        i.updated_at_ms = now;
        let sql = Sql::new(
            "INSERT INTO integrations (id, project_id, name, kind, spec, spec_key_id, version, \
             created_at_ms, updated_at_ms, system) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $7, $8)",
        )
        .bind(&i.id)
        .bind(project_id)
        .bind(&i.name)
        .bind(kind)
        .bind(self.seal_integration(&i)?)
        .bind(self.keyring().current_id())
        .bind(now)
        .bind(i.system);
        match self.pool().execute(sql).await {
            Ok(_) => Ok(i),
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict)
            }
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(e),
        }
    }

    /// The integration `id` of `project_id`, or `NotFound` (also across projects).
    pub async fn get_integration_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<Integration, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {COLUMNS} FROM integrations WHERE id = $1 AND project_id = $2"
        ))
        .bind(id)
        .bind(project_id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.decode_integration(&row)
    }

    /// The integration `id` in any project, or `NotFound`: the notifier's reader.
    pub async fn get_integration(&self, id: &str) -> Result<Integration, StoreError> {
        let sql = Sql::new(format!("SELECT {COLUMNS} FROM integrations WHERE id = $1")).bind(id);
        let row = self
            .pool()
            .fetch_optional(sql)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.decode_integration(&row)
    }

    /// At most `limit` integrations of `project_id` with ids after `after`, by id.
    pub async fn list_integrations_in_project(
        &self,
        project_id: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Integration>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {COLUMNS} FROM integrations WHERE project_id = $1 \
             AND (CAST($2 AS TEXT) IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(project_id)
        .bind(after)
        .bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(|r| self.decode_integration(r)).collect()
    }

    /// Of `ids`, those that are not integrations of `project_id` (for refusing a monitor that
    /// attaches one), in the order given.
    pub async fn missing_integrations(
        &self,
        project_id: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let mut missing = Vec::new();
        for id in ids {
            let sql =
                Sql::new("SELECT 1 AS one FROM integrations WHERE id = $1 AND project_id = $2")
                    .bind(id)
                    .bind(project_id);
            if self.pool().fetch_optional(sql).await?.is_none() {
                missing.push(id.clone());
            }
        }
        Ok(missing)
    }

    /// Replaces integration `i.id` of `project_id` (its `system` flag too) if its version is
    /// still `expected_version`; `NotFound` or `Conflict` otherwise.
    pub async fn update_integration_in_project(
        &self,
        project_id: &str,
        kind: &str,
        mut i: Integration,
        expected_version: u64,
    ) -> Result<Integration, StoreError> {
        i.project_id = project_id.to_string();
        i.version = expected_version.saturating_add(1);
        i.updated_at_ms = now_ms();
        let sql = Sql::new(
            "UPDATE integrations SET name = $1, kind = $2, spec = $3, spec_key_id = $4, \
             version = $5, updated_at_ms = $6, system = $10 \
             WHERE id = $7 AND project_id = $8 AND version = $9",
        )
        .bind(&i.name)
        .bind(kind)
        .bind(self.seal_integration(&i)?)
        .bind(self.keyring().current_id())
        .bind(i64::try_from(i.version).unwrap_or(i64::MAX))
        .bind(i.updated_at_ms)
        .bind(&i.id)
        .bind(project_id)
        .bind(i64::try_from(expected_version).unwrap_or(i64::MAX))
        .bind(i.system);
        if self.pool().execute(sql).await? == 1 {
            return Ok(i);
        }
        self.get_integration_in_project(project_id, &i.id).await?;
        Err(StoreError::Conflict)
    }

    /// Deletes integration `id` of `project_id`: `NotFound`, or `InUse` naming (up to 10 of)
    /// the monitors that still attach it.
    pub async fn delete_integration_in_project(
        &self,
        project_id: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.get_integration_in_project(project_id, id).await?;
        let users = Sql::new(
            "SELECT mi.monitor_id FROM monitor_integrations mi \
             JOIN monitors m ON m.id = mi.monitor_id AND m.deleted_at_ms IS NULL \
             WHERE mi.integration_id = $1 ORDER BY mi.monitor_id LIMIT 10",
        )
        .bind(id);
        let rows = self.pool().fetch_all(users).await?;
        if !rows.is_empty() {
            let monitors = rows
                .iter()
                .map(|r| r.get::<String>("monitor_id"))
                .collect::<Result<Vec<_>, _>>()?;
            return Err(StoreError::InUse { monitors });
        }
        let sql = Sql::new("DELETE FROM integrations WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// Makes exactly `ids` the system integrations of `project_id` (those a configuration file
    /// declares), in one transaction; versions and timestamps stay as they are.
    pub async fn mark_system_integrations(
        &self,
        project_id: &str,
        ids: &[String],
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new("UPDATE integrations SET system = FALSE WHERE project_id = $1 AND system")
                .bind(project_id),
        )
        .await?;
        for id in ids {
            let sql =
                Sql::new("UPDATE integrations SET system = TRUE WHERE project_id = $1 AND id = $2")
                    .bind(project_id)
                    .bind(id);
            tx.execute(sql).await?;
        }
        tx.commit().await
    }

    /// Creates or replaces variable `v.name` of `project_id`; returns it with `updated_at_ms`.
    pub async fn set_variable(
        &self,
        project_id: &str,
        mut v: Variable,
    ) -> Result<Variable, StoreError> {
        v.updated_at_ms = now_ms();
        let sealed = self
            .keyring()
            .seal(&value_place(project_id, &v.name), v.value.as_bytes())?;
        let sql = Sql::new(
            "INSERT INTO project_variables (project_id, name, value, value_key_id, secret, \
             updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (project_id, name) \
             DO UPDATE SET value = excluded.value, value_key_id = excluded.value_key_id, \
             secret = excluded.secret, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(project_id)
        .bind(&v.name)
        .bind(sealed)
        .bind(self.keyring().current_id())
        .bind(v.secret)
        .bind(v.updated_at_ms);
        match self.pool().execute(sql).await {
            Ok(_) => Ok(v),
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_foreign_key_violation() => {
                Err(StoreError::NotFound)
            }
            Err(e) => Err(e),
        }
    }

    /// Every variable of `project_id` by name, values in clear (callers redact secrets).
    pub async fn list_variables(&self, project_id: &str) -> Result<Vec<Variable>, StoreError> {
        let sql = Sql::new(
            "SELECT name, value, secret, updated_at_ms FROM project_variables \
             WHERE project_id = $1 ORDER BY name",
        )
        .bind(project_id);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter()
            .map(|r| {
                let name: String = r.get("name")?;
                let sealed: Vec<u8> = r.get("value")?;
                let plain = self
                    .keyring()
                    .open(&value_place(project_id, &name), &sealed)
                    .map_err(|source| StoreError::Unseal {
                        id: format!("variable {name}"),
                        source,
                    })?;
                Ok(Variable {
                    value: String::from_utf8_lossy(&plain).into_owned(),
                    secret: r.get("secret")?,
                    updated_at_ms: r.get("updated_at_ms")?,
                    name,
                })
            })
            .collect()
    }

    /// Deletes variable `name` of `project_id`, or `NotFound`.
    pub async fn delete_variable(&self, project_id: &str, name: &str) -> Result<(), StoreError> {
        let sql = Sql::new("DELETE FROM project_variables WHERE project_id = $1 AND name = $2")
            .bind(project_id)
            .bind(name);
        match self.pool().execute(sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Re-seals every integration and variable not sealed with the current key; returns how
    /// many rows it changed.
    pub(crate) async fn reseal_integrations(&self) -> Result<u64, StoreError> {
        let keyring = self.keyring();
        let current = keyring.current_id();
        let mut changed = 0;
        let rows = self
            .pool()
            .fetch_all(
                Sql::new("SELECT id, spec FROM integrations WHERE spec_key_id <> $1").bind(current),
            )
            .await?;
        for row in &rows {
            let id: String = row.get("id")?;
            let spec: Vec<u8> = row.get("spec")?;
            let plain =
                keyring
                    .open(&spec_place(&id), &spec)
                    .map_err(|source| StoreError::Unseal {
                        id: id.clone(),
                        source,
                    })?;
            let sql = Sql::new("UPDATE integrations SET spec = $1, spec_key_id = $2 WHERE id = $3")
                .bind(keyring.seal(&spec_place(&id), &plain)?)
                .bind(current)
                .bind(&id);
            changed += self.pool().execute(sql).await?;
        }
        let rows = self
            .pool()
            .fetch_all(
                Sql::new(
                    "SELECT project_id, name, value FROM project_variables WHERE value_key_id <> $1",
                )
                .bind(current),
            )
            .await?;
        for row in &rows {
            let project: String = row.get("project_id")?;
            let name: String = row.get("name")?;
            let sealed: Vec<u8> = row.get("value")?;
            let place = value_place(&project, &name);
            let plain = keyring
                .open(&place, &sealed)
                .map_err(|source| StoreError::Unseal {
                    id: format!("variable {name}"),
                    source,
                })?;
            let sql = Sql::new(
                "UPDATE project_variables SET value = $1, value_key_id = $2 \
                 WHERE project_id = $3 AND name = $4",
            )
            .bind(keyring.seal(&place, &plain)?)
            .bind(current)
            .bind(&project)
            .bind(&name);
            changed += self.pool().execute(sql).await?;
        }
        Ok(changed)
    }

    /// Key ids integrations and variables are sealed with (for the start-up key check).
    pub(crate) async fn integration_key_ids(&self) -> Result<Vec<String>, StoreError> {
        let sql = Sql::new(
            "SELECT spec_key_id AS k FROM integrations UNION \
             SELECT value_key_id AS k FROM project_variables",
        );
        self.pool()
            .fetch_all(sql)
            .await?
            .iter()
            .map(|r| r.get::<String>("k"))
            .collect()
    }

    pub(crate) fn seal_integration(&self, i: &Integration) -> Result<Vec<u8>, StoreError> {
        Ok(self
            .keyring()
            .seal(&spec_place(&i.id), &i.encode_to_vec())?)
    }

    fn decode_integration(&self, row: &Row) -> Result<Integration, StoreError> {
        let id: String = row.get("id")?;
        let spec: Vec<u8> = row.get("spec")?;
        let plain = self
            .keyring()
            .open(&spec_place(&id), &spec)
            .map_err(|source| StoreError::Unseal {
                id: id.clone(),
                source,
            })?;
        let mut i = Integration::decode(plain.as_slice())
            .map_err(|source| StoreError::Decode { id, source })?;
        // The columns are the truth for what the row itself tracks.
        i.project_id = row.get("project_id")?;
        i.version = u64::try_from(row.get::<i64>("version")?).unwrap_or(0);
        i.created_at_ms = row.get("created_at_ms")?;
        i.updated_at_ms = row.get("updated_at_ms")?;
        i.system = row.get("system")?;
        Ok(i)
    }
}
