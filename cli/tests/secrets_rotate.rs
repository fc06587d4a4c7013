//! `lookout secrets rotate` on both backends: monitors and integrations sealed with the old
//! key, the new key put first, rotate (it prints how many it re-sealed, and nothing the second
//! time), the old key dropped: everything still opens.

use std::process::Command;

use lookout_proto::Monitor;
use lookout_proto::v1::{HttpCheck, http_check::Auth, monitor::Check};
use lookout_store::Store;
use lookout_store::testing::{TestDb, keyring};

fn monitor(id: &str) -> Monitor {
    Monitor {
        id: id.into(),
        name: id.into(),
        regions: vec!["eu".into()],
        interval_secs: 30,
        check: Some(Check::Http(HttpCheck {
            url: "http://127.0.0.1:1/health".into(),
            auth: Some(Auth::BearerToken(format!("tok-{id}"))),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// `lookout secrets rotate` with the coordinator config at `dir` and `keys` as
/// `LOOKOUT_SECRET_KEY`; returns (success, stdout, stderr).
fn rotate(dir: &std::path::Path, keys: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["secrets", "rotate", "--config", "coordinator.yaml"])
        .current_dir(dir)
        .env("LOOKOUT_SECRET_KEY", keys)
        .env_remove("LOOKOUT_CONFIG")
        .env_remove("LOOKOUT_STORE_URL")
        .output()
        .expect("run lookout");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn rotate_then_drop_the_old_key(db: TestDb) {
    for id in ["mon_a", "mon_b"] {
        db.store.insert_monitor(monitor(id)).await.expect("insert");
    }
    let hook = lookout_proto::v1::Integration {
        id: "int_hook".into(),
        kind: Some(lookout_proto::v1::integration::Kind::Webhook(
            lookout_proto::v1::WebhookIntegration {
                url: "http://127.0.0.1:1/hook".into(),
                secret: "whsec".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    db.store
        .insert_integration_in_project(lookout_store::projects::DEFAULT_PROJECT_ID, "webhook", hook)
        .await
        .expect("integration");
    let dir = tempfile::tempdir().expect("dir");
    let config = format!(
        "regions: [eu]\nproject_tokens: [p]\nstore_url: \"{}\"\n",
        db.url
    );
    std::fs::write(dir.path().join("coordinator.yaml"), config).expect("write config");
    let k2 = lookout_store::Keyring::new_key_text("k2").expect("k2");

    // Too early: without the old key the rows cannot be opened, and the message says which.
    let (ok, _, err) = rotate(dir.path(), &k2);
    assert!(!ok);
    assert!(
        err.contains("stored secrets are sealed with key id \"test\", which is not configured"),
        "{err}"
    );

    let both = format!("{k2},{}", db.key);
    let (ok, out, err) = rotate(dir.path(), &both);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "re-sealed 3 rows under key \"k2\"");
    let (ok, out, err) = rotate(dir.path(), &both);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "re-sealed 0 rows under key \"k2\"");

    let store = Store::open(&db.url, keyring(&k2))
        .await
        .expect("opens with k2 alone");
    let all = store.list_monitors().await.expect("list");
    assert_eq!(all.len(), 2);
    for m in &all {
        assert_eq!(
            lookout_store::testing::secret_of(m),
            format!("tok-{}", m.id)
        );
    }
    let Some(lookout_proto::v1::integration::Kind::Webhook(w)) = store
        .get_integration("int_hook")
        .await
        .expect("integration")
        .kind
    else {
        panic!("a webhook")
    };
    assert_eq!(w.secret, "whsec");
}

lookout_store::backend_tests!(rotate_then_drop_the_old_key);
