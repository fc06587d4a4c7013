//! The verification snippets README.md shows (examples/webhooks/verify.{py,js}) accept a real
//! delivery from the notifier and refuse a wrong secret, a changed body, a changed timestamp
//! and a replay outside the tolerance window. README.md must show the files unchanged.

mod common;

use lookout_store::testing::TestDb;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Receiver, SECRET, eventually, monitor};
use hmac::{Hmac, Mac};

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

lookout_store::backend_tests!(python_and_node_snippets_verify_real_deliveries,);
