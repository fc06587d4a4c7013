//! The monitor domain: validation, ids, secret handling and persistence for the admin API
//! and for monitors declared in a config file; every change is pushed to the assignment.

use std::sync::Arc;

use lookout_proto::Monitor;
use lookout_proto::bounds::quote;
use lookout_proto::v1::MonitorLifecycle;
use lookout_proto::validate;
use lookout_store::{Store, StoreError};

use crate::config::is_slug;
use crate::error::{CoordinatorError, DomainError, field_error};
use crate::hub::Hub;
use crate::lifecycle::LifecycleEvents;
use crate::no_data::NoDataWatch;
use crate::region_status;

/// Admin operations on monitors. Every returned monitor is redacted and carries its regions'
/// status.
pub struct MonitorDomain {
    store: Store,
    regions: Arc<[String]>,
    hub: Arc<Hub>,
    no_data: Arc<NoDataWatch>,
    lifecycle: Arc<LifecycleEvents>,
}

fn not_found(id: &str) -> impl FnOnce(StoreError) -> DomainError + '_ {
    move |e| match e {
        StoreError::NotFound => DomainError::NotFound(id.to_string()),
        StoreError::Conflict => DomainError::Conflict(id.to_string()),
        e => DomainError::Store(e),
    }
}

fn require_id(id: &str) -> Result<(), DomainError> {
    if id.is_empty() {
        return Err(field_error("id", "must not be empty").into());
    }
    if id.len() > validate::MAX_ID_BYTES {
        let reason = format!("is {} bytes, at most {}", id.len(), validate::MAX_ID_BYTES);
        return Err(field_error("id", reason).into());
    }
    Ok(())
}

impl MonitorDomain {
    pub fn new(
        store: Store,
        regions: Arc<[String]>,
        hub: Arc<Hub>,
        no_data: Arc<NoDataWatch>,
        lifecycle: Arc<LifecycleEvents>,
    ) -> MonitorDomain {
        MonitorDomain {
            store,
            regions,
            hub,
            no_data,
            lifecycle,
        }
    }

    /// Validates and stores a new monitor under a fresh `mon_<uuidv7>` id.
    pub async fn create(&self, m: Option<Monitor>) -> Result<Monitor, DomainError> {
        let m = m.ok_or_else(|| field_error("monitor", "is required"))?;
        let mut m = validate::monitor(m, &self.regions)?;
        m.id = format!("mon_{}", uuid::Uuid::now_v7().simple());
        m.keep_secrets_from(&Monitor::default());
        let stored = self.store.insert_monitor(m).await?;
        self.changed(&stored.id).await;
        self.shown(&stored).await
    }

    pub async fn get(&self, id: &str) -> Result<Monitor, DomainError> {
        require_id(id)?;
        let m = self.store.get_monitor(id).await.map_err(not_found(id))?;
        self.shown(&m).await
    }

    /// At most [`validate::MAX_LIST_MONITORS`] monitors, so the response fits the admin
    /// message limit; `true` when more are stored. One store read for all their statuses.
    pub async fn list(&self) -> Result<(Vec<Monitor>, bool), DomainError> {
        let all = self.store.list_monitors().await?;
        let truncated = all.len() > validate::MAX_LIST_MONITORS;
        let mut shown: Vec<Monitor> = all
            .iter()
            .take(validate::MAX_LIST_MONITORS)
            .map(Monitor::redacted)
            .collect();
        region_status::fill(&self.store, &mut shown).await?;
        Ok((shown, truncated))
    }

    /// Replaces a monitor's definition. The pause state is kept (it changes only through
    /// `pause`); a non-zero `version` must match the stored one.
    pub async fn update(&self, m: Option<Monitor>) -> Result<Monitor, DomainError> {
        let mut m = m.ok_or_else(|| field_error("monitor", "is required"))?;
        let id = m.id.clone();
        require_id(&id)?;
        let current = self.store.get_monitor(&id).await.map_err(not_found(&id))?;
        let expected = if m.version == 0 {
            current.version
        } else {
            m.version
        };
        // Before validation: a credential sent back blank is the stored one, not a missing one.
        let withheld = m.keep_secrets_from(&current);
        let mut m = validate::monitor(m, &self.regions).map_err(|mut e| {
            if withheld && e.field == "http.bearer_token" {
                e.reason = "must be sent again: the stored token stays with the check's old \
                            origin (scheme, host and port)"
                    .into();
            }
            e
        })?;
        m.paused = current.paused;
        m.created_at_ms = current.created_at_ms;
        let stored = self
            .store
            .update_monitor(m, expected)
            .await
            .map_err(not_found(&id))?;
        self.changed(&id).await;
        self.shown(&stored).await
    }

    /// Deletes a monitor: gone from the API and from agents at once; its open incident is
    /// resolved by the notifier, which is told through the bus.
    pub async fn delete(&self, id: &str) -> Result<(), DomainError> {
        require_id(id)?;
        let version = self.store.delete_monitor(id).await.map_err(not_found(id))?;
        self.changed(id).await;
        self.lifecycle
            .announce(id, version, MonitorLifecycle::Deleted)
            .await;
        Ok(())
    }

    /// Pauses (no checks run, nothing assigned, its open incident resolved) or resumes a
    /// monitor (it starts with no counters: results from before the pause never count).
    pub async fn pause(&self, id: &str, paused: bool) -> Result<Monitor, DomainError> {
        require_id(id)?;
        let mut current = self.store.get_monitor(id).await.map_err(not_found(id))?;
        if current.paused == paused {
            return self.shown(&current).await;
        }
        let expected = current.version;
        current.paused = paused;
        let stored = self
            .store
            .update_monitor(current, expected)
            .await
            .map_err(not_found(id))?;
        self.changed(id).await;
        if paused {
            self.lifecycle
                .announce(id, stored.version, MonitorLifecycle::Paused)
                .await;
        }
        self.shown(&stored).await
    }

    /// A monitor as responses show it: redacted, with its regions' status.
    async fn shown(&self, m: &Monitor) -> Result<Monitor, DomainError> {
        let mut shown = [m.redacted()];
        region_status::fill(&self.store, &mut shown).await?;
        let [shown] = shown;
        Ok(shown)
    }

    async fn changed(&self, id: &str) {
        // The write is committed; the hub retries a failed read until agents have the change.
        self.hub.refresh_monitor(id).await;
        self.no_data.refresh(id).await;
    }
}

/// Creates or updates monitors declared in a config file under their given ids (1-64 of
/// `[a-z0-9_-]`). Call it before [`serve`](crate::serve): the running assignment loads
/// monitors when it starts. Errors name the entry, e.g. `monitors[2].http.url: ...`.
pub async fn apply_declared_monitors(
    store: &Store,
    regions: &[String],
    monitors: Vec<Monitor>,
) -> Result<(), CoordinatorError> {
    let mut seen = std::collections::HashSet::new();
    let mut valid = Vec::with_capacity(monitors.len());
    for (i, m) in monitors.into_iter().enumerate() {
        let field = |f: &str| format!("monitors[{i}].{f}");
        if !is_slug(&m.id, 64) {
            let reason = format!("{} must be 1-64 characters of [a-z0-9_-]", quote(&m.id));
            return Err(CoordinatorError::Invalid(field_error(field("id"), reason)));
        }
        if !seen.insert(m.id.clone()) {
            return Err(CoordinatorError::Invalid(field_error(
                field("id"),
                format!("{} is declared twice", quote(&m.id)),
            )));
        }
        let m = validate::monitor(m, regions)
            .map_err(|e| CoordinatorError::Invalid(field_error(field(&e.field), e.reason)))?;
        valid.push(m);
    }
    for mut m in valid {
        match store.get_monitor(&m.id).await {
            Err(StoreError::NotFound) => {
                m.keep_secrets_from(&Monitor::default());
                store.insert_monitor(m).await?;
            }
            Err(e) => return Err(e.into()),
            Ok(current) => {
                m.keep_secrets_from(&current);
                m.version = current.version;
                m.created_at_ms = current.created_at_ms;
                m.updated_at_ms = current.updated_at_ms;
                if m != current {
                    store.update_monitor(m, current.version).await?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lookout_proto::v1::{HttpCheck, Webhook, monitor::Check};

    fn declared(id: &str, url: &str) -> Monitor {
        Monitor {
            id: id.into(),
            name: "declared".into(),
            regions: vec!["eu".into()],
            interval_secs: 10,
            webhooks: vec![Webhook {
                url: "http://hook/x".into(),
                secret: "s".into(),
                secret_set: false,
            }],
            check: Some(Check::Http(HttpCheck {
                url: url.into(),
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn declared_monitors_upsert_without_needless_writes() {
        let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
        let regions = vec!["eu".to_string()];
        apply_declared_monitors(&store, &regions, vec![declared("web", "http://a/")])
            .await
            .expect("apply");
        let first = store.get_monitor("web").await.expect("stored");
        assert_eq!(first.version, 1);
        assert_eq!(first.webhooks[0].secret, "s");
        apply_declared_monitors(&store, &regions, vec![declared("web", "http://a/")])
            .await
            .expect("again");
        assert_eq!(store.get_monitor("web").await.expect("stored").version, 1);
        apply_declared_monitors(&store, &regions, vec![declared("web", "http://b/")])
            .await
            .expect("change");
        let changed = store.get_monitor("web").await.expect("stored");
        assert_eq!(changed.version, 2);
        assert_eq!(changed.target(), "http://b/");
    }

    #[tokio::test]
    async fn declared_monitor_errors_name_the_entry() {
        let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
        let regions = vec!["eu".to_string()];
        let cases = [
            (vec![declared("Bad Id", "http://a/")], "monitors[0].id"),
            (
                vec![declared("a", "http://a/"), declared("a", "http://a/")],
                "monitors[1].id",
            ),
            (
                vec![declared("ok", "http://a/"), declared("b", "nope")],
                "monitors[1].http.url",
            ),
        ];
        for (ms, field) in cases {
            let e = apply_declared_monitors(&store, &regions, ms)
                .await
                .expect_err(field);
            assert!(e.to_string().starts_with(&format!("{field}: ")), "{e}");
        }
    }
}
