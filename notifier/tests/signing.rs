//! The outbox holds the event, never a body or a secret: every attempt is rendered and signed
//! when it is sent, with the integration's current settings. A rotated secret applies to
//! retries; a deleted (or even pruned) monitor's notification still goes out, since the event
//! carries what it needs; a delivery whose integration is gone is dead instead of being sent.

mod common;

use common::{Receiver, SECRET, eventually, monitor};
use lookout_proto::v1::integration::Kind;
use lookout_store::Sql;
use lookout_store::notifier::OutboxState;
use lookout_store::projects::DEFAULT_PROJECT_ID;
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

    let mut changed = store
        .get_integration(&m.integration_ids[0])
        .await
        .expect("get");
    if let Some(Kind::Webhook(w)) = &mut changed.kind {
        w.secret = "rotated-webhook-secret".into();
    }
    store
        .update_integration_in_project(DEFAULT_PROJECT_ID, "webhook", changed, 1)
        .await
        .expect("change the secret");
    eventually("a retry signed with the rotated secret", || async {
        rx.hits()
            .iter()
            .any(|h| h.signature_verifies("rotated-webhook-secret"))
    })
    .await;
    rx.answer(200);
    eventually("the delivery to be accepted", || async {
        !rx.accepted().is_empty()
    })
    .await;
    let accepted = &rx.accepted()[0];
    assert!(accepted.signature_verifies("rotated-webhook-secret"));
    assert!(!accepted.signature_verifies(SECRET));
    // Every attempt is in the log, the last one delivered (recorded once the answer is in).
    let id = &store.list_outbox(None).await.expect("outbox")[0].id;
    eventually("the delivered attempt in the log", || async {
        let log = store.delivery_attempts(id).await.expect("attempts");
        log.last().is_some_and(|a| a.outcome == "delivered")
    })
    .await;
    let log = store.delivery_attempts(id).await.expect("attempts");
    assert!(log.len() >= 2, "{log:?}");
    assert_eq!(log[0].status_code, 503);
    assert_eq!(log[0].outcome, "retry");
    let last = log.last().expect("last");
    assert_eq!(
        (last.status_code, last.outcome.as_str()),
        (200, "delivered")
    );
    assert_eq!(
        log.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        (1..=u32::try_from(log.len()).expect("few")).collect::<Vec<_>>()
    );
    running.stop().await;
}

async fn deliveries_outlive_their_monitor_but_not_their_integration(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(503).await;
    let deleted = monitor(&store, "mon_deleted", &["eu"], 1, &rx.url).await;
    let pruned = monitor(&store, "mon_pruned", &["eu"], 1, &rx.url).await;
    let orphaned = monitor(&store, "mon_orphaned", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    for m in [&deleted, &pruned, &orphaned] {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    eventually("a refused attempt of each", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() == 3 && rows.iter().all(|r| r.attempts >= 1)
    })
    .await;

    // Deleted: the row stays (soft delete).
    store.delete_monitor(&deleted.id).await.expect("delete");
    // Pruned: the row itself is gone, as retention removes it.
    store
        .execute(Sql::new("DELETE FROM monitors WHERE id = $1").bind(&pruned.id))
        .await
        .expect("remove the row");
    // The integration is gone (removed behind the API's back, which refuses it while attached).
    store
        .execute(
            Sql::new("DELETE FROM integrations WHERE id = $1").bind(&orphaned.integration_ids[0]),
        )
        .await
        .expect("remove the integration");
    // Settings are read again within a second: the next attempt finds the integration gone.
    eventually("the orphaned delivery to be dead", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().any(|r| {
            r.monitor_id.as_deref() == Some("mon_orphaned") && r.state == OutboxState::Dead
        })
    })
    .await;
    let refused = rx.hits().len();
    rx.answer(200);
    eventually("every delivery to finish", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().all(|r| r.state != OutboxState::Pending)
    })
    .await;
    let rows = store.list_outbox(None).await.expect("outbox");
    let row_of = |id: &str| {
        rows.iter()
            .find(|r| r.monitor_id.as_deref() == Some(id))
            .cloned()
            .expect("a delivery of the monitor")
    };
    assert_eq!(row_of("mon_deleted").state, OutboxState::Delivered);
    assert_eq!(row_of("mon_pruned").state, OutboxState::Delivered);
    let accepted = rx.accepted();
    assert_eq!(accepted.len(), 2, "the orphaned delivery is not sent again");
    assert_eq!(rx.hits().len(), refused + 2);
    assert!(accepted.iter().all(|h| h.signature_verifies(SECRET)));
    assert_eq!(row_of("mon_orphaned").state, OutboxState::Dead);
    assert_eq!(
        row_of("mon_orphaned").last_error.unwrap_or_default(),
        "integration int_mon_orphaned no longer exists"
    );
    running.stop().await;
}

lookout_store::backend_tests!(
    a_retry_is_signed_with_the_secret_current_when_it_is_sent,
    deliveries_outlive_their_monitor_but_not_their_integration,
);
