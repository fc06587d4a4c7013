//! Restart the coordinator while agents run: the agents keep checking, reconnect, resend what
//! was not acknowledged, and resume on the same assignment; no result goes missing.

use lookout_store::testing::TestDb;
use std::time::Duration;

use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{Monitor, TcpCheck};
use lookout_tests::cluster::Cluster;
use lookout_tests::eventually;
use lookout_tests::servers::tcp_target;

const WAIT: Duration = Duration::from_secs(90);

async fn agents_survive_a_coordinator_restart_without_gaps(db: TestDb) {
    let target = tcp_target().await;
    let mut cluster = Cluster::new(&db, &["eu-west"]);
    cluster.start_coordinator();
    cluster.start_agent("eu-west");
    let results = cluster.watch_results();
    let id = cluster
        .create_monitor(Monitor {
            name: "db".into(),
            regions: vec!["eu-west".into()],
            interval_secs: 1,
            timeout_ms: 1000,
            check: Some(Check::Tcp(TcpCheck {
                address: target.to_string(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .id;
    eventually(WAIT, "three results before the restart", || {
        let n = results.of(&id, "eu-west").len();
        async move { (n >= 3).then_some(()) }
    })
    .await;

    // Down for four check intervals: the agent keeps checking and buffers.
    cluster
        .coordinator
        .take()
        .expect("coordinator running")
        .kill9();
    let down_at = lookout_store::now_ms();
    // The outage itself (the scenario, not a wait for a condition).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let up_at = lookout_store::now_ms();
    cluster.start_coordinator();

    // Checks run while the coordinator was away arrive after the reconnect, and new ones follow.
    let rs = eventually(
        WAIT,
        "results scheduled during and after the downtime",
        || {
            let rs = results.of(&id, "eu-west");
            let during = rs
                .iter()
                .filter(|r| r.scheduled_at_ms > down_at && r.scheduled_at_ms < up_at)
                .count();
            let after = rs
                .iter()
                .filter(|r| r.scheduled_at_ms > up_at + 2000)
                .count();
            async move { (during >= 3 && after >= 2).then_some(rs) }
        },
    )
    .await;

    let mut times: Vec<i64> = rs.iter().map(|r| r.scheduled_at_ms).collect();
    times.sort_unstable();
    times.dedup();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] <= 2500,
            "a gap of {} ms between scheduled checks: {times:?}",
            pair[1] - pair[0]
        );
    }
    assert!(
        rs.iter().all(|r| r.agent_id == "agent-eu-west"),
        "same assignment after the restart"
    );
}

lookout_store::backend_tests!(agents_survive_a_coordinator_restart_without_gaps,);
