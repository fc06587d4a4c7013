//! Incidents as the admin API reads them, on SQLite and on PostgreSQL: scoped to the project
//! of their monitor, newest first in keyset pages with state and monitor filters, every
//! engine column read back, and acknowledge/resolve actions recorded for the notifier.

use lookout_proto::v1::EventKind;
use lookout_store::notifier::{
    IncidentActionKind, IncidentActionRow, IncidentCursor, IncidentFilter, IncidentRow,
    IncidentStatus, ManualResolution, NotifierBatch, OutboxState,
};
use lookout_store::projects::{DEFAULT_PROJECT_ID, Quotas};
use lookout_store::testing::{
    TestDb, insert_incident, insert_monitors_in_bulk, open_incident, pending_delivery,
};
use lookout_store::{Sql, Store, StoreError};

const OTHER: &str = "prj_other";

async fn two_projects(s: &Store) {
    let q = Quotas {
        max_monitors: 100,
        min_interval_secs: 1,
        max_regions_per_monitor: 4,
    };
    s.create_project(OTHER, "other", q).await.expect("project");
    let ids = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    insert_monitors_in_bulk(s, DEFAULT_PROJECT_ID, &ids(&["mon_a", "mon_b"]))
        .await
        .expect("monitors");
    insert_monitors_in_bulk(s, OTHER, &ids(&["mon_x"]))
        .await
        .expect("monitors");
}

async fn pages_newest_first_filtered_and_scoped_to_the_project(db: TestDb) {
    let s = db.store;
    two_projects(&s).await;
    // Ten incidents of mon_a and mon_b, two opened in the same millisecond (the id breaks the
    // tie); each monitor's newest is open (a monitor has one open incident at most), the
    // others resolved. One more of another project's monitor.
    for n in 0..10i64 {
        let mut i = open_incident(
            &format!("inc_{n:02}"),
            if n % 2 == 0 { "mon_a" } else { "mon_b" },
            1_000 + n.min(8) * 10,
        );
        if n < 8 {
            i.status = IncidentStatus::Resolved;
            i.resolved_at_ms = Some(1_005 + n * 10);
            i.resolved_reason = "recovered".into();
        }
        insert_incident(&s, &i).await.expect("incident");
    }
    insert_incident(&s, &open_incident("inc_other", "mon_x", 9_999))
        .await
        .expect("incident");

    let mut seen = Vec::new();
    let mut after: Option<IncidentCursor> = None;
    loop {
        let page = s
            .list_incidents_in_project(
                DEFAULT_PROJECT_ID,
                IncidentFilter::default(),
                after.as_ref(),
                3,
            )
            .await
            .expect("page");
        let Some(last) = page.last() else { break };
        after = Some(IncidentCursor {
            opened_at_ms: last.opened_at_ms,
            id: last.id.clone(),
        });
        seen.extend(page.iter().map(|i| i.id.clone()));
    }
    let want: Vec<String> = ["09", "08", "07", "06", "05", "04", "03", "02", "01", "00"]
        .iter()
        .map(|n| format!("inc_{n}"))
        .collect();
    assert_eq!(seen, want, "newest first, ties by id, other project absent");

    let open = s
        .list_incidents_in_project(
            DEFAULT_PROJECT_ID,
            IncidentFilter {
                status: Some(IncidentStatus::Open),
                monitor_id: Some("mon_b"),
            },
            None,
            100,
        )
        .await
        .expect("filtered");
    let ids: Vec<&str> = open.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["inc_09"]);
    let of_b = s
        .list_incidents_in_project(
            DEFAULT_PROJECT_ID,
            IncidentFilter {
                status: None,
                monitor_id: Some("mon_b"),
            },
            None,
            100,
        )
        .await
        .expect("one monitor's");
    let ids: Vec<&str> = of_b.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids, ["inc_09", "inc_07", "inc_05", "inc_03", "inc_01"]);
    let resolved = s
        .list_incidents_in_project(
            DEFAULT_PROJECT_ID,
            IncidentFilter {
                status: Some(IncidentStatus::Resolved),
                monitor_id: None,
            },
            None,
            100,
        )
        .await
        .expect("resolved");
    let ids: Vec<&str> = resolved.iter().map(|i| i.id.as_str()).collect();
    assert_eq!(ids.len(), 8);
    assert_eq!(ids[0], "inc_07");
    let none = s
        .list_incidents_in_project(
            DEFAULT_PROJECT_ID,
            IncidentFilter {
                status: None,
                monitor_id: Some("mon_x"),
            },
            None,
            100,
        )
        .await
        .expect("another project's monitor");
    assert!(none.is_empty(), "{none:?}");
}

async fn get_reads_every_column_and_only_in_its_project(db: TestDb) {
    let s = db.store;
    two_projects(&s).await;
    insert_incident(&s, &open_incident("inc_parent", "mon_b", 500))
        .await
        .expect("parent");
    let mut i = open_incident("inc_1", "mon_a", 1_000);
    i.severity = "warning".into();
    i.acknowledged_at_ms = Some(1_500);
    i.acknowledged_by = "deploy bot".into();
    i.level = 3;
    i.escalated_at_ms = Some(1_400);
    i.regions = vec!["eu".into(), "us".into()];
    i.caused_by_incident_id = Some("inc_parent".into());
    i.silenced = true;
    i.reminders_sent = 4;
    insert_incident(&s, &i).await.expect("incident");

    let got = s
        .get_incident_in_project(DEFAULT_PROJECT_ID, "inc_1")
        .await
        .expect("get");
    assert_eq!(got, i);
    let e = s
        .get_incident_in_project(OTHER, "inc_1")
        .await
        .expect_err("another project's incident");
    assert!(matches!(e, StoreError::NotFound), "{e:?}");
    let e = s
        .get_incident_in_project(DEFAULT_PROJECT_ID, "inc_none")
        .await
        .expect_err("no such incident");
    assert!(matches!(e, StoreError::NotFound), "{e:?}");
}

async fn actions_are_recorded_pending_until_applied(db: TestDb) {
    let s = db.store;
    two_projects(&s).await;
    insert_incident(&s, &open_incident("inc_1", "mon_a", 1_000))
        .await
        .expect("incident");
    let ack = IncidentActionRow {
        id: "act_1".into(),
        incident_id: "inc_1".into(),
        action: IncidentActionKind::Ack,
        actor: "deploy bot".into(),
        note: "looking into it".into(),
        created_at_ms: 2_000,
        applied_at_ms: None,
    };
    s.insert_incident_action(&ack).await.expect("insert");
    assert_eq!(s.incident_action("act_1").await.expect("read"), ack);
    assert_eq!(
        s.pending_incident_action("inc_1", IncidentActionKind::Ack)
            .await
            .expect("pending"),
        Some(ack.clone())
    );
    assert_eq!(
        s.pending_incident_action("inc_1", IncidentActionKind::Resolve)
            .await
            .expect("no pending resolve"),
        None
    );
    let shown = s
        .get_incident_in_project(DEFAULT_PROJECT_ID, "inc_1")
        .await
        .expect("get");
    assert_eq!(shown.pending_action, Some(IncidentActionKind::Ack));

    // The notifier's side of the contract: it sets applied_at_ms.
    s.execute(
        Sql::new("UPDATE incident_actions SET applied_at_ms = $1 WHERE id = $2")
            .bind(2_100i64)
            .bind("act_1"),
    )
    .await
    .expect("apply");
    assert_eq!(
        s.incident_action("act_1")
            .await
            .expect("read")
            .applied_at_ms,
        Some(2_100)
    );
    assert_eq!(
        s.pending_incident_action("inc_1", IncidentActionKind::Ack)
            .await
            .expect("pending"),
        None
    );
    let shown = s
        .get_incident_in_project(DEFAULT_PROJECT_ID, "inc_1")
        .await
        .expect("get");
    assert_eq!(shown.pending_action, None);
    assert_eq!(shown.acknowledged_note, "looking into it");
    assert!(matches!(
        s.incident_action("act_none").await,
        Err(StoreError::NotFound)
    ));
    let dangling = IncidentActionRow {
        id: "act_2".into(),
        incident_id: "inc_none".into(),
        ..ack
    };
    s.insert_incident_action(&dangling)
        .await
        .expect_err("an action needs its incident");
}

/// A manual resolve applied while the consumer still held the incident open: the consumer's
/// own resolve of it (from a recovering result) later in a batch neither rewrites the incident
/// nor sends a second recovery; the rest of that batch is stored.
async fn a_consumer_never_resolves_a_manually_resolved_incident_again(db: TestDb) {
    let s = db.store;
    two_projects(&s).await;
    insert_incident(&s, &open_incident("inc_1", "mon_a", 1_000))
        .await
        .expect("incident");
    let recovery = |id: &str| lookout_store::notifier::OutboxRow {
        incident_id: Some("inc_1".into()),
        event: EventKind::Recovery,
        ..pending_delivery(id, "mon_a", 3_000)
    };
    let action = IncidentActionRow {
        id: "act_1".into(),
        incident_id: "inc_1".into(),
        action: IncidentActionKind::Resolve,
        actor: "ops".into(),
        note: String::new(),
        created_at_ms: 2_000,
        applied_at_ms: None,
    };
    s.insert_incident_action(&action).await.expect("action");
    let manual = ManualResolution {
        resolved_at_ms: 2_000,
        outbox: vec![recovery("dlv_manual")],
    };
    assert!(
        s.apply_incident_resolve(&action, "mon_a", &manual, 2_000)
            .await
            .expect("resolve")
    );
    let mut consumer = IncidentRow::opening("inc_1".into(), "mon_a".into(), 1_000, "critical");
    consumer.status = IncidentStatus::Resolved;
    consumer.resolved_at_ms = Some(3_000);
    let other = lookout_store::notifier::OutboxRow {
        event: EventKind::NoData,
        ..pending_delivery("dlv_other", "mon_b", 3_000)
    };
    let batch = NotifierBatch {
        incidents: vec![consumer],
        outbox: vec![recovery("dlv_consumer"), other],
        ..Default::default()
    };
    s.apply_notifier_batch("g", "t", &batch, 3_000)
        .await
        .expect("batch");
    let ids: Vec<String> = s
        .list_outbox(None)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|o| o.state == OutboxState::Pending)
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, ["dlv_manual", "dlv_other"]);
    let shown = s
        .get_incident_in_project(DEFAULT_PROJECT_ID, "inc_1")
        .await
        .expect("get");
    assert_eq!(shown.status, IncidentStatus::Resolved);
    assert_eq!(shown.resolved_reason, "manual");
    assert_eq!(shown.resolved_at_ms, Some(2_000));
}

lookout_store::backend_tests!(
    pages_newest_first_filtered_and_scoped_to_the_project,
    get_reads_every_column_and_only_in_its_project,
    actions_are_recorded_pending_until_applied,
    a_consumer_never_resolves_a_manually_resolved_incident_again,
);
