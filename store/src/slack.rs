//! The Slack app's state: OAuth states between `initiate` and Slack's redirect to the
//! callback (kept as SHA-256 hashes: the state is what authorises the callback), and the
//! message each Slack app integration posted for an incident (written by the notifier, read
//! by the notifier to update it and by the coordinator to resolve a clicked incident).

use crate::{Sql, Store, StoreError};

/// A message posted for an incident: where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackMessageRow {
    pub incident_id: String,
    pub integration_id: String,
    pub channel_id: String,
    pub ts: String,
}

impl Store {
    /// Stores an OAuth state of `project_id` (by its hash) until `expires_at_ms`, unless the
    /// project already holds `max_pending` unexpired ones (false then). Expired states of
    /// every project are dropped first.
    pub async fn insert_slack_oauth_state(
        &self,
        state_hash: &[u8; 32],
        project_id: &str,
        now: i64,
        expires_at_ms: i64,
        max_pending: u32,
    ) -> Result<bool, StoreError> {
        self.pool()
            .execute(Sql::new("DELETE FROM slack_oauth_states WHERE expires_at_ms <= $1").bind(now))
            .await?;
        let sql = Sql::new(
            "INSERT INTO slack_oauth_states (state_hash, project_id, expires_at_ms, \
             created_at_ms) SELECT $1, $2, $3, $4 WHERE \
             (SELECT COUNT(*) FROM slack_oauth_states WHERE project_id = $2) < $5",
        )
        .bind(state_hash.to_vec())
        .bind(project_id)
        .bind(expires_at_ms)
        .bind(now)
        .bind(max_pending);
        Ok(self.pool().execute(sql).await? == 1)
    }

    /// Takes the state with `state_hash`: deletes it and returns its project when it had not
    /// expired at `now`. A state is used at most once, whatever the outcome.
    pub async fn take_slack_oauth_state(
        &self,
        state_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<String>, StoreError> {
        let sql = Sql::new(
            "DELETE FROM slack_oauth_states WHERE state_hash = $1 \
             RETURNING project_id, expires_at_ms",
        )
        .bind(state_hash.to_vec());
        let Some(row) = self.pool().fetch_optional(sql).await? else {
            return Ok(None);
        };
        let expires: i64 = row.get("expires_at_ms")?;
        if expires <= now {
            return Ok(None);
        }
        Ok(Some(row.get("project_id")?))
    }

    /// Remembers the message posted for an incident through an integration; the first one
    /// stays (later posts of the incident go into its thread).
    pub async fn remember_slack_message(
        &self,
        m: &SlackMessageRow,
        now: i64,
    ) -> Result<(), StoreError> {
        let sql = Sql::new(
            "INSERT INTO slack_messages (incident_id, integration_id, channel_id, ts, \
             created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (incident_id, integration_id) DO NOTHING",
        )
        .bind(&m.incident_id)
        .bind(&m.integration_id)
        .bind(&m.channel_id)
        .bind(&m.ts)
        .bind(now);
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// The message posted for `incident_id` through `integration_id`, if any.
    pub async fn slack_message(
        &self,
        incident_id: &str,
        integration_id: &str,
    ) -> Result<Option<SlackMessageRow>, StoreError> {
        let sql = Sql::new(
            "SELECT incident_id, integration_id, channel_id, ts FROM slack_messages \
             WHERE incident_id = $1 AND integration_id = $2",
        )
        .bind(incident_id)
        .bind(integration_id);
        self.pool()
            .fetch_optional(sql)
            .await?
            .map(|r| message_from_row(&r))
            .transpose()
    }

    /// The message at `ts` in `channel_id` (the one a Resolve button was clicked on), if
    /// Lookout posted it.
    pub async fn slack_message_at(
        &self,
        channel_id: &str,
        ts: &str,
    ) -> Result<Option<SlackMessageRow>, StoreError> {
        let sql = Sql::new(
            "SELECT incident_id, integration_id, channel_id, ts FROM slack_messages \
             WHERE channel_id = $1 AND ts = $2",
        )
        .bind(channel_id)
        .bind(ts);
        self.pool()
            .fetch_optional(sql)
            .await?
            .map(|r| message_from_row(&r))
            .transpose()
    }

    /// Forgets messages posted before `before_ms` (retention); returns how many.
    pub async fn prune_slack_messages(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.pool()
            .execute(
                Sql::new("DELETE FROM slack_messages WHERE created_at_ms < $1").bind(before_ms),
            )
            .await
    }
}

fn message_from_row(r: &crate::Row) -> Result<SlackMessageRow, StoreError> {
    Ok(SlackMessageRow {
        incident_id: r.get("incident_id")?,
        integration_id: r.get("integration_id")?,
        channel_id: r.get("channel_id")?,
        ts: r.get("ts")?,
    })
}
