//! Re-driving dead-lettered deliveries: `lookout standalone` dead-letters an incident webhook
//! the receiver refuses (400); the delivery log shows it through the gRPC API and the CLI, and
//! `lookout deliveries retry` sends it again with the same delivery id once the receiver is
//! fixed. Auth is the project token; responses carry no secret.

use std::process::Command;
use std::time::Duration;

use lookout_proto::v1::delivery_service_client::DeliveryServiceClient;
use lookout_proto::v1::{
    Delivery, DeliveryState, GetDeliveryRequest, ListDeliveriesRequest, RetryDeliveryRequest,
};
use lookout_tests::cluster::Bearer;
use lookout_tests::eventually;
use lookout_tests::procs::binary;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::standalone::{Standalone, shop_with_webhook};
use tonic::transport::Channel;

const WAIT: Duration = Duration::from_secs(90);
const TOKEN: &str = "deliveries-t0k";
const HOOK_SECRET: &str = "deliveries-secret";

type Api = DeliveryServiceClient<tonic::service::interceptor::InterceptedService<Channel, Bearer>>;

async fn api(addr: &str, token: &str) -> Api {
    let channel = eventually(WAIT, "the coordinator to accept connections", || {
        let addr = addr.to_string();
        async move { Channel::from_shared(addr).ok()?.connect().await.ok() }
    })
    .await;
    DeliveryServiceClient::with_interceptor(channel, Bearer::new(token))
}

fn lookout(addr: &str, args: &[&str]) -> std::process::Output {
    Command::new(binary("lookout"))
        .args(args)
        .env("LOOKOUT_ADDR", addr)
        .env("LOOKOUT_TOKEN", TOKEN)
        .output()
        .expect("run lookout")
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "lookout failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--output json prints JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_deliveries_are_listed_and_re_driven_with_the_same_id() {
    let target = Target::start(503).await;
    let receiver = Receiver::start(400).await;
    let standalone = Standalone::new(
        TOKEN,
        &shop_with_webhook(&target.url(), &receiver.url(), HOOK_SECRET),
    );
    let addr = standalone.addr();
    let _proc = standalone.start("standalone", &[]);

    // The receiver refuses the incident webhook: a permanent error, dead at once.
    let mut api = api(&addr, TOKEN).await;
    let dead: Delivery = eventually(WAIT, "a dead delivery in the log", || {
        let mut api = api.clone();
        async move {
            let list = api
                .list_deliveries(ListDeliveriesRequest {
                    state: DeliveryState::Dead as i32,
                    page_size: 10,
                    ..Default::default()
                })
                .await
                .ok()?
                .into_inner();
            list.deliveries.into_iter().next()
        }
    })
    .await;
    assert_eq!(
        (dead.monitor_id.as_str(), dead.event.as_str(), dead.attempts),
        ("shop", "incident", 1)
    );
    assert!(dead.last_error.contains("400"), "{}", dead.last_error);
    assert_eq!(
        (dead.integration_id.as_str(), dead.channel.as_str()),
        ("hook", "webhook")
    );
    assert!(!format!("{dead:?}").contains(HOOK_SECRET), "no secret");
    let got = api
        .get_delivery(GetDeliveryRequest {
            id: dead.id.clone(),
        })
        .await
        .expect("get delivery")
        .into_inner();
    // Get adds the event and the attempt log to what the list shows.
    let log = &got.attempt_log;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(
        (log[0].attempt, log[0].status_code, log[0].outcome.as_str()),
        (1, 400, "dead")
    );
    assert_eq!(
        got.notification.as_ref().map(|e| e.kind),
        Some(lookout_proto::v1::EventKind::Incident as i32)
    );
    assert_eq!(
        Delivery {
            notification: None,
            attempt_log: Vec::new(),
            ..got.clone()
        },
        dead
    );

    // Refusals: a wrong token, an unknown id, an unbounded list.
    let mut stranger = self::api(&addr, "wrong-token").await;
    let denied = stranger
        .retry_delivery(RetryDeliveryRequest {
            id: dead.id.clone(),
        })
        .await
        .expect_err("a wrong token is refused");
    assert_eq!(denied.code(), tonic::Code::Unauthenticated);
    let missing = api
        .retry_delivery(RetryDeliveryRequest {
            id: "dlv_nope".into(),
        })
        .await
        .expect_err("unknown delivery");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    let too_many = api
        .list_deliveries(ListDeliveriesRequest {
            page_size: 100_000,
            ..Default::default()
        })
        .await
        .expect_err("limit above the bound");
    assert_eq!(too_many.code(), tonic::Code::InvalidArgument);
    assert!(
        too_many.message().starts_with("page_size: "),
        "{too_many:?}"
    );

    // The CLI lists it; once the receiver is fixed, `retry` sends it again, same id.
    let listed = json_of(&lookout(
        &addr,
        &["deliveries", "list", "--state", "dead", "--output", "json"],
    ));
    assert_eq!(listed[0]["id"], dead.id.as_str(), "{listed}");
    let table = lookout(&addr, &["deliveries", "list"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains(&dead.id));
    receiver.set_status(200);
    let retried = json_of(&lookout(
        &addr,
        &["deliveries", "retry", &dead.id, "--output", "json"],
    ));
    assert_eq!(retried["id"], dead.id.as_str());
    assert_eq!(retried["state"], "DELIVERY_STATE_PENDING", "{retried}");
    eventually(WAIT, "the re-driven delivery to be delivered", || {
        let addr = addr.clone();
        let id = dead.id.clone();
        async move {
            let d = json_of(&lookout(
                &addr,
                &["deliveries", "get", &id, "--output", "json"],
            ));
            (d["state"] == "DELIVERY_STATE_DELIVERED").then_some(())
        }
    })
    .await;
    let sent: Vec<String> = receiver
        .of_type("incident")
        .iter()
        .map(|r| r.header("x-lookout-delivery"))
        .collect();
    assert_eq!(
        sent,
        vec![dead.id.clone(), dead.id.clone()],
        "same id twice"
    );

    // Only dead deliveries can be retried.
    let again = lookout(&addr, &["deliveries", "retry", &dead.id]);
    assert!(!again.status.success());
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("is delivered; only dead deliveries can be retried"),
        "{err}"
    );
}
