//! The crash test: 1,000 monitors flap (down, up, several times) through results produced to
//! the real broker while the real notifier is SIGKILLed at random moments and started again.
//! At the end each of the two webhook integrations saw every transition, each under exactly
//! one delivery id (seen more than once is fine: at-least-once sending keeps the id), and no
//! delivery id that the notifier's outbox does not hold.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant};

use lookout_bus::{KafkaConfig, KafkaPublisher, ResultPublisher};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{
    CreateIntegrationRequest, CreateMonitorRequest, HttpCheck, Integration, Monitor,
    WebhookIntegration,
};
use lookout_proto::{CheckResult, CheckStatus};
use lookout_store::testing::TestDb;
use lookout_store::{Sql, Store};
use lookout_tests::cluster::{Bearer, Cluster, PROJECT_TOKEN};
use lookout_tests::eventually;
use lookout_tests::procs::Proc;
use lookout_tests::servers::Receiver;
use tonic::transport::Channel;

const MONITORS: usize = 1_000;
/// Down then up, this many times per monitor: 2 × CYCLES transitions each.
const CYCLES: usize = 2;
/// SIGKILLs of the notifier over the run.
const KILLS: usize = 3;
const REGION: &str = "eu";
const WAIT: Duration = Duration::from_secs(120);
/// For every delivery to arrive: 4,000 per integration, sent at a few dozen a second per
/// integration when the machine is also running the rest of the suite.
const DELIVERY_WAIT: Duration = Duration::from_secs(240);

/// A random number in `0..n` (std's randomly keyed hasher; no crate needed).
fn random_below(n: u64) -> u64 {
    RandomState::new().build_hasher().finish() % n.max(1)
}

fn start_notifier(cluster: &Cluster, n: usize) -> Proc {
    let config = cluster.path().join("notifier.yaml").display().to_string();
    Proc::start(
        &format!("notifier-{n}"),
        "lookout-notifier",
        &["--config", &config],
        &[("LOOKOUT_DELIVERY_WORKERS", "64")],
        cluster.path(),
    )
}

async fn integration(ch: &Channel, name: &str, receiver: &Receiver) -> String {
    let mut api =
        IntegrationServiceClient::with_interceptor(ch.clone(), Bearer::new(PROJECT_TOKEN));
    api.create_integration(CreateIntegrationRequest {
        integration: Some(Integration {
            name: name.into(),
            rate_limit_per_minute: 60_000,
            kind: Some(Kind::Webhook(WebhookIntegration {
                url: receiver.url(),
                secret: format!("{name}-secret"),
                ..Default::default()
            })),
            ..Default::default()
        }),
    })
    .await
    .expect("create integration")
    .into_inner()
    .id
}

/// Creates the monitors through the coordinator, 16 calls at a time; returns (id, version).
async fn monitors(cluster: &Cluster, integrations: &[String]) -> Vec<(String, u64)> {
    let admin = cluster.admin().await;
    let mut out = Vec::with_capacity(MONITORS);
    let numbers: Vec<usize> = (0..MONITORS).collect();
    for chunk in numbers.chunks(16) {
        let mut calls = tokio::task::JoinSet::new();
        for n in chunk {
            let mut admin = admin.clone();
            let m = Monitor {
                name: format!("flapper {n}"),
                regions: vec![REGION.into()],
                interval_secs: 60,
                failure_threshold: 1,
                success_threshold: 1,
                integration_ids: integrations.to_vec(),
                check: Some(Check::Http(HttpCheck {
                    url: "http://127.0.0.1:9/health".into(),
                    ..Default::default()
                })),
                ..Default::default()
            };
            calls.spawn(async move {
                admin
                    .create_monitor(CreateMonitorRequest { monitor: Some(m) })
                    .await
                    .expect("create monitor")
                    .into_inner()
            });
        }
        while let Some(m) = calls.join_next().await {
            let m = m.expect("create task");
            out.push((m.id, m.version));
        }
    }
    out
}

fn result(monitor_id: &str, version: u64, status: CheckStatus, at_ms: i64) -> CheckResult {
    CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: monitor_id.into(),
        monitor_version: version,
        region: REGION.into(),
        agent_id: "crash-test".into(),
        status: status as i32,
        scheduled_at_ms: at_ms,
        started_at_ms: at_ms,
        duration_us: 1_000,
        error_message: if status == CheckStatus::Down {
            "connection refused".into()
        } else {
            String::new()
        },
        check_kind: "http".into(),
        ..Default::default()
    }
}

/// Results consumed so far: the notifier's stored next offsets, summed over partitions.
async fn consumed(s: &Store) -> i64 {
    count(
        s,
        "SELECT CAST(COALESCE(SUM(next_offset), 0) AS BIGINT) AS n FROM notifier_offsets",
    )
    .await
}

/// Distinct delivery ids received by `r`.
fn distinct_ids(r: &Receiver) -> usize {
    let ids: BTreeSet<String> = r
        .received()
        .iter()
        .map(|q| q.header("x-lookout-delivery"))
        .collect();
    ids.len()
}

/// Delivery ids received by `r`, grouped by (monitor id, notification type).
fn seen(r: &Receiver) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut by: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for req in r.received() {
        let body = req.json();
        let key = (
            body["monitor"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            body["context"]["notification_type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        by.entry(key)
            .or_default()
            .insert(req.header("x-lookout-delivery"));
    }
    by
}

async fn outbox_ids(s: &Store, integration: &str) -> BTreeSet<String> {
    let rows = s
        .query(Sql::new("SELECT id FROM outbox WHERE integration_id = $1").bind(integration))
        .await
        .expect("outbox ids");
    rows.iter()
        .map(|r| r.get::<String>("id").expect("id"))
        .collect()
}

async fn count(s: &Store, sql: &str) -> i64 {
    let rows = s.query(Sql::new(sql)).await.expect("count");
    rows[0].get("n").expect("n")
}

async fn every_transition_is_delivered_once_per_integration_across_sigkills(db: TestDb) {
    let started = Instant::now();
    let receivers = [Receiver::start(200).await, Receiver::start(200).await];
    // A broker of its own: this test loads it hard, and the run's shared broker, busy with the
    // other tests, could stall a consumer group rejoining after SIGKILLs.
    let broker = lookout_tests::broker::Broker::start();
    let mut cluster = Cluster::on_broker(&db, &[REGION], &broker.addr);
    cluster.start_coordinator();
    let ch = eventually(WAIT, "the coordinator to accept connections", || {
        let addr = cluster.addr();
        async move { Channel::from_shared(addr).ok()?.connect().await.ok() }
    })
    .await;
    let integrations = vec![
        integration(&ch, "hook-a", &receivers[0]).await,
        integration(&ch, "hook-b", &receivers[1]).await,
    ];
    let monitors = monitors(&cluster, &integrations).await;
    // No agent runs and the test produces the results itself: stop the coordinator so its
    // no-data watch adds nothing to the topic.
    cluster
        .coordinator
        .take()
        .expect("coordinator running")
        .terminate();
    let setup = started.elapsed();

    let config = KafkaConfig {
        brokers: broker.addr.clone(),
        topic: cluster.topic.clone(),
        partitions: 3,
        ..KafkaConfig::default()
    };
    lookout_bus::ensure_topic(&config).await.expect("topic");
    let producer = KafkaPublisher::new(&config).expect("producer");
    let mut notifier = start_notifier(&cluster, 0);

    // 2 × CYCLES rounds of one result per monitor (DOWN, UP, DOWN, ...), produced in slices
    // over several seconds while the notifier is being killed.
    let base_ms = lookout_store::now_ms() - 3_600_000;
    let producing = tokio::spawn(async move {
        for round in 0..2 * CYCLES {
            let status = if round % 2 == 0 {
                CheckStatus::Down
            } else {
                CheckStatus::Up
            };
            let at_ms = base_ms + round as i64 * 60_000;
            for slice in monitors.chunks(MONITORS / 4) {
                let results: Vec<CheckResult> = slice
                    .iter()
                    .map(|(id, version)| result(id, *version, status, at_ms))
                    .collect();
                producer.publish(&results).await.expect("produce");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    });
    eprintln!("{:?}: set up, producing", started.elapsed());

    // Each SIGKILL comes at a random moment after the running notifier consumed something
    // (its stored offsets moved: it had joined the group and was consuming and sending).
    for n in 1..=KILLS {
        let before = consumed(&db.store).await;
        eventually(WAIT, "the restarted notifier to consume", || {
            let store = db.store.clone();
            async move { (consumed(&store).await > before).then_some(()) }
        })
        .await;
        tokio::time::sleep(Duration::from_millis(random_below(1_500))).await;
        notifier.kill9();
        notifier = start_notifier(&cluster, n);
    }
    producing.await.expect("producer task");
    eprintln!("{:?}: produced, {KILLS} SIGKILLs", started.elapsed());
    let transitions = MONITORS * CYCLES;
    for (r, integration) in receivers.iter().zip(&integrations) {
        let mut polls = 0u32;
        eventually(DELIVERY_WAIT, "every transition at the receiver", || {
            let distinct = distinct_ids(r);
            polls += 1;
            if polls.is_multiple_of(50) {
                eprintln!(
                    "{:?}: {integration} saw {distinct} of {} delivery ids",
                    started.elapsed(),
                    2 * transitions
                );
            }
            async move { (distinct >= 2 * transitions).then_some(()) }
        })
        .await;
        let got = seen(r);
        let store = &db.store;
        let outbox = outbox_ids(store, integration).await;
        for ((monitor, kind), ids) in &got {
            assert_eq!(
                ids.len(),
                CYCLES,
                "{integration}: monitor {monitor} got {} distinct {kind} deliveries, want {CYCLES}",
                ids.len()
            );
            for id in ids {
                assert!(outbox.contains(id), "{integration}: {id} is no outbox row");
            }
        }
        let kinds: BTreeSet<&str> = got.keys().map(|(_, k)| k.as_str()).collect();
        assert_eq!(kinds, BTreeSet::from(["incident", "recovery"]));
        assert_eq!(
            outbox.len(),
            2 * transitions,
            "{integration}: one outbox row per transition"
        );
    }
    assert_eq!(
        count(
            &db.store,
            "SELECT COUNT(*) AS n FROM incidents WHERE status = 'resolved'"
        )
        .await,
        transitions as i64
    );
    assert_eq!(
        count(&db.store, "SELECT COUNT(*) AS n FROM incidents").await,
        transitions as i64
    );
    let received: usize = receivers.iter().map(|r| r.received().len()).sum();
    eprintln!(
        "crash test: setup {setup:?}, total {:?}, {KILLS} SIGKILLs, {received} requests for {} deliveries",
        started.elapsed(),
        4 * transitions
    );
    drop(notifier);
}

lookout_store::backend_tests!(every_transition_is_delivered_once_per_integration_across_sigkills,);
