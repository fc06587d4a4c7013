//! Monitor lifecycle and retention in the store, on SQLite and on PostgreSQL: soft deletion
//! (hidden from the API's readers, kept for the notifier), the version a resumed monitor is
//! active since, clearing a monitor's region state, and pruning rows past their period only.

use lookout_proto::v1::EventKind;
use lookout_store::notifier::{
    IncidentRow, IncidentStatus, NotifierBatch, OutboxRow, RegionStateRow, RetentionCutoffs,
};
use lookout_store::testing::{TestDb, pending_delivery, secret_monitor};
use lookout_store::{Sql, Store, StoreError};

async fn deleted_monitors_are_hidden_but_readable_by_the_notifier(db: TestDb) {
    let s = db.store;
    let a = s
        .insert_monitor(secret_monitor("mon_a", "s3cret"))
        .await
        .expect("insert a");
    s.insert_monitor(secret_monitor("mon_b", "s3cret"))
        .await
        .expect("insert b");
    assert_eq!(s.delete_monitor("mon_a").await.expect("delete"), 2);
    assert!(matches!(
        s.get_monitor("mon_a").await,
        Err(StoreError::NotFound)
    ));
    let ids: Vec<String> = s
        .list_monitors()
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["mon_b"]);
    assert!(matches!(
        s.update_monitor(a.clone(), 1).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.delete_monitor("mon_a").await,
        Err(StoreError::NotFound)
    ));
    let record = s.monitor_record("mon_a").await.expect("record kept");
    assert!(record.deleted_at_ms.is_some());
    assert_eq!(record.monitor.version, 2);
    assert_eq!(lookout_store::testing::secret_of(&record.monitor), "s3cret");
    assert!(!record.counts(2), "a deleted monitor's results never count");
    let b = s.monitor_record("mon_b").await.expect("record");
    assert_eq!((b.deleted_at_ms, b.counts(1)), (None, true));
}

async fn a_declared_id_deleted_and_created_again_continues_its_versions(db: TestDb) {
    let s = db.store;
    s.insert_monitor(secret_monitor("web", "s3cret"))
        .await
        .expect("insert");
    s.delete_monitor("web").await.expect("delete");
    let again = s
        .insert_monitor(secret_monitor("web", "s3cret"))
        .await
        .expect("created again");
    assert_eq!(again.version, 3);
    assert_eq!(s.get_monitor("web").await.expect("visible").version, 3);
    let record = s.monitor_record("web").await.expect("record");
    assert_eq!(record.deleted_at_ms, None);
    assert!(!record.counts(2), "the deleted one's results stay stale");
    assert!(record.counts(3));
    assert!(matches!(
        s.insert_monitor(secret_monitor("web", "s3cret")).await,
        Err(StoreError::Conflict)
    ));
}

async fn resuming_makes_older_results_stale(db: TestDb) {
    let s = db.store;
    let v1 = s
        .insert_monitor(secret_monitor("mon_a", "s3cret"))
        .await
        .expect("insert");
    let mut paused = v1.clone();
    paused.paused = true;
    let v2 = s.update_monitor(paused, 1).await.expect("pause");
    let r = s.monitor_record("mon_a").await.expect("record");
    assert!(!r.counts(1) && !r.counts(2), "nothing counts while paused");
    let mut resumed = v2.clone();
    resumed.paused = false;
    s.update_monitor(resumed.clone(), 2).await.expect("resume");
    let r = s.monitor_record("mon_a").await.expect("record");
    assert_eq!(r.active_since_version, 3);
    assert!(!r.counts(1), "a result from before the pause is stale");
    assert!(r.counts(3) && r.counts(0));
    // A plain edit keeps the resume point.
    resumed.name = "renamed".into();
    s.update_monitor(resumed, 3).await.expect("edit");
    assert_eq!(
        s.monitor_record("mon_a")
            .await
            .expect("record")
            .active_since_version,
        3
    );
}

fn state(monitor_id: &str) -> RegionStateRow {
    RegionStateRow {
        monitor_id: monitor_id.into(),
        region: "eu".into(),
        down: true,
        consecutive_failures: 3,
        consecutive_successes: 0,
        last_status: "DOWN".into(),
        newest_scheduled_at_ms: 1,
        newest_result_ids: vec![],
        ..Default::default()
    }
}

async fn a_batch_clears_region_state(db: TestDb) {
    let s = db.store;
    let batch = NotifierBatch {
        states: vec![state("mon_a"), state("mon_b")],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("states");
    let clear = NotifierBatch {
        cleared: vec!["mon_a".into()],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &clear, 2)
        .await
        .expect("clear");
    assert!(s.region_states("mon_a").await.expect("a").is_empty());
    assert_eq!(s.region_states("mon_b").await.expect("b").len(), 1);
}

fn incident(id: &str, monitor_id: &str, resolved_at_ms: Option<i64>) -> IncidentRow {
    IncidentRow {
        id: id.into(),
        monitor_id: monitor_id.into(),
        status: if resolved_at_ms.is_some() {
            IncidentStatus::Resolved
        } else {
            IncidentStatus::Open
        },
        opened_at_ms: 10,
        resolved_at_ms,
        cause: "boom".into(),
        regions: vec!["eu".into()],
        ..Default::default()
    }
}

fn delivery(id: &str, monitor_id: &str, incident_id: Option<&str>) -> OutboxRow {
    OutboxRow {
        incident_id: incident_id.map(str::to_string),
        event: EventKind::Incident,
        ..pending_delivery(id, monitor_id, 10)
    }
}

async fn ids(s: &Store, sql: &str) -> Vec<String> {
    let mut out: Vec<String> = s
        .query(Sql::new(sql))
        .await
        .expect("query")
        .iter()
        .map(|r| r.get::<String>("id").expect("id"))
        .collect();
    out.sort();
    out
}

async fn deleted_at(s: &Store, id: &str, at_ms: i64) {
    s.delete_monitor(id).await.expect("delete");
    s.execute(
        Sql::new("UPDATE monitors SET deleted_at_ms = $1 WHERE id = $2")
            .bind(at_ms)
            .bind(id),
    )
    .await
    .expect("backdate");
}

/// Old is 100, the cutoffs are at 1000 (3000 for dead rows), recent is 5000.
async fn retention_prunes_only_rows_past_their_period(db: TestDb) {
    let s = db.store;
    for id in [
        "live",
        "gone",
        "gone_with_state",
        "gone_pending",
        "gone_recently",
        "gone_with_incident",
    ] {
        s.insert_monitor(secret_monitor(id, "s3cret"))
            .await
            .expect("insert");
    }
    let batch = NotifierBatch {
        states: vec![
            state("live"),
            state("gone_with_state"),
            state("gone_recently"),
        ],
        incidents: vec![
            incident("inc_old", "live", Some(100)),
            incident("inc_old_with_dead", "live", Some(100)),
            incident("inc_recent", "live", Some(5_000)),
            incident("inc_open", "live", None),
            incident("inc_of_gone", "gone_with_incident", Some(5_000)),
        ],
        outbox: vec![
            delivery("dlv_delivered_old", "live", Some("inc_open")),
            delivery("dlv_delivered_recent", "live", Some("inc_open")),
            delivery("dlv_dead_mid", "live", Some("inc_old_with_dead")),
            delivery("dlv_dead_old", "live", None),
            delivery("dlv_pending_old", "gone_pending", None),
        ],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 100)
        .await
        .expect("rows");
    s.outbox_delivered("dlv_delivered_old", 1, 100)
        .await
        .expect("delivered");
    s.outbox_delivered("dlv_delivered_recent", 1, 5_000)
        .await
        .expect("delivered");
    s.outbox_dead("dlv_dead_mid", 3, "boom", 2_000)
        .await
        .expect("dead");
    s.outbox_dead("dlv_dead_old", 3, "boom", 100)
        .await
        .expect("dead");
    for id in [
        "gone",
        "gone_with_state",
        "gone_pending",
        "gone_with_incident",
    ] {
        deleted_at(&s, id, 100).await;
    }
    deleted_at(&s, "gone_recently", 5_000).await;

    let cutoffs = RetentionCutoffs {
        delivered_before_ms: 1_000,
        dead_before_ms: 3_000,
        resolved_incidents_before_ms: 1_000,
        deleted_monitors_before_ms: 1_000,
    };
    // One row per statement: every kind takes several rounds.
    let pruned = s.prune(&cutoffs, 1).await.expect("prune");
    assert_eq!(
        (
            pruned.delivered,
            pruned.dead,
            pruned.incidents,
            pruned.region_states,
            pruned.monitors
        ),
        (1, 2, 2, 1, 2),
        "{pruned:?}"
    );
    assert_eq!(
        ids(&s, "SELECT id FROM outbox").await,
        ["dlv_delivered_recent", "dlv_pending_old"]
    );
    // inc_old_with_dead went once its dead delivery did, in the same pass.
    assert_eq!(
        ids(&s, "SELECT id FROM incidents").await,
        ["inc_of_gone", "inc_open", "inc_recent"]
    );
    assert_eq!(
        ids(&s, "SELECT monitor_id AS id FROM notifier_region_state").await,
        ["gone_recently", "live"]
    );
    assert_eq!(
        ids(&s, "SELECT id FROM monitors").await,
        [
            "gone_pending",
            "gone_recently",
            "gone_with_incident",
            "live"
        ]
    );
    assert_eq!(s.prune(&cutoffs, 500).await.expect("again").total(), 0);
}

lookout_store::backend_tests!(
    deleted_monitors_are_hidden_but_readable_by_the_notifier,
    a_declared_id_deleted_and_created_again_continues_its_versions,
    resuming_makes_older_results_stale,
    a_batch_clears_region_state,
    retention_prunes_only_rows_past_their_period,
);
