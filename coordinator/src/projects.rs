//! The project domain: projects and their quotas (operator tokens), and project API tokens
//! (a project's own token, or an operator token naming the project). A token is shown once,
//! at creation; the store keeps its SHA-256 hash, a prefix to recognise it and a label.

use lookout_proto::Monitor;
use lookout_proto::v1::{self as pb, ProjectToken};
use lookout_proto::validate::{
    self, FieldError, MAX_INTERVAL_SECS, MAX_PROJECT_MONITORS, MAX_PROJECT_NAME_BYTES, MAX_REGIONS,
    MAX_TOKEN_NAME_BYTES,
};
use lookout_store::projects::{DEFAULT_PROJECT_ID, NewToken, ProjectRow, Quotas, TokenRow};
use lookout_store::{Store, StoreError};
use rand::Rng;

use crate::auth::{Caller, token_hash};
use crate::config::is_slug;
use crate::error::{DomainError, field_error};
use crate::paging::{self, ListKind};

/// `max_monitors` of a project created without one.
pub const DEFAULT_MAX_MONITORS: u32 = 1_000;
/// `min_interval_secs` of a project created without one.
pub const DEFAULT_MIN_INTERVAL_SECS: u32 = 30;
/// `max_regions_per_monitor` of a project created without one.
pub const DEFAULT_MAX_REGIONS_PER_MONITOR: u32 = 5;
/// The shortest gap of a 5-field cron schedule: what the interval quota compares for cron
/// monitors (the validator computes no finer gap).
const CRON_GAP_SECS: u32 = 60;

/// Token text: a recognisable prefix and 256 random bits in hex.
const TOKEN_PREFIX: &str = "lkt_";
/// Characters of a token kept to recognise it (`lkt_` and 8 hex digits).
const SHOWN_PREFIX_CHARS: usize = 12;

pub struct ProjectDomain {
    store: Store,
}

fn project_not_found(id: &str) -> impl FnOnce(StoreError) -> DomainError + '_ {
    move |e| match e {
        StoreError::NotFound => DomainError::ProjectNotFound(id.to_string()),
        e => DomainError::Store(e),
    }
}

fn bounded_id(field: &str, id: &str) -> Result<(), FieldError> {
    if id.len() > validate::MAX_ID_BYTES {
        let reason = format!("is {} bytes, at most {}", id.len(), validate::MAX_ID_BYTES);
        return Err(field_error(field, reason));
    }
    Ok(())
}

/// The quotas of a new project: zero (or missing) fields take the defaults.
pub fn quotas(q: Option<pb::Quotas>) -> Result<Quotas, FieldError> {
    let defaults = Quotas {
        max_monitors: DEFAULT_MAX_MONITORS,
        min_interval_secs: DEFAULT_MIN_INTERVAL_SECS,
        max_regions_per_monitor: DEFAULT_MAX_REGIONS_PER_MONITOR,
    };
    quotas_over(q, defaults)
}

/// `q` over `base`: zero (or missing) fields keep `base`'s value, others must be within
/// their bound.
fn quotas_over(q: Option<pb::Quotas>, base: Quotas) -> Result<Quotas, FieldError> {
    let q = q.unwrap_or_default();
    let pick = |field: &str, v: u32, base: u32, max: u32| match v {
        0 => Ok(base),
        v if v <= max => Ok(v),
        v => Err(field_error(
            format!("quotas.{field}"),
            format!("{v} is invalid, must be 1..={max} (or 0 for the default)"),
        )),
    };
    Ok(Quotas {
        max_monitors: pick(
            "max_monitors",
            q.max_monitors,
            base.max_monitors,
            MAX_PROJECT_MONITORS,
        )?,
        min_interval_secs: pick(
            "min_interval_secs",
            q.min_interval_secs,
            base.min_interval_secs,
            MAX_INTERVAL_SECS,
        )?,
        max_regions_per_monitor: pick(
            "max_regions_per_monitor",
            q.max_regions_per_monitor,
            base.max_regions_per_monitor,
            MAX_REGIONS as u32,
        )?,
    })
}

/// Refuses a (validated) monitor that exceeds its project's interval or region quota.
pub fn check_monitor_quotas(q: &Quotas, m: &Monitor) -> Result<(), DomainError> {
    if m.regions.len() > q.max_regions_per_monitor as usize {
        return Err(DomainError::QuotaExceeded(format!(
            "quota max_regions_per_monitor is {}: the monitor names {} regions",
            q.max_regions_per_monitor,
            m.regions.len()
        )));
    }
    let (gap, what) = if m.cron.is_empty() {
        (
            m.interval_secs,
            format!("interval_secs {}", m.interval_secs),
        )
    } else {
        (
            CRON_GAP_SECS,
            format!("a cron schedule (may fire every {CRON_GAP_SECS} s)"),
        )
    };
    if gap < q.min_interval_secs {
        return Err(DomainError::QuotaExceeded(format!(
            "quota min_interval_secs is {}: {what} is shorter",
            q.min_interval_secs
        )));
    }
    Ok(())
}

pub fn project_to_api(p: &ProjectRow) -> pb::Project {
    pb::Project {
        id: p.id.clone(),
        name: p.name.clone(),
        quotas: Some(pb::Quotas {
            max_monitors: p.quotas.max_monitors,
            min_interval_secs: p.quotas.min_interval_secs,
            max_regions_per_monitor: p.quotas.max_regions_per_monitor,
        }),
        monitor_count: p.monitor_count,
        created_at_ms: p.created_at_ms,
        paid_plan: p.paid_plan,
    }
}

fn token_to_api(t: &TokenRow) -> ProjectToken {
    ProjectToken {
        id: t.id.clone(),
        project_id: t.project_id.clone(),
        name: t.name.clone(),
        prefix: t.prefix.clone(),
        created_at_ms: t.created_at_ms,
    }
}

impl ProjectDomain {
    pub fn new(store: Store) -> ProjectDomain {
        ProjectDomain { store }
    }

    pub async fn create(
        &self,
        name: &str,
        q: Option<pb::Quotas>,
    ) -> Result<pb::Project, DomainError> {
        if !is_slug(name, MAX_PROJECT_NAME_BYTES) {
            return Err(field_error(
                "name",
                format!("{name:?} must be 1-{MAX_PROJECT_NAME_BYTES} characters of [a-z0-9_-]"),
            )
            .into());
        }
        let q = quotas(q)?;
        let id = format!("prj_{}", uuid::Uuid::now_v7().simple());
        match self.store.create_project(&id, name, q).await {
            Ok(p) => {
                tracing::info!(project_id = %p.id, name = %p.name, "project created");
                Ok(project_to_api(&p))
            }
            Err(StoreError::Conflict) => Err(DomainError::ProjectExists(name.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    /// One page of projects by id; the token continues after the last one.
    pub async fn list(
        &self,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<pb::Project>, String), DomainError> {
        let size = paging::page_size(page_size)?;
        let after = paging::position(ListKind::Projects, page_token)?;
        let rows = self.store.list_projects(after.as_deref(), size).await?;
        let next = paging::next_token(&rows, size, |p| paging::token(ListKind::Projects, &p.id));
        Ok((rows.iter().map(project_to_api).collect(), next))
    }

    /// Changes project `id`'s quotas; zero fields keep their value.
    pub async fn update_quotas(
        &self,
        id: &str,
        q: Option<pb::Quotas>,
    ) -> Result<pb::Project, DomainError> {
        if id.is_empty() {
            return Err(field_error("id", "must not be empty").into());
        }
        bounded_id("id", id)?;
        let current = self
            .store
            .get_project(id)
            .await
            .map_err(project_not_found(id))?;
        let q = quotas_over(q, current.quotas)?;
        let p = self
            .store
            .update_project_quotas(id, q)
            .await
            .map_err(project_not_found(id))?;
        tracing::info!(project_id = %id, ?q, "project quotas changed");
        Ok(project_to_api(&p))
    }

    /// Puts project `id` on a paid plan or takes it off. Integrations that need one (SMS)
    /// stay as they are when it is turned off; new ones are refused.
    pub async fn update_plan(&self, id: &str, paid: bool) -> Result<pb::Project, DomainError> {
        if id.is_empty() {
            return Err(field_error("id", "must not be empty").into());
        }
        bounded_id("id", id)?;
        let p = self
            .store
            .set_project_plan(id, paid)
            .await
            .map_err(project_not_found(id))?;
        tracing::info!(project_id = %id, paid_plan = paid, "project plan changed");
        Ok(project_to_api(&p))
    }

    /// Deletes an empty project and its tokens. Refusing while monitors remain keeps a
    /// mistyped id from wiping a team's monitors, incidents and delivery log.
    pub async fn delete(&self, id: &str) -> Result<(), DomainError> {
        if id.is_empty() {
            return Err(field_error("id", "must not be empty").into());
        }
        bounded_id("id", id)?;
        if id == DEFAULT_PROJECT_ID {
            return Err(DomainError::FailedPrecondition(
                "the default project cannot be deleted: the configured project_tokens and \
                 declared monitors belong to it"
                    .into(),
            ));
        }
        match self.store.delete_project(id).await {
            Ok(()) => {
                tracing::info!(project_id = %id, "project deleted");
                Ok(())
            }
            Err(StoreError::NotEmpty { monitors }) => Err(DomainError::FailedPrecondition(
                format!("project {id:?} holds {monitors} monitors; delete them first"),
            )),
            Err(e) => Err(project_not_found(id)(e)),
        }
    }

    /// The project a token call acts on: a project token's own (an empty `project_id` or its
    /// own id; any other id is "not found", exactly like an unknown one), or the one an
    /// operator names.
    async fn target(&self, caller: &Caller, project_id: &str) -> Result<String, DomainError> {
        bounded_id("project_id", project_id)?;
        match caller {
            Caller::Project(own) if project_id.is_empty() || project_id == own => Ok(own.clone()),
            Caller::Project(_) => Err(DomainError::ProjectNotFound(project_id.to_string())),
            Caller::Operator if project_id.is_empty() => {
                Err(field_error("project_id", "is required with an operator token").into())
            }
            Caller::Operator => {
                let p = self
                    .store
                    .get_project(project_id)
                    .await
                    .map_err(project_not_found(project_id))?;
                Ok(p.id)
            }
        }
    }

    /// Creates a token; the returned secret is shown only here.
    pub async fn create_token(
        &self,
        caller: &Caller,
        project_id: &str,
        name: &str,
    ) -> Result<(ProjectToken, String), DomainError> {
        if name.len() > MAX_TOKEN_NAME_BYTES {
            return Err(field_error(
                "name",
                format!("is {} bytes, at most {MAX_TOKEN_NAME_BYTES}", name.len()),
            )
            .into());
        }
        if name.chars().any(char::is_control) {
            return Err(field_error("name", "must not hold control characters").into());
        }
        let project = self.target(caller, project_id).await?;
        let random: [u8; 32] = rand::rng().random();
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(random));
        let id = format!("tok_{}", uuid::Uuid::now_v7().simple());
        let new = NewToken {
            id: &id,
            project_id: &project,
            hash: token_hash(&secret),
            prefix: &secret[..SHOWN_PREFIX_CHARS],
            name,
        };
        let row = match self.store.insert_token(new).await {
            Ok(row) => row,
            Err(StoreError::TokenQuota { max }) => {
                return Err(DomainError::QuotaExceeded(format!(
                    "quota tokens_per_project is {max}: revoke one first"
                )));
            }
            Err(e) => return Err(project_not_found(&project)(e)),
        };
        tracing::info!(project_id = %project, token_id = %row.id, "project token created");
        Ok((token_to_api(&row), secret))
    }

    pub async fn list_tokens(
        &self,
        caller: &Caller,
        project_id: &str,
    ) -> Result<Vec<ProjectToken>, DomainError> {
        let project = self.target(caller, project_id).await?;
        let rows = self.store.list_tokens(&project).await?;
        Ok(rows.iter().map(token_to_api).collect())
    }

    pub async fn revoke_token(
        &self,
        caller: &Caller,
        project_id: &str,
        id: &str,
    ) -> Result<(), DomainError> {
        if id.is_empty() {
            return Err(field_error("id", "must not be empty").into());
        }
        bounded_id("id", id)?;
        let project = self.target(caller, project_id).await?;
        match self.store.delete_token(&project, id).await {
            Ok(()) => {
                tracing::info!(project_id = %project, token_id = %id, "project token revoked");
                Ok(())
            }
            Err(StoreError::NotFound) => Err(DomainError::TokenNotFound(id.to_string())),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn monitor(regions: usize, interval_secs: u32, cron: &str) -> Monitor {
        Monitor {
            regions: (0..regions).map(|i| format!("r{i}")).collect(),
            interval_secs,
            cron: cron.into(),
            ..Default::default()
        }
    }

    #[test]
    fn quotas_default_and_bound() {
        let d = quotas(None).expect("defaults");
        assert_eq!(
            (
                d.max_monitors,
                d.min_interval_secs,
                d.max_regions_per_monitor
            ),
            (1_000, 30, 5)
        );
        let cases = [
            (
                pb::Quotas {
                    max_monitors: 2_000_000,
                    ..Default::default()
                },
                "quotas.max_monitors",
            ),
            (
                pb::Quotas {
                    min_interval_secs: 86_401,
                    ..Default::default()
                },
                "quotas.min_interval_secs",
            ),
            (
                pb::Quotas {
                    max_regions_per_monitor: 17,
                    ..Default::default()
                },
                "quotas.max_regions_per_monitor",
            ),
        ];
        for (q, field) in cases {
            assert_eq!(quotas(Some(q)).expect_err(field).field, field);
        }
    }

    #[test]
    fn monitor_quotas_name_the_quota() {
        let q = quotas(None).expect("defaults");
        let cases = [
            (
                monitor(6, 60, ""),
                Some("quota max_regions_per_monitor is 5"),
            ),
            (monitor(1, 10, ""), Some("quota min_interval_secs is 30")),
            (monitor(1, 30, ""), None),
            (monitor(5, 0, "* * * * *"), None),
        ];
        for (m, want) in cases {
            match (check_monitor_quotas(&q, &m), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.to_string().starts_with(w), "{e}"),
                (got, want) => panic!("{got:?} != {want:?}"),
            }
        }
        let strict = Quotas {
            min_interval_secs: 120,
            ..q
        };
        let e = check_monitor_quotas(&strict, &monitor(1, 0, "* * * * *")).expect_err("cron");
        assert!(e.to_string().contains("cron"), "{e}");
    }
}
