//! Channel conformance: every channel, sent a prepared request at a real local receiver,
//! delivers the body and headers unchanged and classifies answers the same way; and a webhook
//! integration's request is rendered and signed by its channel.

mod common;

use common::{Receiver, SECRET};
use lookout_notifier::channels::{Channels, Delivery, Prepared, SendError};

/// Every channel kind the notifier knows; each must pass this file.
const KINDS: &[&str] = &[
    "webhook",
    "slack",
    "discord",
    "telegram",
    "mattermost",
    "teams",
    "pagerduty",
    "opsgenie",
    "pushover",
];

fn notification(url: &str) -> Prepared {
    Prepared::Http(lookout_render::Request {
        method: "POST".into(),
        url: url.into(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-lookout-delivery".into(), "dlv_conformance".into()),
        ],
        body: br#"{"event_type":"monitor_alert"}"#.to_vec(),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_channel_renders_and_signs_from_the_event() {
    let db = lookout_store::testing::TestDb::sqlite().await;
    let rx = Receiver::start(200).await;
    let integration = common::webhook_integration(&db.store, "int_render", &rx.url).await;
    let channels = Channels::new(reqwest::Client::new(), true);
    let channel = channels.get("webhook").expect("webhook");
    let event = lookout_render::sample_event();
    let variables = lookout_render::Variables::new();
    let prepared = channel
        .prepare(&Delivery {
            id: "dlv_render",
            integration: &integration,
            event: &event,
            variables: &variables,
            now_unix_secs: 1_705_314_615,
        })
        .expect("renders");
    let sent = channel.send(&prepared).await.expect("delivered");
    assert_eq!(sent.status, Some(200));
    let hit = &rx.hits()[0];
    assert!(hit.signature_verifies(SECRET));
    assert_eq!(hit.header("x-lookout-delivery"), "dlv_render");
    assert_eq!(hit.json()["monitor"]["id"], "mon_sample");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_deliver_and_classify() {
    let channels = Channels::new(reqwest::Client::new(), true);
    assert!(channels.get("carrier-pigeon").is_none());
    for kind in KINDS {
        let channel = channels.get(kind).expect("known kind");
        let rx = Receiver::start(200).await;
        let sent = channel.send(&notification(&rx.url)).await;
        assert_eq!(sent.map(|d| d.status), Ok(Some(200)), "{kind}");
        let hit = &rx.hits()[0];
        assert_eq!(
            &hit.body[..],
            br#"{"event_type":"monitor_alert"}"#,
            "{kind}: body unchanged"
        );
        assert_eq!(
            hit.header("x-lookout-delivery"),
            "dlv_conformance",
            "{kind}"
        );
        assert_eq!(hit.header("content-type"), "application/json", "{kind}");

        for (status, retryable) in [
            (500, true),
            (503, true),
            (429, true),
            (408, true),
            (404, false),
            (400, false),
            (301, false),
        ] {
            rx.answer(status);
            let got = channel.send(&notification(&rx.url)).await;
            match got {
                Err(SendError::Retryable { .. }) if retryable => {}
                Err(SendError::Permanent { .. }) if !retryable => {}
                other => panic!("{kind}: answer {status} classified as {other:?}"),
            }
        }

        // Nobody listening: a network error is worth retrying, and the URL (which may hold a
        // token) stays out of the message.
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = l.local_addr().expect("addr").port();
            format!("http://127.0.0.1:{port}/hook?token=t0ps3cret")
        };
        match channel.send(&notification(&closed)).await {
            Err(SendError::Retryable { reason, .. }) => {
                assert!(!reason.contains("t0ps3cret"), "{reason}")
            }
            other => panic!("{kind}: closed port classified as {other:?}"),
        }
        match channel.send(&notification("not a url")).await {
            Err(SendError::Permanent { .. }) => {}
            other => panic!("{kind}: invalid url classified as {other:?}"),
        }
    }
}
