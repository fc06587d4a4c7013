//! The outbox holds no secret: every attempt is signed when it is sent, with the monitor's
//! current webhook secret, and a delivery whose monitor or webhook is gone is dead instead of
//! being sent unsigned.

mod common;

use common::{Receiver, SECRET, eventually, monitor};
use lookout_store::notifier::OutboxState;
use lookout_store::testing::TestDb;

async fn a_retry_is_signed_with_the_secret_current_when_it_is_sent(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(503).await;
    let m = monitor(&store, "mon_sign", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    common::publish_down(&publisher, &m.id, "eu", 3).await;
    eventually("a first, refused attempt", || async {
        !rx.hits().is_empty()
    })
    .await;
    assert!(rx.hits()[0].signature_verifies(SECRET));

    let mut changed = store.get_monitor(&m.id).await.expect("get");
    changed.webhooks[0].secret = "rotated-webhook-secret".into();
    store
        .update_monitor(changed, m.version)
        .await
        .expect("change the secret");
    rx.answer(200);
    eventually("the delivery to be accepted", || async {
        !rx.accepted().is_empty()
    })
    .await;
    let accepted = &rx.accepted()[0];
    assert!(accepted.signature_verifies("rotated-webhook-secret"));
    assert!(!accepted.signature_verifies(SECRET));
    running.stop().await;
}

async fn deliveries_of_a_deleted_monitor_or_removed_webhook_are_dead(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(503).await;
    let gone = monitor(&store, "mon_gone", &["eu"], 1, &rx.url).await;
    let moved = monitor(&store, "mon_moved", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    for m in [&gone, &moved] {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    eventually("a refused attempt of each", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() == 2 && rows.iter().all(|r| r.attempts >= 1)
    })
    .await;

    store.delete_monitor(&gone.id).await.expect("delete");
    let mut elsewhere = store.get_monitor(&moved.id).await.expect("get");
    elsewhere.webhooks[0].url = "http://127.0.0.1:1/elsewhere".into();
    store
        .update_monitor(elsewhere, moved.version)
        .await
        .expect("move the webhook");
    eventually("both deliveries to be dead", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().all(|r| r.state == OutboxState::Dead)
    })
    .await;
    let rows = store.list_outbox(None).await.expect("outbox");
    let error_of = |id: &str| {
        rows.iter()
            .find(|r| r.monitor_id == id)
            .and_then(|r| r.last_error.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        error_of("mon_gone"),
        "monitor mon_gone no longer exists: nothing to sign the delivery with"
    );
    assert_eq!(
        error_of("mon_moved"),
        "monitor mon_moved no longer has a webhook at this url"
    );
    running.stop().await;
}

lookout_store::backend_tests!(
    a_retry_is_signed_with_the_secret_current_when_it_is_sent,
    deliveries_of_a_deleted_monitor_or_removed_webhook_are_dead,
);
