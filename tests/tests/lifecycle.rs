//! Deleting or pausing a monitor with an open incident, with the real processes: the receiver
//! gets a signed recovery saying why (`context.resolved_reason`), a deleted monitor is gone
//! from the admin API, and a resumed monitor starts counting afresh. In `lookout standalone`
//! (SQLite, in-process bus) and in a cluster (Kafka) on SQLite and on PostgreSQL.

use lookout_store::testing::TestDb;
use std::time::Duration;

use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::{
    DeleteMonitorRequest, GetMonitorRequest, HttpCheck, ListMonitorsRequest, Monitor,
    PauseMonitorRequest, Webhook,
};
use lookout_tests::cluster::{Bearer, Cluster};
use lookout_tests::servers::{Received, Receiver, Target};
use lookout_tests::standalone::{Standalone, shop_with_webhook};
use lookout_tests::{eventually, signature_valid};
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "lifecycle-t0k";
const SECRET: &str = "whsec-lifecycle";
/// `failure_threshold` of every monitor here (as in `shop_with_webhook`).
const THRESHOLD: u64 = 2;

type Admin = MonitorServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Delete,
    Pause,
}

async fn admin(addr: &str, token: &str) -> Admin {
    let channel = eventually(WAIT, "the coordinator to accept connections", || {
        let addr = addr.to_string();
        async move { Channel::from_shared(addr).ok()?.connect().await.ok() }
    })
    .await;
    MonitorServiceClient::with_interceptor(channel, Bearer::new(token))
}

async fn nth_of_type(receiver: &Receiver, kind: &str, n: usize) -> Received {
    eventually(WAIT, &format!("{kind} webhook number {n}"), || {
        let got = receiver.of_type(kind);
        async move { got.get(n - 1).cloned() }
    })
    .await
}

fn assert_signed(hit: &Received) {
    assert!(
        signature_valid(
            SECRET,
            &hit.header("x-lookout-timestamp"),
            &hit.body,
            &hit.header("x-lookout-signature")
        ),
        "signed with the monitor's secret"
    );
}

/// With `id`'s incident open: deletes or pauses it and checks what the receiver and the API
/// show; a paused monitor is resumed and must count its failures from zero.
async fn resolve_by(admin: &mut Admin, receiver: &Receiver, id: &str, action: Action) {
    let opened = nth_of_type(receiver, "incident", 1).await;
    assert_eq!(opened.json()["monitor"]["id"], id);
    match action {
        Action::Delete => {
            admin
                .delete_monitor(DeleteMonitorRequest { id: id.into() })
                .await
                .expect("delete");
        }
        Action::Pause => {
            admin
                .pause_monitor(PauseMonitorRequest {
                    id: id.into(),
                    paused: true,
                })
                .await
                .expect("pause");
        }
    }
    let recovery = nth_of_type(receiver, "recovery", 1).await;
    assert_signed(&recovery);
    let body = recovery.json();
    let (status, reason) = match action {
        Action::Delete => ("DELETED", "deleted"),
        Action::Pause => ("PAUSED", "paused"),
    };
    assert_eq!(body["monitor"]["id"], id);
    assert_eq!(body["monitor"]["status"], status);
    assert_eq!(body["context"]["resolved_reason"], reason);
    assert_eq!(receiver.of_type("incident").len(), 1);
    match action {
        Action::Delete => {
            let e = admin
                .get_monitor(GetMonitorRequest { id: id.into() })
                .await
                .expect_err("a deleted monitor is not found");
            assert_eq!(e.code(), tonic::Code::NotFound);
            let listed = admin
                .list_monitors(ListMonitorsRequest::default())
                .await
                .expect("list")
                .into_inner();
            assert!(listed.monitors.iter().all(|m| m.id != id));
            let e = admin
                .pause_monitor(PauseMonitorRequest {
                    id: id.into(),
                    paused: false,
                })
                .await
                .expect_err("a deleted monitor cannot be resumed");
            assert_eq!(e.code(), tonic::Code::NotFound);
        }
        Action::Pause => {
            admin
                .pause_monitor(PauseMonitorRequest {
                    id: id.into(),
                    paused: false,
                })
                .await
                .expect("resume");
            let again = nth_of_type(receiver, "incident", 2).await;
            assert_signed(&again);
            assert_eq!(
                again.json()["context"]["consecutive_failures"],
                THRESHOLD,
                "a resumed monitor counts from zero"
            );
        }
    }
}

async fn standalone(action: Action) {
    let target = Target::start(503).await;
    let receiver = Receiver::start(200).await;
    let s = Standalone::new(
        TOKEN,
        &shop_with_webhook(&target.url(), &receiver.url(), SECRET),
    );
    let _proc = s.start("standalone", &[]);
    let mut api = admin(&s.addr(), TOKEN).await;
    resolve_by(&mut api, &receiver, "shop", action).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_delete_resolves_the_incident() {
    standalone(Action::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_pause_resolves_the_incident_and_resume_starts_fresh() {
    standalone(Action::Pause).await;
}

async fn cluster(db: &TestDb, action: Action) {
    let target = Target::start(503).await;
    let receiver = Receiver::start(200).await;
    let mut cluster = Cluster::new(db, &["eu"]);
    cluster.start_all();
    let m = cluster
        .create_monitor(Monitor {
            name: "API".into(),
            regions: vec!["eu".into()],
            interval_secs: 1,
            timeout_ms: 1000,
            failure_threshold: THRESHOLD as u32,
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
    let mut api = cluster.admin().await;
    resolve_by(&mut api, &receiver, &m.id, action).await;
}

async fn cluster_delete_resolves_the_incident(db: TestDb) {
    cluster(&db, Action::Delete).await;
}

async fn cluster_pause_resolves_the_incident_and_resume_starts_fresh(db: TestDb) {
    cluster(&db, Action::Pause).await;
}

lookout_store::backend_tests!(
    cluster_delete_resolves_the_incident,
    cluster_pause_resolves_the_incident_and_resume_starts_fresh,
);
