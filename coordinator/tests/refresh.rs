//! A monitor change whose store read fails still reaches the agents: the hub retries the read
//! with backoff (outside the assignment lock) until the change is pushed.

mod common;

use std::time::Duration;

use common::{DEADLINE, http_monitor};
use lookout_coordinator::hub::{Hub, OutboxItem};
use lookout_store::{Sql, Store};

#[tokio::test]
async fn a_failed_read_of_a_changed_monitor_is_retried_until_the_agent_has_it() {
    let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
        .await
        .expect("store");
    let mut m = http_monitor("before", &["eu"]);
    m.id = "mon_retry".into();
    let m = store.insert_monitor(m).await.expect("insert");
    let hub = Hub::load(store.clone()).await.expect("hub");
    let joined = hub
        .join("a1", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    assert_eq!(joined.snapshot().upserts[0].name, "before");

    // The change is committed, then its row cannot be read for a while.
    let renamed = lookout_proto::Monitor {
        name: "after".into(),
        ..m.clone()
    };
    store
        .update_monitor(renamed, m.version)
        .await
        .expect("update");
    let rows = store
        .query(Sql::new("SELECT spec FROM monitors WHERE id = $1").bind(&m.id))
        .await
        .expect("read spec");
    let spec: Vec<u8> = rows[0].get("spec").expect("spec column");
    store
        .execute(
            Sql::new("UPDATE monitors SET spec = $1 WHERE id = $2")
                .bind(vec![0xffu8])
                .bind(&m.id),
        )
        .await
        .expect("break the row");
    hub.refresh_monitor(&m.id).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), joined.outbox.next())
            .await
            .is_err(),
        "nothing can be pushed while the row is unreadable"
    );

    store
        .execute(
            Sql::new("UPDATE monitors SET spec = $1 WHERE id = $2")
                .bind(spec)
                .bind(&m.id),
        )
        .await
        .expect("repair the row");
    match tokio::time::timeout(DEADLINE, joined.outbox.next()).await {
        Ok(OutboxItem::Delta(a)) => {
            assert_eq!(a.upserts.len(), 1, "{a:?}");
            assert_eq!(a.upserts[0].name, "after");
            assert_eq!(a.upserts[0].version, m.version + 1);
        }
        other => panic!("expected the change as a delta, got {other:?}"),
    }
}
