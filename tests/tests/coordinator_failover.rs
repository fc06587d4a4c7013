//! Three coordinator replicas on one PostgreSQL database: one leads and serves the agents,
//! the others serve the admin API and pass monitor changes on through the store. SIGKILL the
//! leader: another takes over within 15 s, the agents (given every replica's address) follow
//! it, and every check window the agents ran reaches Kafka.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use lookout_proto::v1::agent_service_client::AgentServiceClient;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::{CreateMonitorRequest, ListAgentsRequest, Monitor, TcpCheck};
use lookout_store::Store;
use lookout_store::testing::TestDb;
use lookout_tests::cluster::{Bearer, Cluster, OPERATOR_TOKEN, PROJECT_TOKEN};
use lookout_tests::procs::{Proc, free_port};
use lookout_tests::servers::tcp_target;
use lookout_tests::{assert_no_gap, eventually, windows};
use tonic::transport::Channel;
use tonic_health_probe::serving;

const WAIT: Duration = Duration::from_secs(60);
const REGION: &str = "eu-west";
const MONITORS: usize = 8;
/// The replicas' `leader_lease_ms`: the default.
const LEASE_MS: u32 = 3000;

async fn channel(url: &str) -> Channel {
    let url = url.to_string();
    eventually(WAIT, "a replica to accept connections", || {
        let url = url.clone();
        async move { Channel::from_shared(url).ok()?.connect().await.ok() }
    })
    .await
}

/// The leader as the store names it, once one leads in a term after `after`.
async fn leader_after(store: &Store, after: u64) -> (u64, String) {
    eventually(WAIT, "a replica to lead", || async {
        let row = store.leader().await.ok()??;
        (row.epoch > after).then_some((row.epoch, row.address))
    })
    .await
}

/// The agents connected to the leader as a replica at `url` lists them, once both connected
/// after `since_ms`.
async fn agents_served_since(url: &str, since_ms: i64) -> Vec<String> {
    let api = AgentServiceClient::with_interceptor(channel(url).await, Bearer::new(OPERATOR_TOKEN));
    eventually(WAIT, "both agents on the leader", || {
        let mut api = api.clone();
        async move {
            let agents = api
                .list_agents(ListAgentsRequest::default())
                .await
                .ok()?
                .into_inner()
                .agents;
            let fresh: Vec<String> = agents
                .iter()
                .filter(|a| a.connected_since_ms > since_ms && a.assigned_monitors > 0)
                .map(|a| a.agent_id.clone())
                .collect();
            (fresh.len() == 2).then_some(fresh)
        }
    })
    .await
}

async fn create_tcp_monitor(url: &str, name: &str, target: &str) -> String {
    let mut admin =
        MonitorServiceClient::with_interceptor(channel(url).await, Bearer::new(PROJECT_TOKEN));
    let monitor = Monitor {
        name: name.into(),
        regions: vec![REGION.into()],
        interval_secs: 1,
        timeout_ms: 1000,
        check: Some(Check::Tcp(TcpCheck {
            address: target.to_string(),
            ..Default::default()
        })),
        ..Default::default()
    };
    admin
        .create_monitor(CreateMonitorRequest {
            monitor: Some(monitor),
        })
        .await
        .expect("create monitor through a replica")
        .into_inner()
        .id
}

#[tokio::test]
async fn killing_the_leader_of_three_replicas_loses_no_result() {
    let db = TestDb::postgres().await;
    let target = tcp_target().await.to_string();
    let mut cluster = Cluster::new(&db, &[REGION]);
    let store = Store::open(&cluster.store_url(), cluster.keyring())
        .await
        .expect("open the cluster's store");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut replicas: BTreeMap<String, Proc> = BTreeMap::new();
    for (i, port) in ports.iter().enumerate() {
        let name = format!("coordinator-{i}");
        replicas.insert(
            urls[i].clone(),
            cluster.start_replica(&name, *port, LEASE_MS),
        );
    }
    let (epoch, leader) = leader_after(&store, 0).await;
    let followers: Vec<&String> = urls.iter().filter(|u| **u != leader).collect();
    // Only the leader's agent gateway is SERVING.
    eventually(
        WAIT,
        "the gateway's health to follow the leadership",
        || async {
            let mut states = Vec::new();
            for url in &urls {
                states.push(serving(&channel(url).await, "lookout.v1.AgentGateway").await);
            }
            let expected: Vec<bool> = urls.iter().map(|u| *u == leader).collect();
            (states == expected).then_some(())
        },
    )
    .await;

    // Each agent knows every replica, starting with a follower: it is pointed to the leader.
    let mut rotated = urls.clone();
    rotated.rotate_left(
        urls.iter()
            .position(|u| u == followers[0])
            .expect("a follower"),
    );
    cluster.start_agent_with(&format!("agent-{REGION}"), REGION, &rotated);
    cluster.start_agent_with(&format!("agent-{REGION}-b"), REGION, &rotated);
    let results = cluster.watch_results();
    // Monitors created through the followers reach the leader through the store's feed.
    let mut ids = Vec::new();
    for i in 0..MONITORS {
        let via = followers[i % followers.len()];
        ids.push(create_tcp_monitor(via, &format!("db-{i}"), &target).await);
    }
    agents_served_since(followers[0], 0).await;
    eventually(WAIT, "results of every monitor before the kill", || {
        let all = results.all();
        let ok = ids
            .iter()
            .all(|id| all.iter().filter(|r| r.monitor_id == *id).count() >= 3);
        async move { ok.then_some(()) }
    })
    .await;

    let killed_at_ms = lookout_store::now_ms();
    let killed_at = Instant::now();
    replicas
        .remove(&leader)
        .expect("the leader's process")
        .kill9();
    let (new_epoch, new_leader) = leader_after(&store, epoch).await;
    let elected = killed_at.elapsed();
    assert_ne!(new_leader, leader, "a surviving replica leads");
    let survivor = urls
        .iter()
        .find(|u| **u != leader && **u != new_leader)
        .expect("the third replica");
    agents_served_since(survivor, killed_at_ms).await;
    let served = killed_at.elapsed();
    println!(
        "failover: leader {leader} (epoch {epoch}) killed; {new_leader} took the lock (epoch {new_epoch}) after {} ms, serves both agents after {} ms (lease {LEASE_MS} ms)",
        elected.as_millis(),
        served.as_millis()
    );
    assert!(
        served <= Duration::from_secs(15),
        "a new leader serves the agents within 15 s, took {served:?}"
    );
    assert!(
        serving(&channel(&new_leader).await, "lookout.v1.AgentGateway").await
            && !serving(&channel(survivor).await, "lookout.v1.AgentGateway").await,
        "the new leader's gateway is SERVING, the follower's is not"
    );

    // A monitor created after the failover, through the follower, runs too.
    let late = create_tcp_monitor(survivor, "db-late", &target).await;
    let check_until = killed_at_ms + 10_000;
    let all = eventually(WAIT, "results scheduled 10 s after the kill", || {
        let all = results.all();
        let done = ids.iter().chain([&late]).all(|id| {
            all.iter()
                .any(|r| r.monitor_id == *id && r.scheduled_at_ms > check_until)
        });
        async move { done.then_some(all) }
    })
    .await;

    // Every window each monitor was run in, from before the kill to after it, is in Kafka:
    // what the agents buffered while no replica led was resent and published.
    let unique: HashSet<&str> = all.iter().map(|r| r.id.as_str()).collect();
    println!(
        "failover: {} results read, {} distinct ids ({} duplicates after resends)",
        all.len(),
        unique.len(),
        all.len() - unique.len()
    );
    for id in &ids {
        let windows = windows(
            all.iter()
                .filter(|r| r.monitor_id == *id)
                .map(|r| r.scheduled_at_ms),
            killed_at_ms - 3000..check_until,
        );
        assert_no_gap(
            &format!("monitor {id} (kill at {killed_at_ms})"),
            &windows,
            1500,
        );
        assert!(
            windows.first().is_some_and(|t| *t < killed_at_ms - 1500)
                && windows.last().is_some_and(|t| *t > check_until - 1500),
            "monitor {id}: windows cover the failover: {windows:?}"
        );
    }
}

/// gRPC health of one service.
mod tonic_health_probe {
    use tonic::transport::Channel;

    pub async fn serving(channel: &Channel, service: &str) -> bool {
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
        let mut client = HealthClient::new(channel.clone());
        let request = HealthCheckRequest {
            service: service.into(),
        };
        client
            .check(request)
            .await
            .is_ok_and(|r| r.into_inner().status == ServingStatus::Serving as i32)
    }
}
