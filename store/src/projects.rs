//! Projects, their quotas and their API tokens. Tokens are stored only as SHA-256 hashes and
//! found by hash on every request, so a revocation takes effect on the next call.

use crate::{Row, Sql, Store, StoreError, now_ms};

/// The project of databases created before projects existed, of the coordinator's configured
/// `project_tokens` and of monitors declared in a config file (created by migration 0005).
pub const DEFAULT_PROJECT_ID: &str = "prj_default";

/// Most tokens one project may hold.
pub const MAX_TOKENS_PER_PROJECT: u32 = 100;

/// Per-project limits on monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotas {
    pub max_monitors: u32,
    pub min_interval_secs: u32,
    pub max_regions_per_monitor: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectRow {
    /// `prj_` + UUIDv7 (`prj_default` for the default project).
    pub id: String,
    pub name: String,
    pub quotas: Quotas,
    /// Monitors the project holds now.
    pub monitor_count: u32,
    pub created_at_ms: i64,
    /// On a paid plan (SMS integrations need one).
    pub paid_plan: bool,
}

/// A project token as listed: never the token or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// `tok_` + UUIDv7.
    pub id: String,
    pub project_id: String,
    /// The token's first characters.
    pub prefix: String,
    pub name: String,
    pub created_at_ms: i64,
}

/// A token to store; `hash` is the SHA-256 of the token.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub id: &'a str,
    pub project_id: &'a str,
    pub hash: [u8; 32],
    pub prefix: &'a str,
    pub name: &'a str,
}

const PROJECT_COLUMNS: &str = "id, name, max_monitors, min_interval_secs, \
    max_regions_per_monitor, monitor_count, created_at_ms, paid_plan";

impl Store {
    /// Stores a new project with no monitors, not on a paid plan ([`Store::set_project_plan`]);
    /// a taken name is a `Conflict`.
    pub async fn create_project(
        &self,
        id: &str,
        name: &str,
        quotas: Quotas,
    ) -> Result<ProjectRow, StoreError> {
        let sql = Sql::new(format!(
            "INSERT INTO projects ({PROJECT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, 0, $6, FALSE) \
             RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(id)
        .bind(name)
        .bind(quotas.max_monitors)
        .bind(quotas.min_interval_secs)
        .bind(quotas.max_regions_per_monitor)
        .bind(now_ms());
        match self.pool().fetch_one(sql).await {
            Ok(row) => project_from_row(&row),
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e),
        }
    }

    /// The project with `id`, or `NotFound`.
    pub async fn get_project(&self, id: &str) -> Result<ProjectRow, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE id = $1"
        ))
        .bind(id);
        let row = self.pool().fetch_optional(sql).await?;
        project_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Replaces the quotas of project `id`; `NotFound` when there is none.
    pub async fn update_project_quotas(
        &self,
        id: &str,
        quotas: Quotas,
    ) -> Result<ProjectRow, StoreError> {
        let sql = Sql::new(format!(
            "UPDATE projects SET max_monitors = $1, min_interval_secs = $2, \
             max_regions_per_monitor = $3 WHERE id = $4 RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(quotas.max_monitors)
        .bind(quotas.min_interval_secs)
        .bind(quotas.max_regions_per_monitor)
        .bind(id);
        let row = self.pool().fetch_optional(sql).await?;
        project_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Puts project `id` on a paid plan or takes it off; `NotFound` when there is none.
    pub async fn set_project_plan(&self, id: &str, paid: bool) -> Result<ProjectRow, StoreError> {
        let sql = Sql::new(format!(
            "UPDATE projects SET paid_plan = $1 WHERE id = $2 RETURNING {PROJECT_COLUMNS}"
        ))
        .bind(paid)
        .bind(id);
        let row = self.pool().fetch_optional(sql).await?;
        project_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// At most `limit` projects with ids after `after`, by id (creation order).
    pub async fn list_projects(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ProjectRow>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {PROJECT_COLUMNS} FROM projects WHERE (CAST($1 AS TEXT) IS NULL OR id > $1) \
             ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(project_from_row).collect()
    }

    /// Deletes a project that holds no monitors, and its tokens and members. `NotEmpty` names how many
    /// monitors it still holds; the guard on `monitor_count` makes a concurrent monitor
    /// create either land first (and the delete is refused) or find the project gone.
    pub async fn delete_project(&self, id: &str) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let sql = Sql::new("DELETE FROM projects WHERE id = $1 AND monitor_count = 0").bind(id);
        if tx.execute(sql).await? == 0 {
            drop(tx);
            let p = self.get_project(id).await?;
            return Err(StoreError::NotEmpty {
                monitors: p.monitor_count,
            });
        }
        tx.execute(Sql::new("DELETE FROM project_tokens WHERE project_id = $1").bind(id))
            .await?;
        tx.execute(Sql::new("DELETE FROM project_members WHERE project_id = $1").bind(id))
            .await?;
        tx.commit().await
    }

    /// Stores a token; a project already holding [`MAX_TOKENS_PER_PROJECT`] tokens is a
    /// `TokenQuota`, an unknown project `NotFound`.
    pub async fn insert_token(&self, t: NewToken<'_>) -> Result<TokenRow, StoreError> {
        let sql = Sql::new(
            "INSERT INTO project_tokens (id, project_id, token_hash, prefix, name, created_at_ms) \
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM projects WHERE id = $2) \
             AND (SELECT COUNT(*) FROM project_tokens WHERE project_id = $2) < $7 \
             RETURNING id, project_id, prefix, name, created_at_ms",
        )
        .bind(t.id)
        .bind(t.project_id)
        .bind(t.hash.to_vec())
        .bind(t.prefix)
        .bind(t.name)
        .bind(now_ms())
        .bind(MAX_TOKENS_PER_PROJECT);
        match self.pool().fetch_optional(sql).await? {
            Some(row) => token_from_row(&row),
            None => {
                self.get_project(t.project_id).await?;
                Err(StoreError::TokenQuota {
                    max: MAX_TOKENS_PER_PROJECT,
                })
            }
        }
    }

    /// The tokens of a project, oldest first (at most [`MAX_TOKENS_PER_PROJECT`]).
    pub async fn list_tokens(&self, project_id: &str) -> Result<Vec<TokenRow>, StoreError> {
        let sql = Sql::new(
            "SELECT id, project_id, prefix, name, created_at_ms FROM project_tokens \
             WHERE project_id = $1 ORDER BY id",
        )
        .bind(project_id);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(token_from_row).collect()
    }

    /// Deletes token `id` of `project_id`; `NotFound` when that project has no such token.
    pub async fn delete_token(&self, project_id: &str, id: &str) -> Result<(), StoreError> {
        let sql = Sql::new("DELETE FROM project_tokens WHERE id = $1 AND project_id = $2")
            .bind(id)
            .bind(project_id);
        if self.pool().execute(sql).await? == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// The project whose token has SHA-256 `hash`, if any. An indexed lookup per request:
    /// cheap, and nothing is cached, so a revoked token fails on its next use.
    pub async fn project_of_token(&self, hash: &[u8; 32]) -> Result<Option<String>, StoreError> {
        let sql = Sql::new("SELECT project_id FROM project_tokens WHERE token_hash = $1")
            .bind(hash.to_vec());
        let row = self.pool().fetch_optional(sql).await?;
        row.map(|r| r.get::<String>("project_id")).transpose()
    }

    /// The token with SHA-256 `hash`, if any: who made a request, for records that name
    /// their actor.
    pub async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<TokenRow>, StoreError> {
        let sql = Sql::new(
            "SELECT id, project_id, prefix, name, created_at_ms FROM project_tokens \
             WHERE token_hash = $1",
        )
        .bind(hash.to_vec());
        let row = self.pool().fetch_optional(sql).await?;
        row.as_ref().map(token_from_row).transpose()
    }
}

fn project_from_row(row: &Row) -> Result<ProjectRow, StoreError> {
    Ok(ProjectRow {
        id: row.get("id")?,
        name: row.get("name")?,
        quotas: Quotas {
            max_monitors: row.get_u32("max_monitors")?,
            min_interval_secs: row.get_u32("min_interval_secs")?,
            max_regions_per_monitor: row.get_u32("max_regions_per_monitor")?,
        },
        monitor_count: row.get_u32("monitor_count")?,
        created_at_ms: row.get("created_at_ms")?,
        paid_plan: row.get("paid_plan")?,
    })
}

fn token_from_row(row: &Row) -> Result<TokenRow, StoreError> {
    Ok(TokenRow {
        id: row.get("id")?,
        project_id: row.get("project_id")?,
        prefix: row.get("prefix")?,
        name: row.get("name")?,
        created_at_ms: row.get("created_at_ms")?,
    })
}
