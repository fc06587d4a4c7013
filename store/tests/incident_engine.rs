//! The incident engine's stored state, on SQLite and on PostgreSQL: every engine column of an
//! incident round-trips, the consumer's update leaves the acknowledgement columns alone, and a
//! region's degraded streak (migration 0009) is kept.

use lookout_store::Sql;
use lookout_store::notifier::{IncidentRow, IncidentStatus, NotifierBatch, RegionStateRow};
use lookout_store::testing::{TestDb, secret_monitor};

fn incident() -> IncidentRow {
    IncidentRow {
        cause: "timeout".into(),
        regions: vec!["eu".into(), "us".into()],
        escalated_at_ms: Some(1_500),
        level: 2,
        caused_by_incident_id: Some("inc_parent".into()),
        silenced: true,
        ..IncidentRow::opening("inc_engine".into(), "mon_e".into(), 1_000, "warning")
    }
}

async fn write(db: &TestDb, batch: NotifierBatch) {
    db.store
        .apply_notifier_batch("g", "t", &batch, 2_000)
        .await
        .expect("apply");
}

async fn engine_columns_round_trip_and_acknowledgements_are_kept(db: TestDb) {
    db.store
        .insert_monitor(secret_monitor("mon_e", "s3cret"))
        .await
        .expect("monitor");
    let inc = incident();
    write(
        &db,
        NotifierBatch {
            incidents: vec![inc.clone()],
            ..Default::default()
        },
    )
    .await;
    let stored = db
        .store
        .open_incident("mon_e")
        .await
        .expect("read")
        .expect("open");
    assert_eq!(stored, inc);
    assert_eq!(stored.status, IncidentStatus::Open);

    // An admin action acknowledges it...
    db.store
        .execute(
            Sql::new(
                "UPDATE incidents SET acknowledged_at_ms = $1, acknowledged_by = $2 WHERE id = $3",
            )
            .bind(1_700_i64)
            .bind("ana")
            .bind("inc_engine"),
        )
        .await
        .expect("ack");
    // ...and the consumer, which has not seen that, changes its severity and reminders.
    let critical = IncidentRow {
        severity: "critical".into(),
        silenced: false,
        reminders_sent: 2,
        next_reminder_at_ms: Some(9_000),
        ..inc.clone()
    };
    write(
        &db,
        NotifierBatch {
            incidents: vec![critical.clone()],
            ..Default::default()
        },
    )
    .await;
    let stored = db
        .store
        .open_incident("mon_e")
        .await
        .expect("read")
        .expect("open");
    assert_eq!(
        stored,
        IncidentRow {
            acknowledged_at_ms: Some(1_700),
            acknowledged_by: "ana".into(),
            ..critical
        }
    );
}

async fn a_regions_degraded_streak_is_kept(db: TestDb) {
    let row = RegionStateRow {
        monitor_id: "mon_e".into(),
        region: "eu".into(),
        last_status: "DEGRADED".into(),
        degraded: true,
        consecutive_degraded: 4,
        ..Default::default()
    };
    write(
        &db,
        NotifierBatch {
            states: vec![row.clone()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        db.store.region_states("mon_e").await.expect("read"),
        vec![row.clone()]
    );
    let cleared = RegionStateRow {
        degraded: false,
        consecutive_degraded: 0,
        last_status: "UP".into(),
        ..row
    };
    write(
        &db,
        NotifierBatch {
            states: vec![cleared.clone()],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        db.store.region_states("mon_e").await.expect("read"),
        vec![cleared]
    );
}

lookout_store::backend_tests!(
    engine_columns_round_trip_and_acknowledgements_are_kept,
    a_regions_degraded_streak_is_kept,
);
