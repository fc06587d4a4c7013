//! No data is not "up", with separate processes: a monitor in a region where no agent runs is
//! reported NO_DATA on Kafka by the coordinator, its receiver gets exactly one signed
//! `monitor_no_data` webhook and no incident, `lookout monitors list` and `get` show the
//! region as NO_DATA, and an agent starting in the region brings one `monitor_data_resumed`.

use std::process::Command;
use std::time::Duration;

use lookout_proto::CheckStatus;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, Monitor, Webhook};
use lookout_tests::cluster::{Cluster, PROJECT_TOKEN};
use lookout_tests::procs::binary;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::{eventually, signature_valid};

const SECRET: &str = "whsec-no-data";
const WAIT: Duration = Duration::from_secs(90);

/// Runs the `lookout` CLI against the cluster; its standard output.
fn lookout(cluster: &Cluster, args: &[&str]) -> String {
    let out = Command::new(binary("lookout"))
        .args(args)
        .env("LOOKOUT_ADDR", cluster.addr())
        .env("LOOKOUT_TOKEN", PROJECT_TOKEN)
        .output()
        .expect("run lookout");
    assert!(
        out.status.success(),
        "lookout {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The STATUS cell of `lookout monitors list` for monitor `id`, once it shows `want`.
async fn listed_status(cluster: &Cluster, id: &str, want: &[&str]) -> String {
    eventually(
        WAIT,
        &format!("{want:?} in `lookout monitors list`"),
        || {
            let table = lookout(cluster, &["monitors", "list"]);
            let line = table.lines().find(|l| l.contains(id)).map(str::to_string);
            async move { line.filter(|l| want.iter().all(|w| l.contains(w))) }
        },
    )
    .await
}

async fn a_region_without_an_agent_is_reported_no_data_once(backend: &str) {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let mut cluster = Cluster::on_backend(&["eu-west", "us-east"], backend).await;
    cluster.start_coordinator();
    cluster.start_agent("eu-west");
    cluster.start_notifier();
    let results = cluster.watch_results();

    let monitor = cluster
        .create_monitor(Monitor {
            name: "API".into(),
            regions: vec!["eu-west".into(), "us-east".into()],
            interval_secs: 1,
            timeout_ms: 1000,
            webhooks: vec![Webhook {
                url: receiver.url(),
                secret: SECRET.into(),
                secret_set: false,
            }],
            check: Some(Check::Http(HttpCheck {
                url: target.url(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await;
    let id = monitor.id.clone();

    let hook = eventually(WAIT, "the no-data webhook", || {
        let got = receiver.of_type("no_data");
        async move { got.into_iter().next() }
    })
    .await;
    assert!(signature_valid(
        SECRET,
        &hook.header("x-lookout-timestamp"),
        &hook.body,
        &hook.header("x-lookout-signature")
    ));
    let body = hook.json();
    assert_eq!(body["event_type"], "monitor_no_data");
    assert_eq!(body["monitor"]["id"], id.as_str());
    assert_eq!(body["monitor"]["status"], "NO_DATA");
    assert_eq!(body["check_result"]["status"], "NO_DATA");
    assert_eq!(body["check_result"]["region"], "us-east");
    assert_eq!(
        body["check_result"]["error_message"],
        "no agent connected in region us-east"
    );

    let on_kafka = results.of(&id, "us-east");
    assert!(
        on_kafka
            .iter()
            .all(|r| r.status() == CheckStatus::NoData && r.agent_id.is_empty()),
        "{on_kafka:?}"
    );
    assert!(
        results
            .of(&id, "eu-west")
            .iter()
            .all(|r| r.status() == CheckStatus::Up),
        "eu-west has data"
    );

    // People see it too: the STATUS column of `lookout monitors list`, and `get -o json`.
    let header = lookout(&cluster, &["monitors", "list"]);
    assert!(header.contains("STATUS"), "{header}");
    listed_status(&cluster, &id, &["eu-west:UP", "us-east:NO_DATA"]).await;
    let got: serde_json::Value =
        serde_json::from_str(&lookout(&cluster, &["monitors", "get", &id, "-o", "json"]))
            .expect("--output json prints JSON");
    let statuses: Vec<(String, String)> = got["region_status"]
        .as_array()
        .expect("region_status in the JSON")
        .iter()
        .map(|s| (s["region"].to_string(), s["status"].to_string()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("\"eu-west\"".to_string(), "\"UP\"".to_string()),
            ("\"us-east\"".to_string(), "\"NO_DATA\"".to_string()),
        ]
    );
    let shown = lookout(&cluster, &["monitors", "get", &id]);
    assert!(shown.contains("us-east: NO_DATA"), "{shown}");

    // The region gets its agent: data resumes, announced once.
    cluster.start_agent("us-east");
    eventually(WAIT, "the data-resumed webhook", || {
        let got = receiver.of_type("data_resumed");
        async move { got.into_iter().next() }
    })
    .await;
    eventually(WAIT, "UP results from us-east on Kafka", || {
        let up = results
            .of(&id, "us-east")
            .iter()
            .any(|r| r.status() == CheckStatus::Up);
        async move { up.then_some(()) }
    })
    .await;
    listed_status(&cluster, &id, &["eu-west:UP", "us-east:UP"]).await;
    let kinds: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.json()["context"]["notification_type"].to_string())
        .collect();
    assert_eq!(
        kinds,
        ["\"no_data\"", "\"data_resumed\""],
        "one event per transition and no incident"
    );
}

lookout_tests::on_both_backends!(a_region_without_an_agent_is_reported_no_data_once);
