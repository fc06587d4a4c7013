//! The real binaries refuse to start on a bad secret key, saying which key and why: key
//! material that does not parse, a key under a known id that is not the one the database was
//! sealed with, and rows sealed with a key id that is not configured.

use std::time::Duration;

use lookout_tests::cluster::Cluster;
use lookout_tests::eventually;
use lookout_tests::procs::Proc;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::standalone::{Standalone, shop_with_webhook};

const WAIT: Duration = Duration::from_secs(90);

/// Waits for `proc` to exit; returns its output and whether it failed.
async fn exit_of(mut proc: Proc) -> (bool, String) {
    let failed = eventually(WAIT, "the process to exit", || {
        let status = proc.try_exit();
        async move { status.map(|s| !s.success()) }
    })
    .await;
    (failed, proc.output())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_coordinator_and_the_notifier_refuse_bad_key_material() {
    let db = lookout_store::testing::TestDb::sqlite().await;
    let cluster = Cluster::new(&db, &["eu"]);
    let short = "k1:c2hvcnQ=";
    for (name, bin, config) in [
        ("coordinator", "lookout-coordinator", "coordinator.yaml"),
        ("notifier", "lookout-notifier", "notifier.yaml"),
    ] {
        let config = cluster.path().join(config).display().to_string();
        let proc = Proc::start(
            name,
            bin,
            &["--config", &config],
            &[("LOOKOUT_SECRET_KEY", short)],
            cluster.path(),
        );
        let (failed, out) = exit_of(proc).await;
        assert!(failed, "{name} started with a 5-byte key: {out}");
        assert!(
            out.contains("LOOKOUT_SECRET_KEY: key 1: key \"k1\" is 5 bytes, must be 32"),
            "{name}: {out}"
        );
        assert!(!out.contains("c2hvcnQ"), "{name} printed the key: {out}");
    }
    // Neither variable nor file: refused, saying what to set.
    let config = cluster.path().join("notifier.yaml");
    let without = std::fs::read_to_string(&config)
        .expect("notifier config")
        .lines()
        .filter(|l| !l.starts_with("secret_key_file"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(cluster.path().join("keyless.yaml"), without).expect("write");
    let keyless = cluster.path().join("keyless.yaml").display().to_string();
    let proc = Proc::start(
        "keyless",
        "lookout-notifier",
        &["--config", &keyless],
        &[],
        cluster.path(),
    );
    let (failed, out) = exit_of(proc).await;
    assert!(failed && out.contains("no secret key: set LOOKOUT_SECRET_KEY or secret_key_file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_refuses_a_wrong_or_missing_key_naming_it() {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let standalone = Standalone::new(
        "t0k",
        &shop_with_webhook(&target.url(), &receiver.url(), "whsec-keys"),
    );
    let first = standalone.start("first", &[]);
    eventually(WAIT, "the monitor to be shown UP", || {
        let out = first.output();
        async move { out.contains("Shop [local] is UP").then_some(()) }
    })
    .await;
    assert!(first.terminate().success());

    // Another key under the same id: the key check does not open.
    let impostor = lookout_store::Keyring::new_key_text("k1").expect("key");
    let proc = standalone.start("impostor", &[("LOOKOUT_SECRET_KEY", &impostor)]);
    let (failed, out) = exit_of(proc).await;
    assert!(failed, "{out}");
    assert!(
        out.contains(
            "the configured secret key \"k1\" is not the key this database was sealed with"
        ),
        "{out}"
    );
    // Only a new key: the rows need k1, which is not configured.
    let other = lookout_store::Keyring::new_key_text("k2").expect("key");
    let proc = standalone.start("other", &[("LOOKOUT_SECRET_KEY", &other)]);
    let (failed, out) = exit_of(proc).await;
    assert!(failed, "{out}");
    assert!(
        out.contains("stored secrets are sealed with key id \"k1\", which is not configured"),
        "{out}"
    );
    // The key file beside the database still opens it.
    let again = standalone.start("again", &[]);
    eventually(WAIT, "the monitor UP with the right key", || {
        let out = again.output();
        async move { out.contains("Shop [local] is UP").then_some(()) }
    })
    .await;
}
