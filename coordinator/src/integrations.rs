//! The integration domain: integrations and project variables of the caller's project.
//! Every integration is validated when saved (`lookout_render::validate`: its settings, then a
//! rendering of its templates against a sample event), so one that is stored renders; secret
//! settings and secret variables are write-only ("***" in every response). A test queues one
//! test event to an integration through the notifier's own delivery pipeline. An SMS
//! integration needs a paid plan and the code sent to its number (`sms`); a Slack app
//! integration is made only by the Slack OAuth callback (`slack_app`) and is not editable.

use std::sync::Arc;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{Delivery, EventKind, Integration, Variable};
use lookout_proto::validate::FieldError;
use lookout_render::Variables;
use lookout_store::notifier::{OutboxRow, OutboxState};
use lookout_store::{Store, StoreError, now_ms};
use prost::Message;

use crate::destinations::DestinationRules;
use crate::error::{Change, DomainError, field_error};
use crate::paging::{self, ListKind};
use crate::sms::SmsVerification;

/// Bounds of a project variable.
pub const MAX_VARIABLE_NAME_BYTES: usize = 64;
pub const MAX_VARIABLE_VALUE_BYTES: usize = 4096;
/// Variables per project.
pub const MAX_VARIABLES: usize = 200;

pub struct IntegrationDomain {
    store: Store,
    sms: Arc<SmsVerification>,
    rules: DestinationRules,
}

fn not_found(id: &str) -> impl FnOnce(StoreError) -> DomainError + '_ {
    move |e| match e {
        StoreError::NotFound => DomainError::IntegrationNotFound(id.to_string()),
        StoreError::Conflict => DomainError::Conflict(id.to_string()),
        StoreError::InUse { monitors } => DomainError::FailedPrecondition(format!(
            "integration {id:?} is attached to monitors {}: detach it first",
            monitors.join(", ")
        )),
        e => DomainError::Store(e),
    }
}

fn require_id(id: &str) -> Result<(), FieldError> {
    if id.is_empty() {
        return Err(field_error("id", "must not be empty"));
    }
    if id.len() > lookout_proto::validate::MAX_ID_BYTES {
        return Err(field_error(
            "id",
            format!("is at most {} bytes", lookout_proto::validate::MAX_ID_BYTES),
        ));
    }
    Ok(())
}

/// Why a Slack app integration cannot be made or changed through the API.
const SLACK_APP_IS_INSTALLED: &str = "is made by connecting Slack (POST \
    /api/v1/integrations/slack/initiate, then Slack's authorization), not through this call";

impl IntegrationDomain {
    /// `sms` checks the verification codes SMS integrations are created with.
    /// `sms` checks the verification codes SMS integrations are created with; `rules` are the
    /// destinations integrations may point at (and pin SSH host keys).
    pub fn new(
        store: Store,
        sms: Arc<SmsVerification>,
        rules: DestinationRules,
    ) -> IntegrationDomain {
        IntegrationDomain { store, sms, rules }
    }

    async fn variables(&self, project: &str) -> Result<Variables, DomainError> {
        let mut vars = Variables::new();
        for v in self.store.list_variables(project).await? {
            vars.insert(v.name, v.value, v.secret);
        }
        Ok(vars)
    }

    /// Validates and stores a new integration of `project` under a fresh `int_<uuidv7>` id
    /// (or its own id, for one declared in a config file). An SMS integration needs a paid
    /// plan and the verification code sent to its number.
    pub async fn create(
        &self,
        project: &str,
        i: Option<Integration>,
    ) -> Result<Integration, DomainError> {
        let i = i.ok_or_else(|| field_error("integration", "is required"))?;
        if matches!(i.kind, Some(Kind::SlackApp(_))) {
            return Err(field_error("slack_app", SLACK_APP_IS_INSTALLED).into());
        }
        // "***" is what a read shows for a set secret; as a new value it is a mistake.
        refuse_placeholders(&i)?;
        let mut i = lookout_render::validate(i, &self.variables(project).await?)?;
        self.rules.apply(&self.store, project, &mut i, None).await?;
        if let Some(Kind::Sms(s)) = &mut i.kind {
            self.verified_number(project, s).await?;
        }
        self.insert(project, i).await
    }

    /// Stores a Slack app integration of `project` that the OAuth callback made, after the
    /// same validation as any other (Slack's answer is input too).
    pub(crate) async fn create_installed(
        &self,
        project: &str,
        i: Integration,
    ) -> Result<Integration, DomainError> {
        let i = lookout_render::validate(i, &self.variables(project).await?)?;
        self.insert(project, i).await
    }

    async fn insert(&self, project: &str, mut i: Integration) -> Result<Integration, DomainError> {
        if i.id.is_empty() {
            i.id = format!("int_{}", uuid::Uuid::now_v7().simple());
        }
        // Output only: only a configuration file makes system integrations.
        i.system = false;
        require_id(&i.id)?;
        let kind = lookout_render::kind_name(&i);
        let stored = self
            .store
            .insert_integration_in_project(project, kind, i)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => DomainError::FailedPrecondition(
                    "an integration with this id exists already".into(),
                ),
                e => DomainError::Store(e),
            })?;
        tracing::info!(integration_id = %stored.id, kind, "integration created");
        Ok(stored.redacted())
    }

    /// Checks an SMS integration's number for `project`: a paid plan, and the code sent to
    /// the number (consumed). The code is never stored.
    async fn verified_number(
        &self,
        project: &str,
        s: &mut lookout_proto::v1::SmsIntegration,
    ) -> Result<(), DomainError> {
        self.sms.require_paid_plan(project).await?;
        let phone = lookout_render::sms::PhoneNumber::parse("sms.phone_number", &s.phone_number)?;
        let code = std::mem::take(&mut s.verification_code);
        self.sms.verify(project, &phone, &code).await
    }

    pub async fn get(&self, project: &str, id: &str) -> Result<Integration, DomainError> {
        require_id(id)?;
        Ok(self.current(project, id).await?.redacted())
    }

    async fn current(&self, project: &str, id: &str) -> Result<Integration, DomainError> {
        self.store
            .get_integration_in_project(project, id)
            .await
            .map_err(not_found(id))
    }

    pub async fn list(
        &self,
        project: &str,
        page_size: u32,
        page_token: &str,
    ) -> Result<(Vec<Integration>, String), DomainError> {
        let size = paging::page_size(page_size)?;
        let after = paging::position(ListKind::Integrations, page_token)?;
        let page = self
            .store
            .list_integrations_in_project(project, after.as_deref(), size)
            .await?;
        let next = paging::next_token(&page, size, |i| {
            paging::token(ListKind::Integrations, &i.id)
        });
        Ok((page.iter().map(Integration::redacted).collect(), next))
    }

    /// Replaces an integration's settings; secrets sent back as "***" keep their stored
    /// values, and a non-zero `version` must match the stored one. The kind may change.
    pub async fn update(
        &self,
        project: &str,
        i: Option<Integration>,
    ) -> Result<Integration, DomainError> {
        let mut i = i.ok_or_else(|| field_error("integration", "is required"))?;
        require_id(&i.id)?;
        let id = i.id.clone();
        let current = self.current(project, &id).await?;
        if current.system {
            return Err(DomainError::SystemIntegration {
                id,
                change: Change::Edit,
            });
        }
        i.system = false;
        if matches!(current.kind, Some(Kind::SlackApp(_))) {
            return Err(DomainError::FailedPrecondition(format!(
                "integration {id:?} is a Slack app integration, which is not editable: delete it \
                 and connect Slack again"
            )));
        }
        if matches!(i.kind, Some(Kind::SlackApp(_))) {
            return Err(field_error("slack_app", SLACK_APP_IS_INSTALLED).into());
        }
        let expected = if i.version == 0 {
            current.version
        } else {
            i.version
        };
        i.keep_secrets_from(&current);
        refuse_placeholders(&i)?;
        let mut i = lookout_render::validate(i, &self.variables(project).await?)?;
        self.rules
            .apply(&self.store, project, &mut i, Some(&current))
            .await?;
        if let Some(Kind::Sms(s)) = &mut i.kind {
            let same_number = matches!(&current.kind,
                Some(Kind::Sms(c)) if c.phone_number == s.phone_number);
            if same_number {
                s.verification_code.clear();
            } else {
                self.verified_number(project, s).await?;
            }
        }
        i.created_at_ms = current.created_at_ms;
        let kind = lookout_render::kind_name(&i);
        let stored = self
            .store
            .update_integration_in_project(project, kind, i, expected)
            .await
            .map_err(not_found(&id))?;
        tracing::info!(integration_id = %id, version = stored.version, "integration updated");
        Ok(stored.redacted())
    }

    /// Deletes an integration no monitor attaches; a system integration is refused.
    pub async fn delete(&self, project: &str, id: &str) -> Result<(), DomainError> {
        require_id(id)?;
        if self.current(project, id).await?.system {
            return Err(DomainError::SystemIntegration {
                id: id.to_string(),
                change: Change::Delete,
            });
        }
        self.store
            .delete_integration_in_project(project, id)
            .await
            .map_err(not_found(id))
    }

    /// Queues a test event to integration `id` and returns its delivery (pending).
    pub async fn test(&self, project: &str, id: &str) -> Result<Delivery, DomainError> {
        require_id(id)?;
        let i = self.current(project, id).await?;
        let now = now_ms();
        let mut event = lookout_render::sample_event();
        event.kind = EventKind::Test as i32;
        event.project_id = project.to_string();
        event.at_ms = now;
        event.incident = None;
        if let Some(m) = &mut event.monitor {
            m.name = "Lookout test event".into();
        }
        let row = OutboxRow {
            id: format!("dlv_{}", uuid::Uuid::now_v7()),
            project_id: project.to_string(),
            incident_id: None,
            monitor_id: None,
            integration_id: i.id.clone(),
            event: EventKind::Test,
            channel: lookout_render::kind_name(&i).to_string(),
            payload: event.encode_to_vec(),
            attempts: 0,
            next_attempt_at_ms: now,
            state: OutboxState::Pending,
            last_error: None,
            created_at_ms: now,
        };
        self.store.enqueue_delivery(&row).await?;
        tracing::info!(integration_id = %i.id, delivery_id = %row.id, "test event queued");
        Ok(crate::deliveries::to_api(&row))
    }

    /// Creates or replaces variable `v` of `project`; a secret's value is never returned.
    pub async fn set_variable(
        &self,
        project: &str,
        v: Option<Variable>,
    ) -> Result<Variable, DomainError> {
        let v = v.ok_or_else(|| field_error("variable", "is required"))?;
        variable_name(&v.name)?;
        if v.value.len() > MAX_VARIABLE_VALUE_BYTES {
            return Err(field_error(
                "variable.value",
                format!(
                    "is {} bytes, at most {MAX_VARIABLE_VALUE_BYTES}",
                    v.value.len()
                ),
            )
            .into());
        }
        if v.value.bytes().any(|b| b == 0) {
            return Err(field_error("variable.value", "must not hold NUL bytes").into());
        }
        let existing = self.store.list_variables(project).await?;
        if existing.len() >= MAX_VARIABLES && !existing.iter().any(|e| e.name == v.name) {
            return Err(DomainError::QuotaExceeded(format!(
                "at most {MAX_VARIABLES} variables per project"
            )));
        }
        let stored = self.store.set_variable(project, v).await?;
        Ok(shown(stored))
    }

    pub async fn list_variables(&self, project: &str) -> Result<Vec<Variable>, DomainError> {
        Ok(self
            .store
            .list_variables(project)
            .await?
            .into_iter()
            .map(shown)
            .collect())
    }

    pub async fn delete_variable(&self, project: &str, name: &str) -> Result<(), DomainError> {
        variable_name(name)?;
        self.store
            .delete_variable(project, name)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => DomainError::VariableNotFound(name.to_string()),
                e => DomainError::Store(e),
            })
    }
}

/// Refuses a secret setting that is still "***" once the stored values are kept: there was
/// none to keep (a create, or a secret not set before), and storing the placeholder would sign
/// and authenticate with "***".
fn refuse_placeholders(i: &Integration) -> Result<(), FieldError> {
    use lookout_proto::REDACTED;
    let mut secrets: Vec<(String, &str)> = Vec::new();
    match &i.kind {
        Some(Kind::Webhook(w)) => {
            secrets.push(("webhook.secret".into(), &w.secret));
            if let Some(b) = &w.basic_auth {
                secrets.push(("webhook.basic_auth.password".into(), &b.password));
            }
            for (n, h) in w.headers.iter().enumerate() {
                if lookout_proto::is_secret_header(&h.name) {
                    secrets.push((format!("webhook.headers[{n}].value"), &h.value));
                }
            }
        }
        Some(Kind::Slack(k)) => secrets.push(("slack.url".into(), &k.url)),
        Some(Kind::Discord(k)) => secrets.push(("discord.url".into(), &k.url)),
        Some(Kind::Telegram(k)) => secrets.push(("telegram.bot_token".into(), &k.bot_token)),
        Some(Kind::Mattermost(k)) => secrets.push(("mattermost.url".into(), &k.url)),
        Some(Kind::Teams(k)) => secrets.push(("teams.url".into(), &k.url)),
        Some(Kind::Pagerduty(k)) => {
            secrets.push(("pagerduty.routing_key".into(), &k.routing_key));
        }
        Some(Kind::Opsgenie(k)) => secrets.push(("opsgenie.api_key".into(), &k.api_key)),
        Some(Kind::Pushover(k)) => {
            secrets.push(("pushover.token".into(), &k.token));
            secrets.push(("pushover.user_key".into(), &k.user_key));
        }
        Some(Kind::SlackApp(k)) => {
            secrets.push(("slack_app.bot_token".into(), &k.bot_token));
            secrets.push(("slack_app.user_token".into(), &k.user_token));
            secrets.push(("slack_app.webhook_url".into(), &k.webhook_url));
        }
        Some(Kind::Email(k)) => {
            if let Some(s) = &k.smtp {
                secrets.push(("email.smtp.password".into(), &s.password));
            }
        }
        Some(Kind::SshRestart(k)) => {
            secrets.push(("ssh_restart.password".into(), &k.password));
            secrets.push(("ssh_restart.private_key".into(), &k.private_key));
            secrets.push((
                "ssh_restart.private_key_passphrase".into(),
                &k.private_key_passphrase,
            ));
        }
        Some(Kind::Sms(_)) | None => {}
    }
    match secrets.into_iter().find(|(_, v)| *v == REDACTED) {
        Some((field, _)) => Err(field_error(
            field,
            "is \"***\", what responses show for a set secret, and there is no stored value \
             to keep: give the secret itself",
        )),
        None => Ok(()),
    }
}

/// A variable as responses show it: a secret's value is "***".
fn shown(mut v: Variable) -> Variable {
    if v.secret {
        v.value = lookout_proto::REDACTED.to_string();
    }
    v
}

/// `[A-Z_][A-Z0-9_]*`, at most [`MAX_VARIABLE_NAME_BYTES`]: usable as `{{NAME}}` and never
/// mistaken for one of the built-in variables' helpers (`$UUID`).
fn variable_name(name: &str) -> Result<(), FieldError> {
    let field = "variable.name";
    if name.is_empty() {
        return Err(field_error(field, "must not be empty"));
    }
    if name.len() > MAX_VARIABLE_NAME_BYTES {
        return Err(field_error(
            field,
            format!("is longer than {MAX_VARIABLE_NAME_BYTES} bytes"),
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_uppercase() || c == '_');
    if !first_ok || !chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
        return Err(field_error(
            field,
            format!(
                "{} must be upper-case letters, digits and underscores, not starting with a digit",
                lookout_proto::bounds::quote(name)
            ),
        ));
    }
    Ok(())
}

/// Creates or updates integrations and variables declared in a config file, in the default
/// project, integrations under their given ids (1-64 of `[a-z0-9_-]`), under the same
/// destination `rules` as the API (an SSH restart without a `host_key` is pinned on first
/// use, so its server must be reachable at start). They are the system integrations (not
/// editable or deletable through the APIs); one declared before and no longer is becomes an
/// ordinary integration. Call it before
/// [`apply_declared_monitors`](crate::apply_declared_monitors), whose monitors may attach
/// them. Errors name the entry, e.g. `integrations[1].webhook.url: ...`.
pub async fn apply_declared_integrations(
    store: &Store,
    rules: DestinationRules,
    variables: Vec<Variable>,
    integrations: Vec<Integration>,
) -> Result<(), crate::error::CoordinatorError> {
    use crate::error::CoordinatorError;
    use lookout_proto::v1::integration::Kind;
    use lookout_store::projects::DEFAULT_PROJECT_ID;
    let named = |prefix: String| {
        move |e: FieldError| {
            CoordinatorError::Invalid(field_error(format!("{prefix}.{}", e.field), e.reason))
        }
    };
    for (i, v) in variables.iter().enumerate() {
        variable_name(&v.name).map_err(named(format!("variables[{i}]")))?;
    }
    for v in variables {
        store.set_variable(DEFAULT_PROJECT_ID, v).await?;
    }
    let mut vars = Variables::new();
    for v in store.list_variables(DEFAULT_PROJECT_ID).await? {
        vars.insert(v.name, v.value, v.secret);
    }
    let mut seen = std::collections::HashSet::new();
    let mut valid = Vec::new();
    for (n, i) in integrations.into_iter().enumerate() {
        let prefix = format!("integrations[{n}]");
        if !crate::config::is_slug(&i.id, 64) {
            return Err(CoordinatorError::Invalid(field_error(
                format!("{prefix}.id"),
                format!(
                    "{} must be 1-64 characters of [a-z0-9_-]",
                    lookout_proto::bounds::quote(&i.id)
                ),
            )));
        }
        if matches!(i.kind, Some(Kind::SlackApp(_))) {
            return Err(CoordinatorError::Invalid(field_error(
                format!("{prefix}.slack_app"),
                SLACK_APP_IS_INSTALLED,
            )));
        }
        if !seen.insert(i.id.clone()) {
            return Err(CoordinatorError::Invalid(field_error(
                format!("{prefix}.id"),
                format!("{} is declared twice", lookout_proto::bounds::quote(&i.id)),
            )));
        }
        let mut i = lookout_render::validate(i, &vars).map_err(named(prefix.clone()))?;
        i.system = true;
        let stored = store
            .get_integration_in_project(DEFAULT_PROJECT_ID, &i.id)
            .await
            .ok();
        if let (Some(Kind::SshRestart(new)), Some(Kind::SshRestart(old))) = (
            i.kind.as_mut(),
            stored.as_ref().and_then(|s| s.kind.as_ref()),
        ) {
            // Declared again at every start: a server already pinned keeps its pin.
            if new.host_key.is_empty() && new.ip == old.ip && new.port == old.port {
                new.host_key = old.host_key.clone();
            }
        }
        rules
            .apply(store, DEFAULT_PROJECT_ID, &mut i, stored.as_ref())
            .await
            .map_err(|e| match e {
                DomainError::Invalid(f) => named(prefix)(f),
                e => CoordinatorError::Invalid(field_error(prefix, e.to_string())),
            })?;
        valid.push(i);
    }
    let declared: Vec<String> = valid.iter().map(|i| i.id.clone()).collect();
    for i in valid {
        let kind = lookout_render::kind_name(&i);
        match store
            .get_integration_in_project(DEFAULT_PROJECT_ID, &i.id)
            .await
        {
            Err(StoreError::NotFound) => {
                store
                    .insert_integration_in_project(DEFAULT_PROJECT_ID, kind, i)
                    .await?;
            }
            Err(e) => return Err(e.into()),
            Ok(current) => {
                let mut next = i;
                next.project_id = current.project_id.clone();
                next.version = current.version;
                next.created_at_ms = current.created_at_ms;
                next.updated_at_ms = current.updated_at_ms;
                if next != current {
                    store
                        .update_integration_in_project(
                            DEFAULT_PROJECT_ID,
                            kind,
                            next,
                            current.version,
                        )
                        .await?;
                }
            }
        }
    }
    store
        .mark_system_integrations(DEFAULT_PROJECT_ID, &declared)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names() {
        for ok in ["JIRA_TOKEN", "_X", "A1"] {
            assert!(variable_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "jira", "1A", "A-B", "A B", &"A".repeat(65)] {
            let e = variable_name(bad).expect_err(bad);
            assert_eq!(e.field, "variable.name");
        }
    }
}
