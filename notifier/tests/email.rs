//! Email end to end through the real notifier against a real SMTP server (aiosmtpd) on
//! loopback: the message as received and parsed by Python's email package (sender,
//! recipient, subject, text and HTML parts), STARTTLS under a private CA with AUTH, implicit
//! TLS and plain text to an integration's own server, the refusal of a member's unverified
//! address and of a private server when private destinations are not allowed, and the
//! verification mail of a new member.

mod common;
mod smtpd;

use common::{eventually, monitor_with, result};
use lookout_bus::ResultPublisher;
use lookout_notifier::{EmailConfig, NotifierConfig, SmtpConfig, SmtpTlsMode};
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EmailIntegration, Integration, SmtpServer, SmtpTls};
use lookout_store::Store;
use lookout_store::notifier::OutboxState;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;
use smtpd::{Certs, Mode, Smtpd};

async fn email_integration(store: &Store, id: &str, e: EmailIntegration) -> String {
    let i = Integration {
        id: id.into(),
        kind: Some(Kind::Email(e)),
        ..Default::default()
    };
    let i = lookout_render::validate(i, &lookout_render::Variables::new()).expect("valid");
    store
        .insert_integration_in_project(DEFAULT_PROJECT_ID, "email", i)
        .await
        .expect("insert")
        .id
}

fn with_smtp(mut c: NotifierConfig, smtp: SmtpConfig) -> NotifierConfig {
    c.email = EmailConfig {
        from: Some("Lookout <lookout@example.com>".into()),
        smtp: Some(smtp),
        ca_file: None,
    };
    c
}

fn smtp(port: u16, tls: SmtpTlsMode) -> SmtpConfig {
    SmtpConfig {
        host: "localhost".into(),
        port: Some(port),
        tls,
        username: None,
        password: None,
        timeout_ms: 10_000,
    }
}

async fn down(publisher: &impl ResultPublisher, monitor: &str) {
    let r: Vec<_> = (0..3).map(|_| result(monitor, "eu", Down)).collect();
    publisher.publish(&r).await.expect("publish");
}

/// The one delivery's attempt log, once it is dead.
async fn dead_error(store: &Store) -> String {
    eventually("the delivery to be dead", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().any(|r| r.state == OutboxState::Dead)
    })
    .await;
    let row = store.list_outbox(None).await.expect("outbox").remove(0);
    let attempts = store.delivery_attempts(&row.id).await.expect("attempts");
    assert_eq!(attempts.len(), 1, "refused at once, not retried");
    attempts[0].error.clone()
}

async fn starttls_with_auth_delivers_the_incident_and_the_recovery(db: TestDb) {
    let store = db.store.clone();
    let dir = tempfile::tempdir().expect("dir");
    let certs = Certs::new(dir.path());
    let server = Smtpd::start(Mode::Starttls, Some(&certs), Some(("lookout", "mail-pw")));
    let id = email_integration(
        &store,
        "int_mail",
        EmailIntegration {
            email: "alerts@example.com".into(),
            ..Default::default()
        },
    )
    .await;
    let m = monitor_with(&store, "mon_mail", &["eu"], 1, &[&id]).await;
    let mut s = smtp(server.port, SmtpTlsMode::Starttls);
    s.username = Some("lookout".into());
    s.password = Some(lookout_proto::Secret::new("mail-pw"));
    let mut config = with_smtp(common::config(), s);
    config.email.ca_file = Some(certs.ca.clone());
    let (publisher, running) = common::start_in_process_with(&store, config);
    down(&publisher, &m.id).await;
    let got = server.wait_for(1).await;
    let mail = &got[0];
    assert_eq!(mail["tls"], true, "STARTTLS was used");
    assert_eq!(mail["authenticated"], true);
    assert_eq!(mail["login"], "lookout");
    assert_eq!(mail["mail_from"], "lookout@example.com");
    assert_eq!(mail["rcpt_tos"], serde_json::json!(["alerts@example.com"]));
    let h = &mail["headers"];
    assert_eq!(h["from"], "Lookout <lookout@example.com>");
    assert_eq!(h["to"], "alerts@example.com");
    assert_eq!(h["subject"], "[Lookout] DOWN: API mon_mail is down");
    assert!(
        h["message-id"].as_str().unwrap_or("").starts_with("<dlv_"),
        "{h}"
    );
    assert_eq!(mail["content_type"], "multipart/alternative");
    let text = mail["text"].as_str().unwrap_or("");
    let html = mail["html"].as_str().unwrap_or("");
    for part in [text, html] {
        assert!(part.contains("API mon_mail is down"), "{part}");
        assert!(part.contains("https://api.example.com/health"), "{part}");
        assert!(part.contains("connection refused"), "{part}");
    }
    assert!(text.contains("Status: UP → DOWN"), "{text}");
    assert!(
        html.contains("<h2 style=\"color:#E01E5A\">API mon_mail is down</h2>"),
        "{html}"
    );

    publisher
        .publish(&[result(&m.id, "eu", Up)])
        .await
        .expect("publish");
    let got = server.wait_for(2).await;
    assert_eq!(
        got[1]["headers"]["subject"],
        "[Lookout] RESOLVED: API mon_mail is up again"
    );
    eventually("both deliveries logged as delivered", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() == 2 && rows.iter().all(|r| r.state == OutboxState::Delivered)
    })
    .await;
    let row = store.list_outbox(None).await.expect("outbox").remove(0);
    let attempts = store.delivery_attempts(&row.id).await.expect("attempts");
    assert_eq!(attempts[0].status_code, 250);
    assert!(
        attempts[0]
            .response_excerpt
            .contains("queued as lookout-test-1"),
        "{}",
        attempts[0].response_excerpt
    );
    running.stop().await;
}

async fn an_integrations_own_server_implicit_tls_or_plain(db: TestDb) {
    let store = db.store.clone();
    let dir = tempfile::tempdir().expect("dir");
    let certs = Certs::new(dir.path());
    let tls = Smtpd::start(Mode::Implicit, Some(&certs), None);
    let plain = Smtpd::start(Mode::Plain, None, None);
    let a = email_integration(
        &store,
        "int_tls",
        EmailIntegration {
            email: "ops@example.com".into(),
            from: "Ops Alerts <ops-alerts@example.org>".into(),
            smtp: Some(SmtpServer {
                host: "localhost".into(),
                port: u32::from(tls.port),
                tls: SmtpTls::Implicit as i32,
                ..Default::default()
            }),
        },
    )
    .await;
    let b = email_integration(
        &store,
        "int_plain",
        EmailIntegration {
            email: "dev@example.com".into(),
            smtp: Some(SmtpServer {
                host: "127.0.0.1".into(),
                port: u32::from(plain.port),
                tls: SmtpTls::None as i32,
                ..Default::default()
            }),
            ..Default::default()
        },
    )
    .await;
    let m = monitor_with(&store, "mon_own", &["eu"], 1, &[&a, &b]).await;
    // The deployment has a sender and trusts the CA, but has no server of its own.
    let mut config = common::config();
    config.email.from = Some("lookout@example.com".into());
    config.email.ca_file = Some(certs.ca.clone());
    let (publisher, running) = common::start_in_process_with(&store, config);
    down(&publisher, &m.id).await;
    let over_tls = tls.wait_for(1).await;
    assert_eq!(over_tls[0]["tls"], true);
    assert_eq!(
        over_tls[0]["headers"]["from"],
        "Ops Alerts <ops-alerts@example.org>"
    );
    assert_eq!(
        over_tls[0]["rcpt_tos"],
        serde_json::json!(["ops@example.com"])
    );
    let in_clear = plain.wait_for(1).await;
    assert_eq!(in_clear[0]["tls"], false);
    assert_eq!(in_clear[0]["headers"]["from"], "lookout@example.com");
    assert_eq!(in_clear[0]["headers"]["to"], "dev@example.com");
    running.stop().await;
}

async fn an_unverified_member_gets_nothing_until_verified(db: TestDb) {
    let store = db.store.clone();
    let server = Smtpd::start(Mode::Plain, None, None);
    store
        .insert_member(
            DEFAULT_PROJECT_ID,
            "mem_alice",
            "Alice@Example.com",
            "Alice",
            "493817",
            lookout_store::now_ms() + 3_600_000,
        )
        .await
        .expect("member");
    let id = email_integration(
        &store,
        "int_alice",
        EmailIntegration {
            email: "alice@example.com".into(),
            ..Default::default()
        },
    )
    .await;
    let m = monitor_with(&store, "mon_alice", &["eu"], 1, &[&id]).await;
    let config = with_smtp(common::config(), smtp(server.port, SmtpTlsMode::None));
    let (publisher, running) = common::start_in_process_with(&store, config);

    // The verification mail goes out; the incident mail does not.
    let got = server.wait_for(1).await;
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["Alice@Example.com"]));
    assert_eq!(
        got[0]["headers"]["subject"],
        "[Lookout] Your verification code: 493817"
    );
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap_or("")
            .contains("lookout users verify Alice@Example.com 493817")
    );
    eventually("the code to be recorded as sent", || async {
        store
            .member_by_email(DEFAULT_PROJECT_ID, "alice@example.com")
            .await
            .expect("member")
            .is_some_and(|m| m.code_sent_at_ms.is_some())
    })
    .await;
    down(&publisher, &m.id).await;
    let error = dead_error(&store).await;
    assert!(
        error.contains(
            "alice@example.com belongs to a member of this project who has not verified it"
        ),
        "{error}"
    );
    assert_eq!(
        server.messages().len(),
        1,
        "nothing but the verification mail"
    );

    store.verify_member("mem_alice").await.expect("verify");
    publisher
        .publish(&[result(&m.id, "eu", Up)])
        .await
        .expect("publish");
    let got = server.wait_for(2).await;
    assert_eq!(
        got[1]["headers"]["subject"],
        "[Lookout] RESOLVED: API mon_alice is up again"
    );
    running.stop().await;
}

async fn a_private_server_is_refused_unless_allowed(db: TestDb) {
    let store = db.store.clone();
    let server = Smtpd::start(Mode::Plain, None, None);
    let id = email_integration(
        &store,
        "int_private",
        EmailIntegration {
            email: "ops@example.com".into(),
            from: "ops@example.com".into(),
            smtp: Some(SmtpServer {
                host: "127.0.0.1".into(),
                port: u32::from(server.port),
                tls: SmtpTls::None as i32,
                ..Default::default()
            }),
        },
    )
    .await;
    let m = monitor_with(&store, "mon_private", &["eu"], 1, &[&id]).await;
    let mut config = common::config();
    config.delivery.allow_private_destinations = false;
    let (publisher, running) = common::start_in_process_with(&store, config);
    down(&publisher, &m.id).await;
    let error = dead_error(&store).await;
    assert!(
        error.contains("127.0.0.1") && error.contains("is not a public address"),
        "{error}"
    );
    assert!(server.messages().is_empty());
    running.stop().await;
}

lookout_store::backend_tests!(
    starttls_with_auth_delivers_the_incident_and_the_recovery,
    an_integrations_own_server_implicit_tls_or_plain,
    an_unverified_member_gets_nothing_until_verified,
    a_private_server_is_refused_unless_allowed,
);
