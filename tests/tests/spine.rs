//! The whole path with separate processes: a target fails in two regions, exactly one signed
//! incident webhook arrives, the target heals, exactly one signed recovery arrives; every
//! result is on Kafka as a `CheckResult`; a receiver answering 500 stalls nothing.

use lookout_store::testing::TestDb;
use std::time::Duration;

use lookout_proto::CheckStatus;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, Monitor};
use lookout_tests::cluster::Cluster;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::{eventually, signature_valid};

const SECRET: &str = "whsec-spine";
const WAIT: Duration = Duration::from_secs(90);

async fn incident_and_recovery_webhooks_arrive_once_and_signed(db: TestDb) {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let broken = Receiver::start(500).await;
    let mut cluster = Cluster::new(&db, &["eu-west", "us-east"]);
    cluster.start_all();
    let results = cluster.watch_results();

    let hooks = vec![
        cluster.create_webhook(&receiver.url(), SECRET).await,
        cluster.create_webhook(&broken.url(), SECRET).await,
    ];
    let monitor = cluster
        .create_monitor(Monitor {
            name: "API".into(),
            regions: vec!["eu-west".into(), "us-east".into()],
            interval_secs: 1,
            timeout_ms: 1000,
            failure_threshold: 3,
            integration_ids: hooks,
            check: Some(Check::Http(HttpCheck {
                url: target.url(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await;
    let id = monitor.id.clone();

    // Both regions check and publish.
    eventually(WAIT, "UP results from both regions on Kafka", || {
        let ok = ["eu-west", "us-east"].iter().all(|r| {
            results
                .of(&id, r)
                .iter()
                .any(|x| x.status() == CheckStatus::Up)
        });
        async move { ok.then_some(()) }
    })
    .await;

    target.set_status(500);
    let incident = eventually(WAIT, "the incident webhook", || {
        let got = receiver.of_type("incident");
        async move { got.into_iter().next() }
    })
    .await;
    let body = incident.json();
    assert_eq!(body["event_type"], "monitor_alert");
    assert_eq!(body["monitor"]["id"], id.as_str());
    assert_eq!(body["monitor"]["name"], "API");
    assert_eq!(body["monitor"]["url"], target.url().as_str());
    assert_eq!(body["monitor"]["status"], "DOWN");
    assert_eq!(body["check_result"]["status"], "DOWN");
    assert_eq!(body["check_result"]["status_code"], 500);
    assert!(
        body["check_result"]["error_message"]
            .as_str()
            .is_some_and(|m| m.contains("500")),
        "{body}"
    );
    assert!(
        ["eu-west", "us-east"]
            .contains(&body["check_result"]["region"].as_str().unwrap_or_default())
    );
    assert!(
        body["context"]["consecutive_failures"]
            .as_u64()
            .is_some_and(|n| n >= 3),
        "{body}"
    );
    assert_eq!(body["context"]["previous_status"], "UP");
    assert!(
        signature_valid(
            SECRET,
            &incident.header("x-lookout-timestamp"),
            &incident.body,
            &incident.header("x-lookout-signature")
        ),
        "incident signature"
    );
    assert!(!incident.header("x-lookout-timestamp").is_empty());

    // Let both regions pass the threshold: still one incident.
    eventually(WAIT, "both regions past the failure threshold", || {
        let ok = ["eu-west", "us-east"].iter().all(|r| {
            results
                .of(&id, r)
                .iter()
                .filter(|x| x.status() == CheckStatus::Down)
                .count()
                >= 4
        });
        async move { ok.then_some(()) }
    })
    .await;
    assert_eq!(
        receiver.of_type("incident").len(),
        1,
        "one incident while both regions are down"
    );

    target.set_status(200);
    let recovery = eventually(WAIT, "the recovery webhook", || {
        let got = receiver.of_type("recovery");
        async move { got.into_iter().next() }
    })
    .await;
    let body = recovery.json();
    assert_eq!(body["monitor"]["status"], "UP");
    assert_eq!(body["check_result"]["status"], "UP");
    assert_eq!(body["context"]["previous_status"], "DOWN");
    assert!(
        signature_valid(
            SECRET,
            &recovery.header("x-lookout-timestamp"),
            &recovery.body,
            &recovery.header("x-lookout-signature")
        ),
        "recovery signature"
    );

    // Both regions healthy for a while: nothing more arrives.
    eventually(
        WAIT,
        "three UP results in each region after the recovery",
        || {
            let ok = ["eu-west", "us-east"].iter().all(|r| {
                let rs = results.of(&id, r);
                rs.iter()
                    .rev()
                    .take(3)
                    .all(|x| x.status() == CheckStatus::Up)
                    && rs.len() >= 3
            });
            async move { ok.then_some(()) }
        },
    )
    .await;
    assert_eq!(
        receiver.of_type("incident").len(),
        1,
        "exactly one incident webhook"
    );
    assert_eq!(
        receiver.of_type("recovery").len(),
        1,
        "exactly one recovery webhook"
    );

    // The receiver that always answers 500 was retried, and stalled nothing.
    assert!(
        broken.of_type("incident").len() >= 2,
        "the failing receiver was retried"
    );

    // Every result decodes as a CheckResult with its origin filled in.
    for r in results.all() {
        assert_eq!(r.monitor_id, id);
        assert!(r.region == "eu-west" || r.region == "us-east");
        assert_eq!(r.agent_id, format!("agent-{}", r.region));
        assert!(!r.id.is_empty());
        assert_eq!(r.check_kind, "http");
    }
}

lookout_store::backend_tests!(incident_and_recovery_webhooks_arrive_once_and_signed,);
