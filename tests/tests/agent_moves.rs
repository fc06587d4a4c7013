//! Agents of one region coming and going, as real processes: a rolling restart with drain
//! misses no check window, and a killed agent's monitors run on the region's other agent
//! within seconds. On SQLite: what is tested is the coordinator's assignment, not the store.

use std::collections::BTreeMap;
use std::time::Duration;

use lookout_proto::CheckResult;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{CheckStatus, Monitor, TcpCheck};
use lookout_store::testing::TestDb;
use lookout_tests::cluster::{Cluster, OPERATOR_TOKEN, PROJECT_TOKEN, ResultLog};
use lookout_tests::eventually;
use lookout_tests::servers::tcp_target;

const WAIT: Duration = Duration::from_secs(60);
const REGION: &str = "eu-west";
const A: &str = "agent-eu-west";
const B: &str = "agent-eu-west-b";
/// Enough monitors that a gap in a hand-over (an agent stopping before the next one runs its
/// monitors) is likely to hit a window of one of them, and few enough results per second for
/// the shared broker beside the other end-to-end tests: under a slow broker the coordinator
/// reads each agent's stream only as fast as it publishes, and a drain takes that long too.
const MONITORS: usize = 40;
const INTERVAL_MS: i64 = 2_000;

/// A coordinator, agents A and B of one region, and `MONITORS` TCP monitors every 2 s,
/// each checked twice already, by both agents between them.
async fn two_agents(db: &TestDb) -> (Cluster, ResultLog, Vec<String>) {
    let target = tcp_target().await;
    let mut cluster = Cluster::new(db, &[REGION]);
    cluster.start_coordinator();
    let addr = cluster.addr();
    cluster.start_agent_as(A, REGION, &addr);
    cluster.start_agent_as(B, REGION, &addr);
    let results = cluster.watch_results();
    let mut ids = Vec::new();
    for i in 0..MONITORS {
        let m = cluster
            .create_monitor(Monitor {
                name: format!("port-{i}"),
                regions: vec![REGION.into()],
                interval_secs: (INTERVAL_MS / 1000) as u32,
                timeout_ms: 1000,
                check: Some(Check::Tcp(TcpCheck {
                    address: target.to_string(),
                    ..Default::default()
                })),
                ..Default::default()
            })
            .await;
        ids.push(m.id);
    }
    eventually(WAIT, "every monitor checked twice, by both agents", || {
        let all = results.all();
        let twice = ids
            .iter()
            .all(|id| all.iter().filter(|r| &r.monitor_id == id).count() >= 2);
        let both = by_agent(&all, 0).len() == 2;
        async move { (twice && both).then_some(()) }
    })
    .await;
    (cluster, results, ids)
}

/// Monitors each agent produced results for, scheduled after `since_ms`.
fn by_agent(rs: &[CheckResult], since_ms: i64) -> BTreeMap<String, usize> {
    let mut by = BTreeMap::new();
    for r in rs.iter().filter(|r| r.scheduled_at_ms > since_ms) {
        *by.entry(r.agent_id.clone()).or_insert(0) += 1;
    }
    by
}

/// The largest step between consecutive check windows of `id` with an UP result, from
/// `from_ms` to `to_ms`.
fn largest_gap_ms(results: &ResultLog, id: &str, from_ms: i64, to_ms: i64) -> i64 {
    let mut times: Vec<i64> = results
        .of(id, REGION)
        .iter()
        .filter(|r| r.status() == CheckStatus::Up)
        .map(|r| r.scheduled_at_ms)
        .filter(|t| (from_ms..=to_ms).contains(t))
        .collect();
    times.sort_unstable();
    times.dedup();
    assert!(
        times.len() >= 2,
        "{id}: results between {from_ms} and {to_ms}: {times:?}"
    );
    let edges = [times[0] - from_ms, to_ms - times[times.len() - 1]];
    times
        .windows(2)
        .map(|w| w[1] - w[0])
        .chain(edges)
        .max()
        .unwrap_or(0)
}

/// Waits until every monitor of `ids` has a result scheduled after `ms`.
async fn checked_after(results: &ResultLog, ids: &[String], ms: i64, what: &str) {
    eventually(WAIT, &format!("every monitor checked after {what}"), || {
        let all = results.all();
        let done = ids.iter().all(|id| {
            all.iter()
                .any(|r| &r.monitor_id == id && r.scheduled_at_ms > ms)
        });
        async move { done.then_some(()) }
    })
    .await;
}

/// SIGTERM, off the runtime's threads (the agent takes a moment to drain).
async fn terminate(cluster: &mut Cluster, id: &str) -> String {
    let agent = cluster.agents.remove(id).expect("agent running");
    let (status, output) = tokio::task::spawn_blocking(move || {
        let output_of = agent.output_path();
        let status = agent.terminate();
        (
            status,
            std::fs::read_to_string(output_of).unwrap_or_default(),
        )
    })
    .await
    .expect("terminate");
    assert!(status.success(), "{id} exited with {status}:\n{output}");
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_with_drain_misses_no_check_window() {
    let db = TestDb::sqlite().await;
    let (mut cluster, results, ids) = two_agents(&db).await;
    let from_ms = lookout_store::now_ms();
    for id in [A, B] {
        let output = terminate(&mut cluster, id).await;
        assert!(
            output.contains("drained: the coordinator moved the monitors"),
            "{id} drained before stopping:\n{output}"
        );
        let back_at = lookout_store::now_ms();
        let addr = cluster.addr();
        cluster.start_agent_as(id, REGION, &addr);
        eventually(WAIT, "the restarted agent running its share again", || {
            let back = by_agent(&results.all(), back_at).contains_key(id);
            async move { back.then_some(()) }
        })
        .await;
    }
    // Two more windows after the last restart.
    let to_ms = lookout_store::now_ms() + 2 * INTERVAL_MS;
    checked_after(&results, &ids, to_ms, "the restarts").await;
    for id in &ids {
        let gap = largest_gap_ms(&results, id, from_ms, to_ms);
        // Consecutive windows are one interval apart; a missed one makes a gap of two.
        assert!(
            gap <= INTERVAL_MS * 3 / 2,
            "{id}: a window was missed (gap of {gap} ms)"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_agents_monitors_run_on_the_other_agent_within_ten_seconds() {
    let db = TestDb::sqlite().await;
    let (mut cluster, results, ids) = two_agents(&db).await;
    let killed_at = lookout_store::now_ms();
    cluster.agents.remove(A).expect("agent A").kill9();
    let taken_over = eventually(WAIT, "agent B running every monitor", || {
        let all = results.all();
        let done = ids.iter().all(|id| {
            all.iter()
                .any(|r| &r.monitor_id == id && r.agent_id == B && r.scheduled_at_ms > killed_at)
        });
        async move { done.then_some(lookout_store::now_ms()) }
    })
    .await;
    let first_on_b: i64 = ids
        .iter()
        .map(|id| {
            results
                .of(id, REGION)
                .iter()
                .filter(|r| r.agent_id == B && r.scheduled_at_ms > killed_at)
                .map(|r| r.scheduled_at_ms)
                .min()
                .expect("a result from B")
        })
        .max()
        .expect("monitors");
    println!(
        "failover after SIGKILL: every monitor on the other agent {} ms after the kill (seen {} ms after)",
        first_on_b - killed_at,
        taken_over - killed_at
    );
    assert!(
        first_on_b - killed_at <= 10_000,
        "took {} ms",
        first_on_b - killed_at
    );
    // Two more windows of every monitor after the take-over.
    let to_ms = taken_over + 2 * INTERVAL_MS;
    checked_after(&results, &ids, to_ms, "the take-over").await;
    for id in &ids {
        let gap = largest_gap_ms(&results, id, killed_at - INTERVAL_MS, to_ms);
        // At most two windows missed: a gap of at most three intervals.
        assert!(
            gap <= 3 * INTERVAL_MS,
            "{id}: gap of {gap} ms after the kill"
        );
    }
}

/// Runs the `lookout` CLI against the cluster's coordinator with `token` as the operator token.
fn lookout(cluster: &Cluster, token: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(lookout_tests::procs::binary("lookout"))
        .args(args)
        .env("LOOKOUT_ADDR", cluster.addr())
        .env("LOOKOUT_OPERATOR_TOKEN", token)
        .env_remove("LOOKOUT_TOKEN")
        .output()
        .expect("run lookout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookout_agents_list_shows_each_agent_and_what_it_runs() {
    let db = TestDb::sqlite().await;
    let (cluster, _results, _ids) = two_agents(&db).await;
    let agents = eventually(
        WAIT,
        "both agents listed with a heartbeat and a rate",
        || {
            let out = lookout(&cluster, OPERATOR_TOKEN, &["agents", "list", "-o", "json"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            let ready = v.as_array().is_some_and(|a| {
                a.len() == 2
                    && a.iter().all(|agent| {
                        agent["last_heartbeat_ms"]
                            .as_str()
                            .is_some_and(|ms| ms != "0")
                            && agent["results_per_sec"].as_f64().is_some_and(|r| r > 0.0)
                            && agent["active_monitors"].as_u64()
                                == agent["assigned_monitors"].as_u64()
                    })
            });
            async move { ready.then_some(v) }
        },
    )
    .await;
    let listed: Vec<(&str, &str)> = agents
        .as_array()
        .expect("array")
        .iter()
        .map(|a| {
            (
                a["agent_id"].as_str().expect("agent_id"),
                a["region"].as_str().expect("region"),
            )
        })
        .collect();
    assert_eq!(listed, [(A, REGION), (B, REGION)]);
    let assigned: u64 = agents
        .as_array()
        .expect("array")
        .iter()
        .map(|a| a["assigned_monitors"].as_u64().expect("assigned"))
        .sum();
    assert_eq!(
        assigned, MONITORS as u64,
        "every monitor on exactly one agent"
    );
    assert!(agents[0]["version"].as_str().is_some_and(|v| !v.is_empty()));
    assert_eq!(agents[0]["draining"].as_bool(), None, "false is left out");

    let table = lookout(&cluster, OPERATOR_TOKEN, &["agents", "list"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("RESULTS/S") && text.contains(B) && text.contains("running"),
        "{text}"
    );
    let other = lookout(
        &cluster,
        OPERATOR_TOKEN,
        &["agents", "list", "--region", "us-east", "-o", "json"],
    );
    assert_eq!(String::from_utf8_lossy(&other.stdout).trim(), "[]");

    let refused = lookout(&cluster, PROJECT_TOKEN, &["agents", "list"]);
    assert!(
        !refused.status.success(),
        "a project token may not list agents"
    );
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("operator token"), "{said}");
}
