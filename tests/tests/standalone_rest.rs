//! The Uptinio document's curl commands, run with curl against `lookout standalone`, only the
//! host (and the token, and the webhook's URL) changed: create a webhook, list, attach it to a
//! server (a monitor here), delete; a test event reaches the webhook with the document's
//! payload; the integration declared in the config file is a system one (the document's 422),
//! and the CLI attaches and detaches the same way.

use std::process::Command;
use std::time::Duration;

use lookout_tests::eventually;
use lookout_tests::procs::binary;
use lookout_tests::servers::Receiver;
use lookout_tests::standalone::Standalone;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "rest-t0k3n";

/// `curl -s -w '\n%{http_code}' <args>`: the body and the status code.
fn curl(args: &[&str]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code.trim().parse().unwrap_or(0);
    let body = if body.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{code}: not JSON ({e}): {body}"))
    };
    (code, body)
}

fn lookout(s: &Standalone, args: &[&str]) -> std::process::Output {
    Command::new(binary("lookout"))
        .args(args)
        .env("LOOKOUT_ADDR", s.addr())
        .env("LOOKOUT_TOKEN", TOKEN)
        .output()
        .expect("run lookout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_curl_commands_work_against_standalone() {
    let receiver = Receiver::start(200).await;
    let hook = receiver.url();
    let standalone = Standalone::new(
        TOKEN,
        &format!(
            "allow_private_webhooks: true\nintegrations:\n  - id: ops\n    name: Ops\n    webhook:\n\
             \x20     url: {hook}\nmonitors:\n  - id: shop\n    name: Shop\n    regions: [local]\n\
             \x20   interval_secs: 3600\n    http:\n      url: http://127.0.0.1:9/\n\
             \x20   integration_ids: [ops]\n"
        ),
    );
    let _proc = standalone.start("standalone", &[]);
    let base = standalone.rest_url();
    let auth = format!("Authorization: Bearer {TOKEN}");
    let json_type = "Content-Type: application/json";
    let integrations = format!("{base}/api/v1/integrations");
    eventually(WAIT, "the REST API to answer", || {
        let (code, _) = curl(&["-X", "GET", &integrations, "-H", &auth, "-H", json_type]);
        async move { (code == 200).then_some(()) }
    })
    .await;

    // Create Webhook Integration, as the document writes it.
    let body = format!(
        r#"{{
    "integration": {{
      "type": "Integrations::WebhookIntegration",
      "settings": {{
        "webhook_url": "{hook}"
      }}
    }}
  }}"#
    );
    let (code, created) = curl(&[
        "-X",
        "POST",
        &integrations,
        "-H",
        &auth,
        "-H",
        json_type,
        "-d",
        &body,
    ]);
    assert_eq!(code, 201, "{created}");
    assert_eq!(created["type"], "Integrations::WebhookIntegration");
    assert_eq!(created["name"], hook.as_str());
    assert_eq!(created["settings"], json!({ "webhook_url": hook }));
    assert_eq!(
        (&created["editable"], &created["deletable"]),
        (&json!(true), &json!(true))
    );
    let id = created["uuid"].as_str().expect("uuid").to_string();

    // List Integrations: the declared one (a system integration) and the new one.
    let (code, list) = curl(&["-X", "GET", &integrations, "-H", &auth, "-H", json_type]);
    assert_eq!(code, 200);
    let ops = list
        .as_array()
        .expect("array")
        .iter()
        .find(|i| i["uuid"] == "ops")
        .expect("the declared integration is listed");
    assert_eq!(
        (&ops["editable"], &ops["deletable"], &ops["name"]),
        (&json!(false), &json!(false), &json!("Ops"))
    );

    // Attach it to "server" shop, as the document attaches one to SRV123.
    let attach = format!(r#"{{"integration_id": "{id}"}}"#);
    let (code, attached) = curl(&[
        "-X",
        "POST",
        &format!("{base}/api/v1/servers/shop/integrations"),
        "-H",
        &auth,
        "-H",
        json_type,
        "-d",
        &attach,
    ]);
    assert_eq!(code, 201, "{attached}");
    let out = lookout(
        &standalone,
        &[
            "integrations",
            "list",
            "--monitor",
            "shop",
            "--output",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let on_shop: Value = serde_json::from_slice(&out.stdout).expect("json");
    let ids: Vec<&str> = on_shop
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["ops", id.as_str()]);

    // A test event reaches the webhook with the document's payload.
    let (code, delivery) = curl(&[
        "-X",
        "POST",
        &format!("{integrations}/{id}/test"),
        "-H",
        &auth,
    ]);
    assert_eq!(code, 202, "{delivery}");
    let got = eventually(WAIT, "the test event at the webhook", || {
        let got = receiver.received().first().map(|r| r.json());
        async move { got }
    })
    .await;
    for key in [
        "resource_name",
        "resource_url",
        "resource_type",
        "incident_type",
        "incident_status",
        "incident_duration",
        "incident_message",
    ] {
        assert!(
            got.get(key).is_some(),
            "{key} in the Uptinio payload: {got}"
        );
    }

    // Delete Integration: the declared one cannot be, exactly as the document answers.
    let (code, refused) = curl(&[
        "-X",
        "DELETE",
        &format!("{integrations}/ops"),
        "-H",
        &auth,
        "-H",
        json_type,
    ]);
    assert_eq!(code, 422);
    assert_eq!(
        refused,
        json!({ "error": "This integration cannot be deleted." })
    );
    let out = lookout(&standalone, &["integrations", "delete", "ops"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("configuration file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The CLI detaches it; then the document's delete curl answers 204 with no body.
    let out = lookout(
        &standalone,
        &["integrations", "detach", &id, "--monitor", "shop"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, body) = curl(&[
        "-X",
        "DELETE",
        &format!("{integrations}/{id}"),
        "-H",
        &auth,
        "-H",
        json_type,
    ]);
    assert_eq!((code, body), (204, Value::Null));
    let out = lookout(
        &standalone,
        &[
            "integrations",
            "attach",
            "ops",
            "--monitor",
            "shop",
            "--output",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A wrong token is the document's unauthorized.
    let (code, body) = curl(&[
        "-X",
        "GET",
        &integrations,
        "-H",
        "Authorization: Bearer nope",
    ]);
    assert_eq!(code, 401);
    assert_eq!(body["error"], "unauthorized");
}
