//! Projects, their tokens, quotas and the project scoping of monitor and delivery reads, on
//! SQLite and on PostgreSQL.

use std::collections::HashSet;

use lookout_proto::Monitor;
use lookout_store::notifier::{DeliveryCursor, NotifierBatch};
use lookout_store::projects::{DEFAULT_PROJECT_ID, MAX_TOKENS_PER_PROJECT, NewToken, Quotas};
use lookout_store::testing::{TestDb, pending_delivery};
use lookout_store::{Sql, Store, StoreError};

const QUOTAS: Quotas = Quotas {
    max_monitors: 5,
    min_interval_secs: 10,
    max_regions_per_monitor: 2,
};

fn monitor(id: &str) -> Monitor {
    Monitor {
        id: id.into(),
        name: id.into(),
        interval_secs: 30,
        ..Default::default()
    }
}

fn token<'a>(id: &'a str, project_id: &'a str, seed: u8) -> NewToken<'a> {
    NewToken {
        id,
        project_id,
        hash: [seed; 32],
        prefix: "lkt_abcd",
        name: "ci",
    }
}

async fn count(s: &Store, project: &str) -> u32 {
    s.get_project(project).await.expect("project").monitor_count
}

async fn existing_monitors_belong_to_the_default_project(db: TestDb) {
    let s = db.store;
    let d = s.get_project(DEFAULT_PROJECT_ID).await.expect("default");
    assert_eq!(d.name, "default");
    s.insert_monitor(monitor("mon_a")).await.expect("insert");
    assert_eq!(count(&s, DEFAULT_PROJECT_ID).await, 1);
    let got = s
        .get_monitor_in_project(DEFAULT_PROJECT_ID, "mon_a")
        .await
        .expect("scoped get");
    assert_eq!(got.id, "mon_a");
}

async fn projects_are_created_listed_and_deleted_only_when_empty(db: TestDb) {
    let s = db.store;
    let p = s
        .create_project("prj_1", "team-a", QUOTAS)
        .await
        .expect("create");
    assert_eq!(
        (p.name.as_str(), p.quotas, p.monitor_count),
        ("team-a", QUOTAS, 0)
    );
    assert!(matches!(
        s.create_project("prj_2", "team-a", QUOTAS).await,
        Err(StoreError::Conflict)
    ));
    let raised = Quotas {
        max_monitors: 50,
        ..QUOTAS
    };
    let p = s
        .update_project_quotas("prj_1", raised)
        .await
        .expect("update");
    assert_eq!(p.quotas, raised);
    assert_eq!(s.get_project("prj_1").await.expect("get").quotas, raised);
    assert!(matches!(
        s.update_project_quotas("prj_nope", raised).await,
        Err(StoreError::NotFound)
    ));
    let ids: Vec<String> = s
        .list_projects(None, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, ["prj_1", DEFAULT_PROJECT_ID]);
    let after: Vec<String> = s
        .list_projects(Some("prj_1"), 10)
        .await
        .expect("page")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(after, [DEFAULT_PROJECT_ID]);

    s.insert_monitor_in_project("prj_1", monitor("mon_a"))
        .await
        .expect("insert");
    s.insert_token(token("tok_1", "prj_1", 1))
        .await
        .expect("token");
    assert!(matches!(
        s.delete_project("prj_1").await,
        Err(StoreError::NotEmpty { monitors: 1 })
    ));
    s.delete_monitor_in_project("prj_1", "mon_a")
        .await
        .expect("delete monitor");
    s.delete_project("prj_1")
        .await
        .expect("delete empty project");
    assert!(matches!(
        s.get_project("prj_1").await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.project_of_token(&[1; 32]).await.expect("lookup"), None);
    assert!(matches!(
        s.delete_project("prj_1").await,
        Err(StoreError::NotFound)
    ));
}

async fn monitors_of_another_project_are_not_found(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    s.create_project("prj_b", "b", QUOTAS).await.expect("b");
    s.insert_monitor_in_project("prj_a", monitor("mon_1"))
        .await
        .expect("insert");
    assert!(matches!(
        s.get_monitor_in_project("prj_b", "mon_1").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_monitor_in_project("prj_b", "mon_1").await,
        Err(StoreError::NotFound)
    ));
    assert!(
        s.list_monitors_in_project("prj_b", None, 10)
            .await
            .expect("list")
            .is_empty()
    );
    assert_eq!(count(&s, "prj_a").await, 1);
    assert!(matches!(
        s.insert_monitor_in_project("prj_nope", monitor("mon_2"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn monitors_page_by_id(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    for id in ["mon_1", "mon_2", "mon_3"] {
        s.insert_monitor_in_project("prj_a", monitor(id))
            .await
            .expect("insert");
    }
    s.insert_monitor(monitor("mon_0")).await.expect("default");
    let page = |after: Option<&'static str>| {
        let s = s.clone();
        async move {
            let ms = s
                .list_monitors_in_project("prj_a", after, 2)
                .await
                .expect("page");
            ms.into_iter().map(|m| m.id).collect::<Vec<_>>()
        }
    };
    assert_eq!(page(None).await, ["mon_1", "mon_2"]);
    assert_eq!(page(Some("mon_2")).await, ["mon_3"]);
    assert!(page(Some("mon_3")).await.is_empty());
}

/// The `max_monitors` quota holds when many creates race (on PostgreSQL, across
/// connections): exactly `max_monitors` succeed and the count matches the rows.
async fn max_monitors_holds_under_concurrent_creates(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    let creates = (0..20).map(|i| {
        let s = s.clone();
        tokio::spawn(async move {
            s.insert_monitor_in_project("prj_a", monitor(&format!("mon_{i:02}")))
                .await
        })
    });
    let mut ok = 0;
    for c in creates {
        match c.await.expect("task") {
            Ok(_) => ok += 1,
            Err(StoreError::MonitorQuota { max: 5 }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(count(&s, "prj_a").await, 5);
    let rows = s
        .list_monitors_in_project("prj_a", None, 100)
        .await
        .expect("list");
    assert_eq!(rows.len(), 5);
    s.delete_monitor_in_project("prj_a", &rows[0].id)
        .await
        .expect("delete");
    assert_eq!(count(&s, "prj_a").await, 4);
    s.insert_monitor_in_project("prj_a", monitor("mon_again"))
        .await
        .expect("room again after a delete");
}

async fn tokens_are_found_by_hash_listed_and_revoked(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    s.create_project("prj_b", "b", QUOTAS).await.expect("b");
    let t = s
        .insert_token(token("tok_1", "prj_a", 1))
        .await
        .expect("insert");
    assert_eq!((t.prefix.as_str(), t.name.as_str()), ("lkt_abcd", "ci"));
    assert_eq!(
        s.project_of_token(&[1; 32])
            .await
            .expect("lookup")
            .as_deref(),
        Some("prj_a")
    );
    assert_eq!(s.project_of_token(&[2; 32]).await.expect("lookup"), None);
    assert_eq!(s.list_tokens("prj_a").await.expect("list"), [t]);
    assert!(s.list_tokens("prj_b").await.expect("list").is_empty());
    assert!(matches!(
        s.delete_token("prj_b", "tok_1").await,
        Err(StoreError::NotFound)
    ));
    s.delete_token("prj_a", "tok_1").await.expect("revoke");
    assert_eq!(s.project_of_token(&[1; 32]).await.expect("lookup"), None);
    assert!(matches!(
        s.insert_token(token("tok_2", "prj_nope", 3)).await,
        Err(StoreError::NotFound)
    ));
    for i in 0..MAX_TOKENS_PER_PROJECT {
        let id = format!("tok_{i:03}");
        let mut hash = [9u8; 32];
        hash[..4].copy_from_slice(&i.to_be_bytes());
        let t = NewToken {
            hash,
            ..token(&id, "prj_b", 0)
        };
        s.insert_token(t).await.expect("within the bound");
    }
    assert!(matches!(
        s.insert_token(token("tok_over", "prj_b", 4)).await,
        Err(StoreError::TokenQuota {
            max: MAX_TOKENS_PER_PROJECT
        })
    ));
}

async fn deliveries_belong_to_their_project(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    s.create_project("prj_b", "b", QUOTAS).await.expect("b");
    s.insert_monitor_in_project("prj_a", monitor("mon_a"))
        .await
        .expect("a");
    s.insert_monitor_in_project("prj_b", monitor("mon_b"))
        .await
        .expect("b");
    let batch = NotifierBatch {
        outbox: vec![
            in_project("prj_a", pending_delivery("dlv_1", "mon_a", 10)),
            in_project("prj_a", pending_delivery("dlv_2", "mon_a", 20)),
            in_project("prj_a", pending_delivery("dlv_3", "mon_a", 20)),
            in_project("prj_b", pending_delivery("dlv_4", "mon_b", 30)),
        ],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("apply");
    s.outbox_dead("dlv_4", 1, "gone", 40).await.expect("dead");

    let mut seen = Vec::new();
    let mut after: Option<DeliveryCursor> = None;
    loop {
        let page = s
            .list_deliveries_in_project("prj_a", None, None, after.as_ref(), 2)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some(DeliveryCursor {
            created_at_ms: last.created_at_ms,
            id: last.id.clone(),
        });
        seen.extend(page.into_iter().map(|r| r.id));
    }
    assert_eq!(seen, ["dlv_3", "dlv_2", "dlv_1"], "newest first, each once");
    assert!(matches!(
        s.get_delivery_in_project("prj_a", "dlv_4").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.redrive_delivery_in_project("prj_a", "dlv_4", 50).await,
        Err(StoreError::NotFound)
    ));
    s.redrive_delivery_in_project("prj_b", "dlv_4", 50)
        .await
        .expect("its own project re-drives it");
}

/// Many monitors inserted in bulk (the 100,000-monitor API test relies on it) are counted
/// once each by a keyset walk.
async fn bulk_rows_page_completely(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    let ids: Vec<String> = (0..1_000).map(|i| format!("mon_{i:05}")).collect();
    lookout_store::testing::insert_monitors_in_bulk(&s, "prj_a", &ids)
        .await
        .expect("bulk");
    let mut seen = HashSet::new();
    let mut after: Option<String> = None;
    loop {
        let page = s
            .list_monitors_in_project("prj_a", after.as_deref(), 300)
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        for m in page {
            assert!(seen.insert(m.id), "no monitor twice");
        }
    }
    assert_eq!(seen.len(), 1_000);
    let rows = s
        .query(Sql::new("SELECT COUNT(*) AS n FROM monitors WHERE project_id = $1").bind("prj_a"))
        .await
        .expect("count");
    assert_eq!(rows[0].get::<i64>("n").expect("n"), 1_000);
}

lookout_store::backend_tests!(
    existing_monitors_belong_to_the_default_project,
    projects_are_created_listed_and_deleted_only_when_empty,
    monitors_of_another_project_are_not_found,
    monitors_page_by_id,
    max_monitors_holds_under_concurrent_creates,
    tokens_are_found_by_hash_listed_and_revoked,
    deliveries_belong_to_their_project,
    bulk_rows_page_completely,
);

fn in_project(
    project: &str,
    mut d: lookout_store::notifier::OutboxRow,
) -> lookout_store::notifier::OutboxRow {
    d.project_id = project.into();
    d
}
