//! The OpenAPI document served at `/api/v1/openapi.json`: valid OpenAPI 3.1 by an independent
//! validator (openapi-spec-validator from PyPI, installed by .ci/run into
//! `$LOOKOUT_PIP_DIR`, default `~/.cache/lookout-pip`), served without a token, and in step
//! with what the server answers.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{Harness, PROJECT_TOKEN, Rest};
use serde_json::{Value, json};

fn pip_dir() -> PathBuf {
    std::env::var_os("LOOKOUT_PIP_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache/lookout-pip")
        })
}

async fn served() -> (Harness, Value) {
    let store =
        lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("in-memory store");
    // With the Telex integration on, so its two public paths are documented and checked too.
    let mut cfg = common::config(1_000);
    cfg.telex = lookout_coordinator::config::TelexConfig {
        enabled: true,
        public_url: "https://lookout.example.org".into(),
        ..Default::default()
    };
    let h = Harness::start_rest_configured(store, cfg).await;
    let doc = Rest::new(&h, None)
        .get("/api/v1/openapi.json")
        .await
        .expect(200)
        .body;
    (h, doc)
}

#[tokio::test]
async fn the_document_is_valid_openapi_3_1() {
    let (h, doc) = served().await;
    assert_eq!(doc["openapi"], "3.1.0");
    let site = pip_dir();
    assert!(
        site.join("openapi_spec_validator").is_dir(),
        "openapi-spec-validator is not installed in {}: run python3 -m pip install --target \
         \"$HOME/.cache/lookout-pip\" 'openapi-spec-validator>=0.7,<0.8' (as .ci/run does)",
        site.display()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let out = Command::new("python3")
        .args([
            "-m",
            "openapi_spec_validator",
            "--schema",
            "3.1",
            "--errors",
            "all",
        ])
        .arg(&file)
        .env("PYTHONPATH", &site)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the validator refused it:\n{text}");
    assert!(text.contains("OK"), "{text}");
    h.stop().await;
}

#[tokio::test]
async fn the_document_describes_what_is_served() {
    let (h, doc) = served().await;
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/api/v1/integrations", "get"),
        ("/api/v1/integrations", "post"),
        ("/api/v1/integrations/{id}", "delete"),
        ("/api/v1/servers/{id}/integrations", "post"),
        (
            "/api/v1/monitors/{id}/integrations/{integration_id}",
            "delete",
        ),
        ("/api/v1/incidents/{id}", "get"),
        ("/api/v1/deliveries", "get"),
        ("/integration.json", "get"),
        ("/tick", "post"),
        ("/api/v1/integrations/sms/send_verification_code", "post"),
        ("/api/v1/integrations/slack/initiate", "post"),
        ("/auth/slack/callback", "get"),
        ("/slack/interactivity", "post"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is documented"
        );
    }
    let schemas = &doc["components"]["schemas"];
    let types = schemas["Integration"]["properties"]["type"]["enum"]
        .as_array()
        .expect("type names");
    assert!(types.contains(&json!("Integrations::WebhookIntegration")));
    assert!(types.contains(&json!("Lookout::PagerDutyIntegration")));
    assert_eq!(
        schemas["Integrations.WebhookIntegration.Settings"]["required"],
        json!(["webhook_url"])
    );
    assert!(schemas["lookout.v1.Monitor"]["properties"]["http"].is_object());
    assert_eq!(
        doc["paths"]["/api/v1/integrations/{id}"]["delete"]["responses"]["204"]["description"],
        "Done."
    );

    // Every documented path answers something other than "no such endpoint" (and every
    // non-public one wants a token first).
    let anonymous = Rest::new(&h, None);
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    for (path, ops) in paths {
        let concrete = path.replace("{id}", "x").replace("{integration_id}", "y");
        for (method, op) in ops.as_object().expect("operations") {
            let method = method.to_ascii_uppercase();
            let public = op.get("security") == Some(&json!([]));
            let r = anonymous.call(&method, &concrete, None).await;
            if public && op.get("requestBody").is_some() {
                // Telex's tick: served without a token, and refused for want of a body.
                assert_eq!(r.status, 422, "{method} {path}: {}", r.body);
            } else if public && path.contains("slack") {
                // Slack's callback and interactivity: no token, but Slack's state or
                // signature, which an empty request lacks (no Slack app is set up here).
                assert!(
                    (400..600).contains(&r.status) && r.status != 405,
                    "{method} {path}: {} {}",
                    r.status,
                    r.body
                );
            } else if public {
                assert_eq!(r.status, 200, "{method} {path}");
            } else {
                assert_eq!(r.status, 401, "{method} {path}: {}", r.body);
            }
            let r = api.call(&method, &concrete, None).await;
            assert!(
                r.status != 405 && r.body["error"] != "not_found",
                "{method} {path} is served: {} {}",
                r.status,
                r.body
            );
        }
    }
    h.stop().await;
}
