//! The REST integrations API against the Uptinio document: its curl bodies unchanged (create a
//! webhook, list, delete), the answers' shape and names, secrets redacted, Lookout's own types,
//! system integrations (422 on delete, exactly as the document), the email and SSH restart
//! bodies (against a real sshd), and 401s. On SQLite and on PostgreSQL.

mod common;
#[path = "../../ssh/tests/sshd/mod.rs"]
mod sshd;

use common::{Harness, OPERATOR_TOKEN, PROJECT_TOKEN, Rest};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::{
    BodyFormat, DeleteIntegrationRequest, Integration, UpdateIntegrationRequest, WebhookIntegration,
};
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;
use serde_json::{Value, json};
use tonic::Code;

/// The document's create-webhook body, with its URL.
fn uptinio_webhook(url: &str) -> Value {
    json!({
        "integration": {
            "type": "Integrations::WebhookIntegration",
            "settings": { "webhook_url": url }
        }
    })
}

async fn the_documents_webhook_flow(db: TestDb) {
    let h = Harness::start_rest_on(db.store.clone()).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));

    // The document's curl body, as is.
    let doc_body = br#"{
    "integration": {
      "type": "Integrations::WebhookIntegration",
      "settings": {
        "webhook_url": "https://hooks.slack.com/services/YOUR/WEBHOOK/URL"
      }
    }
  }"#;
    let slack = api
        .raw("POST", "/api/v1/integrations", Some(doc_body.to_vec()))
        .await
        .expect(201)
        .body;
    for k in [
        "uuid",
        "type",
        "name",
        "settings",
        "editable",
        "deletable",
        "created_at",
        "updated_at",
    ] {
        assert!(slack.get(k).is_some(), "{k} missing: {slack}");
    }
    assert_eq!(slack["type"], "Integrations::WebhookIntegration");
    assert_eq!(
        (&slack["editable"], &slack["deletable"]),
        (&json!(true), &json!(true))
    );
    // Slack's secret path is a credential: redacted in the settings and in the name.
    assert_eq!(
        slack["settings"],
        json!({ "webhook_url": "https://hooks.slack.com/services/***" })
    );
    assert_eq!(slack["name"], "https://hooks.slack.com/services/***");
    let created = slack["created_at"].as_str().expect("created_at");
    assert!(
        created.len() == 20 && created.ends_with('Z') && created.as_bytes()[10] == b'T',
        "RFC 3339 to the second: {created}"
    );
    let id = slack["uuid"].as_str().expect("uuid").to_string();
    assert!(id.starts_with("int_"), "{id}");

    // A URL without credentials is the name as is.
    let plain = api
        .post(
            "/api/v1/integrations",
            uptinio_webhook("https://example.com/hooks/lookout"),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(plain["name"], "https://example.com/hooks/lookout");
    assert_eq!(
        plain["settings"]["webhook_url"],
        "https://example.com/hooks/lookout"
    );
    // It is stored as a webhook sending the Uptinio payload, the full URL sealed.
    let stored = h
        .store
        .get_integration(&id)
        .await
        .expect("stored integration");
    let Some(Kind::Webhook(w)) = &stored.kind else {
        panic!("a webhook: {stored:?}")
    };
    assert_eq!(w.body, BodyFormat::Uptinio as i32);
    assert_eq!(w.url, "https://hooks.slack.com/services/YOUR/WEBHOOK/URL");

    // The document's list curl (GET with a JSON content type and no body).
    let list = api.get("/api/v1/integrations").await.expect(200).body;
    let ids: Vec<&str> = list
        .as_array()
        .expect("a JSON array, as the document shows")
        .iter()
        .map(|i| i["uuid"].as_str().expect("uuid"))
        .collect();
    assert!(ids.contains(&id.as_str()) && ids.len() == 2, "{list}");
    let one = api
        .get(&format!("/api/v1/integrations/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(one, slack);

    // Paging: one per page, the next page announced in a header.
    let first = api
        .get("/api/v1/integrations?page_size=1")
        .await
        .expect(200);
    assert_eq!(first.body.as_array().map(Vec::len), Some(1));
    let next = first
        .headers
        .get("x-next-page-token")
        .expect("more pages")
        .to_str()
        .expect("ascii")
        .to_string();
    let second = api
        .get(&format!(
            "/api/v1/integrations?page_size=1&page_token={next}"
        ))
        .await
        .expect(200);
    assert_ne!(second.body[0]["uuid"], first.body[0]["uuid"]);

    // The document's delete curl: 204 and no body; then it is gone.
    let deleted = api
        .delete(&format!("/api/v1/integrations/{id}"))
        .await
        .expect(204);
    assert_eq!(deleted.body, Value::Null);
    api.get(&format!("/api/v1/integrations/{id}"))
        .await
        .expect_error(404, "integration_not_found", None);
    api.delete(&format!("/api/v1/integrations/{id}"))
        .await
        .expect_error(404, "integration_not_found", None);
    h.stop().await;
}

async fn secrets_are_redacted_and_kept(db: TestDb) {
    let h = Harness::start_rest_on(db.store.clone()).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let body = json!({
        "integration": {
            "type": "Integrations::WebhookIntegration",
            "settings": {
                "webhook_url": "https://example.com/hook?team=ops&token=t0k3n",
                "secret": "whsec-abc"
            }
        }
    });
    let created = api
        .post("/api/v1/integrations", body)
        .await
        .expect(201)
        .body;
    let text = created.to_string();
    assert!(
        !text.contains("t0k3n") && !text.contains("whsec-abc"),
        "{text}"
    );
    assert_eq!(created["settings"]["secret"], "***");
    assert_eq!(
        created["settings"]["webhook_url"],
        "https://example.com/hook?team=ops&token=***"
    );
    let id = created["uuid"].as_str().expect("uuid");

    // Sending the redacted values back keeps the stored ones; a new name is taken.
    let back = json!({ "integration": {
        "type": created["type"],
        "name": "ops hook",
        "settings": created["settings"],
    }});
    let updated = api
        .put(&format!("/api/v1/integrations/{id}"), back)
        .await
        .expect(200)
        .body;
    assert_eq!(updated["name"], "ops hook");
    let stored = h.store.get_integration(id).await.expect("stored");
    let Some(Kind::Webhook(w)) = &stored.kind else {
        panic!("webhook")
    };
    assert_eq!(
        (w.url.as_str(), w.secret.as_str()),
        ("https://example.com/hook?team=ops&token=t0k3n", "whsec-abc")
    );

    // "***" as a new secret is a mistake, named.
    let created = api
        .post(
            "/api/v1/integrations",
            json!({ "integration": {
                "type": "Integrations::WebhookIntegration",
                "settings": { "webhook_url": "https://example.com/x", "secret": "***" }
            }}),
        )
        .await;
    created.expect_error(422, "invalid_request", Some("integration.settings.secret"));

    // Lookout's own types: the preset's settings, its secrets redacted.
    let telegram = api
        .post(
            "/api/v1/integrations",
            json!({ "integration": {
                "type": "Lookout::TelegramIntegration",
                "settings": { "bot_token": "123456:ABC-def_ghi", "chat_id": "-1001234567" },
                "events": { "reminders": false },
                "rate_limit_per_minute": 30
            }}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(telegram["type"], "Lookout::TelegramIntegration");
    assert_eq!(telegram["name"], "Telegram -1001234567");
    assert_eq!(telegram["settings"]["bot_token"], "***");
    assert_eq!(telegram["settings"]["chat_id"], "-1001234567");
    assert_eq!(telegram["events"], json!({ "reminders": false }));
    assert_eq!(telegram["rate_limit_per_minute"], 30);

    // A Lookout webhook with more than the Uptinio settings describe shows as Lookout's.
    let full = api
        .post(
            "/api/v1/integrations",
            json!({ "integration": {
                "type": "Lookout::WebhookIntegration",
                "settings": {
                    "url": "https://example.com/native",
                    "method": "PUT",
                    "headers": [{ "name": "X-Api-Key", "value": "k-123" }],
                    "signature": "SIGNATURE_MODE_CHECKLY",
                    "secret": "s"
                }
            }}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(full["type"], "Lookout::WebhookIntegration");
    assert_eq!(full["settings"]["method"], "PUT");
    assert_eq!(full["settings"]["headers"][0]["value"], "***");
    assert_eq!(full["settings"]["signature"], "SIGNATURE_MODE_CHECKLY");
    h.stop().await;
}

/// Integrations declared in the configuration are system ones: the document's 422 on delete,
/// refused edits on REST and gRPC alike, attachable all the same.
async fn system_integrations_cannot_be_changed(db: TestDb) {
    let declared = Integration {
        id: "ops-hook".into(),
        name: "ops".into(),
        kind: Some(Kind::Webhook(WebhookIntegration {
            url: "https://example.com/ops".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    lookout_coordinator::apply_declared_integrations(
        &db.store,
        lookout_coordinator::DestinationRules {
            allow_private: true,
        },
        vec![],
        vec![declared.clone()],
    )
    .await
    .expect("declared");
    let h = Harness::start_rest_on(db.store.clone()).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let shown = api
        .get("/api/v1/integrations/ops-hook")
        .await
        .expect(200)
        .body;
    assert_eq!(
        (&shown["editable"], &shown["deletable"], &shown["system"]),
        (&json!(false), &json!(false), &json!(true))
    );
    assert_eq!(shown["type"], "Lookout::WebhookIntegration");

    let refused = api
        .delete("/api/v1/integrations/ops-hook")
        .await
        .expect(422);
    assert_eq!(
        refused.body,
        json!({ "error": "This integration cannot be deleted." })
    );
    api.put(
        "/api/v1/integrations/ops-hook",
        uptinio_webhook("https://example.com/elsewhere"),
    )
    .await
    .expect_error(422, "unprocessable_entity", None);

    let mut grpc = IntegrationServiceClient::new(h.channel().await);
    let e = grpc
        .delete_integration(common::bearer(
            PROJECT_TOKEN,
            DeleteIntegrationRequest {
                id: "ops-hook".into(),
            },
        ))
        .await
        .expect_err("refused over gRPC");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    assert!(e.message().contains("configuration file"), "{e:?}");
    let e = grpc
        .update_integration(common::bearer(
            PROJECT_TOKEN,
            UpdateIntegrationRequest {
                integration: Some(declared.clone()),
            },
        ))
        .await
        .expect_err("refused over gRPC");
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");

    // A monitor may attach it.
    let monitor = api
        .post(
            "/api/v1/monitors",
            json!({ "monitor": {
                "name": "web", "regions": ["eu"], "interval_secs": 30,
                "http": { "url": "https://example.com/" }
            }}),
        )
        .await
        .expect(201)
        .body;
    let mid = monitor["id"].as_str().expect("id");
    api.post(
        &format!("/api/v1/monitors/{mid}/integrations"),
        json!({ "integration_id": "ops-hook" }),
    )
    .await
    .expect(201);
    api.delete(&format!("/api/v1/monitors/{mid}/integrations/ops-hook"))
        .await
        .expect(204);

    // Dropped from the file, it is an ordinary integration again.
    lookout_coordinator::apply_declared_integrations(
        &db.store,
        lookout_coordinator::DestinationRules {
            allow_private: true,
        },
        vec![],
        vec![],
    )
    .await
    .expect("none declared");
    let released = db
        .store
        .get_integration_in_project(DEFAULT_PROJECT_ID, "ops-hook")
        .await
        .expect("kept");
    assert!(!released.system);
    api.delete("/api/v1/integrations/ops-hook")
        .await
        .expect(204);
    h.stop().await;
}

lookout_store::backend_tests!(
    the_documents_webhook_flow,
    secrets_are_redacted_and_kept,
    system_integrations_cannot_be_changed
);

/// The document's email and SSH restart curl bodies, unchanged: the email integration is
/// named by its address; the SSH one is refused for a private server on a deployment that
/// does not allow private destinations (its password never echoed), and created against a
/// real sshd on one that does: named `ip (username)`, the host key pinned and shown, the
/// password redacted. An unknown type is refused, listing the types there are.
#[tokio::test]
async fn the_documents_email_and_ssh_bodies() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let email = api
        .post(
            "/api/v1/integrations",
            json!({"integration": {"type": "Integrations::EmailIntegration",
                "settings": {"email": "alerts@example.com"}}}),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(email["type"], "Integrations::EmailIntegration");
    assert_eq!(email["name"], "alerts@example.com");
    assert_eq!(email["settings"]["email"], "alerts@example.com");
    api.post(
        "/api/v1/integrations",
        json!({"integration": {"type": "Integrations::EmailIntegration",
            "settings": {"email": "not an address"}}}),
    )
    .await
    .expect_error(422, "invalid_request", Some("integration.settings.email"));

    let ssh = |ip: &str, port: u16| {
        json!({"integration": {"type": "Integrations::SshServerRestartIntegration",
            "settings": {"ip": ip, "username": "admin",
                         "password": "secure_password", "port": port}}})
    };
    let r = api
        .post("/api/v1/integrations", ssh("192.168.1.100", 22))
        .await
        .expect_error(422, "invalid_request", Some("integration.settings.ip"));
    assert!(!r.body.to_string().contains("secure_password"));
    let r = api
        .post(
            "/api/v1/integrations",
            json!({"integration": {"type": "Lookout::CarrierPigeon", "settings": {}}}),
        )
        .await
        .expect_error(422, "unprocessable_entity", Some("integration.type"));
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("Integrations::SshServerRestartIntegration"),
        "lists the types it has: {message}"
    );
    h.stop().await;

    let sshd = sshd::Sshd::start(sshd::SshdOptions {
        host_key: "ed25519",
        authorized: vec![],
        password: None,
    });
    let mut cfg = common::config(1_000);
    cfg.allow_private_destinations = true;
    let h = Harness::start_rest_configured(memory_store().await, cfg).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let created = api
        .post("/api/v1/integrations", ssh("127.0.0.1", sshd.addr.port()))
        .await
        .expect(201)
        .body;
    assert_eq!(created["type"], "Integrations::SshServerRestartIntegration");
    assert_eq!(created["name"], "127.0.0.1 (admin)");
    assert_eq!(created["settings"]["password"], "***");
    assert_eq!(created["settings"]["host_key"], sshd.host_key());
    assert!(
        created["settings"]["host_key_fingerprint"]
            .as_str()
            .is_some_and(|f| f.starts_with("SHA256:")),
        "{created}"
    );
    assert_eq!(created["settings"]["command"], "sudo reboot");
    assert!(!created.to_string().contains("secure_password"));
    h.stop().await;
}

/// The document's SMS body needs a paid plan (the project's flag is off by default), and a
/// Slack integration is made by the OAuth flow, never from settings.
#[tokio::test]
async fn sms_needs_a_paid_plan_and_slack_its_oauth_flow() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let sms = json!({"integration": {"type": "Integrations::SmsIntegration",
        "settings": {"phone_number": "+1234567890", "verification_code": "123456"}}});
    let r = api.post("/api/v1/integrations", sms).await;
    assert_eq!(r.body["error"], "paid_plan_required", "{:?}", r.body);
    assert_eq!(r.status, 403, "as send_verification_code answers it");
    let slack = json!({"integration": {"type": "Integrations::SlackIntegration", "settings": {}}});
    let r = api.post("/api/v1/integrations", slack).await.expect_error(
        422,
        "unprocessable_entity",
        Some("integration.type"),
    );
    let message = r.body["message"].as_str().unwrap_or_default();
    assert!(message.contains("slack/initiate"), "{message}");
    assert_eq!(
        api.get("/api/v1/integrations").await.expect(200).body,
        json!([])
    );
    h.stop().await;
}

#[tokio::test]
async fn refused_settings_name_the_field() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let webhook = |settings: Value| json!({"integration": {"type": "Integrations::WebhookIntegration", "settings": settings}});
    let lookout_webhook = |settings: Value| json!({"integration": {"type": "Lookout::WebhookIntegration", "settings": settings}});
    let cases = [
        (webhook(json!({})), "integration.settings.webhook_url"),
        (
            webhook(json!({"webhook_url": "ftp://example.com/"})),
            "integration.settings.webhook_url",
        ),
        (
            webhook(json!({"webhook_url": 5})),
            "integration.settings.webhook_url",
        ),
        (
            webhook(json!({"webhook_url": "https://a.example/", "colour": "red"})),
            "integration.settings.colour",
        ),
        (
            lookout_webhook(json!({"url": "https://a.example/", "headers": [{"nam": "x"}]})),
            "integration.settings.headers[0].nam",
        ),
        (
            lookout_webhook(json!({"url": "https://a.example/", "method": "DELETE"})),
            "integration.settings.method",
        ),
        (
            lookout_webhook(json!({"url": "https://a.example/", "body": "BODY_FORMAT_XML"})),
            "integration.settings.body",
        ),
        (
            json!({"integration": {"type": "Lookout::TelegramIntegration",
                "settings": {"bot_token": "1:x", "chat_id": "not a chat"}}}),
            "integration.settings.chat_id",
        ),
        (
            json!({"integration": {"settings": {"webhook_url": "https://a.example/"}}}),
            "integration.type",
        ),
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration"}}),
            "integration.settings",
        ),
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": "https://a.example/"}, "name": "x".repeat(201)}}),
            "integration.name",
        ),
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": "https://a.example/"},
                "rate_limit_per_minute": 70000}}),
            "integration.rate_limit_per_minute",
        ),
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": "https://a.example/"},
                "events": {"failurez": true}}}),
            "integration.events.failurez",
        ),
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": "https://a.example/"}, "uuid": "int_x"}}),
            "integration.uuid",
        ),
        (
            json!({"integration": {"type": 7, "settings": {}}}),
            "integration.type",
        ),
        (json!({"integrations": {}}), "integration"),
    ];
    for (body, field) in cases {
        api.post("/api/v1/integrations", body).await.expect_error(
            422,
            "invalid_request",
            Some(field),
        );
    }
    assert_eq!(
        api.get("/api/v1/integrations").await.expect(200).body,
        json!([])
    );
    h.stop().await;
}

#[tokio::test]
async fn tokens_are_required_and_checked() {
    let h = Harness::start_rest_on(memory_store().await).await;
    for token in [None, Some("wrong-token")] {
        let api = Rest::new(&h, token);
        for (method, path) in [
            ("GET", "/api/v1/integrations"),
            ("POST", "/api/v1/integrations"),
            ("DELETE", "/api/v1/integrations/int_x"),
            ("GET", "/api/v1/monitors"),
            ("GET", "/api/v1/incidents"),
            ("GET", "/api/v1/deliveries/dlv_x"),
        ] {
            let r = api
                .call(method, path, Some(uptinio_webhook("https://a.example/")))
                .await
                .expect_error(401, "unauthorized", None);
            assert_eq!(
                r.headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{method} {path}"
            );
        }
    }
    // Another scheme is no bearer token.
    let r = reqwest::Client::new()
        .get(h.rest_url("/api/v1/integrations"))
        .basic_auth("u", Some(PROJECT_TOKEN))
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 401);
    // An operator token manages projects, over gRPC.
    Rest::new(&h, Some(OPERATOR_TOKEN))
        .get("/api/v1/integrations")
        .await
        .expect_error(403, "forbidden", None);
    h.stop().await;
}

#[tokio::test]
async fn a_test_event_is_queued_and_its_delivery_readable() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let i = api
        .post(
            "/api/v1/integrations",
            uptinio_webhook("https://example.com/hook"),
        )
        .await
        .expect(201)
        .body;
    let id = i["uuid"].as_str().expect("uuid");
    let d = api
        .call("POST", &format!("/api/v1/integrations/{id}/test"), None)
        .await
        .expect(202)
        .body;
    assert_eq!(d["state"], "DELIVERY_STATE_PENDING");
    assert_eq!(d["event"], "test");
    let did = d["id"].as_str().expect("delivery id");
    let list = api
        .get(&format!(
            "/api/v1/deliveries?integration_id={id}&state=pending"
        ))
        .await
        .expect(200)
        .body;
    assert_eq!(list[0]["id"], did, "{list}");
    let one = api
        .get(&format!("/api/v1/deliveries/{did}"))
        .await
        .expect(200)
        .body;
    assert_eq!(one["notification"]["kind"], "EVENT_KIND_TEST");
    api.get("/api/v1/deliveries?state=lost").await.expect_error(
        422,
        "invalid_request",
        Some("state"),
    );
    h.stop().await;
}

async fn memory_store() -> lookout_store::Store {
    lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
        .await
        .expect("in-memory store")
}
