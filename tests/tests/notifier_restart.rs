//! SIGKILL the notifier while an incident is open and start it again: its state and consumed
//! offsets were stored in one transaction, so no second incident webhook is sent and the
//! recovery still arrives.

use std::time::Duration;

use lookout_proto::CheckStatus;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{HttpCheck, Monitor, Webhook};
use lookout_tests::cluster::Cluster;
use lookout_tests::eventually;
use lookout_tests::servers::{Receiver, Target};

const WAIT: Duration = Duration::from_secs(90);

async fn killed_notifier_neither_repeats_nor_loses_a_notification(backend: &str) {
    let target = Target::start(500).await;
    let receiver = Receiver::start(200).await;
    let mut cluster = Cluster::on_backend(&["eu-west"], backend).await;
    cluster.start_all();
    let results = cluster.watch_results();
    let id = cluster
        .create_monitor(Monitor {
            name: "Checkout".into(),
            regions: vec!["eu-west".into()],
            interval_secs: 1,
            timeout_ms: 1000,
            failure_threshold: 2,
            webhooks: vec![Webhook {
                url: receiver.url(),
                secret: "s".into(),
                secret_set: false,
            }],
            check: Some(Check::Http(HttpCheck {
                url: target.url(),
                ..Default::default()
            })),
            ..Default::default()
        })
        .await
        .id;

    eventually(WAIT, "the incident webhook", || {
        let n = receiver.of_type("incident").len();
        async move { (n == 1).then_some(()) }
    })
    .await;

    cluster.notifier.take().expect("notifier running").kill9();
    // More failures are published while the notifier is down.
    let down_before = results.of(&id, "eu-west").len();
    eventually(
        WAIT,
        "three more results while the notifier is down",
        || {
            let n = results.of(&id, "eu-west").len();
            async move { (n >= down_before + 3).then_some(()) }
        },
    )
    .await;
    cluster.start_notifier();

    target.set_status(200);
    eventually(
        WAIT,
        "the recovery webhook from the restarted notifier",
        || {
            let n = receiver.of_type("recovery").len();
            async move { (n == 1).then_some(()) }
        },
    )
    .await;
    // The recovery is processed after every earlier failure of the partition, so a repeated
    // incident would have been sent by now.
    eventually(WAIT, "two UP results after the recovery", || {
        let ok = results
            .of(&id, "eu-west")
            .iter()
            .rev()
            .take(2)
            .all(|r| r.status() == CheckStatus::Up);
        async move { ok.then_some(()) }
    })
    .await;
    assert_eq!(
        receiver.of_type("incident").len(),
        1,
        "no second incident webhook after the restart"
    );
    assert_eq!(receiver.of_type("recovery").len(), 1);
}

lookout_tests::on_both_backends!(killed_notifier_neither_repeats_nor_loses_a_notification);
