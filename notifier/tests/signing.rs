//! The outbox holds no secret: every attempt is signed when it is sent, with the monitor's
//! current webhook secret; a deleted monitor still signs the notification that resolves its
//! incident, and a delivery whose monitor row or webhook is gone is dead instead of being sent
//! unsigned.

mod common;

use common::{Receiver, SECRET, eventually, monitor};
use lookout_store::Sql;
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

async fn a_deleted_monitor_still_signs_and_a_pruned_or_moved_webhook_is_dead(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(503).await;
    let deleted = monitor(&store, "mon_deleted", &["eu"], 1, &rx.url).await;
    let pruned = monitor(&store, "mon_pruned", &["eu"], 1, &rx.url).await;
    let moved = monitor(&store, "mon_moved", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    for m in [&deleted, &pruned, &moved] {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    eventually("a refused attempt of each", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() == 3 && rows.iter().all(|r| r.attempts >= 1)
    })
    .await;

    // Deleted: the row stays (soft delete), so the secret does too.
    store.delete_monitor(&deleted.id).await.expect("delete");
    // Pruned: the row itself is gone, as retention removes it.
    store
        .execute(Sql::new("DELETE FROM monitors WHERE id = $1").bind(&pruned.id))
        .await
        .expect("remove the row");
    let mut elsewhere = store.get_monitor(&moved.id).await.expect("get");
    elsewhere.webhooks[0].url = "http://127.0.0.1:1/elsewhere".into();
    store
        .update_monitor(elsewhere, moved.version)
        .await
        .expect("move the webhook");
    rx.answer(200);
    eventually("every delivery to finish", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().all(|r| r.state != OutboxState::Pending)
    })
    .await;
    let rows = store.list_outbox(None).await.expect("outbox");
    let row_of = |id: &str| {
        rows.iter()
            .find(|r| r.monitor_id == id)
            .cloned()
            .expect("a delivery of the monitor")
    };
    assert_eq!(row_of("mon_deleted").state, OutboxState::Delivered);
    let accepted = rx.accepted();
    assert_eq!(
        accepted.len(),
        1,
        "only the deleted monitor's delivery is sent"
    );
    assert!(accepted[0].signature_verifies(SECRET));
    assert_eq!(row_of("mon_pruned").state, OutboxState::Dead);
    assert_eq!(
        row_of("mon_pruned").last_error.unwrap_or_default(),
        "monitor mon_pruned no longer exists: nothing to sign the delivery with"
    );
    assert_eq!(row_of("mon_moved").state, OutboxState::Dead);
    assert_eq!(
        row_of("mon_moved").last_error.unwrap_or_default(),
        "monitor mon_moved no longer has a webhook at this url"
    );
    running.stop().await;
}

lookout_store::backend_tests!(
    a_retry_is_signed_with_the_secret_current_when_it_is_sent,
    a_deleted_monitor_still_signs_and_a_pruned_or_moved_webhook_is_dead,
);
