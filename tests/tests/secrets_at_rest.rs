//! No plaintext secret at rest: after monitors with a webhook secret, a basic-auth password, a
//! bearer token and a secret header went through an incident and its signed delivery, none
//! of those secrets is in the SQLite files of `lookout standalone` (`.db`, `-wal`, `-shm`) nor
//! in a `pg_dump` of a cluster's PostgreSQL database; the monitor name (kept in clear) is, so
//! the search itself works. Standalone's own key file is created once, mode 0600.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::Duration;

use lookout_proto::v1::http_check::Auth;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{BasicAuth, Header, HttpCheck, Monitor, Webhook};
use lookout_tests::cluster::Cluster;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::standalone::Standalone;
use lookout_tests::{eventually, signature_valid};

const WAIT: Duration = Duration::from_secs(90);
const WEBHOOK_SECRET: &str = "whsec-at-rest-7c1f";
const PASSWORD: &str = "basic-pass-at-rest-93ad";
const BEARER: &str = "bearer-at-rest-5e2b";
const HEADER_SECRET: &str = "header-at-rest-1d8a";
const VARIABLE_SECRET: &str = "variable-at-rest-44c0";
const SECRETS: [&str; 5] = [
    WEBHOOK_SECRET,
    PASSWORD,
    BEARER,
    HEADER_SECRET,
    VARIABLE_SECRET,
];
/// In clear on purpose (`monitors.name`, and in every payload): proves the search finds text.
const NAME: &str = "Shop Front";

/// `needle` in `haystack` as bytes, or (for `pg_dump`, which prints BYTEA as hex) as hex.
fn contains(haystack: &[u8], needle: &str) -> bool {
    let hex = hex::encode(needle);
    let found = |n: &[u8]| haystack.windows(n.len()).any(|w| w == n);
    found(needle.as_bytes()) || found(hex.as_bytes())
}

/// Waits for an incident webhook of each of the two monitors, signed with the secret.
async fn incidents_delivered(receiver: &Receiver) {
    let hooks = eventually(WAIT, "both incident webhooks", || {
        let got = receiver.of_type("incident");
        async move { (got.len() >= 2).then_some(got) }
    })
    .await;
    for hook in &hooks {
        assert!(signature_valid(
            WEBHOOK_SECRET,
            &hook.header("x-lookout-timestamp"),
            &hook.body,
            &hook.header("x-lookout-signature")
        ));
        for s in SECRETS {
            assert!(!contains(&hook.body, s), "the payload carries {s}");
        }
    }
}

/// The database files of standalone, read whole (`standalone.db`, `-wal`, `-shm`).
fn database_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("standalone.db"))
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).expect("read database file");
            (n, bytes)
        })
        .collect();
    files.sort();
    files
}

fn assert_no_secret_in_files(dir: &Path) {
    let files = database_files(dir);
    assert!(files.iter().any(|(n, _)| n == "standalone.db"), "{files:?}");
    for (name, bytes) in &files {
        for s in SECRETS {
            assert!(!contains(bytes, s), "{name} holds the plaintext {s:?}");
        }
    }
    assert!(
        files.iter().any(|(_, b)| contains(b, NAME)),
        "the monitor name is in none of the files: the search is broken"
    );
}

fn standalone_yaml(target: &str, hook: &str) -> String {
    format!(
        "allow_private_webhooks: true\n\
         variables: [{{name: TEAM_TOKEN, value: {VARIABLE_SECRET}, secret: true}}]\n\
         integrations: [{{id: hook, webhook: {{url: {hook}, secret: {WEBHOOK_SECRET}}}}}]\n\
         monitors:\n\
         \x20 - id: shop\n    name: {NAME}\n    regions: [local]\n    interval_secs: 1\n    failure_threshold: 2\n\
         \x20   http:\n      url: {target}\n      headers: [{{name: x-api-key, value: {HEADER_SECRET}}}]\n\
         \x20     basic_auth: {{username: shop, password: {PASSWORD}}}\n\
         \x20   integration_ids: [hook]\n\
         \x20 - id: api\n    name: Api Back\n    regions: [local]\n    interval_secs: 1\n    failure_threshold: 2\n\
         \x20   http: {{url: {target}, bearer_token: {BEARER}}}\n\
         \x20   integration_ids: [hook]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_keeps_no_plaintext_secret_in_its_sqlite_files() {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let standalone = Standalone::new("t0k", &standalone_yaml(&target.url(), &receiver.url()));
    let proc = standalone.start("first", &[]);
    eventually(WAIT, "the monitor to be shown UP", || {
        let out = proc.output();
        async move { out.contains(&format!("{NAME} [local] is UP")).then_some(()) }
    })
    .await;
    target.set_status(503);
    incidents_delivered(&receiver).await;
    // While running: the write-ahead log holds the latest writes.
    assert_no_secret_in_files(standalone.dir());

    // The key file: created beside the database, this user's only, announced once by path.
    let key_file = standalone.dir().join("standalone.key");
    let mode = std::fs::metadata(&key_file)
        .expect("key file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    let key = std::fs::read_to_string(&key_file).expect("read key file");
    let material = key
        .lines()
        .find_map(|l| l.strip_prefix("k1:"))
        .expect("a k1 key line");
    let log = proc.output();
    let announced = format!("created the secret key {}", key_file.display());
    assert_eq!(log.matches(&announced).count(), 1, "{log}");
    assert!(!log.contains(material), "the key is in the log");

    assert!(proc.terminate().success());
    assert_no_secret_in_files(standalone.dir());
    target.set_status(200);
    // A second start uses the same key, silently.
    let again = standalone.start("second", &[]);
    eventually(WAIT, "the monitor UP again after a restart", || {
        let out = again.output();
        async move { out.contains(&format!("{NAME} [local] is UP")).then_some(()) }
    })
    .await;
    assert!(!again.output().contains("created the secret key"));
    let store = lookout_store::Store::open(&standalone.store_url(), standalone.keyring())
        .await
        .expect("open with the key file");
    let hook = store
        .get_integration("hook")
        .await
        .expect("the webhook integration");
    let Some(lookout_proto::v1::integration::Kind::Webhook(w)) = hook.kind else {
        panic!("a webhook: {hook:?}")
    };
    assert_eq!(w.secret, WEBHOOK_SECRET);
}

fn cluster_monitor(name: &str, target: &str, hook: &str, auth: Auth) -> Monitor {
    Monitor {
        name: name.into(),
        regions: vec!["eu".into()],
        interval_secs: 1,
        timeout_ms: 1000,
        failure_threshold: 2,
        webhooks: vec![Webhook {
            url: hook.into(),
            secret: WEBHOOK_SECRET.into(),
            secret_set: false,
        }],
        check: Some(Check::Http(HttpCheck {
            url: target.into(),
            headers: vec![Header {
                name: "x-api-key".into(),
                value: HEADER_SECRET.into(),
            }],
            auth: Some(auth),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_dump_holds_no_plaintext_secret() {
    let db = lookout_store::testing::TestDb::postgres().await;
    let url = db.url.clone();
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let mut cluster = Cluster::new(&db, &["eu"]);
    cluster.start_all();
    let basic = Auth::BasicAuth(BasicAuth {
        username: "shop".into(),
        password: PASSWORD.into(),
    });
    let bearer = Auth::BearerToken(BEARER.into());
    for (name, auth) in [(NAME, basic), ("Api Back", bearer)] {
        cluster
            .create_monitor(cluster_monitor(name, &target.url(), &receiver.url(), auth))
            .await;
    }
    target.set_status(503);
    incidents_delivered(&receiver).await;

    // sqlx's own URL parameters (`statement-cache-capacity`) mean nothing to libpq.
    let libpq_url = url.split('?').next().unwrap_or(&url);
    let dump = std::process::Command::new("/usr/bin/pg_dump")
        .arg(libpq_url)
        .output()
        .expect("run pg_dump");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    for s in SECRETS {
        assert!(!contains(&dump.stdout, s), "the dump holds {s:?}");
    }
    let text = String::from_utf8_lossy(&dump.stdout);
    // In clear in `monitors.name`, and hex-encoded in the BYTEA payloads of the outbox.
    assert!(text.contains(NAME), "the search is broken");
    assert!(
        text.contains(&hex::encode(NAME)),
        "the hex search is broken"
    );
}
