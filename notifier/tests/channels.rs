//! Channel conformance: every channel kind, sent a notification at a real local receiver,
//! delivers the body and headers unchanged and classifies answers the same way.

mod common;

use bytes::Bytes;
use common::Receiver;
use lookout_notifier::channels::{Channels, Delivered, Notification, SendError};
use lookout_store::notifier::OutboxEvent;

/// Every channel kind the notifier knows; each must pass this file.
const KINDS: &[&str] = &["webhook"];

fn notification(url: &str) -> Notification {
    Notification {
        id: "dlv_conformance".into(),
        event: OutboxEvent::Incident,
        url: url.into(),
        body: Bytes::from_static(br#"{"event_type":"monitor_alert"}"#),
        headers: vec![("x-lookout-delivery", "dlv_conformance".into())],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_deliver_and_classify() {
    let channels = Channels::new(reqwest::Client::new(), true);
    assert!(channels.get("carrier-pigeon").is_none());
    for kind in KINDS {
        let channel = channels.get(kind).expect("known kind");
        let rx = Receiver::start(200).await;
        let sent = channel.send(&notification(&rx.url)).await;
        assert_eq!(sent, Ok(Delivered { status: Some(200) }), "{kind}");
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
