//! Notifier state in the store: atomic batches, offsets, incidents and the outbox lease, on
//! SQLite and on PostgreSQL.

use lookout_proto::v1::EventKind;
use lookout_store::StoreError;
use lookout_store::notifier::{
    IncidentRow, IncidentStatus, NotifierBatch, OffsetAdvance, OutboxRow, OutboxState,
    RegionStateRow,
};
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;

fn advance(partition: i32, from: Option<i64>, to: i64) -> OffsetAdvance {
    OffsetAdvance {
        partition,
        from,
        to,
    }
}

fn incident(id: &str, status: IncidentStatus) -> IncidentRow {
    IncidentRow {
        id: id.into(),
        monitor_id: "mon_a".into(),
        status,
        opened_at_ms: 1_000,
        resolved_at_ms: (status == IncidentStatus::Resolved).then_some(2_000),
        cause: "boom".into(),
        regions: vec!["eu".into(), "us".into()],
        ..Default::default()
    }
}

fn outbox(id: &str, incident_id: &str, due: i64) -> OutboxRow {
    OutboxRow {
        id: id.into(),
        incident_id: Some(incident_id.into()),
        event: EventKind::Incident,
        ..lookout_store::testing::pending_delivery(id, "mon_a", due)
    }
}

async fn batch_is_written_atomically_and_reads_back(db: TestDb) {
    let s = db.store;
    let state = RegionStateRow {
        monitor_id: "mon_a".into(),
        region: "eu".into(),
        down: true,
        consecutive_failures: 3,
        consecutive_successes: 0,
        last_status: "DOWN".into(),
        newest_scheduled_at_ms: 1_700_000_000_123,
        newest_result_ids: vec!["r1".into(), "r2".into()],
        ..Default::default()
    };
    let batch = NotifierBatch {
        states: vec![state.clone()],
        incidents: vec![incident("inc_1", IncidentStatus::Open)],
        outbox: vec![outbox("dlv_1", "inc_1", 10)],
        offsets: vec![advance(0, None, 7), advance(3, None, 2)],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 5)
        .await
        .expect("apply");
    assert_eq!(
        s.region_states("mon_a").await.expect("states"),
        vec![state.clone()]
    );
    assert_eq!(
        s.open_incident("mon_a").await.expect("open"),
        Some(incident("inc_1", IncidentStatus::Open))
    );
    assert_eq!(
        s.notifier_offsets("g", "t").await.expect("offsets"),
        vec![(0, 7), (3, 2)]
    );
    assert!(
        s.notifier_offsets("other", "t")
            .await
            .expect("offsets")
            .is_empty()
    );

    // A second open incident for the same monitor violates the unique index: nothing of
    // that batch may stay behind.
    let bad = NotifierBatch {
        incidents: vec![incident("inc_2", IncidentStatus::Open)],
        offsets: vec![advance(0, Some(7), 9)],
        ..Default::default()
    };
    assert!(s.apply_notifier_batch("g", "t", &bad, 6).await.is_err());
    assert_eq!(
        s.notifier_offsets("g", "t").await.expect("offsets"),
        vec![(0, 7), (3, 2)]
    );

    // Offsets moved by someone else since they were read: the batch is refused whole.
    for stale in [
        advance(0, Some(5), 9),
        advance(3, None, 9),
        advance(1, Some(0), 3),
    ] {
        let fenced = NotifierBatch {
            states: vec![RegionStateRow {
                down: false,
                ..state.clone()
            }],
            offsets: vec![advance(0, Some(7), 8), stale],
            ..Default::default()
        };
        assert!(
            matches!(
                s.apply_notifier_batch("g", "t", &fenced, 6).await,
                Err(StoreError::Conflict)
            ),
            "{stale:?}"
        );
    }
    assert!(s.region_states("mon_a").await.expect("states")[0].down);
    assert_eq!(
        s.notifier_offsets("g", "t").await.expect("offsets"),
        vec![(0, 7), (3, 2)]
    );

    let resolve = NotifierBatch {
        incidents: vec![
            incident("inc_1", IncidentStatus::Resolved),
            incident("inc_2", IncidentStatus::Open),
        ],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &resolve, 7)
        .await
        .expect("resolve and reopen");
    let all = s.list_incidents(Some("mon_a"), 10).await.expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(
        s.open_incident("mon_a").await.expect("open").map(|i| i.id),
        Some("inc_2".into())
    );
    assert_eq!(
        s.list_incidents(Some("mon_b"), 10)
            .await
            .expect("list")
            .len(),
        0
    );
    assert_eq!(s.list_incidents(None, 1).await.expect("list").len(), 1);

    s.forget_notifier_offsets("g", "t").await.expect("forget");
    assert!(
        s.notifier_offsets("g", "t")
            .await
            .expect("offsets")
            .is_empty()
    );
}

async fn outbox_claim_lease_and_outcomes(db: TestDb) {
    let s = db.store;
    // Two destinations, so ordering per destination does not come into play here.
    let mut second = outbox("dlv_2", "inc_1", 50);
    second.integration_id = "int_second".into();
    let batch = NotifierBatch {
        incidents: vec![incident("inc_1", IncidentStatus::Open)],
        outbox: vec![outbox("dlv_1", "inc_1", 10), second],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("apply");
    assert_eq!(s.next_outbox_due_ms(i64::MIN).await.expect("due"), Some(10));
    assert_eq!(s.next_outbox_due_ms(10).await.expect("due"), Some(50));
    assert_eq!(s.next_outbox_due_ms(50).await.expect("due"), None);

    let claimed = s.claim_due_outbox(20, 1_000, 10).await.expect("claim");
    assert_eq!(
        claimed.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["dlv_1"]
    );
    // Leased: not claimable again before the lease ends.
    assert_eq!(
        s.claim_due_outbox(60, 1_000, 10)
            .await
            .expect("claim")
            .len(),
        1
    );
    assert!(
        s.claim_due_outbox(500, 1_000, 10)
            .await
            .expect("claim")
            .is_empty()
    );

    s.outbox_retry("dlv_1", 1, 2_000, Some("http 500"), 600)
        .await
        .expect("retry");
    s.outbox_delivered("dlv_2", 1, 600)
        .await
        .expect("delivered");
    let again = s.claim_due_outbox(2_000, 3_000, 10).await.expect("claim");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    assert_eq!(again[0].last_error.as_deref(), Some("http 500"));
    s.outbox_dead("dlv_1", 2, "http 404", 2_100)
        .await
        .expect("dead");
    // A late outcome does not revive a finished row.
    s.outbox_retry("dlv_1", 3, 2_200, Some("late"), 2_100)
        .await
        .expect("noop");
    let rows = s.list_outbox(Some("inc_1")).await.expect("list");
    let states: Vec<_> = rows
        .iter()
        .map(|r| (r.id.as_str(), r.state, r.attempts))
        .collect();
    assert_eq!(
        states,
        [
            ("dlv_1", OutboxState::Dead, 2),
            ("dlv_2", OutboxState::Delivered, 1)
        ]
    );
    assert_eq!(s.next_outbox_due_ms(i64::MIN).await.expect("due"), None);
}

async fn deliveries_to_one_destination_stay_in_order(db: TestDb) {
    let s = db.store;
    let mut recovery = outbox("dlv_2", "inc_1", 20);
    recovery.event = EventKind::Recovery;
    let mut other_url = outbox("dlv_3", "inc_1", 20);
    other_url.integration_id = "int_other".into();
    let batch = NotifierBatch {
        incidents: vec![incident("inc_1", IncidentStatus::Resolved)],
        outbox: vec![outbox("dlv_1", "inc_1", 10), recovery, other_url],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("apply");

    // The incident row is in flight: the recovery to the same URL waits, the other URL does not.
    let first = s.claim_due_outbox(30, 1_000, 10).await.expect("claim");
    let ids: Vec<_> = first.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["dlv_1", "dlv_3"]);
    // Failed and in backoff: the recovery still waits.
    s.outbox_retry("dlv_1", 1, 500, Some("http 500"), 40)
        .await
        .expect("retry");
    assert!(
        s.claim_due_outbox(100, 1_000, 10)
            .await
            .expect("claim")
            .is_empty()
    );
    // Delivered at last: now the recovery goes.
    let again = s.claim_due_outbox(500, 2_000, 10).await.expect("claim");
    assert_eq!(
        again.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["dlv_1"]
    );
    s.outbox_delivered("dlv_1", 2, 600)
        .await
        .expect("delivered");
    let last = s.claim_due_outbox(600, 2_000, 10).await.expect("claim");
    assert_eq!(
        last.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["dlv_2"]
    );
}

async fn no_data_events_are_delivered_without_an_incident(db: TestDb) {
    let s = db.store;
    let mut no_data = outbox("dlv_1", "unused", 10);
    no_data.incident_id = None;
    no_data.event = EventKind::NoData;
    let mut resumed = outbox("dlv_2", "unused", 20);
    resumed.incident_id = None;
    resumed.event = EventKind::DataResumed;
    let batch = NotifierBatch {
        outbox: vec![no_data.clone(), resumed.clone()],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("a no-data row needs no incident row");
    assert_eq!(
        s.list_outbox(None).await.expect("list"),
        [no_data.clone(), resumed]
    );
    // The order per destination holds for them too.
    let claimed = s.claim_due_outbox(30, 1_000, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].event, EventKind::NoData);
}

async fn deliveries_are_listed_by_state_and_only_dead_ones_re_driven(db: TestDb) {
    let s = db.store;
    // Deliveries belong to the project of their monitor.
    let monitor = lookout_proto::Monitor {
        id: "mon_a".into(),
        ..Default::default()
    };
    s.insert_monitor(monitor).await.expect("monitor");
    let p = DEFAULT_PROJECT_ID;
    let batch = NotifierBatch {
        incidents: vec![incident("inc_1", IncidentStatus::Open)],
        outbox: vec![outbox("dlv_1", "inc_1", 10), outbox("dlv_2", "inc_1", 20)],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 5)
        .await
        .expect("apply");
    s.outbox_dead("dlv_1", 13, "gave up after 13 attempts", 30)
        .await
        .expect("dead");
    let ids = |rows: Vec<OutboxRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s
            .list_deliveries_in_project(p, None, None, None, 10)
            .await
            .expect("list")),
        ["dlv_2", "dlv_1"],
        "newest first"
    );
    assert_eq!(
        ids(s
            .list_deliveries_in_project(p, Some(OutboxState::Dead), None, None, 10)
            .await
            .expect("list")),
        ["dlv_1"]
    );
    assert_eq!(
        s.list_deliveries_in_project(p, None, None, None, 1)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(matches!(
        s.get_delivery_in_project(p, "dlv_nope").await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        s.redrive_delivery_in_project(p, "dlv_nope", 40).await,
        Err(StoreError::NotFound)
    ));
    assert!(
        matches!(
            s.redrive_delivery_in_project(p, "dlv_2", 40).await,
            Err(StoreError::Conflict)
        ),
        "a pending delivery is not re-driven"
    );

    let again = s
        .redrive_delivery_in_project(p, "dlv_1", 40)
        .await
        .expect("redrive");
    assert_eq!(
        (
            again.id.as_str(),
            again.state,
            again.attempts,
            again.next_attempt_at_ms
        ),
        ("dlv_1", OutboxState::Pending, 0, 40)
    );
    assert_eq!(
        again.last_error.as_deref(),
        Some("gave up after 13 attempts")
    );
    assert_eq!(
        s.get_delivery_in_project(p, "dlv_1").await.expect("get"),
        again
    );
    let claimed = s.claim_due_outbox(40, 1_000, 10).await.expect("claim");
    assert_eq!(
        ids(claimed),
        ["dlv_1"],
        "due at once, and ahead of the newer one"
    );
}

async fn region_statuses_of_many_monitors_read_back_by_monitor(db: TestDb) {
    let s = db.store;
    let row = |monitor: &str, region: &str, status: &str, failures: u32| RegionStateRow {
        monitor_id: monitor.into(),
        region: region.into(),
        down: failures >= 3,
        consecutive_failures: failures,
        consecutive_successes: 0,
        last_status: status.into(),
        newest_scheduled_at_ms: 1,
        newest_result_ids: vec!["r".into()],
        ..Default::default()
    };
    let first = NotifierBatch {
        states: vec![
            row("mon_a", "us", "NO_DATA", 0),
            row("mon_b", "eu", "UP", 0),
        ],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &first, 100)
        .await
        .expect("apply");
    let second = NotifierBatch {
        states: vec![row("mon_a", "eu", "DOWN", 4)],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &second, 200)
        .await
        .expect("apply");

    // More ids than one query takes, most of them without rows.
    let mut ids: Vec<String> = (0..1200).map(|i| format!("mon_{i}")).collect();
    ids.extend(["mon_a".to_string(), "mon_b".to_string()]);
    let got = s.region_statuses(&ids).await.expect("statuses");
    let summary = |id: &str| -> Vec<(String, String, u32, bool, i64)> {
        got[id]
            .iter()
            .map(|r| {
                (
                    r.region.clone(),
                    r.last_status.clone(),
                    r.consecutive_failures,
                    r.down,
                    r.updated_at_ms,
                )
            })
            .collect()
    };
    assert_eq!(
        summary("mon_a"),
        [
            ("eu".to_string(), "DOWN".to_string(), 4, true, 200),
            ("us".to_string(), "NO_DATA".to_string(), 0, false, 100),
        ]
    );
    assert_eq!(
        summary("mon_b"),
        [("eu".to_string(), "UP".to_string(), 0, false, 100)]
    );
    assert_eq!(got.len(), 2, "monitors without rows are absent");
    assert!(s.region_statuses(&[]).await.expect("none").is_empty());
}

lookout_store::backend_tests!(
    batch_is_written_atomically_and_reads_back,
    outbox_claim_lease_and_outcomes,
    deliveries_to_one_destination_stay_in_order,
    no_data_events_are_delivered_without_an_incident,
    deliveries_are_listed_by_state_and_only_dead_ones_re_driven,
    region_statuses_of_many_monitors_read_back_by_monitor,
);
