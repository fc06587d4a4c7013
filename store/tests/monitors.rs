//! Monitor definitions in the store, on SQLite and on PostgreSQL.

use lookout_store::StoreError;
use lookout_store::testing::{TestDb, secret_monitor};

async fn insert_get_list_keeps_secrets(db: TestDb) {
    let s = db.store;
    let a = s
        .insert_monitor(secret_monitor("mon_a", "s3cret"))
        .await
        .expect("insert a");
    assert_eq!(a.version, 1);
    assert!(a.created_at_ms > 0);
    s.insert_monitor(secret_monitor("mon_b", "s3cret"))
        .await
        .expect("insert b");
    let got = s.get_monitor("mon_a").await.expect("get");
    assert_eq!(got, a);
    assert_eq!(lookout_store::testing::secret_of(&got), "s3cret");
    let all = s.list_monitors().await.expect("list");
    let ids: Vec<_> = all.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["mon_a", "mon_b"]);
    assert!(matches!(
        s.insert_monitor(secret_monitor("mon_a", "s3cret")).await,
        Err(StoreError::Conflict)
    ));
}

async fn update_is_optimistic(db: TestDb) {
    let s = db.store;
    let a = s
        .insert_monitor(secret_monitor("mon_a", "s3cret"))
        .await
        .expect("insert");
    let mut changed = a.clone();
    changed.name = "renamed".into();
    let v2 = s.update_monitor(changed.clone(), 1).await.expect("update");
    assert_eq!(v2.version, 2);
    assert_eq!(v2.created_at_ms, a.created_at_ms);
    assert_eq!(s.get_monitor("mon_a").await.expect("get").name, "renamed");
    assert!(matches!(
        s.update_monitor(changed.clone(), 1).await,
        Err(StoreError::Conflict)
    ));
    let mut missing = changed;
    missing.id = "mon_missing".into();
    assert!(matches!(
        s.update_monitor(missing, 1).await,
        Err(StoreError::NotFound)
    ));
}

async fn delete_and_not_found(db: TestDb) {
    let s = db.store;
    s.insert_monitor(secret_monitor("mon_a", "s3cret"))
        .await
        .expect("insert");
    s.delete_monitor("mon_a").await.expect("delete");
    assert!(matches!(
        s.get_monitor("mon_a").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_monitor("mon_a").await,
        Err(StoreError::NotFound)
    ));
}

lookout_store::backend_tests!(
    insert_get_list_keeps_secrets,
    update_is_optimistic,
    delete_and_not_found,
);
