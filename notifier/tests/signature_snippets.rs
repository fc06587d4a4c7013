//! The verification snippets README.md shows (examples/webhooks/verify.{py,js}) accept a real
//! delivery from the notifier and refuse a wrong secret, a changed body, a changed timestamp
//! and a replay outside the tolerance window. README.md must show the files unchanged.
//!
//! The documents' own receivers, unchanged (examples/webhooks/statuspageone.js, checkly.js,
//! checkly_django.py), accept the notifier's real deliveries in their signature mode (odd
//! monitor names and error messages, native and template bodies) and refuse those signed
//! with another secret. They need Node with express and body-parser, and Python with Django,
//! installed as .ci/run does: `npm install --prefix "$HOME/.cache/lookout-npm" express@4
//! body-parser@1` and `python3 -m pip install --target "$HOME/.cache/lookout-pip"
//! 'django>=4.2,<6'` (`LOOKOUT_NPM_DIR` and `LOOKOUT_PIP_DIR` override the folders).

mod common;

use lookout_store::testing::TestDb;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Receiver, SECRET, eventually, monitor};
use hmac::{Hmac, Mac};
use lookout_bus::ResultPublisher as _;
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    BodyFormat, Integration, SignatureMode, TemplateSyntax, WebhookIntegration,
};
use lookout_proto::v1::{HttpCheck, monitor::Check};
use lookout_proto::{CheckResult, CheckStatus, Monitor};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the notifier crate sits in the repository")
        .to_path_buf()
}

/// Runs one snippet; true when it says the request is valid (and exits 0).
fn snippet_accepts(
    interpreter: &str,
    file: &str,
    secret: &str,
    body: &[u8],
    sig: &str,
    ts: &str,
) -> bool {
    let dir = tempfile::tempdir().expect("temp dir");
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, body).expect("write body");
    let out = Command::new(interpreter)
        .arg(repo().join("examples/webhooks").join(file))
        .args([secret, body_file.to_str().expect("utf-8 path"), sig, ts])
        .output()
        .unwrap_or_else(|e| panic!("{interpreter} runs: {e}"));
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        said == "valid" || said == "invalid",
        "{file} printed {said:?}, stderr {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.success(), said == "valid", "{file} exit status");
    said == "valid"
}

fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

async fn python_and_node_snippets_verify_real_deliveries(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_snippets", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    common::publish_down(&publisher, &m.id, "eu", 3).await;
    eventually("the incident webhook", || async {
        rx.accepted_of("incident").len() == 1
    })
    .await;
    running.stop().await;
    let hit = &rx.accepted_of("incident")[0];
    let body = hit.body.to_vec();
    let sig = hit.header("x-lookout-signature").to_string();
    let ts = hit.header("x-lookout-timestamp").to_string();
    let old_ts = (ts.parse::<i64>().expect("timestamp is unix seconds") - 301).to_string();
    let mut changed_body = body.clone();
    changed_body.extend_from_slice(b" ");
    let next_ts = (ts.parse::<i64>().expect("timestamp") + 1).to_string();

    for (interpreter, file) in [("python3", "verify.py"), ("node", "verify.js")] {
        let accepts = |secret: &str, body: &[u8], sig: &str, ts: &str| {
            snippet_accepts(interpreter, file, secret, body, sig, ts)
        };
        assert!(accepts(SECRET, &body, &sig, &ts), "{file}: a real delivery");
        assert!(
            !accepts("another secret", &body, &sig, &ts),
            "{file}: secret"
        );
        assert!(!accepts(SECRET, &changed_body, &sig, &ts), "{file}: body");
        assert!(!accepts(SECRET, &body, &sig, &next_ts), "{file}: timestamp");
        assert!(
            !accepts(SECRET, &body, &sign(SECRET, &old_ts, &body), &old_ts),
            "{file}: a correctly signed request older than the tolerance is a replay"
        );
        assert!(!accepts(SECRET, &body, "sha256=00", &ts), "{file}: short");
    }
}

#[test]
fn readme_shows_the_tested_snippets() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    for file in ["verify.py", "verify.js"] {
        let code = std::fs::read_to_string(repo().join("examples/webhooks").join(file))
            .expect("snippet file");
        assert!(
            readme.contains(&code),
            "README.md must show examples/webhooks/{file} unchanged"
        );
    }
}

/// A document's receiver running on 127.0.0.1, killed on drop.
struct Snippet {
    child: std::process::Child,
    port: u16,
}

impl Drop for Snippet {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cache_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(default)
    })
}

impl Snippet {
    /// `runner` in examples/webhooks/run/, started with `secret` in `secret_var`.
    fn start(runner: &str, secret_var: &str, secret: &str) -> Snippet {
        let path = repo().join("examples/webhooks/run").join(runner);
        let mut cmd = if runner.ends_with(".py") {
            let site = cache_dir("LOOKOUT_PIP_DIR", ".cache/lookout-pip");
            assert!(
                site.join("django").is_dir(),
                "Django is not installed in {}: python3 -m pip install --target \"$HOME/.cache/lookout-pip\" 'django>=4.2,<6'",
                site.display()
            );
            let mut c = Command::new("python3");
            c.arg(path).env("PYTHONPATH", site);
            c
        } else {
            let modules = cache_dir("LOOKOUT_NPM_DIR", ".cache/lookout-npm").join("node_modules");
            assert!(
                modules.join("express").is_dir() && modules.join("body-parser").is_dir(),
                "express is not installed in {}: npm install --prefix \"$HOME/.cache/lookout-npm\" express@4 body-parser@1",
                modules.display()
            );
            let mut c = Command::new("node");
            c.arg(path).env("NODE_PATH", modules);
            c
        };
        let mut child = cmd
            .env("PORT", "0")
            .env(secret_var, secret)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {runner}: {e}"));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("{runner} printed no \"listening PORT\" line: {e}"));
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{runner}: unexpected first line {first:?}"));
        Snippet { child, port }
    }
}

/// A monitor name and an error message with what a re-serialising receiver trips on.
const ODD_NAME: &str = "Zürich ☃ 😀 «prod» line\u{2028}sep </script> \"q\" a/b \\ \u{1}\u{7f}\ttab";
const ODD_ERROR: &str = "upstream said: \"502\" \u{2029} <b>&amp;</b> 日本語 \n next line \u{1f}";

/// A webhook integration of the default project, signed in `mode` with `secret`.
async fn signed_integration(
    store: &lookout_store::Store,
    id: &str,
    w: WebhookIntegration,
    mode: SignatureMode,
    secret: &str,
) -> String {
    let i = Integration {
        id: id.into(),
        name: id.into(),
        rate_limit_per_minute: 100,
        kind: Some(Kind::Webhook(WebhookIntegration {
            signature: mode as i32,
            secret: secret.into(),
            ..w
        })),
        ..Default::default()
    };
    store
        .insert_integration_in_project(lookout_store::projects::DEFAULT_PROJECT_ID, "webhook", i)
        .await
        .expect("insert integration")
        .id
}

/// Runs an incident and its recovery through the notifier for a monitor attaching, in
/// `mode`, a native webhook and a Handlebars JSON template webhook signed with the snippet's
/// secret, and a native webhook signed with another. Returns the status codes of each
/// integration's first attempts.
async fn deliver_to(
    db: &TestDb,
    snippet: &Snippet,
    path: &str,
    mode: SignatureMode,
) -> std::collections::BTreeMap<String, Vec<u16>> {
    let store = db.store.clone();
    let url = format!("http://127.0.0.1:{}{path}", snippet.port);
    let native = WebhookIntegration {
        url: url.clone(),
        ..Default::default()
    };
    let template = WebhookIntegration {
        url: url.clone(),
        body: BodyFormat::Template as i32,
        syntax: TemplateSyntax::Handlebars as i32,
        template: "{ \"10\": \"ten\", \"title\": \"{{ALERT_TITLE}}\",\n  \"ms\": {{RESPONSE_TIME}}, \"f\": 1.50,\n  \"2\": \"{{ERROR_MESSAGE}}\" }".into(),
        template_is_json: true,
        ..Default::default()
    };
    let ids = [
        signed_integration(&store, "int_native", native.clone(), mode, SNIPPET_SECRET).await,
        signed_integration(&store, "int_template", template, mode, SNIPPET_SECRET).await,
        signed_integration(&store, "int_wrong", native, mode, "another secret").await,
    ];
    let m = store
        .insert_monitor(Monitor {
            id: "mon_odd".into(),
            name: ODD_NAME.into(),
            regions: vec!["eu".into()],
            interval_secs: 30,
            timeout_ms: 5_000,
            failure_threshold: 3,
            success_threshold: 1,
            region_quorum: 1,
            integration_ids: ids.to_vec(),
            check: Some(Check::Http(HttpCheck {
                url: "https://api.example.com/health?q=é&x=/y".into(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .expect("insert monitor");
    let (publisher, running) = common::start_in_process(&store);
    let down: Vec<CheckResult> = (0..3)
        .map(|_| {
            let mut r = common::result(&m.id, "eu", CheckStatus::Down);
            r.error_message = ODD_ERROR.into();
            r
        })
        .collect();
    publisher.publish(&down).await.expect("publish");
    publisher
        .publish(&[common::result(&m.id, "eu", CheckStatus::Up)])
        .await
        .expect("publish");
    let attempts = || async {
        let mut by: std::collections::BTreeMap<String, Vec<u16>> = Default::default();
        for row in store.list_outbox(None).await.expect("outbox") {
            let first = store.delivery_attempts(&row.id).await.expect("attempts");
            if let Some(a) = first.first() {
                by.entry(row.integration_id.clone())
                    .or_default()
                    .push(a.status_code);
            }
        }
        by
    };
    eventually("an attempt of every delivery", || async {
        attempts().await.values().map(Vec::len).sum::<usize>() == 6
    })
    .await;
    running.stop().await;
    attempts().await
}

const SNIPPET_SECRET: &str = "whsec_snippet-7f3a";

fn assert_verdicts(got: &std::collections::BTreeMap<String, Vec<u16>>, refused: u16) {
    assert_eq!(got.get("int_native"), Some(&vec![200, 200]), "{got:?}");
    assert_eq!(got.get("int_template"), Some(&vec![200, 200]), "{got:?}");
    assert_eq!(
        got.get("int_wrong"),
        Some(&vec![refused, refused]),
        "{got:?}"
    );
}

async fn statuspageone_handler_verifies_real_deliveries(db: TestDb) {
    let s = Snippet::start("statuspageone.js", "WEBHOOK_SECRET", SNIPPET_SECRET);
    let got = deliver_to(
        &db,
        &s,
        "/webhooks/statuspageone",
        SignatureMode::Statuspageone,
    )
    .await;
    assert_verdicts(&got, 401);
}

async fn checkly_node_handler_verifies_real_deliveries(db: TestDb) {
    let s = Snippet::start("checkly.js", "CHECKLY_WEBHOOK_SECRET", SNIPPET_SECRET);
    let got = deliver_to(&db, &s, "/webhook", SignatureMode::Checkly).await;
    assert_verdicts(&got, 400);
}

async fn checkly_django_view_verifies_real_deliveries(db: TestDb) {
    let s = Snippet::start(
        "checkly_django.py",
        "CHECKLY_WEBHOOK_SECRET",
        SNIPPET_SECRET,
    );
    let got = deliver_to(&db, &s, "/webhook", SignatureMode::Checkly).await;
    assert_verdicts(&got, 400);
}

lookout_store::backend_tests!(
    python_and_node_snippets_verify_real_deliveries,
    statuspageone_handler_verifies_real_deliveries,
    checkly_node_handler_verifies_real_deliveries,
    checkly_django_view_verifies_real_deliveries,
);
