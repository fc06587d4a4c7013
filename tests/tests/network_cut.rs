//! An agent cut off the network for 20 s (a TCP proxy the test steers holds every byte both
//! ways, as a partition does): the coordinator drops it after three missed heartbeats, the
//! agent keeps checking and buffering, and once the network is back it reconnects and resends.
//! Every check window reaches Kafka, and no incident opens: the monitors' silence (20 s) is
//! shorter than what the no-data watch waits for at their interval, and the late results are
//! all UP.

use std::net::SocketAddr;
use std::time::Duration;

use lookout_proto::CheckStatus;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, Monitor, Webhook};
use lookout_store::Store;
use lookout_store::testing::TestDb;
use lookout_tests::cluster::Cluster;
use lookout_tests::proxy::{Mode, Proxy};
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::{assert_no_gap, eventually, windows};

const WAIT: Duration = Duration::from_secs(90);
const MONITORS: usize = 5;
const INTERVAL_SECS: u32 = 10;
const CUT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn an_agent_cut_off_for_20_s_resends_everything_and_opens_no_incident() {
    let db = TestDb::sqlite().await;
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let mut cluster = Cluster::new(&db, &["eu"]);
    cluster.start_coordinator();
    let coordinator: SocketAddr = format!("127.0.0.1:{}", cluster.grpc_port)
        .parse()
        .expect("socket address");
    let proxy = Proxy::start(coordinator).await;
    cluster.start_agent_as("agent-eu", "eu", &proxy.url());
    cluster.start_notifier();
    let results = cluster.watch_results();
    let mut ids = Vec::new();
    for i in 0..MONITORS {
        let m = cluster
            .create_monitor(Monitor {
                name: format!("shop-{i}"),
                regions: vec!["eu".into()],
                interval_secs: INTERVAL_SECS,
                timeout_ms: 1000,
                failure_threshold: 1,
                webhooks: vec![Webhook {
                    url: receiver.url(),
                    secret: "whsec-cut".into(),
                    secret_set: false,
                }],
                check: Some(Check::Http(HttpCheck {
                    url: target.url(),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .await;
        ids.push(m.id);
    }
    eventually(WAIT, "a result of every monitor before the cut", || {
        let all = results.all();
        let ok = ids.iter().all(|id| all.iter().any(|r| r.monitor_id == *id));
        async move { ok.then_some(()) }
    })
    .await;

    proxy.set_mode(Mode::Pause);
    let cut_ms = lookout_store::now_ms();
    let coordinator_log = || cluster.coordinator.as_ref().expect("coordinator").output();
    eventually(WAIT, "the coordinator to drop the silent agent", || {
        let dropped = coordinator_log().contains("no heartbeat from agent, dropping it");
        async move { dropped.then_some(()) }
    })
    .await;
    // The rest of the partition (the scenario, not a wait for a condition).
    let left = CUT.saturating_sub(Duration::from_millis(
        u64::try_from(lookout_store::now_ms() - cut_ms).unwrap_or(0),
    ));
    tokio::time::sleep(left).await;
    proxy.set_mode(Mode::Forward);
    let healed_ms = lookout_store::now_ms();

    let check_until = healed_ms + i64::from(INTERVAL_SECS) * 1000;
    let all = eventually(WAIT, "results of every monitor after the cut", || {
        let all = results.all();
        let done = ids.iter().all(|id| {
            all.iter()
                .any(|r| r.monitor_id == *id && r.scheduled_at_ms > check_until)
        });
        async move { done.then_some(all) }
    })
    .await;
    let interval_ms = i64::from(INTERVAL_SECS) * 1000;
    for id in &ids {
        let windows = windows(
            all.iter()
                .filter(|r| r.monitor_id == *id && r.status() == CheckStatus::Up)
                .map(|r| r.scheduled_at_ms),
            cut_ms - interval_ms..=check_until,
        );
        let what = format!("monitor {id} (cut {cut_ms}..{healed_ms})");
        assert_no_gap(&what, &windows, interval_ms + 500);
        assert!(
            windows.first().is_some_and(|t| *t <= cut_ms)
                && windows.last().is_some_and(|t| *t > healed_ms),
            "monitor {id}: windows cover the cut: {windows:?}"
        );
    }
    assert!(
        all.iter().all(|r| r.status() == CheckStatus::Up),
        "only UP results: no NO_DATA for a silence shorter than three intervals"
    );
    let agent = cluster.agents.get("agent-eu").expect("agent").output();
    assert!(
        agent.matches("connected to coordinator").count() >= 2,
        "the agent reconnected after the cut"
    );
    let store = Store::open(&cluster.store_url(), cluster.keyring())
        .await
        .expect("open store");
    for id in &ids {
        let opened = store.list_incidents(Some(id), 10).await.expect("incidents");
        assert!(opened.is_empty(), "monitor {id}: {opened:?}");
    }
    assert!(
        receiver.of_type("incident").is_empty(),
        "no incident webhook"
    );
}
