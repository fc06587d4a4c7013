//! Project members and the verification of their addresses: the coordinator registers a
//! member with a fresh code (sealed, like every secret) and checks the codes people enter;
//! the notifier mails each pending code once (retrying on failure) and refuses email
//! deliveries to a member's address until it is verified. Also the SSH restart cooldown, the
//! other piece of channel state the notifier keeps.

use crate::{Row, Sql, Store, StoreError, now_ms};

/// How long a verification code holds, in hours.
pub const CODE_VALID_HOURS: u32 = 24;
/// Wrong codes allowed against one code; then a new one is needed.
pub const MAX_CODE_ATTEMPTS: u32 = 5;

fn code_place(member_id: &str) -> Vec<u8> {
    format!("project_members.code\0{member_id}").into_bytes()
}

/// A member as stored, without the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// `mem_` + UUIDv7.
    pub id: String,
    pub project_id: String,
    pub email: String,
    pub name: String,
    pub verified_at_ms: Option<i64>,
    /// When the pending code was made and until when it holds.
    pub code_created_at_ms: Option<i64>,
    pub code_expires_at_ms: Option<i64>,
    /// Wrong codes entered against the pending code.
    pub code_attempts: u32,
    pub code_sent_at_ms: Option<i64>,
    pub code_error: String,
    pub created_at_ms: i64,
}

/// A code the notifier has to mail.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub member: MemberRow,
    pub code: String,
    /// Tries made before this one.
    pub send_attempts: u32,
}

/// What claiming a server's restart found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartClaim {
    /// The restart may go ahead; it is recorded as of now.
    Granted,
    /// The server was restarted at `at_ms` (by `delivery_id`), within the cooldown.
    Cooling { at_ms: i64, delivery_id: String },
}

const COLUMNS: &str = "id, project_id, email, name, verified_at_ms, code_created_at_ms, \
    code_expires_at_ms, code_attempts, code_sent_at_ms, code_error, created_at_ms";

fn member_from_row(r: &Row) -> Result<MemberRow, StoreError> {
    Ok(MemberRow {
        id: r.get("id")?,
        project_id: r.get("project_id")?,
        email: r.get("email")?,
        name: r.get("name")?,
        verified_at_ms: r.get("verified_at_ms")?,
        code_created_at_ms: r.get("code_created_at_ms")?,
        code_expires_at_ms: r.get("code_expires_at_ms")?,
        code_attempts: r.get_u32("code_attempts")?,
        code_sent_at_ms: r.get("code_sent_at_ms")?,
        code_error: r.get("code_error")?,
        created_at_ms: r.get("created_at_ms")?,
    })
}

/// The form addresses are compared in.
pub fn email_key(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

impl Store {
    /// Registers member `id` of `project_id` with a pending `code` valid until `expires_at_ms`,
    /// due to be mailed now. An address already registered in the project is a `Conflict`.
    pub async fn insert_member(
        &self,
        project_id: &str,
        id: &str,
        email: &str,
        name: &str,
        code: &str,
        expires_at_ms: i64,
    ) -> Result<MemberRow, StoreError> {
        let now = now_ms();
        let sql = Sql::new(format!(
            "INSERT INTO project_members (id, project_id, email, email_key, name, code_sealed, \
             code_key_id, code_created_at_ms, code_expires_at_ms, code_next_send_at_ms, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $8, $8) \
             RETURNING {COLUMNS}"
        ))
        .bind(id)
        .bind(project_id)
        .bind(email)
        .bind(email_key(email))
        .bind(name)
        .bind(self.keyring().seal(&code_place(id), code.as_bytes())?)
        .bind(self.keyring().current_id())
        .bind(now)
        .bind(expires_at_ms);
        match self.pool().fetch_one(sql).await {
            Ok(row) => member_from_row(&row),
            Err(StoreError::Db(sqlx::Error::Database(e))) if e.is_unique_violation() => {
                Err(StoreError::Conflict)
            }
            Err(e) => Err(e),
        }
    }

    /// Replaces the pending code of unverified member `id` (a new one to mail now, no wrong
    /// attempts); `NotFound` when there is no such unverified member.
    pub async fn renew_member_code(
        &self,
        project_id: &str,
        id: &str,
        name: &str,
        code: &str,
        expires_at_ms: i64,
    ) -> Result<MemberRow, StoreError> {
        let now = now_ms();
        let sql = Sql::new(format!(
            "UPDATE project_members SET name = $1, code_sealed = $2, code_key_id = $3, \
             code_created_at_ms = $4, code_expires_at_ms = $5, code_attempts = 0, \
             code_sent_at_ms = NULL, code_error = '', code_send_attempts = 0, \
             code_next_send_at_ms = $4 \
             WHERE id = $6 AND project_id = $7 AND verified_at_ms IS NULL RETURNING {COLUMNS}"
        ))
        .bind(name)
        .bind(self.keyring().seal(&code_place(id), code.as_bytes())?)
        .bind(self.keyring().current_id())
        .bind(now)
        .bind(expires_at_ms)
        .bind(id)
        .bind(project_id);
        let row = self.pool().fetch_optional(sql).await?;
        member_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// The member of `project_id` with address `email` (compared case-insensitively).
    pub async fn member_by_email(
        &self,
        project_id: &str,
        email: &str,
    ) -> Result<Option<MemberRow>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {COLUMNS} FROM project_members WHERE project_id = $1 AND email_key = $2"
        ))
        .bind(project_id)
        .bind(email_key(email));
        self.pool()
            .fetch_optional(sql)
            .await?
            .as_ref()
            .map(member_from_row)
            .transpose()
    }

    /// Every member of `project_id`, by address.
    pub async fn list_members(&self, project_id: &str) -> Result<Vec<MemberRow>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {COLUMNS} FROM project_members WHERE project_id = $1 ORDER BY email_key"
        ))
        .bind(project_id);
        let rows = self.pool().fetch_all(sql).await?;
        rows.iter().map(member_from_row).collect()
    }

    /// Members of `project_id` in all.
    pub async fn count_members(&self, project_id: &str) -> Result<u32, StoreError> {
        let sql = Sql::new("SELECT COUNT(*) AS n FROM project_members WHERE project_id = $1")
            .bind(project_id);
        self.pool().fetch_one(sql).await?.get_u32("n")
    }

    /// The pending code of member `id`, in clear; `None` when there is none, or when it was
    /// sealed under a key no longer configured (then it can no longer be checked).
    pub async fn member_code(&self, id: &str) -> Result<Option<String>, StoreError> {
        let sql = Sql::new("SELECT code_sealed FROM project_members WHERE id = $1").bind(id);
        let Some(row) = self.pool().fetch_optional(sql).await? else {
            return Ok(None);
        };
        let Some(sealed) = row.get::<Option<Vec<u8>>>("code_sealed")? else {
            return Ok(None);
        };
        Ok(self
            .keyring()
            .open(&code_place(id), &sealed)
            .ok()
            .map(|plain| String::from_utf8_lossy(&plain).into_owned()))
    }

    /// Counts one wrong code against member `id`'s pending code; returns the count.
    pub async fn member_code_missed(&self, id: &str) -> Result<u32, StoreError> {
        let sql = Sql::new(
            "UPDATE project_members SET code_attempts = code_attempts + 1 WHERE id = $1 \
             RETURNING code_attempts",
        )
        .bind(id);
        let row = self.pool().fetch_optional(sql).await?;
        row.ok_or(StoreError::NotFound)?.get_u32("code_attempts")
    }

    /// Marks member `id` verified now and forgets its code.
    pub async fn verify_member(&self, id: &str) -> Result<MemberRow, StoreError> {
        let sql = Sql::new(format!(
            "UPDATE project_members SET verified_at_ms = $1, code_sealed = NULL, \
             code_key_id = NULL, code_next_send_at_ms = NULL WHERE id = $2 RETURNING {COLUMNS}"
        ))
        .bind(now_ms())
        .bind(id);
        let row = self.pool().fetch_optional(sql).await?;
        member_from_row(&row.ok_or(StoreError::NotFound)?)
    }

    /// Deletes the member of `project_id` with address `email`, or `NotFound`.
    pub async fn delete_member(&self, project_id: &str, email: &str) -> Result<(), StoreError> {
        let sql = Sql::new("DELETE FROM project_members WHERE project_id = $1 AND email_key = $2")
            .bind(project_id)
            .bind(email_key(email));
        match self.pool().execute(sql).await? {
            0 => Err(StoreError::NotFound),
            _ => Ok(()),
        }
    }

    /// Whether `email` is the address of a member of `project_id` who has not verified it:
    /// an email delivery to it is refused.
    pub async fn is_unverified_member(
        &self,
        project_id: &str,
        email: &str,
    ) -> Result<bool, StoreError> {
        Ok(self
            .member_by_email(project_id, email)
            .await?
            .is_some_and(|m| m.verified_at_ms.is_none()))
    }

    /// Up to `limit` codes due to be mailed at `now`, oldest first. A code that no longer
    /// opens (its key was removed) is skipped: the member has to be added again.
    pub async fn due_member_codes(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<PendingCode>, StoreError> {
        let sql = Sql::new(format!(
            "SELECT {COLUMNS}, code_sealed, code_send_attempts, code_next_send_at_ms \
             FROM project_members \
             WHERE code_next_send_at_ms <= $1 AND code_sealed IS NOT NULL \
             AND verified_at_ms IS NULL ORDER BY code_next_send_at_ms LIMIT $2"
        ))
        .bind(now)
        .bind(limit);
        let rows = self.pool().fetch_all(sql).await?;
        let mut out = Vec::new();
        for r in &rows {
            let member = member_from_row(r)?;
            // Claimed for a minute, so of several notifiers only one mails it; the outcome
            // (sent, or failed with the next try) replaces the claim.
            let due: Option<i64> = r.get("code_next_send_at_ms")?;
            let claim = Sql::new(
                "UPDATE project_members SET code_next_send_at_ms = $1 \
                 WHERE id = $2 AND code_next_send_at_ms = $3",
            )
            .bind(now + 60_000)
            .bind(&member.id)
            .bind(due);
            if self.pool().execute(claim).await? == 0 {
                continue;
            }
            let sealed: Vec<u8> = r.get("code_sealed")?;
            let Ok(plain) = self.keyring().open(&code_place(&member.id), &sealed) else {
                self.member_code_failed(&member.id, "the code no longer opens", None)
                    .await?;
                continue;
            };
            out.push(PendingCode {
                send_attempts: r.get_u32("code_send_attempts")?,
                code: String::from_utf8_lossy(&plain).into_owned(),
                member,
            });
        }
        Ok(out)
    }

    /// Records that member `id`'s code was mailed.
    pub async fn member_code_sent(&self, id: &str) -> Result<(), StoreError> {
        let sql = Sql::new(
            "UPDATE project_members SET code_sent_at_ms = $1, code_error = '', \
             code_next_send_at_ms = NULL WHERE id = $2",
        )
        .bind(now_ms())
        .bind(id);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// Records that mailing member `id`'s code failed with `error`; it is tried again at
    /// `next_at_ms`, or never when `None`.
    pub async fn member_code_failed(
        &self,
        id: &str,
        error: &str,
        next_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let sql = Sql::new(
            "UPDATE project_members SET code_error = $1, code_send_attempts = \
             code_send_attempts + 1, code_next_send_at_ms = $2 WHERE id = $3",
        )
        .bind(error)
        .bind(next_at_ms)
        .bind(id);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// Claims the restart of `server` (`host:port`) for `delivery_id` at `now_ms`, unless
    /// it was restarted less than `cooldown_ms` ago. One statement, so of two deliveries
    /// racing for one server (two monitors of it down at once), only one restarts it.
    pub async fn claim_ssh_restart(
        &self,
        server: &str,
        now_ms: i64,
        cooldown_ms: i64,
        integration_id: &str,
        delivery_id: &str,
    ) -> Result<RestartClaim, StoreError> {
        let sql = Sql::new(
            "INSERT INTO ssh_restarts (server, restarted_at_ms, integration_id, delivery_id) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (server) DO UPDATE SET \
             restarted_at_ms = excluded.restarted_at_ms, integration_id = \
             excluded.integration_id, delivery_id = excluded.delivery_id \
             WHERE ssh_restarts.restarted_at_ms <= $5",
        )
        .bind(server)
        .bind(now_ms)
        .bind(integration_id)
        .bind(delivery_id)
        .bind(now_ms.saturating_sub(cooldown_ms));
        if self.pool().execute(sql).await? == 1 {
            return Ok(RestartClaim::Granted);
        }
        let sql =
            Sql::new("SELECT restarted_at_ms, delivery_id FROM ssh_restarts WHERE server = $1")
                .bind(server);
        let row = self.pool().fetch_one(sql).await?;
        Ok(RestartClaim::Cooling {
            at_ms: row.get("restarted_at_ms")?,
            delivery_id: row.get("delivery_id")?,
        })
    }
}
