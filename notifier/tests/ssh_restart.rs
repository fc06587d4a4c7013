//! SSH restarts end to end through the real notifier against Debian's OpenSSH server on
//! loopback, running a harmless command (`echo restarted >> marker`): the command runs when an
//! incident opens and its exit status is in the delivery log; never on recovery; once per
//! cooldown, also across a notifier restart; a test event logs in without running it; a
//! server presenting another host key, a failing command and a private address are refused.

mod common;
#[path = "../../ssh/tests/sshd/mod.rs"]
mod sshd;

use common::{eventually, monitor_with, result};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EventKind, Integration, SshRestart};
use lookout_store::notifier::{AttemptRow, OutboxRow, OutboxState};
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;
use lookout_store::{Sql, Store, now_ms};
use prost::Message;
use sshd::{Sshd, SshdOptions, keygen};

const PASSWORD: &str = "restart-pw";

async fn ssh_integration(store: &Store, id: &str, s: SshRestart) -> String {
    let i = Integration {
        id: id.into(),
        kind: Some(Kind::SshRestart(s)),
        ..Default::default()
    };
    let i = lookout_render::validate(i, &lookout_render::Variables::new()).expect("valid");
    store
        .insert_integration_in_project(DEFAULT_PROJECT_ID, "ssh_restart", i)
        .await
        .expect("insert")
        .id
}

fn restart(sshd: &Sshd, command: String) -> SshRestart {
    SshRestart {
        ip: "127.0.0.1".into(),
        port: u32::from(sshd.addr.port()),
        username: "root".into(),
        password: PASSWORD.into(),
        command,
        host_key: sshd.host_key(),
        ..Default::default()
    }
}

fn marker_lines(sshd: &Sshd) -> usize {
    std::fs::read_to_string(sshd.dir.path().join("marker"))
        .map(|s| s.lines().filter(|l| *l == "restarted").count())
        .unwrap_or(0)
}

async fn down(publisher: &impl ResultPublisher, monitor: &str) {
    let r: Vec<_> = (0..3).map(|_| result(monitor, "eu", Down)).collect();
    publisher.publish(&r).await.expect("publish");
}

async fn up(publisher: &impl ResultPublisher, monitor: &str) {
    publisher
        .publish(&[result(monitor, "eu", Up)])
        .await
        .expect("publish");
}

async fn open_incidents(store: &Store, monitor: &str) -> i64 {
    let rows = store
        .query(
            Sql::new(
                "SELECT COUNT(*) AS n FROM incidents WHERE monitor_id = $1 AND status = 'open'",
            )
            .bind(monitor),
        )
        .await
        .expect("incidents");
    rows[0].get("n").expect("count")
}

/// Waits until `n` deliveries are settled and returns each one's last attempt, oldest first.
async fn settled(store: &Store, n: usize) -> Vec<(OutboxRow, AttemptRow)> {
    eventually(&format!("{n} settled deliveries"), || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() >= n && rows.iter().all(|r| r.state != OutboxState::Pending)
    })
    .await;
    let mut out = Vec::new();
    for row in store.list_outbox(None).await.expect("outbox") {
        let mut attempts = store.delivery_attempts(&row.id).await.expect("attempts");
        let last = attempts.pop().expect("an attempt");
        out.push((row, last));
    }
    out
}

async fn a_restart_runs_once_per_cooldown_and_never_on_recovery(db: TestDb) {
    let store = db.store.clone();
    let sshd = Sshd::start(SshdOptions {
        host_key: "ed25519",
        authorized: vec![],
        password: Some(PASSWORD),
    });
    let marker = sshd.dir.path().join("marker");
    let id = ssh_integration(
        &store,
        "int_ssh",
        restart(&sshd, format!("echo restarted >> {}", marker.display())),
    )
    .await;
    let m = monitor_with(&store, "mon_ssh", &["eu"], 1, &[&id]).await;
    let (publisher, running) = common::start_in_process(&store);
    down(&publisher, &m.id).await;
    let log = settled(&store, 1).await;
    assert_eq!(log[0].0.state, OutboxState::Delivered, "{:?}", log[0].1);
    assert_eq!(
        log[0].1.response_excerpt,
        "exit status 0; output: (no output)"
    );
    assert_eq!(marker_lines(&sshd), 1);

    // The recovery restarts nothing: no delivery at all.
    up(&publisher, &m.id).await;
    eventually("the incident to resolve", || async {
        open_incidents(&store, &m.id).await == 0
    })
    .await;
    assert_eq!(store.list_outbox(None).await.expect("outbox").len(), 1);
    running.stop().await;

    // A new notifier process: the cooldown is in the store, the flapping monitor's second
    // incident does not restart the machine again.
    let (publisher, running) = common::start_in_process(&store);
    down(&publisher, &m.id).await;
    let log = settled(&store, 2).await;
    let (row, attempt) = &log[1];
    assert_eq!(row.state, OutboxState::Dead);
    assert!(
        attempt.error.contains("not restarted: 127.0.0.1:")
            && attempt.error.contains("within its cooldown of 1800 s"),
        "{}",
        attempt.error
    );
    assert_eq!(marker_lines(&sshd), 1, "not restarted within the cooldown");

    // Once the cooldown has passed (moved back here), the next incident restarts it again.
    store
        .execute(Sql::new(
            "UPDATE ssh_restarts SET restarted_at_ms = restarted_at_ms - 1800000",
        ))
        .await
        .expect("age the restart");
    up(&publisher, &m.id).await;
    eventually("the second incident to resolve", || async {
        open_incidents(&store, &m.id).await == 0
    })
    .await;
    down(&publisher, &m.id).await;
    let log = settled(&store, 3).await;
    assert_eq!(log[2].0.state, OutboxState::Delivered, "{:?}", log[2].1);
    assert_eq!(marker_lines(&sshd), 2);
    running.stop().await;
}

async fn key_login_test_event_and_a_changed_host_key(db: TestDb) {
    let store = db.store.clone();
    let keys = tempfile::tempdir().expect("dir");
    let key = keygen(keys.path(), "id_ecdsa", "ecdsa", "");
    let mut sshd = Sshd::start(SshdOptions {
        host_key: "ed25519",
        authorized: vec![key.public.clone()],
        password: None,
    });
    let marker = sshd.dir.path().join("marker");
    let mut s = restart(&sshd, format!("echo restarted >> {}", marker.display()));
    s.password.clear();
    s.private_key = key.private.clone();
    let id = ssh_integration(&store, "int_key", s).await;
    let m = monitor_with(&store, "mon_key", &["eu"], 1, &[&id]).await;

    // A test event, queued as `lookout integrations test` does.
    let mut event = lookout_render::sample_event();
    event.kind = EventKind::Test as i32;
    event.incident = None;
    store
        .enqueue_delivery(&OutboxRow {
            id: "dlv_test".into(),
            project_id: DEFAULT_PROJECT_ID.into(),
            incident_id: None,
            monitor_id: None,
            integration_id: id.clone(),
            event: EventKind::Test,
            channel: "ssh_restart".into(),
            payload: event.encode_to_vec(),
            attempts: 0,
            next_attempt_at_ms: now_ms(),
            state: OutboxState::Pending,
            last_error: None,
            created_at_ms: now_ms(),
        })
        .await
        .expect("enqueue");
    let (publisher, running) = common::start_in_process(&store);
    let log = settled(&store, 1).await;
    assert_eq!(log[0].0.state, OutboxState::Delivered, "{:?}", log[0].1);
    assert!(
        log[0].1.response_excerpt.contains("logged in as root")
            && log[0]
                .1
                .response_excerpt
                .contains("the command was not run (test event)"),
        "{}",
        log[0].1.response_excerpt
    );
    assert_eq!(marker_lines(&sshd), 0, "a test never runs the command");

    // The machine comes back with another host key: refused, and never run.
    let pinned = lookout_ssh::HostKey::parse(&sshd.host_key()).expect("pin");
    sshd.regenerate_host_key();
    let now = lookout_ssh::HostKey::parse(&sshd.host_key()).expect("new");
    down(&publisher, &m.id).await;
    let log = settled(&store, 2).await;
    let (row, attempt) = &log[1];
    assert_eq!(row.state, OutboxState::Dead);
    assert_eq!(row.attempts, 1, "a mismatch is not retried");
    assert!(
        attempt.error.contains(&format!(
            "host key mismatch: the integration pinned {}, but the server presented {}",
            pinned.fingerprint(),
            now.fingerprint()
        )),
        "{}",
        attempt.error
    );
    assert_eq!(marker_lines(&sshd), 0);
    running.stop().await;
}

async fn a_failing_command_and_a_private_address(db: TestDb) {
    let store = db.store.clone();
    let sshd = Sshd::start(SshdOptions {
        host_key: "ecdsa",
        authorized: vec![],
        password: Some(PASSWORD),
    });
    let failing = ssh_integration(
        &store,
        "int_fail",
        restart(&sshd, "echo cannot reboot >&2; exit 7".into()),
    )
    .await;
    let m = monitor_with(&store, "mon_fail", &["eu"], 1, &[&failing]).await;
    let (publisher, running) = common::start_in_process(&store);
    down(&publisher, &m.id).await;
    let log = settled(&store, 1).await;
    let (row, attempt) = &log[0];
    assert_eq!(row.state, OutboxState::Dead);
    assert_eq!(attempt.error, "the command exited with status 7");
    assert_eq!(
        attempt.response_excerpt,
        "exit status 7; output: cannot reboot\n"
    );
    running.stop().await;
    let logins = sshd.log().matches("Accepted password").count();

    // Without allow_private_destinations, 127.0.0.1 is refused before connecting.
    let other = ssh_integration(&store, "int_private", restart(&sshd, "true".into())).await;
    let m = monitor_with(&store, "mon_private", &["eu"], 1, &[&other]).await;
    let mut config = common::config();
    config.delivery.allow_private_destinations = false;
    let (publisher, running) = common::start_in_process_with(&store, config);
    down(&publisher, &m.id).await;
    let log = settled(&store, 2).await;
    assert_eq!(log[1].0.state, OutboxState::Dead);
    assert!(
        log[1].1.error.contains("127.0.0.1") && log[1].1.error.contains("is not a public address"),
        "{}",
        log[1].1.error
    );
    assert_eq!(
        sshd.log().matches("Accepted password").count(),
        logins,
        "no login was tried"
    );
    running.stop().await;
}

lookout_store::backend_tests!(
    a_restart_runs_once_per_cooldown_and_never_on_recovery,
    key_login_test_event_and_a_changed_host_key,
    a_failing_command_and_a_private_address,
);
