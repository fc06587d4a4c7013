//! SMS phone verification, as Uptinio's document describes it: `POST
//! /api/v1/integrations/sms/send_verification_code` sends a 6-digit code to an E.164 number
//! through the deployment's Twilio account (projects on a paid plan only, a limited number
//! of codes per number and hour); creating an SMS integration then needs that code
//! ([`SmsVerification::verify`]), unless the deployment is not production. Codes expire,
//! allow a few wrong tries, are used once, and are stored only as a salted SHA-256.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use lookout_render::sms::{PhoneNumber, TwilioConfig, verification_text};
use lookout_store::sms::{SendSlot, SmsSendLimits, SmsVerificationRow};
use lookout_store::{Store, now_ms};
use rand::Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::auth::AdminAuth;
use crate::error::{CoordinatorError, DomainError, field_error};
use crate::rest_util::{self, ApiError};

/// How long a code is valid.
pub const CODE_TTL_MINUTES: u32 = 10;
/// Wrong codes allowed before the code is dropped.
pub const MAX_ATTEMPTS: u32 = 5;
/// Codes one number may be sent, whichever project asks: 5 an hour, a minute apart.
pub const SEND_LIMITS: SmsSendLimits = SmsSendLimits {
    window_ms: 3_600_000,
    max_per_window: 5,
    min_gap_ms: 60_000,
};
/// Largest request body of the endpoint.
pub const MAX_BODY_BYTES: usize = 4096;
/// Twilio's answer kept for an error message, and how long a send may take.
const MAX_ANSWER_BYTES: usize = 4096;
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
/// The field the code is checked under, as the gRPC and REST creates name it.
const CODE_FIELD: &str = "sms.verification_code";

/// Sends and checks verification codes. Without a Twilio account no code can be sent; with
/// `production` off, [`SmsVerification::verify`] accepts any code.
pub struct SmsVerification {
    store: Store,
    twilio: Option<(TwilioConfig, reqwest::Client)>,
    production: bool,
}

/// Why no code was sent.
#[derive(Debug, thiserror::Error)]
pub enum SendCodeError {
    #[error("phone_number: is required")]
    PhoneNumberRequired,
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("SMS is not configured on this deployment (twilio in the coordinator's config)")]
    NotConfigured,
    #[error("phone_number: {0} was sent codes too often; try again in {1} s")]
    RateLimited(String, u64),
    /// Twilio refused or failed; the reason is Twilio's answer.
    #[error("the SMS could not be sent: {0}")]
    Twilio(String),
}

fn code_hash(salt: &[u8], project: &str, phone: &PhoneNumber, code: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    for part in [
        salt,
        project.as_bytes(),
        phone.as_str().as_bytes(),
        code.as_bytes(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().to_vec()
}

impl SmsVerification {
    pub fn new(
        store: Store,
        twilio: Option<TwilioConfig>,
        production: bool,
    ) -> Result<SmsVerification, CoordinatorError> {
        let twilio = match twilio {
            None => None,
            Some(t) => {
                // Twilio's URL is the operator's, not a user's: no destination rules apply.
                let client = reqwest::Client::builder()
                    .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
                    .timeout(SEND_TIMEOUT)
                    .redirect(reqwest::redirect::Policy::none())
                    .build()
                    .map_err(|e| CoordinatorError::Io(format!("http client: {e}")))?;
                Some((t, client))
            }
        };
        Ok(SmsVerification {
            store,
            twilio,
            production,
        })
    }

    /// Whether creating an SMS integration needs a verification code.
    pub fn production(&self) -> bool {
        self.production
    }

    /// Refuses when `project` is not on a paid plan.
    pub async fn require_paid_plan(&self, project: &str) -> Result<(), DomainError> {
        let p = self.store.get_project(project).await.map_err(|e| match e {
            lookout_store::StoreError::NotFound => DomainError::ProjectNotFound(project.into()),
            e => DomainError::Store(e),
        })?;
        if p.paid_plan {
            Ok(())
        } else {
            Err(DomainError::PaidPlanRequired)
        }
    }

    /// Sends a new code to `raw` (E.164) for `project`, replacing any code sent before.
    pub async fn send_code(&self, project: &str, raw: &str) -> Result<(), SendCodeError> {
        if raw.trim().is_empty() {
            return Err(SendCodeError::PhoneNumberRequired);
        }
        let phone = PhoneNumber::parse("phone_number", raw).map_err(DomainError::Invalid)?;
        self.require_paid_plan(project).await?;
        let Some((account, client)) = &self.twilio else {
            return Err(SendCodeError::NotConfigured);
        };
        let now = now_ms();
        let slot = self
            .store
            .take_sms_send_slot(project, phone.as_str(), now, SEND_LIMITS)
            .await
            .map_err(DomainError::Store)?;
        if let SendSlot::Limited { retry_after_ms } = slot {
            let secs = u64::try_from(retry_after_ms).unwrap_or(1).div_ceil(1000);
            return Err(SendCodeError::RateLimited(phone.to_string(), secs));
        }
        let (code, salt) = {
            let mut rng = rand::rng();
            let code = format!("{:06}", rng.random_range(0..1_000_000u32));
            let salt: [u8; 16] = rng.random();
            (code, salt)
        };
        send(
            client,
            account,
            &phone,
            &verification_text(&code, CODE_TTL_MINUTES),
        )
        .await
        .map_err(SendCodeError::Twilio)?;
        let row = SmsVerificationRow {
            project_id: project.to_string(),
            phone_number: phone.to_string(),
            code_hash: code_hash(&salt, project, &phone, &code),
            code_salt: salt.to_vec(),
            attempts: 0,
            expires_at_ms: now + i64::from(CODE_TTL_MINUTES) * 60_000,
            created_at_ms: now,
        };
        self.store
            .put_sms_verification(&row)
            .await
            .map_err(DomainError::Store)?;
        tracing::info!(project_id = %project, "sms verification code sent");
        Ok(())
    }

    /// Accepts `code` for `phone` of `project` once: the code last sent to it, not expired
    /// and not tried too often. Always accepts when the deployment is not production.
    pub async fn verify(
        &self,
        project: &str,
        phone: &PhoneNumber,
        code: &str,
    ) -> Result<(), DomainError> {
        if !self.production {
            return Ok(());
        }
        let refuse = |reason: String| DomainError::Invalid(field_error(CODE_FIELD, reason));
        let code = code.trim();
        if code.is_empty() {
            return Err(refuse(
                "is required: send a code to the number first (POST \
                 /api/v1/integrations/sms/send_verification_code)"
                    .into(),
            ));
        }
        let Some(row) = self.store.sms_verification(project, phone.as_str()).await? else {
            return Err(refuse(format!(
                "no code is waiting for {phone} (none was sent, or it was used or has \
                 expired): send a new one"
            )));
        };
        if row.expires_at_ms <= now_ms() {
            self.store.delete_sms_verification(&row).await?;
            return Err(refuse("has expired: send a new one".into()));
        }
        if row.attempts >= MAX_ATTEMPTS {
            self.store.delete_sms_verification(&row).await?;
            return Err(refuse("was tried too often: send a new one".into()));
        }
        let given = code_hash(&row.code_salt, project, phone, code);
        if !bool::from(given.ct_eq(&row.code_hash)) {
            self.store.count_sms_attempt(&row).await?;
            let left = MAX_ATTEMPTS.saturating_sub(row.attempts + 1);
            if left == 0 {
                self.store.delete_sms_verification(&row).await?;
                return Err(refuse(format!(
                    "does not match the code sent to {phone}, and no tries are left: send a \
                     new one"
                )));
            }
            return Err(refuse(format!(
                "does not match the code sent to {phone} ({left} tries left)"
            )));
        }
        if !self.store.delete_sms_verification(&row).await? {
            return Err(refuse("was used already: send a new one".into()));
        }
        Ok(())
    }
}

/// Sends one SMS; the error is Twilio's own reason (its code and message), bounded.
pub(crate) async fn send(
    client: &reqwest::Client,
    account: &TwilioConfig,
    to: &PhoneNumber,
    body: &str,
) -> Result<(), String> {
    let r = account.request(to, body);
    let mut req = client.post(&r.url).body(r.body);
    for (name, value) in &r.headers {
        req = req.header(name.as_str(), value.as_str());
    }
    let resp = req
        .send()
        .await
        .map_err(|e| format!("Twilio did not answer: {}", e.without_url()))?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let mut answer = resp.bytes().await.unwrap_or_default().to_vec();
    answer.truncate(MAX_ANSWER_BYTES);
    let detail = serde_json::from_slice::<Value>(&answer)
        .ok()
        .map(|v| {
            let code = v["code"]
                .as_i64()
                .map(|c| format!(" {c}"))
                .unwrap_or_default();
            let msg = v["message"]
                .as_str()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>();
            format!("Twilio error{code}: {msg}")
        })
        .unwrap_or_else(|| format!("Twilio answered {status}"));
    Err(detail)
}

/// `POST /api/v1/integrations/sms/send_verification_code`, bearer project token.
pub fn routes(sms: Arc<SmsVerification>, auth: Arc<AdminAuth>) -> Router {
    Router::new()
        .route(
            "/api/v1/integrations/sms/send_verification_code",
            post(send_verification_code),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state((sms, auth))
}

async fn send_verification_code(
    State((sms, auth)): State<(Arc<SmsVerification>, Arc<AdminAuth>)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&sms, &auth, &headers, body).await {
        Ok(()) => (
            StatusCode::OK,
            axum::Json(json!({"success": true, "message": "Verification code sent successfully"})),
        )
            .into_response(),
        Err(mut e) => {
            e.with_success = true;
            e.into_response()
        }
    }
}

async fn handle(
    sms: &SmsVerification,
    auth: &AdminAuth,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), ApiError> {
    let project = rest_util::project(auth, headers).await?;
    let body = rest_util::bounded(body, MAX_BODY_BYTES)?;
    let fields = rest_util::json_object(&body)?;
    let phone = match fields.get("phone_number") {
        None | Some(Value::Null) => "",
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(ApiError::field(
                "invalid_request",
                "phone_number",
                "must be a string in E.164 format (e.g. \"+1234567890\")",
            ));
        }
    };
    sms.send_code(&project, phone).await.map_err(|e| match e {
        SendCodeError::PhoneNumberRequired => {
            ApiError::field("phone_number_required", "phone_number", "is required")
        }
        SendCodeError::Domain(d) => ApiError::from(d),
        SendCodeError::NotConfigured => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "sms_unavailable",
            e.to_string(),
        ),
        SendCodeError::RateLimited(_, secs) => ApiError {
            field: Some("phone_number".into()),
            retry_after_secs: Some(secs),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", e.to_string())
        },
        SendCodeError::Twilio(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "sms_send_failed", e.to_string())
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_bind_the_code_to_its_project_and_number() {
        let a = PhoneNumber::parse("p", "+1234567890").expect("a");
        let b = PhoneNumber::parse("p", "+1234567891").expect("b");
        let h = code_hash(b"salt", "prj_1", &a, "123456");
        assert_eq!(h, code_hash(b"salt", "prj_1", &a, "123456"));
        for other in [
            code_hash(b"salt", "prj_2", &a, "123456"),
            code_hash(b"salt", "prj_1", &b, "123456"),
            code_hash(b"salt", "prj_1", &a, "123457"),
            code_hash(b"tlas", "prj_1", &a, "123456"),
        ] {
            assert_ne!(h, other);
        }
    }
}
