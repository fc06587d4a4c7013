//! The one-time data migration from per-monitor webhooks to webhook integrations, run by
//! `Store::open` after the SQL migrations (it needs the keys: monitor specs are sealed). Each
//! distinct (project, URL, secret) becomes one webhook integration with the native body and
//! the `lookout` signature (what the webhooks sent before), monitors list its id instead, and
//! outbox rows written before (destination `legacy:<url>`, a rendered native body) are mapped
//! to it, their body read back into the event it announced.

use std::collections::HashMap;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    EventKind, EventMonitor, EventResult, Integration, NotificationEvent, SignatureMode,
    WebhookIntegration,
};
use prost::Message;
use serde_json::Value;

use crate::{Sql, Store, StoreError, now_ms};

const NAME: &str = "0008_webhooks_to_integrations";
const PAGE: u32 = 500;

impl Store {
    pub(crate) async fn migrate_webhooks_to_integrations(&self) -> Result<(), StoreError> {
        let done =
            Sql::new("SELECT 1 AS one FROM store_data_migrations WHERE name = $1").bind(NAME);
        if self.pool().fetch_optional(done).await?.is_some() {
            return Ok(());
        }
        // (project, url, secret) -> integration id.
        let mut made: HashMap<(String, String, String), String> = HashMap::new();
        let mut after = String::new();
        loop {
            let sql = Sql::new(
                "SELECT id, spec, spec_key_id, project_id FROM monitors WHERE id > $1 \
                 ORDER BY id LIMIT $2",
            )
            .bind(after.as_str())
            .bind(PAGE);
            let rows = self.pool().fetch_all(sql).await?;
            let Some(last) = rows.last() else { break };
            after = last.get("id")?;
            for row in &rows {
                let mut m = self.decode_row(row)?;
                #[allow(deprecated)]
                if m.webhooks.is_empty() {
                    continue;
                }
                let project: String = row.get("project_id")?;
                let mut tx = self.begin().await?;
                for w in std::mem::take(&mut m.webhooks) {
                    let key = (project.clone(), w.url.clone(), w.secret.clone());
                    let id = match made.get(&key) {
                        Some(id) => id.clone(),
                        None => {
                            let i = legacy_integration(&project, w.url, w.secret);
                            let sql = Sql::new(
                                "INSERT INTO integrations (id, project_id, name, kind, spec, \
                                 spec_key_id, version, created_at_ms, updated_at_ms) \
                                 VALUES ($1, $2, $3, 'webhook', $4, $5, 1, $6, $6)",
                            )
                            .bind(&i.id)
                            .bind(&project)
                            .bind(&i.name)
                            .bind(self.seal_integration(&i)?)
                            .bind(self.keyring().current_id())
                            .bind(i.created_at_ms);
                            tx.execute(sql).await?;
                            made.insert(key, i.id.clone());
                            i.id
                        }
                    };
                    if !m.integration_ids.contains(&id) {
                        m.integration_ids.push(id);
                    }
                }
                let sql = Sql::new("UPDATE monitors SET spec = $1, spec_key_id = $2 WHERE id = $3")
                    .bind(self.seal_spec(&m)?)
                    .bind(self.keyring().current_id())
                    .bind(&m.id);
                tx.execute(sql).await?;
                crate::monitors::attach(&mut tx, &m).await?;
                tx.commit().await?;
            }
        }
        self.map_legacy_outbox(&made).await?;
        if !made.is_empty() {
            tracing::info!(
                integrations = made.len(),
                "turned monitor webhooks into webhook integrations"
            );
        }
        let sql = Sql::new(
            "INSERT INTO store_data_migrations (name, done_at_ms) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(NAME)
        .bind(now_ms());
        self.pool().execute(sql).await?;
        Ok(())
    }

    /// Points outbox rows written before integrations at the integration made for their URL,
    /// with the event their native body announced; a row whose URL no monitor lists any more
    /// is marked dead, saying why.
    async fn map_legacy_outbox(
        &self,
        made: &HashMap<(String, String, String), String>,
    ) -> Result<(), StoreError> {
        let rows = self
            .pool()
            .fetch_all(Sql::new(
                "SELECT id, project_id, integration_id, payload FROM outbox \
                 WHERE integration_id LIKE 'legacy:%'",
            ))
            .await?;
        for row in &rows {
            let id: String = row.get("id")?;
            let project: String = row.get("project_id")?;
            let dest: String = row.get("integration_id")?;
            let url = dest.trim_start_matches("legacy:");
            let payload: Vec<u8> = row.get("payload")?;
            let event = legacy_event(&project, &payload).encode_to_vec();
            let target = made
                .iter()
                .find(|((p, u, _), _)| p == &project && u == url)
                .map(|(_, id)| id.clone());
            let sql = match target {
                Some(integration) => Sql::new(
                    "UPDATE outbox SET integration_id = $1, payload = $2 WHERE id = $3",
                )
                .bind(integration)
                .bind(event)
                .bind(&id),
                None => Sql::new(
                    "UPDATE outbox SET integration_id = '', payload = $1, \
                     state = CASE WHEN state = 'pending' THEN 'dead' ELSE state END, \
                     last_error = COALESCE(last_error, 'its webhook was gone when integrations were introduced') \
                     WHERE id = $2",
                )
                .bind(event)
                .bind(&id),
            };
            self.pool().execute(sql).await?;
        }
        Ok(())
    }
}

fn legacy_integration(project: &str, url: String, secret: String) -> Integration {
    let now = now_ms();
    let name = lookout_proto::redact_url_credentials(&url).unwrap_or_else(|| url.clone());
    Integration {
        id: format!("int_{}", uuid::Uuid::now_v7()),
        name: name.chars().take(200).collect(),
        project_id: project.to_string(),
        version: 1,
        created_at_ms: now,
        updated_at_ms: now,
        kind: Some(Kind::Webhook(WebhookIntegration {
            url,
            method: "POST".into(),
            secret,
            signature: SignatureMode::Lookout as i32,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The event a native body (`event_type`, `monitor`, `check_result`, `context`) announced.
fn legacy_event(project: &str, body: &[u8]) -> NotificationEvent {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let s = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    let kind = match s("/context/notification_type").as_str() {
        "recovery" => EventKind::Recovery,
        "no_data" => EventKind::NoData,
        "data_resumed" => EventKind::DataResumed,
        _ => EventKind::Incident,
    };
    NotificationEvent {
        kind: kind as i32,
        project_id: project.to_string(),
        monitor: Some(EventMonitor {
            id: s("/monitor/id"),
            name: s("/monitor/name"),
            target: s("/monitor/url"),
            ..Default::default()
        }),
        result: Some(EventResult {
            region: s("/check_result/region"),
            status: s("/check_result/status"),
            duration_us: n("/check_result/response_time_ms").saturating_mul(1000),
            status_code: v
                .pointer("/check_result/status_code")
                .and_then(Value::as_u64)
                .and_then(|c| u32::try_from(c).ok()),
            error_message: s("/check_result/error_message"),
            ..Default::default()
        }),
        status: s("/monitor/status"),
        previous_status: s("/context/previous_status"),
        consecutive_failures: u32::try_from(n("/context/consecutive_failures")).unwrap_or(0),
        level: u32::try_from(n("/context/notification_level")).unwrap_or(1),
        resolved_reason: s("/context/resolved_reason"),
        ..Default::default()
    }
}
