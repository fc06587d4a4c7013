//! Reminders, end to end through the in-process bus on both store backends: while an
//! incident stays open, a reminder every `every_minutes` (by the results' time), at most
//! `max` of them, each carrying how many came before; none once acknowledged.

mod common;

use common::{Receiver, at, eventually, kinds, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{EventKind, HttpCheck, NotificationEvent, ReminderPolicy};
use lookout_proto::{CheckResult, Monitor};
use lookout_store::Store;
use lookout_store::testing::TestDb;
use prost::Message;

const MIN: i64 = 60_000;

async fn monitor(store: &Store, id: &str, url: &str) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), url).await;
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        failure_threshold: 3,
        integration_ids: vec![hook.id],
        reminders: Some(ReminderPolicy {
            every_minutes: 1,
            max: 2,
        }),
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

async fn reminders_come_every_period_up_to_the_cap(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let m = monitor(&store, "mon_remind", &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    let t0 = lookout_store::now_ms() - 30 * MIN;
    let down = [
        0,
        1,
        2,
        30_000,
        MIN + 2,
        MIN + 30_000,
        2 * MIN + 2,
        10 * MIN,
    ];
    let mut results: Vec<CheckResult> = down.iter().map(|d| at(&m.id, Down, t0 + d)).collect();
    results.push(at(&m.id, Up, t0 + 11 * MIN));
    for r in results {
        publisher.publish(&[r]).await.expect("publish");
    }
    eventually("the recovery", || async {
        rx.accepted()
            .iter()
            .any(|h| h.notification_type() == "recovery")
    })
    .await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(kinds(&rx), ["incident", "reminder", "reminder", "recovery"]);
    // Each stored reminder event says how many came before it.
    let inc = &store.list_incidents(Some(&m.id), 1).await.expect("list")[0];
    let ordinals: Vec<u32> = store
        .list_outbox(Some(&inc.id))
        .await
        .expect("outbox")
        .iter()
        .map(|o| NotificationEvent::decode(o.payload.as_slice()).expect("event"))
        .filter(|e| e.kind == EventKind::Reminder as i32)
        .map(|e| e.reminder)
        .collect();
    assert_eq!(ordinals, [0, 1]);
    let inc = &store.list_incidents(Some(&m.id), 1).await.expect("list")[0];
    assert_eq!((inc.reminders_sent, inc.next_reminder_at_ms), (2, None));
    running.stop().await;
}

lookout_store::backend_tests!(reminders_come_every_period_up_to_the_cap);
