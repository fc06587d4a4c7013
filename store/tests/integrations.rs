//! Integrations and project variables in the store, on SQLite and on PostgreSQL: CRUD scoped by
//! project, sealed at rest, refused deletion while attached, and the one-time migration of
//! per-monitor webhooks into webhook integrations.

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    EventKind, Integration, NotificationEvent, SignatureMode, Variable, Webhook, WebhookIntegration,
};
use lookout_store::notifier::{NotifierBatch, OutboxState};
use lookout_store::projects::{DEFAULT_PROJECT_ID, Quotas};
use lookout_store::testing::{TestDb, keyring, pending_delivery, secret_monitor};
use lookout_store::{Sql, Store, StoreError};
use prost::Message;

const QUOTAS: Quotas = Quotas {
    max_monitors: 10,
    min_interval_secs: 1,
    max_regions_per_monitor: 4,
};

fn webhook(id: &str, url: &str, secret: &str) -> Integration {
    Integration {
        id: id.into(),
        name: format!("hook {id}"),
        kind: Some(Kind::Webhook(WebhookIntegration {
            url: url.into(),
            secret: secret.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Whether any stored row of `table` holds `needle` in clear.
async fn in_clear(s: &Store, table: &str, column: &str, needle: &str) -> bool {
    let rows = s
        .query(Sql::new(format!("SELECT {column} AS v FROM {table}")))
        .await
        .expect("read");
    rows.iter().any(|r| {
        let v: Vec<u8> = r.get("v").expect("bytes");
        v.windows(needle.len()).any(|w| w == needle.as_bytes())
    })
}

async fn integrations_are_scoped_sealed_and_versioned(db: TestDb) {
    let s = db.store;
    s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    let a = s
        .insert_integration_in_project(
            "prj_a",
            "webhook",
            webhook("int_a", "https://h/a", "whsec-a"),
        )
        .await
        .expect("insert");
    assert_eq!((a.version, a.project_id.as_str()), (1, "prj_a"));
    assert!(!in_clear(&s, "integrations", "spec", "whsec-a").await);
    assert!(matches!(
        s.insert_integration_in_project("prj_a", "webhook", webhook("int_a", "https://h/x", ""))
            .await,
        Err(StoreError::Conflict)
    ));
    // Another project's token sees nothing of it.
    assert!(matches!(
        s.get_integration_in_project(DEFAULT_PROJECT_ID, "int_a")
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.get_integration("int_a").await.expect("any project"), a);

    let mut changed = a.clone();
    changed.name = "renamed".into();
    let b = s
        .update_integration_in_project("prj_a", "webhook", changed.clone(), 1)
        .await
        .expect("update");
    assert_eq!((b.version, b.name.as_str()), (2, "renamed"));
    assert!(matches!(
        s.update_integration_in_project("prj_a", "webhook", changed, 1)
            .await,
        Err(StoreError::Conflict)
    ));
    s.insert_integration_in_project("prj_a", "webhook", webhook("int_b", "https://h/b", ""))
        .await
        .expect("second");
    let page = s
        .list_integrations_in_project("prj_a", Some("int_a"), 10)
        .await
        .expect("list");
    assert_eq!(
        page.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["int_b"]
    );
    assert_eq!(
        s.missing_integrations("prj_a", &["int_b".into(), "int_zz".into()])
            .await
            .expect("missing"),
        ["int_zz"]
    );
}

async fn an_attached_integration_is_not_deleted(db: TestDb) {
    let s = db.store;
    s.insert_integration_in_project(
        DEFAULT_PROJECT_ID,
        "webhook",
        webhook("int_a", "https://h/a", ""),
    )
    .await
    .expect("insert");
    let mut m = secret_monitor("mon_a", "x");
    m.integration_ids = vec!["int_a".into()];
    let m = s.insert_monitor(m).await.expect("monitor");
    match s
        .delete_integration_in_project(DEFAULT_PROJECT_ID, "int_a")
        .await
    {
        Err(StoreError::InUse { monitors }) => assert_eq!(monitors, ["mon_a"]),
        other => panic!("deleted while attached: {other:?}"),
    }
    let mut detached = m.clone();
    detached.integration_ids.clear();
    s.update_monitor(detached, m.version).await.expect("detach");
    s.delete_integration_in_project(DEFAULT_PROJECT_ID, "int_a")
        .await
        .expect("delete once detached");
    assert!(matches!(
        s.delete_integration_in_project(DEFAULT_PROJECT_ID, "int_a")
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn system_integrations_are_marked_and_released(db: TestDb) {
    let s = db.store;
    let mut declared = webhook("int_a", "https://h/a", "");
    declared.system = true;
    let a = s
        .insert_integration_in_project(DEFAULT_PROJECT_ID, "webhook", declared)
        .await
        .expect("insert a");
    assert!(a.system);
    s.insert_integration_in_project(
        DEFAULT_PROJECT_ID,
        "webhook",
        webhook("int_b", "https://h/b", ""),
    )
    .await
    .expect("insert b");
    let system = |s: Store| async move {
        s.list_integrations_in_project(DEFAULT_PROJECT_ID, None, 10)
            .await
            .expect("list")
            .into_iter()
            .filter(|i| i.system)
            .map(|i| i.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(system(s.clone()).await, ["int_a"]);
    // The file now declares b only: a is released, b is marked, neither changes version.
    s.mark_system_integrations(DEFAULT_PROJECT_ID, &["int_b".into()])
        .await
        .expect("mark");
    assert_eq!(system(s.clone()).await, ["int_b"]);
    let b = s
        .get_integration_in_project(DEFAULT_PROJECT_ID, "int_b")
        .await
        .expect("b");
    assert_eq!(b.version, 1);
    // An update writes the flag it is given.
    let mut released = b.clone();
    released.system = false;
    let b = s
        .update_integration_in_project(DEFAULT_PROJECT_ID, "webhook", released, 1)
        .await
        .expect("update");
    assert!(!b.system);
    assert!(system(s).await.is_empty());
}

async fn variables_are_sealed_and_replaced(db: TestDb) {
    let s = db.store;
    let set = |name: &str, value: &str, secret: bool| Variable {
        name: name.into(),
        value: value.into(),
        secret,
        updated_at_ms: 0,
    };
    s.set_variable(DEFAULT_PROJECT_ID, set("JIRA_TOKEN", "jira-tok-1", true))
        .await
        .expect("set");
    s.set_variable(DEFAULT_PROJECT_ID, set("JIRA_TOKEN", "jira-tok-2", true))
        .await
        .expect("replace");
    s.set_variable(DEFAULT_PROJECT_ID, set("TEAM", "platform", false))
        .await
        .expect("set");
    assert!(!in_clear(&s, "project_variables", "value", "jira-tok").await);
    let vars = s.list_variables(DEFAULT_PROJECT_ID).await.expect("list");
    let got: Vec<_> = vars
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str(), v.secret))
        .collect();
    assert_eq!(
        got,
        [
            ("JIRA_TOKEN", "jira-tok-2", true),
            ("TEAM", "platform", false)
        ]
    );
    assert!(
        s.list_variables("prj_other")
            .await
            .expect("other")
            .is_empty()
    );
    s.delete_variable(DEFAULT_PROJECT_ID, "TEAM")
        .await
        .expect("delete");
    assert!(matches!(
        s.delete_variable(DEFAULT_PROJECT_ID, "TEAM").await,
        Err(StoreError::NotFound)
    ));
    // Rotation re-seals them (and integrations) under the new key; then the old key can go.
    s.insert_integration_in_project(
        DEFAULT_PROJECT_ID,
        "webhook",
        webhook("int_a", "https://h/a", "whsec"),
    )
    .await
    .expect("integration");
    s.close().await;
    let k2 = lookout_store::Keyring::new_key_text("k2").expect("k2");
    let both = Store::open(&db.url, keyring(&format!("{k2},{}", db.key)))
        .await
        .expect("k2 current, the old key still configured");
    assert_eq!(both.rotate_secrets().await.expect("rotate"), 2);
    assert_eq!(both.rotate_secrets().await.expect("again"), 0, "idempotent");
    both.close().await;
    let only_k2 = Store::open(&db.url, keyring(&k2)).await.expect("only k2");
    assert_eq!(
        only_k2
            .list_variables(DEFAULT_PROJECT_ID)
            .await
            .expect("list")[0]
            .value,
        "jira-tok-2"
    );
    assert!(only_k2.get_integration("int_a").await.is_ok());
}

async fn webhooks_become_integrations_once(db: TestDb) {
    let s = db.store;
    // Two monitors with the webhooks of before: one shared URL and secret, one of their own.
    for (id, hooks) in [
        (
            "mon_a",
            vec![
                ("https://hooks.example/shared", "whsec"),
                ("https://hooks.example/a", ""),
            ],
        ),
        ("mon_b", vec![("https://hooks.example/shared", "whsec")]),
    ] {
        let mut m = secret_monitor(id, "x");
        m.webhooks = hooks
            .into_iter()
            .map(|(url, secret)| Webhook {
                url: url.into(),
                secret: secret.into(),
                secret_set: false,
            })
            .collect();
        s.insert_monitor(m).await.expect("monitor");
    }
    // A delivery queued before, with its rendered native body.
    let mut old = pending_delivery("dlv_old", "mon_b", 10);
    old.event = EventKind::Incident;
    old.payload = br#"{"event_type":"monitor_alert","monitor":{"id":"mon_b","name":"B","url":"tcp://x","status":"DOWN"},"check_result":{"status":"DOWN","timestamp":"2024-01-15T10:30:15Z","region":"eu","error_message":"refused","response_time_ms":12,"status_code":null},"context":{"consecutive_failures":3,"previous_status":"UP","notification_level":1,"notification_type":"incident"}}"#.to_vec();
    s.apply_notifier_batch(
        "g",
        "t",
        &NotifierBatch {
            outbox: vec![old],
            ..Default::default()
        },
        1,
    )
    .await
    .expect("outbox");
    s.execute(Sql::new(
        "UPDATE outbox SET integration_id = 'legacy:https://hooks.example/shared'",
    ))
    .await
    .expect("legacy destination");
    s.execute(Sql::new("DELETE FROM store_data_migrations"))
        .await
        .expect("forget the migration");
    s.close().await;

    let s = Store::open(&db.url, keyring(&db.key))
        .await
        .expect("reopen migrates");
    let a = s.get_monitor("mon_a").await.expect("a");
    let b = s.get_monitor("mon_b").await.expect("b");
    assert!(a.webhooks.is_empty() && b.webhooks.is_empty());
    assert_eq!(a.integration_ids.len(), 2);
    assert_eq!(
        b.integration_ids,
        a.integration_ids[..1],
        "one integration per URL and secret"
    );
    let shared = s
        .get_integration(&b.integration_ids[0])
        .await
        .expect("shared");
    let Some(Kind::Webhook(w)) = &shared.kind else {
        panic!("a webhook integration: {shared:?}")
    };
    assert_eq!(
        (w.url.as_str(), w.secret.as_str(), w.signature),
        (
            "https://hooks.example/shared",
            "whsec",
            SignatureMode::Lookout as i32
        )
    );
    assert_eq!(shared.project_id, DEFAULT_PROJECT_ID);
    match s
        .delete_integration_in_project(DEFAULT_PROJECT_ID, &shared.id)
        .await
    {
        Err(StoreError::InUse { monitors }) => assert_eq!(monitors, ["mon_a", "mon_b"]),
        other => panic!("the migration records attachments: {other:?}"),
    }
    let rows = s.list_outbox(None).await.expect("outbox");
    assert_eq!(rows[0].integration_id, shared.id);
    assert_eq!(rows[0].state, OutboxState::Pending);
    let ev = NotificationEvent::decode(rows[0].payload.as_slice()).expect("an event now");
    assert_eq!(ev.kind, EventKind::Incident as i32);
    assert_eq!(ev.result.expect("result").error_message, "refused");
    assert_eq!(ev.consecutive_failures, 3);

    // Done once: a second start changes nothing.
    s.close().await;
    let s = Store::open(&db.url, keyring(&db.key))
        .await
        .expect("reopen");
    assert_eq!(
        s.get_monitor("mon_a").await.expect("a").integration_ids,
        a.integration_ids
    );
    assert_eq!(
        s.list_integrations_in_project(DEFAULT_PROJECT_ID, None, 10)
            .await
            .expect("list")
            .len(),
        2
    );
}

lookout_store::backend_tests!(
    integrations_are_scoped_sealed_and_versioned,
    an_attached_integration_is_not_deleted,
    system_integrations_are_marked_and_released,
    variables_are_sealed_and_replaced,
    webhooks_become_integrations_once
);
