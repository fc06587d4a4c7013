//! SMS verification: the code last sent to a phone number of a project (its salt and hash;
//! the coordinator hashes, the store never sees a code), the wrong attempts against it, and
//! the sends per number that the rate limit counts, across projects.

use crate::{Row, Sql, Store, StoreError};

/// A verification code waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsVerificationRow {
    pub project_id: String,
    pub phone_number: String,
    pub code_salt: Vec<u8>,
    pub code_hash: Vec<u8>,
    /// Wrong codes tried so far.
    pub attempts: u32,
    pub expires_at_ms: i64,
    pub created_at_ms: i64,
}

/// How often one number may be sent a code, whoever asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsSendLimits {
    /// At most `max_per_window` codes to one number within `window_ms`.
    pub window_ms: i64,
    pub max_per_window: u32,
    /// And at least `min_gap_ms` between two of them.
    pub min_gap_ms: i64,
}

/// Whether a code may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSlot {
    /// Yes; the send is counted.
    Granted,
    /// No: the number had its share; the next one is possible after `retry_after_ms`.
    Limited { retry_after_ms: i64 },
}

fn verification_from_row(r: &Row) -> Result<SmsVerificationRow, StoreError> {
    Ok(SmsVerificationRow {
        project_id: r.get("project_id")?,
        phone_number: r.get("phone_number")?,
        code_salt: r.get("code_salt")?,
        code_hash: r.get("code_hash")?,
        attempts: r.get_u32("attempts")?,
        expires_at_ms: r.get("expires_at_ms")?,
        created_at_ms: r.get("created_at_ms")?,
    })
}

impl Store {
    /// Counts a code sent to `phone_number` for `project_id` at `now` if `limits` allow it
    /// (one statement, so concurrent requests cannot both take the last slot). Sends older
    /// than the window are forgotten.
    pub async fn take_sms_send_slot(
        &self,
        project_id: &str,
        phone_number: &str,
        now: i64,
        limits: SmsSendLimits,
    ) -> Result<SendSlot, StoreError> {
        let window_start = now - limits.window_ms;
        self.pool()
            .execute(
                Sql::new("DELETE FROM sms_verification_sends WHERE sent_at_ms <= $1")
                    .bind(window_start),
            )
            .await?;
        let sql = Sql::new(
            "INSERT INTO sms_verification_sends (phone_number, project_id, sent_at_ms) \
             SELECT $1, $2, $3 WHERE \
             (SELECT COUNT(*) FROM sms_verification_sends WHERE phone_number = $1 \
              AND sent_at_ms > $4) < $5 \
             AND NOT EXISTS (SELECT 1 FROM sms_verification_sends WHERE phone_number = $1 \
              AND sent_at_ms > $6)",
        )
        .bind(phone_number)
        .bind(project_id)
        .bind(now)
        .bind(window_start)
        .bind(limits.max_per_window)
        .bind(now - limits.min_gap_ms);
        if self.pool().execute(sql).await? == 1 {
            return Ok(SendSlot::Granted);
        }
        let sql = Sql::new(
            "SELECT MIN(sent_at_ms) AS oldest, MAX(sent_at_ms) AS newest, COUNT(*) AS n \
             FROM sms_verification_sends WHERE phone_number = $1 AND sent_at_ms > $2",
        )
        .bind(phone_number)
        .bind(window_start);
        let row = self.pool().fetch_one(sql).await?;
        let oldest: Option<i64> = row.get("oldest")?;
        let newest: Option<i64> = row.get("newest")?;
        let n = row.get_u32("n")?;
        let after_gap = newest.map_or(0, |t| t + limits.min_gap_ms - now);
        let after_window = if n >= limits.max_per_window {
            oldest.map_or(0, |t| t + limits.window_ms - now)
        } else {
            0
        };
        Ok(SendSlot::Limited {
            retry_after_ms: after_gap.max(after_window).max(1),
        })
    }

    /// Stores the code just sent to `phone_number` of `project_id`, replacing an earlier one
    /// (its attempts start again); expired codes of every project are dropped.
    pub async fn put_sms_verification(&self, v: &SmsVerificationRow) -> Result<(), StoreError> {
        self.pool()
            .execute(
                Sql::new("DELETE FROM sms_verifications WHERE expires_at_ms <= $1")
                    .bind(v.created_at_ms),
            )
            .await?;
        let sql = Sql::new(
            "INSERT INTO sms_verifications (project_id, phone_number, code_salt, code_hash, \
             attempts, expires_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, 0, $5, $6) \
             ON CONFLICT (project_id, phone_number) DO UPDATE SET code_salt = excluded.code_salt, \
             code_hash = excluded.code_hash, attempts = 0, expires_at_ms = excluded.expires_at_ms, \
             created_at_ms = excluded.created_at_ms",
        )
        .bind(&v.project_id)
        .bind(&v.phone_number)
        .bind(&v.code_salt)
        .bind(&v.code_hash)
        .bind(v.expires_at_ms)
        .bind(v.created_at_ms);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// The code waiting for `phone_number` of `project_id`, expired or not.
    pub async fn sms_verification(
        &self,
        project_id: &str,
        phone_number: &str,
    ) -> Result<Option<SmsVerificationRow>, StoreError> {
        let sql = Sql::new(
            "SELECT project_id, phone_number, code_salt, code_hash, attempts, expires_at_ms, \
             created_at_ms FROM sms_verifications WHERE project_id = $1 AND phone_number = $2",
        )
        .bind(project_id)
        .bind(phone_number);
        self.pool()
            .fetch_optional(sql)
            .await?
            .as_ref()
            .map(verification_from_row)
            .transpose()
    }

    /// Counts one wrong code against `v`, if nobody else counted one since `v` was read;
    /// false when `v` changed or is gone (the caller treats the code as wrong all the same).
    pub async fn count_sms_attempt(&self, v: &SmsVerificationRow) -> Result<bool, StoreError> {
        let sql = Sql::new(
            "UPDATE sms_verifications SET attempts = attempts + 1 WHERE project_id = $1 \
             AND phone_number = $2 AND code_hash = $3 AND attempts = $4",
        )
        .bind(&v.project_id)
        .bind(&v.phone_number)
        .bind(&v.code_hash)
        .bind(v.attempts);
        Ok(self.pool().execute(sql).await? == 1)
    }

    /// Deletes `v` (used, expired or tried too often); false when it was gone already, so
    /// of two requests using one code only one succeeds.
    pub async fn delete_sms_verification(
        &self,
        v: &SmsVerificationRow,
    ) -> Result<bool, StoreError> {
        let sql = Sql::new(
            "DELETE FROM sms_verifications WHERE project_id = $1 AND phone_number = $2 \
             AND code_hash = $3",
        )
        .bind(&v.project_id)
        .bind(&v.phone_number)
        .bind(&v.code_hash);
        Ok(self.pool().execute(sql).await? == 1)
    }
}
