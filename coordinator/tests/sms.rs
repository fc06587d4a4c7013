//! SMS verification as Uptinio's document describes it, against a local stand-in for
//! Twilio's Messages API: the document's curl body sends a code by SMS; creating an SMS
//! integration (gRPC, the same domain as REST) needs that code once; the documented errors
//! (`paid_plan_required`, `phone_number_required`), bad numbers and bodies, the rate limit
//! per number, wrong and expired codes, another project's code, and a deployment that is not
//! production.

mod common;
mod standins;

use std::sync::Arc;

use common::{Harness, OPERATOR_TOKEN, PROJECT_TOKEN, bearer, tenant};
use lookout_coordinator::Secret;
use lookout_coordinator::auth::AdminAuth;
use lookout_coordinator::sms::{self, SmsVerification};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::project_service_client::ProjectServiceClient;
use lookout_proto::v1::{
    CreateIntegrationRequest, Integration, SmsIntegration, UpdateIntegrationRequest,
    UpdateProjectPlanRequest,
};
use lookout_store::Sql;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use serde_json::{Value, json};
use standins::twilio::{FROM, Twilio};
use tonic::Code;
use tonic::transport::Channel;

struct Setup {
    h: Harness,
    twilio: Twilio,
    /// Base URL of the REST endpoint.
    rest: String,
    http: reqwest::Client,
}

async fn setup(production: bool) -> Setup {
    let twilio = Twilio::start().await;
    let mut cfg = common::config(1_000);
    cfg.twilio = Some(twilio.config());
    cfg.production = production;
    let h = Harness::start_configured(cfg).await;
    let verification = SmsVerification::new(h.store.clone(), Some(twilio.config()), production)
        .expect("verification");
    let auth = AdminAuth::new(
        &[Secret::new(OPERATOR_TOKEN)],
        &[Secret::new(PROJECT_TOKEN)],
        h.store.clone(),
    );
    let rest = standins::serve(sms::routes(Arc::new(verification), Arc::new(auth))).await;
    Setup {
        h,
        twilio,
        rest,
        http: reqwest::Client::new(),
    }
}

impl Setup {
    /// `POST /api/v1/integrations/sms/send_verification_code` with `body`, as the document's
    /// curl sends it.
    async fn send_code(&self, token: Option<&str>, body: &str) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!(
                "{}/api/v1/integrations/sms/send_verification_code",
                self.rest
            ))
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let resp = req.send().await.expect("answer");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    async fn plan(&self, project: &str, paid: bool) {
        ProjectServiceClient::new(self.h.channel().await)
            .update_project_plan(bearer(
                OPERATOR_TOKEN,
                UpdateProjectPlanRequest {
                    id: project.into(),
                    paid_plan: paid,
                },
            ))
            .await
            .expect("plan set");
    }

    async fn integrations(&self) -> IntegrationServiceClient<Channel> {
        IntegrationServiceClient::new(self.h.channel().await)
    }

    /// The code in the last SMS to `to`.
    fn code_sent_to(&self, to: &str) -> String {
        let sms = self
            .twilio
            .messages()
            .into_iter()
            .rev()
            .find(|m| m.to == to)
            .expect("an SMS to the number");
        sms.body
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .expect("a 6-digit code")
            .to_string()
    }
}

fn sms(phone: &str, code: &str) -> Option<Integration> {
    Some(Integration {
        kind: Some(Kind::Sms(SmsIntegration {
            phone_number: phone.into(),
            verification_code: code.into(),
        })),
        ..Default::default()
    })
}

async fn create(
    c: &mut IntegrationServiceClient<Channel>,
    token: &str,
    phone: &str,
    code: &str,
) -> Result<Integration, tonic::Status> {
    c.create_integration(bearer(
        token,
        CreateIntegrationRequest {
            integration: sms(phone, code),
        },
    ))
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_curl_sends_a_code_and_creating_needs_it_once() {
    let s = setup(true).await;
    s.plan(DEFAULT_PROJECT_ID, true).await;
    let (status, body) = s
        .send_code(Some(PROJECT_TOKEN), r#"{"phone_number": "+1234567890"}"#)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"success": true, "message": "Verification code sent successfully"})
    );
    let sent = s.twilio.wait_for(1).await;
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str()),
        ("+1234567890", FROM)
    );
    assert_eq!(sent[0].segments, 1, "{}", sent[0].body);
    let code = s.code_sent_to("+1234567890");

    let mut c = s.integrations().await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let e = create(&mut c, PROJECT_TOKEN, "+1234567890", wrong)
        .await
        .expect_err("wrong code");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message().starts_with(
            "sms.verification_code: does not match the code sent to +1234567890 (4 tries left)"
        ),
        "{e:?}"
    );
    let e = create(&mut c, PROJECT_TOKEN, "+1234567890", "")
        .await
        .expect_err("no code");
    assert!(
        e.message()
            .starts_with("sms.verification_code: is required"),
        "{e:?}"
    );

    let made = create(&mut c, PROJECT_TOKEN, "+1234567890", &code)
        .await
        .expect("the right code");
    assert_eq!(made.name, "SMS +1234567890");
    let Some(Kind::Sms(settings)) = &made.kind else {
        panic!("an SMS integration: {made:?}")
    };
    assert_eq!(settings.phone_number, "+1234567890");
    assert_eq!(settings.verification_code, "", "the code is never returned");
    let stored = s.h.store.get_integration(&made.id).await.expect("stored");
    assert!(
        matches!(&stored.kind, Some(Kind::Sms(k)) if k.verification_code.is_empty()),
        "the code is never stored: {stored:?}"
    );
    // The code is stored hashed, never in clear.
    let rows =
        s.h.store
            .query(Sql::new("SELECT code_hash FROM sms_verifications"))
            .await
            .expect("rows");
    assert!(rows.is_empty(), "a used code is gone");

    // Used once: a second integration with the same code is refused.
    let e = create(&mut c, PROJECT_TOKEN, "+1234567890", &code)
        .await
        .expect_err("used code");
    assert!(
        e.message().contains("no code is waiting for +1234567890"),
        "{e:?}"
    );

    // An update keeping the number needs no code; another number does.
    let mut again = made.clone();
    again.name = "on-call phone".into();
    let updated = c
        .update_integration(bearer(
            PROJECT_TOKEN,
            UpdateIntegrationRequest {
                integration: Some(again.clone()),
            },
        ))
        .await
        .expect("same number")
        .into_inner();
    assert_eq!(updated.name, "on-call phone");
    if let Some(Kind::Sms(k)) = &mut again.kind {
        k.phone_number = "+1987654321".into();
    }
    let e = c
        .update_integration(bearer(
            PROJECT_TOKEN,
            UpdateIntegrationRequest {
                integration: Some(again),
            },
        ))
        .await
        .expect_err("a new number needs its code");
    assert!(
        e.message()
            .starts_with("sms.verification_code: is required"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_follow_the_document() {
    let s = setup(true).await;
    let doc = r#"{"phone_number": "+1234567890"}"#;
    let (status, body) = s.send_code(None, doc).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, body) = s.send_code(Some(OPERATOR_TOKEN), doc).await;
    assert_eq!(status, 403, "{body}");

    // The documented refusal of a project without a paid plan.
    let (status, body) = s.send_code(Some(PROJECT_TOKEN), doc).await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"success": false, "error": "paid_plan_required",
               "message": "SMS integrations require a paid plan"})
    );
    let mut c = s.integrations().await;
    let e = create(&mut c, PROJECT_TOKEN, "+1234567890", "123456")
        .await
        .expect_err("free plan");
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("require a paid plan"), "{e:?}");
    assert!(s.twilio.messages().is_empty());

    s.plan(DEFAULT_PROJECT_ID, true).await;
    for missing in [
        "{}",
        r#"{"phone_number": ""}"#,
        r#"{"phone_number": null}"#,
        "",
    ] {
        let (status, body) = s.send_code(Some(PROJECT_TOKEN), missing).await;
        assert_eq!(status, 422, "{missing}: {body}");
        assert_eq!(body["success"], false);
        assert_eq!(body["error"], "phone_number_required");
        assert_eq!(body["field"], "phone_number");
        assert_eq!(body["message"], "phone_number: is required");
    }
    for (bad, field) in [
        (r#"{"phone_number": "1234567890"}"#, "phone_number"),
        (r#"{"phone_number": "+12 34"}"#, "phone_number"),
        (r#"{"phone_number": 1234567890}"#, "phone_number"),
        (r#"{"phone_number": "+1234567890""#, "body"),
        ("[1, 2]", "body"),
    ] {
        let (status, body) = s.send_code(Some(PROJECT_TOKEN), bad).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request", "{bad}");
        assert_eq!(body["field"], field, "{bad}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(&format!("{field}: "))),
            "{body}"
        );
    }
    let huge = format!(
        r#"{{"phone_number": "+1234567890", "x": "{}"}}"#,
        "a".repeat(10_000)
    );
    let (status, body) = s.send_code(Some(PROJECT_TOKEN), &huge).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    assert!(
        s.twilio.messages().is_empty(),
        "nothing sent for bad requests"
    );

    // Twilio's refusal comes back with its code.
    s.twilio
        .refuse_next(400, 21614, "'To' number is not a valid mobile number");
    let (status, body) = s
        .send_code(Some(PROJECT_TOKEN), r#"{"phone_number": "+1555000111"}"#)
        .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "sms_send_failed");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("21614")),
        "{body}"
    );

    // One number gets a code a minute at most, whichever project asks.
    let (status, _) = s.send_code(Some(PROJECT_TOKEN), doc).await;
    assert_eq!(status, 200);
    let ch = s.h.channel().await;
    let other = tenant(&ch, "team-b").await;
    s.plan(&other.id, true).await;
    let resp = s
        .http
        .post(format!(
            "{}/api/v1/integrations/sms/send_verification_code",
            s.rest
        ))
        .header("Authorization", format!("Bearer {}", other.token))
        .body(doc)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status().as_u16(), 429);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        (body["error"].as_str(), body["field"].as_str()),
        (Some("rate_limited"), Some("phone_number"))
    );
    assert_eq!(s.twilio.messages().len(), 1);

    // The code went to the default project: the other project cannot use it.
    let code = s.code_sent_to("+1234567890");
    let e = create(&mut c, &other.token, "+1234567890", &code)
        .await
        .expect_err("another project's code");
    assert!(e.message().contains("no code is waiting"), "{e:?}");
    create(&mut c, PROJECT_TOKEN, "+1234567890", &code)
        .await
        .expect("its own project uses it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_allow_few_tries_and_expire() {
    let s = setup(true).await;
    s.plan(DEFAULT_PROJECT_ID, true).await;
    let mut c = s.integrations().await;
    let (status, _) = s
        .send_code(Some(PROJECT_TOKEN), r#"{"phone_number": "+4915112345678"}"#)
        .await;
    assert_eq!(status, 200);
    let code = s.code_sent_to("+4915112345678");
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for left in (0..5).rev() {
        let e = create(&mut c, PROJECT_TOKEN, "+4915112345678", wrong)
            .await
            .expect_err("wrong");
        if left > 0 {
            assert!(
                e.message().contains(&format!("({left} tries left)")),
                "{e:?}"
            );
        } else {
            assert!(e.message().contains("no tries are left"), "{e:?}");
        }
    }
    let e = create(&mut c, PROJECT_TOKEN, "+4915112345678", &code)
        .await
        .expect_err("gone after five wrong tries");
    assert!(e.message().contains("no code is waiting"), "{e:?}");

    let (status, _) = s
        .send_code(Some(PROJECT_TOKEN), r#"{"phone_number": "+4915199999999"}"#)
        .await;
    assert_eq!(status, 200);
    let code = s.code_sent_to("+4915199999999");
    s.h.store
        .execute(Sql::new("UPDATE sms_verifications SET expires_at_ms = 1"))
        .await
        .expect("expire");
    let e = create(&mut c, PROJECT_TOKEN, "+4915199999999", &code)
        .await
        .expect_err("expired");
    assert!(
        e.message()
            .starts_with("sms.verification_code: has expired"),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_production_the_code_is_not_checked() {
    let s = setup(false).await;
    let mut c = s.integrations().await;
    let e = create(&mut c, PROJECT_TOKEN, "+1234567890", "")
        .await
        .expect_err("the plan still counts");
    assert_eq!(e.code(), Code::FailedPrecondition);
    s.plan(DEFAULT_PROJECT_ID, true).await;
    let made = create(&mut c, PROJECT_TOKEN, "+1234567890", "")
        .await
        .expect("no code needed");
    assert_eq!(made.name, "SMS +1234567890");
    let e = create(&mut c, PROJECT_TOKEN, "12345", "")
        .await
        .expect_err("the number is still checked");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("sms.phone_number: "), "{e:?}");
}
