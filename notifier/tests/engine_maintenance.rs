//! Maintenance windows, end to end through the in-process bus on both store backends (the
//! results' times place them inside or after a one-off window): inside, incidents are
//! tracked but nothing is sent; after it, an incident still open is announced, and the
//! recovery of one announced before the window is sent; one that opened and resolved inside
//! the window is never heard of.

mod common;

use common::{Receiver, at, eventually, kinds, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, MaintenanceWindow};
use lookout_proto::{CheckResult, Monitor};
use lookout_store::Store;
use lookout_store::testing::TestDb;

const MIN: i64 = 60_000;

/// A monitor in maintenance from `start_ms` for ten minutes.
async fn monitor(store: &Store, id: &str, start_ms: i64, url: &str) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), url).await;
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        failure_threshold: 3,
        integration_ids: vec![hook.id],
        maintenance: vec![MaintenanceWindow {
            start_ms,
            end_ms: start_ms + 10 * MIN,
            ..Default::default()
        }],
        check: Some(Check::Http(HttpCheck {
            url: "https://api.example.com/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let m = lookout_proto::validate::ValidMonitor::try_from(m)
        .expect("valid monitor")
        .into_spec();
    store.insert_monitor(m).await.expect("insert monitor")
}

async fn publish(publisher: &impl ResultPublisher, rs: Vec<CheckResult>) {
    for r in rs {
        publisher.publish(&[r]).await.expect("publish");
    }
}

async fn an_incident_opened_in_the_window_is_announced_when_it_ends(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let t0 = lookout_store::now_ms() - 30 * MIN;
    let m = monitor(&store, "mon_maint_open", t0, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    publish(
        &publisher,
        (1..=4).map(|i| at(&m.id, Down, t0 + i * MIN)).collect(),
    )
    .await;
    eventually("the incident is tracked", || async {
        store
            .open_incident(&m.id)
            .await
            .expect("read")
            .is_some_and(|i| i.silenced)
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert!(rx.accepted().is_empty(), "held inside the window");

    publish(&publisher, vec![at(&m.id, Down, t0 + 11 * MIN)]).await;
    eventually("the incident after the window", || async {
        rx.accepted().len() == 1
    })
    .await;
    publish(&publisher, vec![at(&m.id, Up, t0 + 12 * MIN)]).await;
    eventually("the recovery", || async { rx.accepted().len() == 2 }).await;
    assert_eq!(kinds(&rx), ["incident", "recovery"]);
    running.stop().await;
}

async fn a_recovery_inside_the_window_is_sent_when_it_ends(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let t0 = lookout_store::now_ms() - 30 * MIN;
    let m = monitor(&store, "mon_maint_rec", t0, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    publish(
        &publisher,
        (1..=3).map(|i| at(&m.id, Down, t0 - 5 * MIN + i)).collect(),
    )
    .await;
    eventually("the incident before the window", || async {
        rx.accepted().len() == 1
    })
    .await;
    publish(&publisher, vec![at(&m.id, Up, t0 + MIN)]).await;
    eventually("the incident resolves", || async {
        store.open_incident(&m.id).await.expect("read").is_none()
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(kinds(&rx), ["incident"], "the recovery is held");
    running.stop().await;

    // The held recovery survives a restart and goes out at the first result after the window.
    let (publisher, running) = common::start_in_process(&store);
    publish(&publisher, vec![at(&m.id, Up, t0 + 11 * MIN)]).await;
    eventually("the recovery after the window", || async {
        rx.accepted().len() == 2
    })
    .await;
    publish(&publisher, vec![at(&m.id, Up, t0 + 12 * MIN)]).await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(kinds(&rx), ["incident", "recovery"], "once");
    running.stop().await;
}

async fn an_incident_within_the_window_is_never_heard_of(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let t0 = lookout_store::now_ms() - 30 * MIN;
    let m = monitor(&store, "mon_maint_quiet", t0, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    let mut rs: Vec<CheckResult> = (1..=3).map(|i| at(&m.id, Down, t0 + i * MIN)).collect();
    rs.push(at(&m.id, Up, t0 + 5 * MIN));
    rs.push(at(&m.id, Up, t0 + 11 * MIN));
    publish(&publisher, rs).await;
    eventually("the incident opened and resolved", || async {
        let all = store.list_incidents(Some(&m.id), 5).await.expect("list");
        all.len() == 1 && all[0].resolved_at_ms.is_some()
    })
    .await;
    eventually("the last result is applied", || async {
        store
            .region_states(&m.id)
            .await
            .expect("states")
            .iter()
            .any(|s| s.newest_scheduled_at_ms == t0 + 11 * MIN)
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert!(rx.accepted().is_empty());
    running.stop().await;
}

lookout_store::backend_tests!(
    an_incident_opened_in_the_window_is_announced_when_it_ends,
    a_recovery_inside_the_window_is_sent_when_it_ends,
    an_incident_within_the_window_is_never_heard_of,
);
