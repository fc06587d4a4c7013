//! The monitor domain: validation, quotas, ids, secret handling and persistence for the admin
//! API (each call acts only on the caller's project) and for monitors declared in a config
//! file (the default project); every change is pushed to the assignment.

use std::sync::Arc;

use lookout_proto::Monitor;
use lookout_proto::bounds::quote;
use lookout_proto::v1::{Integration, MonitorLifecycle};
use lookout_proto::validate;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::{Store, StoreError};

use crate::config::is_slug;
use crate::error::{CoordinatorError, DomainError, field_error};
use crate::hub::Hub;
use crate::lifecycle::LifecycleEvents;
use crate::no_data::NoDataWatch;
use crate::paging::{self, ListKind};
use crate::projects::check_monitor_quotas;
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
    require_named("id", id)
}

/// A non-empty id of at most [`validate::MAX_ID_BYTES`], in request field `field`.
fn require_named(field: &str, id: &str) -> Result<(), DomainError> {
    if id.is_empty() {
        return Err(field_error(field, "must not be empty").into());
    }
    if id.len() > validate::MAX_ID_BYTES {
        let reason = format!("is {} bytes, at most {}", id.len(), validate::MAX_ID_BYTES);
        return Err(field_error(field, reason).into());
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

    /// Validates and stores a new monitor of `project` under a fresh `mon_<uuidv7>` id,
    /// within the project's quotas.
    pub async fn create(&self, project: &str, m: Option<Monitor>) -> Result<Monitor, DomainError> {
        let m = m.ok_or_else(|| field_error("monitor", "is required"))?;
        let mut m = validate::monitor(m, &self.regions)?;
        self.check_quotas(project, &m).await?;
        m.id = format!("mon_{}", uuid::Uuid::now_v7().simple());
        m.keep_secrets_from(&Monitor::default());
        let stored = match self.store.insert_monitor_in_project(project, m).await {
            Ok(stored) => stored,
            Err(StoreError::MonitorQuota { max }) => {
                return Err(DomainError::QuotaExceeded(format!(
                    "quota max_monitors is {max}: the project holds {max} monitors"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        self.changed(&stored.id).await;
        self.shown(&stored).await
    }

    /// The project's quotas, and that every attached integration is one of the project's.
    async fn check_quotas(&self, project: &str, m: &Monitor) -> Result<(), DomainError> {
        let p = self.store.get_project(project).await?;
        check_monitor_quotas(&p.quotas, m)?;
        let attached = std::iter::once(("integration_ids".to_string(), &m.integration_ids)).chain(
            m.escalation.iter().enumerate().map(|(l, e)| {
                (
                    format!("escalation[{l}].integration_ids"),
                    &e.integration_ids,
                )
            }),
        );
        for (field, ids) in attached {
            let missing = self.store.missing_integrations(project, ids).await?;
            if let Some(id) = missing.first() {
                let i = ids.iter().position(|x| x == id).unwrap_or(0);
                return Err(field_error(
                    format!("{field}[{i}]"),
                    format!("no integration {} in this project", quote(id)),
                )
                .into());
            }
        }
        if !m.parent_monitor_id.is_empty() {
            if m.parent_monitor_id == m.id {
                return Err(
                    field_error("parent_monitor_id", "a monitor cannot be its own parent").into(),
                );
            }
            match self
                .store
                .get_monitor_in_project(project, &m.parent_monitor_id)
                .await
            {
                Ok(_) => {}
                Err(StoreError::NotFound) => {
                    return Err(field_error(
                        "parent_monitor_id",
                        format!("no monitor {} in this project", quote(&m.parent_monitor_id)),
                    )
                    .into());
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub async fn get(&self, project: &str, id: &str) -> Result<Monitor, DomainError> {
        require_id(id)?;
        let m = self.current(project, id).await?;
        self.shown(&m).await
    }

    /// The stored monitor `id` of `project`; another project's id is "not found", exactly
    /// like an unknown one.
    async fn current(&self, project: &str, id: &str) -> Result<Monitor, DomainError> {
        self.store
            .get_monitor_in_project(project, id)
            .await
            .map_err(not_found(id))
    }

    /// One page of `project`'s monitors by id and the token of the next (empty at the end).
    /// One store read for all their statuses.
    pub async fn list(
        &self,
        project: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Monitor>, String), DomainError> {
        let size = paging::page_size(page_size)?;
        let after = paging::position(ListKind::Monitors, page_token)?;
        let page = self
            .store
            .list_monitors_in_project(project, after.as_deref(), size)
            .await?;
        let next = paging::next_token(&page, size, |m| paging::token(ListKind::Monitors, &m.id));
        let mut shown: Vec<Monitor> = page.iter().map(Monitor::redacted).collect();
        region_status::fill(&self.store, &mut shown).await?;
        Ok((shown, next))
    }

    /// Replaces a monitor's definition. The pause state is kept (it changes only through
    /// `pause`); a non-zero `version` must match the stored one.
    pub async fn update(&self, project: &str, m: Option<Monitor>) -> Result<Monitor, DomainError> {
        let mut m = m.ok_or_else(|| field_error("monitor", "is required"))?;
        let id = m.id.clone();
        require_id(&id)?;
        let current = self.current(project, &id).await?;
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
        self.check_quotas(project, &m).await?;
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
    pub async fn delete(&self, project: &str, id: &str) -> Result<(), DomainError> {
        require_id(id)?;
        let version = self
            .store
            .delete_monitor_in_project(project, id)
            .await
            .map_err(not_found(id))?;
        self.changed(id).await;
        self.lifecycle
            .announce(id, version, MonitorLifecycle::Deleted)
            .await;
        Ok(())
    }

    /// Pauses (no checks run, nothing assigned, its open incident resolved) or resumes a
    /// monitor (it starts with no counters: results from before the pause never count).
    pub async fn pause(
        &self,
        project: &str,
        id: &str,
        paused: bool,
    ) -> Result<Monitor, DomainError> {
        require_id(id)?;
        let mut current = self.current(project, id).await?;
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

    /// The integrations monitor `id` attaches, in its order, redacted.
    pub async fn integrations(
        &self,
        project: &str,
        id: &str,
    ) -> Result<Vec<Integration>, DomainError> {
        require_named("monitor_id", id)?;
        let m = self.current(project, id).await?;
        let mut out = Vec::with_capacity(m.integration_ids.len());
        for i in &m.integration_ids {
            match self.store.get_integration_in_project(project, i).await {
                Ok(i) => out.push(i.redacted()),
                // Deleting an attached integration is refused, so this is a race with a
                // detach-then-delete: the integration is gone, and not listed.
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Adds integration `integration_id` of the project to monitor `id` (nothing changes when
    /// it is attached already).
    pub async fn attach(
        &self,
        project: &str,
        id: &str,
        integration_id: &str,
    ) -> Result<Monitor, DomainError> {
        require_named("monitor_id", id)?;
        require_named("integration_id", integration_id)?;
        self.edit_integrations(project, id, |m| {
            if m.integration_ids.iter().any(|i| i == integration_id) {
                return Ok(false);
            }
            if m.integration_ids.len() >= validate::MAX_INTEGRATIONS {
                return Err(field_error(
                    "integration_id",
                    format!(
                        "the monitor attaches {} integrations already, the most it may",
                        validate::MAX_INTEGRATIONS
                    ),
                )
                .into());
            }
            m.integration_ids.push(integration_id.to_string());
            Ok(true)
        })
        .await
    }

    /// Removes integration `integration_id` from monitor `id`; not attached is "not found".
    pub async fn detach(
        &self,
        project: &str,
        id: &str,
        integration_id: &str,
    ) -> Result<Monitor, DomainError> {
        require_named("monitor_id", id)?;
        require_named("integration_id", integration_id)?;
        self.edit_integrations(project, id, |m| {
            let before = m.integration_ids.len();
            m.integration_ids.retain(|i| i != integration_id);
            if m.integration_ids.len() == before {
                return Err(DomainError::NotAttached {
                    monitor: id.to_string(),
                    integration: integration_id.to_string(),
                });
            }
            Ok(true)
        })
        .await
    }

    /// Applies `edit` to the stored monitor and stores it when `edit` says it changed it,
    /// reading it again when another writer came in between (a few times, then `Conflict`).
    /// Every attached integration must be one of the project's.
    async fn edit_integrations(
        &self,
        project: &str,
        id: &str,
        edit: impl Fn(&mut Monitor) -> Result<bool, DomainError>,
    ) -> Result<Monitor, DomainError> {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let current = self.current(project, id).await?;
            let mut m = current.clone();
            if !edit(&mut m)? {
                return self.shown(&current).await;
            }
            let missing = self
                .store
                .missing_integrations(project, &m.integration_ids)
                .await?;
            if let Some(i) = missing.first() {
                return Err(DomainError::IntegrationNotFound(i.clone()));
            }
            match self.store.update_monitor(m, current.version).await {
                Ok(stored) => {
                    self.changed(id).await;
                    return self.shown(&stored).await;
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(not_found(id)(e)),
            }
        }
        Err(DomainError::Conflict(id.to_string()))
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
        let missing = store
            .missing_integrations(DEFAULT_PROJECT_ID, &m.integration_ids)
            .await?;
        if let Some(id) = missing.first() {
            let j = m.integration_ids.iter().position(|x| x == id).unwrap_or(0);
            return Err(CoordinatorError::Invalid(field_error(
                field(&format!("integration_ids[{j}]")),
                format!("no integration {} is declared or stored", quote(id)),
            )));
        }
        valid.push(m);
    }
    for mut m in valid {
        // Declared monitors belong to the default project; the same id in another project
        // is refused by the insert (ids are unique across projects).
        match store
            .get_monitor_in_project(DEFAULT_PROJECT_ID, &m.id)
            .await
        {
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
    use lookout_proto::v1::{HttpCheck, http_check::Auth, monitor::Check};

    fn declared(id: &str, url: &str) -> Monitor {
        Monitor {
            id: id.into(),
            name: "declared".into(),
            regions: vec!["eu".into()],
            interval_secs: 10,
            check: Some(Check::Http(HttpCheck {
                url: url.into(),
                auth: Some(Auth::BearerToken("s".into())),
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
        assert_eq!(lookout_store::testing::secret_of(&first), "s");
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
