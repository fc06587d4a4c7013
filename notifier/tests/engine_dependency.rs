//! Parent monitors, end to end through the in-process bus on both store backends: while the
//! parent is down, a child's incident opens silently and is listed as caused by the parent's;
//! the child's recovery is still sent; once the parent is up, the child notifies as usual.

mod common;

use common::{Receiver, eventually, kinds, result, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{self, Down, Up};
use lookout_proto::v1::HttpCheck;
use lookout_proto::v1::monitor::Check;
use lookout_proto::{CheckResult, Monitor};
use lookout_store::Store;
use lookout_store::testing::TestDb;

async fn monitor(store: &Store, id: &str, parent: &str, url: &str) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), url).await;
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        failure_threshold: 3,
        parent_monitor_id: parent.into(),
        integration_ids: vec![hook.id],
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

fn results(monitor_id: &str, status: CheckStatus, n: usize) -> Vec<CheckResult> {
    (0..n).map(|_| result(monitor_id, "eu", status)).collect()
}

async fn a_down_parent_silences_its_childs_incident_but_not_its_recovery(db: TestDb) {
    let store = db.store.clone();
    let (parent_rx, child_rx) = (Receiver::start(200).await, Receiver::start(200).await);
    let parent = monitor(&store, "mon_db", "", &parent_rx.url).await;
    let child = monitor(&store, "mon_api", "mon_db", &child_rx.url).await;
    let (publisher, running) = common::start_in_process(&store);

    publisher
        .publish(&results(&parent.id, Down, 3))
        .await
        .expect("publish");
    eventually("the parent's incident", || async {
        parent_rx.accepted().len() == 1
    })
    .await;
    let parent_incident = store
        .open_incident(&parent.id)
        .await
        .expect("read")
        .expect("open");

    publisher
        .publish(&results(&child.id, Down, 3))
        .await
        .expect("publish");
    eventually("the child's incident is stored", || async {
        store
            .open_incident(&child.id)
            .await
            .expect("read")
            .is_some()
    })
    .await;
    let inc = store
        .open_incident(&child.id)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(
        inc.caused_by_incident_id.as_deref(),
        Some(parent_incident.id.as_str())
    );
    assert!(inc.silenced, "opened silently");
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert!(
        child_rx.accepted().is_empty(),
        "the child's receivers heard nothing"
    );

    publisher
        .publish(&results(&child.id, Up, 1))
        .await
        .expect("publish");
    eventually("the child's recovery", || async {
        child_rx.accepted().len() == 1
    })
    .await;
    let hit = &child_rx.accepted()[0];
    assert_eq!(hit.notification_type(), "recovery");
    assert_eq!(hit.json()["monitor"]["id"], "mon_api");

    // With the parent up again, the child's next incident is its own.
    publisher
        .publish(&results(&parent.id, Up, 1))
        .await
        .expect("publish");
    eventually("the parent's recovery", || async {
        parent_rx.accepted().len() == 2
    })
    .await;
    publisher
        .publish(&results(&child.id, Down, 3))
        .await
        .expect("publish");
    eventually("the child's own incident", || async {
        child_rx.accepted().len() == 2
    })
    .await;
    assert_eq!(kinds(&child_rx), ["recovery", "incident"]);
    let own = store
        .open_incident(&child.id)
        .await
        .expect("read")
        .expect("open");
    assert_eq!((own.caused_by_incident_id, own.silenced), (None, false));
    assert_eq!(kinds(&parent_rx), ["incident", "recovery"]);
    running.stop().await;
}

lookout_store::backend_tests!(a_down_parent_silences_its_childs_incident_but_not_its_recovery);
