//! Flapping, end to end through the in-process bus on both store backends (the results' times
//! place the changes): the receivers hear each change until more than `changes` of them fall
//! in the window, then one FLAPPING and nothing of the changes that follow; the episode
//! survives a restart, and a whole window after its last change FLAPPING_ENDED is sent with
//! what changed meanwhile (the incident still open).

mod common;

use common::{Receiver, at, eventually, kinds, webhook_integration};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::Monitor;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{FlappingPolicy, HttpCheck};
use lookout_store::Store;
use lookout_store::testing::TestDb;

const MIN: i64 = 60_000;

/// A monitor that changes at every result and flaps at more than 3 changes in 10 minutes.
async fn monitor(store: &Store, id: &str, url: &str) -> Monitor {
    let hook = webhook_integration(store, &format!("int_{id}"), url).await;
    let m = Monitor {
        id: id.into(),
        name: format!("API {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        failure_threshold: 1,
        success_threshold: 1,
        integration_ids: vec![hook.id],
        flapping: Some(FlappingPolicy {
            changes: 3,
            window_secs: 600,
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

/// Waits until the result at `at_ms` is applied.
async fn applied(store: &Store, monitor_id: &str, at_ms: i64) {
    eventually("the result is applied", || async {
        store
            .region_states(monitor_id)
            .await
            .expect("states")
            .iter()
            .any(|s| s.newest_scheduled_at_ms == at_ms)
    })
    .await;
}

async fn a_flapping_monitor_notifies_once_per_episode(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let t0 = lookout_store::now_ms() - 60 * MIN;
    let m = monitor(&store, "mon_flap", &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);

    // Changes 1..=3 notify; the fourth starts the episode, announced instead of its recovery.
    for (i, status) in [(1, Down), (2, Up), (3, Down), (4, Up)] {
        publisher
            .publish(&[at(&m.id, status, t0 + i * MIN)])
            .await
            .expect("publish");
        eventually("the notification", || async {
            rx.accepted().len() == usize::try_from(i).expect("small")
        })
        .await;
    }
    assert_eq!(kinds(&rx), ["incident", "recovery", "incident", "flapping"]);

    // While flapping, changes are tracked and stored but not sent.
    for (i, status) in [(5, Down), (6, Up), (7, Down)] {
        publisher
            .publish(&[at(&m.id, status, t0 + i * MIN)])
            .await
            .expect("publish");
    }
    applied(&store, &m.id, t0 + 7 * MIN).await;
    assert!(
        store.open_incident(&m.id).await.expect("read").is_some(),
        "the incident is tracked"
    );
    let state = store
        .monitor_state(&m.id)
        .await
        .expect("read")
        .expect("stored");
    assert!(state.flapping, "the episode is stored");
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(rx.accepted().len(), 4, "held while flapping");
    running.stop().await;

    // After a restart the episode goes on: a result within the window sends nothing.
    let (publisher, running) = common::start_in_process(&store);
    publisher
        .publish(&[at(&m.id, Down, t0 + 12 * MIN)])
        .await
        .expect("publish");
    applied(&store, &m.id, t0 + 12 * MIN).await;
    eventually("every delivery settles", || common::outbox_settled(&store)).await;
    assert_eq!(rx.accepted().len(), 4, "still flapping after the restart");

    // A whole window after the last change (minute 7) it ends, and the open incident is heard.
    publisher
        .publish(&[at(&m.id, Down, t0 + 17 * MIN)])
        .await
        .expect("publish");
    eventually("the episode ends", || async { rx.accepted().len() == 6 }).await;
    let mut tail = kinds(&rx)[4..].to_vec();
    tail.sort();
    assert_eq!(tail, ["flapping_ended", "incident"]);
    let state = store
        .monitor_state(&m.id)
        .await
        .expect("read")
        .expect("stored");
    assert!(!state.flapping);

    // Settled: each change notifies again.
    publisher
        .publish(&[at(&m.id, Up, t0 + 18 * MIN)])
        .await
        .expect("publish");
    eventually("the recovery", || async { rx.accepted().len() == 7 }).await;
    assert_eq!(kinds(&rx)[6], "recovery");
    running.stop().await;
}

/// Changes spread wider than the window never flap: every one is sent.
async fn changes_spread_wider_than_the_window_never_flap(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let t0 = lookout_store::now_ms() - 120 * MIN;
    let m = monitor(&store, "mon_flap_slow", &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    let statuses = [Down, Up, Down, Up, Down, Up];
    for (i, status) in (1..).zip(statuses) {
        publisher
            .publish(&[at(&m.id, status, t0 + i * 4 * MIN)])
            .await
            .expect("publish");
        eventually("the notification", || async {
            rx.accepted().len() == usize::try_from(i).expect("small")
        })
        .await;
    }
    assert_eq!(
        kinds(&rx),
        [
            "incident", "recovery", "incident", "recovery", "incident", "recovery"
        ]
    );
    running.stop().await;
}

/// Pausing a monitor in a flapping episode ends the episode: FLAPPING_ENDED (status PAUSED)
/// tells the receivers that heard it start, and the stored history is dropped, so the resumed
/// monitor's first change notifies at once.
async fn pausing_ends_a_flapping_episode(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let t0 = lookout_store::now_ms() - 60 * MIN;
    let m = monitor(&store, "mon_flap_pause", &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    for (i, status) in [(1, Down), (2, Up), (3, Down), (4, Up)] {
        publisher
            .publish(&[at(&m.id, status, t0 + i * MIN)])
            .await
            .expect("publish");
        eventually("the notification", || async {
            rx.accepted().len() == usize::try_from(i).expect("small")
        })
        .await;
    }
    assert_eq!(kinds(&rx)[3], "flapping");

    let mut paused = m.clone();
    paused.paused = true;
    let paused = store
        .update_monitor(paused, m.version)
        .await
        .expect("pause");
    publisher
        .publish(&[lookout_proto::CheckResult {
            lifecycle: lookout_proto::v1::MonitorLifecycle::Paused as i32,
            monitor_version: paused.version,
            ..at(&m.id, Up, t0 + 5 * MIN)
        }])
        .await
        .expect("publish");
    eventually("the end of the episode", || async {
        rx.accepted().len() == 5
    })
    .await;
    let ended = &rx.accepted()[4];
    assert_eq!(ended.notification_type(), "flapping_ended");
    assert_eq!(ended.json()["monitor"]["status"], "PAUSED");
    let state = store
        .monitor_state(&m.id)
        .await
        .expect("read")
        .expect("stored");
    assert!(!state.flapping);
    assert!(state.flap_changes.is_empty(), "{:?}", state.flap_changes);

    let mut resumed = paused.clone();
    resumed.paused = false;
    let resumed = store
        .update_monitor(resumed, paused.version)
        .await
        .expect("resume");
    publisher
        .publish(&[lookout_proto::CheckResult {
            monitor_version: resumed.version,
            ..at(&m.id, Down, t0 + 6 * MIN)
        }])
        .await
        .expect("publish");
    eventually("the resumed monitor's incident", || async {
        rx.accepted().len() == 6
    })
    .await;
    assert_eq!(kinds(&rx)[5], "incident");
    running.stop().await;
}

lookout_store::backend_tests!(
    a_flapping_monitor_notifies_once_per_episode,
    changes_spread_wider_than_the_window_never_flap,
    pausing_ends_a_flapping_episode,
);
