//! Leadership among coordinator replicas: the leader lock (exclusive on PostgreSQL, always
//! held on SQLite), epochs, the fenced agent registry and the monitor change feed.

use lookout_proto::v1::Agent;
use lookout_store::testing::{TestDb, secret_monitor};
use lookout_store::{Store, StoreError};

async fn epochs_grow_and_the_registry_is_fenced(db: TestDb) {
    let store = &db.store;
    assert_eq!(
        store.leader().await.expect("leader"),
        None,
        "nobody led yet"
    );
    let first = store
        .claim_leadership("replica-a", "http://10.0.0.1:7400")
        .await
        .expect("claim");
    let second = store
        .claim_leadership("replica-b", "http://10.0.0.2:7400")
        .await
        .expect("claim");
    assert_eq!((first, second), (1, 2));
    let row = store.leader().await.expect("leader").expect("a leader");
    assert_eq!(
        (row.epoch, row.holder.as_str(), row.address.as_str()),
        (2, "replica-b", "http://10.0.0.2:7400")
    );

    let agent = |id: &str, region: &str| Agent {
        agent_id: id.into(),
        region: region.into(),
        assigned_monitors: 3,
        ..Agent::default()
    };
    store
        .publish_agents(2, &[agent("a1", "eu"), agent("a2", "us")])
        .await
        .expect("the current leader publishes");
    match store.publish_agents(1, &[agent("stale", "eu")]).await {
        Err(StoreError::Fenced { epoch: 1 }) => {}
        other => panic!("a deposed leader is fenced off, got {other:?}"),
    }
    let (all, updated) = store.published_agents("").await.expect("read");
    assert_eq!(
        all.iter().map(|a| a.agent_id.as_str()).collect::<Vec<_>>(),
        ["a1", "a2"],
        "the deposed leader's write changed nothing"
    );
    assert!(updated > 0);
    let (eu, _) = store.published_agents("eu").await.expect("read");
    assert_eq!(eu, vec![agent("a1", "eu")]);
    // The next publication replaces the registry: agents that left are gone.
    store
        .publish_agents(2, &[agent("a2", "us")])
        .await
        .expect("publish");
    assert_eq!(store.published_agents("").await.expect("read").0.len(), 1);
}

async fn only_one_holds_the_lock_at_a_time(db: TestDb) {
    let other = Store::open(&db.url, db.keyring())
        .await
        .expect("second store");
    let mut a = db.store.leader_lock().expect("lock");
    let mut b = other.leader_lock().expect("lock");
    assert!(a.try_acquire().await.expect("try"), "a takes the free lock");
    assert!(a.check().await.expect("check"), "and holds it");
    let sqlite = db.url.starts_with("sqlite:");
    if sqlite {
        // One coordinator per SQLite file: its lock is always held.
        assert!(b.try_acquire().await.expect("try"));
        return;
    }
    assert!(
        !b.try_acquire().await.expect("try"),
        "b waits while a holds it"
    );
    assert!(!b.check().await.expect("check"), "b holds nothing");
    a.release().await;
    assert!(
        b.try_acquire().await.expect("try"),
        "released by closing its connection, the lock goes to b"
    );
    assert!(!a.try_acquire().await.expect("try"), "and a now waits");
    // A lock whose connection is gone is not held: dropping b ends its session.
    drop(b);
    let mut taken = false;
    for _ in 0..100 {
        if a.try_acquire().await.expect("try") {
            taken = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(taken, "the server frees the lock of a dropped connection");
}

/// Every write to a monitor is in the feed, in commit order, numbered without gaps.
async fn monitor_writes_are_in_the_change_feed(db: TestDb) {
    let store = &db.store;
    let head = store.monitor_feed_head().await.expect("head");
    let m = store
        .insert_monitor(secret_monitor("mon_a", "s1"))
        .await
        .expect("insert");
    store
        .insert_monitor(secret_monitor("mon_b", "s2"))
        .await
        .expect("insert");
    store
        .update_monitor(secret_monitor("mon_a", "s3"), m.version)
        .await
        .expect("update");
    store.delete_monitor("mon_b").await.expect("delete");
    let changes = store
        .monitor_changes_after(head, 100)
        .await
        .expect("changes");
    let ids: Vec<&str> = changes.iter().map(|c| c.monitor_id.as_str()).collect();
    if db.url.starts_with("sqlite:") {
        // One coordinator per SQLite file sees its own changes: no feed.
        assert!(ids.is_empty(), "{ids:?}");
        return;
    }
    assert_eq!(ids, ["mon_a", "mon_b", "mon_a", "mon_b"]);
    let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
    assert_eq!(
        seqs,
        (head + 1..=head + 4).collect::<Vec<_>>(),
        "numbered without gaps"
    );
    assert_eq!(store.monitor_feed_head().await.expect("head"), head + 4);
    // Paging: after the second change only the last two.
    let rest = store
        .monitor_changes_after(head + 2, 100)
        .await
        .expect("changes");
    assert_eq!(rest.len(), 2);
    let page = store.monitor_changes_after(head, 3).await.expect("changes");
    assert_eq!(page.len(), 3);
    // Pruning forgets old changes only.
    assert_eq!(store.prune_monitor_changes(0).await.expect("prune"), 0);
    let later = lookout_store::now_ms() + 1000;
    assert_eq!(store.prune_monitor_changes(later).await.expect("prune"), 4);
}

lookout_store::backend_tests!(
    epochs_grow_and_the_registry_is_fenced,
    only_one_holds_the_lock_at_a_time,
    monitor_writes_are_in_the_change_feed,
);
