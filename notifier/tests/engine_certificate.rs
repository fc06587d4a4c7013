//! Certificate expiry, end to end through the in-process bus on both store backends: an
//! https monitor's results carry the certificate; it notifies once when the certificate comes
//! within 30 days of expiry (the default), once more when a later one replaces it, and a
//! restart repeats neither.

mod common;

use common::{Receiver, eventually, kinds, result, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::Up;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{CertificateFacts, HttpCheck};
use lookout_proto::{CheckResult, Monitor};
use lookout_store::Store;
use lookout_store::testing::TestDb;

const DAY: i64 = 86_400_000;

async fn monitor(store: &Store, id: &str, url: &str) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), url).await;
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        integration_ids: vec![hook.id],
        check: Some(Check::Http(HttpCheck {
            url: "https://api.example.com/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let m = lookout_proto::validate::ValidMonitor::try_from(m)
        .expect("valid monitor")
        .into_spec();
    store.insert_monitor(m).await.expect("insert monitor")
}

/// An UP result presenting a certificate that expires `days` after the test began (a
/// certificate's expiry is a fixed instant).
fn with_cert(monitor_id: &str, days: i64) -> CheckResult {
    static BEGAN: std::sync::OnceLock<i64> = std::sync::OnceLock::new();
    let now = *BEGAN.get_or_init(lookout_store::now_ms);
    CheckResult {
        certificate: Some(CertificateFacts {
            not_before_ms: now - DAY,
            not_after_ms: now + days * DAY + DAY / 2,
            subject: "CN=api.example.com".into(),
            sha256: format!("{days:064}"),
        }),
        ..result(monitor_id, "eu", Up)
    }
}

async fn expiry_is_announced_once_and_renewal_once(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_cert", &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);

    publisher
        .publish(&[with_cert(&m.id, 20)])
        .await
        .expect("publish");
    eventually("the expiry warning", || async { rx.accepted().len() == 1 }).await;
    publisher
        .publish(&[with_cert(&m.id, 20), with_cert(&m.id, 20)])
        .await
        .expect("publish");
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    running.stop().await;

    // A restart remembers the warning: the same certificate again says nothing.
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&[with_cert(&m.id, 20)])
        .await
        .expect("publish");
    publisher
        .publish(&[with_cert(&m.id, 90)])
        .await
        .expect("publish");
    eventually("the renewal", || async { rx.accepted().len() == 2 }).await;
    publisher
        .publish(&[with_cert(&m.id, 90)])
        .await
        .expect("publish");
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(kinds(&rx), ["cert_expiring", "cert_renewed"]);
    let state = store
        .monitor_state(&m.id)
        .await
        .expect("read")
        .expect("stored");
    assert!(!state.cert_warned);
    running.stop().await;
}

async fn a_certificate_far_from_expiry_sends_nothing(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_cert_ok", &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&[with_cert(&m.id, 200), with_cert(&m.id, 200)])
        .await
        .expect("publish");
    eventually("the certificate is recorded", || async {
        store.monitor_state(&m.id).await.expect("read").is_some()
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert!(rx.accepted().is_empty());
    running.stop().await;
}

lookout_store::backend_tests!(
    expiry_is_announced_once_and_renewal_once,
    a_certificate_far_from_expiry_sends_nothing,
);
