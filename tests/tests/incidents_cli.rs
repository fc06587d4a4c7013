//! `lookout incidents list|get|ack|resolve` against the real coordinator binary: incidents
//! stored in its database (as the notifier writes them) are listed newest first, filtered,
//! shown one by one as a table or JSON; acknowledging with no notifier running comes back
//! with the action pending and says so; refusals name the reason.

use std::process::Command;
use std::time::{Duration, Instant};

use lookout_store::notifier::IncidentStatus;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::{TestDb, insert_incident, insert_monitors_in_bulk, open_incident};
use lookout_tests::cluster::{Cluster, PROJECT_TOKEN};
use lookout_tests::procs::binary;

fn lookout(addr: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary("lookout"))
        .args(args)
        .env("LOOKOUT_ADDR", addr)
        .env("LOOKOUT_TOKEN", PROJECT_TOKEN)
        .output()
        .expect("run lookout")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_string()
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "lookout failed: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--output json prints JSON")
}

fn ids(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_are_listed_shown_and_acknowledged_from_the_cli() {
    let db = TestDb::sqlite().await;
    let monitors = ["api", "web"].map(String::from);
    insert_monitors_in_bulk(&db.store, DEFAULT_PROJECT_ID, &monitors)
        .await
        .expect("monitors");
    // Five incidents: the newest of each monitor open, the older ones resolved.
    for (n, monitor) in ["api", "web", "api", "web", "api"].iter().enumerate() {
        let n = n as i64;
        let mut i = open_incident(&format!("inc_{n}"), monitor, 1_700_000_000_000 + n * 60_000);
        if n < 3 {
            i.status = IncidentStatus::Resolved;
            i.resolved_at_ms = Some(1_700_000_000_000 + n * 60_000 + 90_000);
            i.resolved_reason = "recovered".into();
        }
        insert_incident(&db.store, &i).await.expect("incident");
    }
    let mut cluster = Cluster::new(&db, &["eu"]);
    cluster.start_coordinator();
    let addr = cluster.addr();
    // The coordinator accepts connections once the admin client can connect.
    drop(cluster.admin_with(PROJECT_TOKEN).await);

    // Two per page: the CLI follows next_page_token to the end.
    let all = json_of(&lookout(
        &addr,
        &["incidents", "list", "--page-size", "2", "-o", "json"],
    ));
    assert_eq!(ids(&all), ["inc_4", "inc_3", "inc_2", "inc_1", "inc_0"]);
    assert_eq!(all[0]["state"], "INCIDENT_STATE_OPEN");
    assert_eq!(all[0]["monitor_name"], "api");
    assert_eq!(all[2]["resolved_reason"], "recovered");
    assert_eq!(all[2]["duration_ms"], "90000");
    let open_web = json_of(&lookout(
        &addr,
        &[
            "incidents",
            "list",
            "--state",
            "open",
            "--monitor",
            "web",
            "-o",
            "json",
        ],
    ));
    assert_eq!(ids(&open_web), ["inc_3"]);
    let limited = json_of(&lookout(
        &addr,
        &["incidents", "list", "--limit", "1", "-o", "json"],
    ));
    assert_eq!(ids(&limited), ["inc_4"]);

    let table = lookout(&addr, &["incidents", "list", "--state", "resolved"]);
    assert!(table.status.success(), "{}", text(&table.stderr));
    let table = text(&table.stdout);
    for want in [
        "inc_2",
        "resolved",
        "1m 30s",
        "connection refused",
        "2023-11-14T22:15:20Z",
    ] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    assert!(!table.contains("inc_4"), "{table}");
    let one = lookout(&addr, &["incidents", "get", "inc_1"]);
    assert!(one.status.success(), "{}", text(&one.stderr));
    let one = text(&one.stdout);
    for want in ["inc_1", "web (web)", "first error", "recovered"] {
        assert!(one.contains(want), "{want} in\n{one}");
    }

    // No notifier runs: the acknowledgement is recorded, the call returns after its wait
    // with the incident unchanged and the action pending, and says so on stderr.
    let started = Instant::now();
    let acked = lookout(
        &addr,
        &["incidents", "ack", "inc_4", "--note", "on it", "-o", "json"],
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(5), "waited {took:?}");
    let shown = json_of(&acked);
    assert_eq!(shown["pending_action"], "ack");
    assert!(
        text(&acked.stderr).contains("no notifier has applied it yet"),
        "{}",
        text(&acked.stderr)
    );

    let refused = lookout(&addr, &["incidents", "resolve", "inc_0"]);
    assert!(!refused.status.success());
    let err = text(&refused.stderr);
    assert!(
        err.contains("refused") && err.contains("is resolved"),
        "{err}"
    );
    let missing = lookout(&addr, &["incidents", "get", "inc_none"]);
    assert!(!missing.status.success());
    assert!(
        text(&missing.stderr).contains("not found"),
        "{}",
        text(&missing.stderr)
    );
    let bad = lookout(&addr, &["incidents", "list", "--state", "sleeping"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("sleeping"),
        "{}",
        text(&bad.stderr)
    );
}
