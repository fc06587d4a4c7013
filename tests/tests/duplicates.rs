//! Results out of order and twice, end to end through a TCP proxy between an agent and the
//! coordinator: a batch resent after its acknowledgement was lost counts each failure once,
//! and an agent cut off from the coordinator, whose monitor moved to another agent of the
//! region, reconnects with a buffer of old DOWN results without opening an incident.

use lookout_store::testing::TestDb;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, Monitor, Webhook};
use lookout_proto::{CheckResult, CheckStatus};
use lookout_store::Store;
use lookout_store::notifier::IncidentRow;
use lookout_tests::cluster::{Cluster, ResultLog};
use lookout_tests::eventually;
use lookout_tests::proxy::{Mode, Proxy};
use lookout_tests::servers::{Receiver, Target};

const WAIT: Duration = Duration::from_secs(90);

fn monitor(target: &Target, receiver: &Receiver, failure_threshold: u32) -> Monitor {
    Monitor {
        name: "Shop".into(),
        regions: vec!["eu".into()],
        interval_secs: 1,
        timeout_ms: 1000,
        failure_threshold,
        webhooks: vec![Webhook {
            url: receiver.url(),
            secret: "whsec-duplicates".into(),
            secret_set: false,
        }],
        check: Some(Check::Http(HttpCheck {
            url: target.url(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// A coordinator, an agent `agent-eu` reaching it through a proxy, and the notifier.
async fn cluster_behind_proxy(db: &TestDb) -> (Cluster, Proxy, ResultLog) {
    let mut cluster = Cluster::new(db, &["eu"]);
    cluster.start_coordinator();
    let coordinator: SocketAddr = format!("127.0.0.1:{}", cluster.grpc_port)
        .parse()
        .expect("socket address");
    let proxy = Proxy::start(coordinator).await;
    cluster.start_agent_as("agent-eu", "eu", &proxy.url());
    cluster.start_notifier();
    let results = cluster.watch_results();
    (cluster, proxy, results)
}

/// Distinct results (by id) of `monitor_id` with `status` from `agent` (any when `None`),
/// in scheduled order.
fn distinct(
    log: &ResultLog,
    monitor_id: &str,
    status: CheckStatus,
    agent: Option<&str>,
) -> Vec<CheckResult> {
    let mut by_id: BTreeMap<String, CheckResult> = BTreeMap::new();
    for r in log.of(monitor_id, "eu") {
        if r.status() == status && agent.is_none_or(|a| r.agent_id == a) {
            by_id.entry(r.id.clone()).or_insert(r);
        }
    }
    let mut out: Vec<CheckResult> = by_id.into_values().collect();
    out.sort_by_key(|r| (r.scheduled_at_ms, r.id.clone()));
    out
}

async fn incidents(cluster: &Cluster, monitor_id: &str) -> Vec<IncidentRow> {
    let store = Store::open(&cluster.store_url(), cluster.keyring())
        .await
        .expect("open store");
    store
        .list_incidents(Some(monitor_id), 10)
        .await
        .expect("incidents")
}

async fn a_batch_resent_after_lost_acknowledgements_counts_each_failure_once(db: TestDb) {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let (cluster, proxy, results) = cluster_behind_proxy(&db).await;
    let m = cluster.create_monitor(monitor(&target, &receiver, 5)).await;
    eventually(WAIT, "UP results on Kafka", || {
        let n = distinct(&results, &m.id, CheckStatus::Up, None).len();
        async move { (n >= 2).then_some(()) }
    })
    .await;

    // The first failure is acknowledged; the acknowledgements of the next ones are lost.
    target.set_status(503);
    eventually(WAIT, "the first DOWN result on Kafka", || {
        let n = distinct(&results, &m.id, CheckStatus::Down, None).len();
        async move { (n >= 1).then_some(()) }
    })
    .await;
    proxy.set_mode(Mode::CutDownstream);
    eventually(WAIT, "two more DOWN results on Kafka", || {
        let n = distinct(&results, &m.id, CheckStatus::Down, None).len();
        async move { (n >= 3).then_some(()) }
    })
    .await;
    // The agent reconnects and resends every batch it holds unacknowledged.
    proxy.drop_connections();
    proxy.set_mode(Mode::Forward);
    eventually(WAIT, "a DOWN result on Kafka twice", || {
        let all = results.of(&m.id, "eu");
        let mut seen = BTreeSet::new();
        let twice = all
            .iter()
            .filter(|r| r.status() == CheckStatus::Down)
            .any(|r| !seen.insert(r.id.clone()));
        async move { twice.then_some(()) }
    })
    .await;

    let hook = eventually(WAIT, "the incident webhook", || {
        let got = receiver.of_type("incident");
        async move { got.into_iter().next() }
    })
    .await;
    assert_eq!(hook.json()["context"]["consecutive_failures"], 5);
    let opened = incidents(&cluster, &m.id).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    let fifth = eventually(WAIT, "a fifth distinct DOWN result on Kafka", || {
        let downs = distinct(&results, &m.id, CheckStatus::Down, None);
        async move { downs.into_iter().nth(4) }
    })
    .await;
    assert_eq!(
        opened[0].opened_at_ms, fifth.started_at_ms,
        "the fifth distinct failure opens the incident, not a resent one"
    );
}

async fn an_agent_reconnecting_with_old_down_results_opens_no_incident(db: TestDb) {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let (mut cluster, proxy, results) = cluster_behind_proxy(&db).await;
    let m = cluster.create_monitor(monitor(&target, &receiver, 3)).await;
    eventually(WAIT, "UP results from agent-eu on Kafka", || {
        let n = distinct(&results, &m.id, CheckStatus::Up, Some("agent-eu")).len();
        async move { (n >= 1).then_some(()) }
    })
    .await;

    // agent-eu is cut off and keeps checking: its DOWN results wait in its buffer.
    proxy.refuse();
    let before = target.failed_answers();
    target.set_status(503);
    eventually(WAIT, "agent-eu to see the target fail four times", || {
        let n = target.failed_answers();
        async move { (n >= before + 4).then_some(()) }
    })
    .await;
    // The target heals; the monitor moves to the region's other agent, which reports UP.
    target.set_status(200);
    let addr = cluster.addr();
    cluster.start_agent_as("agent-eu-b", "eu", &addr);
    eventually(WAIT, "UP results from agent-eu-b on Kafka", || {
        let n = distinct(&results, &m.id, CheckStatus::Up, Some("agent-eu-b")).len();
        async move { (n >= 2).then_some(()) }
    })
    .await;

    // agent-eu reconnects and delivers its old failures. Which agent runs the monitor now is
    // up to the rendezvous hash: if agent-eu got it back, its buffer is published and the
    // notifier must ignore it as older than what it applied; if agent-eu-b kept it, the
    // coordinator drops the buffer as results for a monitor the sender does not run.
    proxy.set_mode(Mode::Forward);
    eventually(
        WAIT,
        "agent-eu's old DOWN results published or dropped",
        || {
            let published =
                distinct(&results, &m.id, CheckStatus::Down, Some("agent-eu")).len() >= 3;
            let dropped = cluster
                .coordinator
                .as_ref()
                .expect("coordinator")
                .output()
                .lines()
                .any(|l| {
                    l.contains("dropped results from agent")
                        && l.contains("agent_id=agent-eu region")
                        && !l.contains("not_assigned=0")
                });
            async move { (published || dropped).then_some(()) }
        },
    )
    .await;

    // A real outage now is the first and only incident.
    let outage_ms = lookout_store::now_ms();
    target.set_status(503);
    eventually(WAIT, "the incident webhook", || {
        let got = receiver.of_type("incident");
        async move { got.into_iter().next() }
    })
    .await;
    let opened = incidents(&cluster, &m.id).await;
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert!(
        opened[0].opened_at_ms >= outage_ms - 1000,
        "the incident was opened by the real outage at {outage_ms}, not by the old buffer: {:?}",
        opened[0]
    );
    assert_eq!(receiver.of_type("incident").len(), 1);
}

lookout_store::backend_tests!(
    a_batch_resent_after_lost_acknowledgements_counts_each_failure_once,
    an_agent_reconnecting_with_old_down_results_opens_no_incident,
);
