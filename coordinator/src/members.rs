//! The member domain: the people of the caller's project whose addresses email integrations
//! send to. Adding a member registers the address with a fresh 6-digit code, which the
//! notifier mails; the member verifies with it (within 24 hours, at most 5 wrong codes), and
//! until then every email delivery to the address is refused.

use lookout_proto::v1::Member;
use lookout_proto::validate::email::email_address;
use lookout_store::members::{CODE_VALID_HOURS, MAX_CODE_ATTEMPTS, MemberRow};
use lookout_store::{Store, StoreError, now_ms};
use rand::Rng;
use subtle::ConstantTimeEq;

use crate::error::{DomainError, field_error};

/// Members per project.
pub const MAX_MEMBERS: u32 = 1_000;
/// Characters of a member's name.
pub const MAX_MEMBER_NAME_CHARS: usize = 200;
/// Least time between two codes mailed to one address.
const RESEND_AFTER_MS: i64 = 60_000;

pub struct MemberDomain {
    store: Store,
}

fn shown(m: MemberRow) -> Member {
    Member {
        id: m.id,
        email: m.email,
        name: m.name,
        verified_at_ms: m.verified_at_ms.unwrap_or(0),
        code_sent_at_ms: m.code_sent_at_ms.unwrap_or(0),
        code_error: m.code_error,
        created_at_ms: m.created_at_ms,
    }
}

fn new_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

impl MemberDomain {
    pub fn new(store: Store) -> MemberDomain {
        MemberDomain { store }
    }

    /// Registers `email` (or mails a new code to an unverified member).
    pub async fn add(&self, project: &str, email: &str, name: &str) -> Result<Member, DomainError> {
        let mut email = email.to_string();
        email_address("email", &mut email)?;
        let name = name.trim();
        if name.chars().count() > MAX_MEMBER_NAME_CHARS {
            return Err(field_error(
                "name",
                format!("is longer than {MAX_MEMBER_NAME_CHARS} characters"),
            )
            .into());
        }
        if name.chars().any(char::is_control) {
            return Err(field_error("name", "must not hold control characters").into());
        }
        let expires = now_ms() + i64::from(CODE_VALID_HOURS) * 3_600_000;
        let code = new_code();
        match self.store.member_by_email(project, &email).await? {
            Some(m) if m.verified_at_ms.is_some() => Err(DomainError::MemberExists(email)),
            Some(m) => {
                if m.code_created_at_ms
                    .is_some_and(|at| now_ms() - at < RESEND_AFTER_MS)
                {
                    return Err(DomainError::QuotaExceeded(format!(
                        "a code was mailed to {email} less than a minute ago: wait for it, or \
                         try again in a minute"
                    )));
                }
                let m = self
                    .store
                    .renew_member_code(project, &m.id, name, &code, expires)
                    .await?;
                tracing::info!(member_id = %m.id, "verification code renewed");
                Ok(shown(m))
            }
            None => {
                if self.store.count_members(project).await? >= MAX_MEMBERS {
                    return Err(DomainError::QuotaExceeded(format!(
                        "at most {MAX_MEMBERS} members per project"
                    )));
                }
                let id = format!("mem_{}", uuid::Uuid::now_v7().simple());
                let m = self
                    .store
                    .insert_member(project, &id, &email, name, &code, expires)
                    .await
                    .map_err(|e| match e {
                        StoreError::Conflict => DomainError::Conflict(email.clone()),
                        e => DomainError::Store(e),
                    })?;
                tracing::info!(member_id = %m.id, "member added");
                Ok(shown(m))
            }
        }
    }

    /// Verifies `email` with `code`.
    pub async fn verify(
        &self,
        project: &str,
        email: &str,
        code: &str,
    ) -> Result<Member, DomainError> {
        let m = self
            .store
            .member_by_email(project, email)
            .await?
            .ok_or_else(|| DomainError::MemberNotFound(email.trim().to_string()))?;
        if m.verified_at_ms.is_some() {
            return Ok(shown(m));
        }
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(
                field_error("code", "must be the 6 digits of the verification mail").into(),
            );
        }
        let expired = m.code_expires_at_ms.is_none_or(|at| at <= now_ms());
        let pending = self.store.member_code(&m.id).await?;
        let again = format!("add {} again for a new code (lookout users add)", m.email);
        let Some(pending) = pending.filter(|_| !expired) else {
            return Err(DomainError::FailedPrecondition(format!(
                "the verification code of {} expired; {again}",
                m.email
            )));
        };
        if m.code_attempts >= MAX_CODE_ATTEMPTS {
            return Err(DomainError::FailedPrecondition(format!(
                "{MAX_CODE_ATTEMPTS} wrong codes were entered for {}; {again}",
                m.email
            )));
        }
        if !bool::from(pending.as_bytes().ct_eq(code.as_bytes())) {
            let missed = self.store.member_code_missed(&m.id).await?;
            let left = MAX_CODE_ATTEMPTS.saturating_sub(missed);
            return Err(field_error(
                "code",
                format!("is not the code mailed to {}; {left} tries left", m.email),
            )
            .into());
        }
        let m = self.store.verify_member(&m.id).await?;
        tracing::info!(member_id = %m.id, "member verified");
        Ok(shown(m))
    }

    pub async fn list(&self, project: &str) -> Result<Vec<Member>, DomainError> {
        Ok(self
            .store
            .list_members(project)
            .await?
            .into_iter()
            .map(shown)
            .collect())
    }

    pub async fn remove(&self, project: &str, email: &str) -> Result<(), DomainError> {
        self.store
            .delete_member(project, email)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => DomainError::MemberNotFound(email.trim().to_string()),
                e => DomainError::Store(e),
            })
    }
}
