//! The gateway under oversized input, with the real binaries: a check whose failure quotes a
//! 1 MB JSON value does not stall its agent (both monitors' results reach Kafka, each result
//! id once, the session never drops), and a raw client sending a 100,000-result batch or an
//! over-limit message is refused with a clear status while another agent's results flow.

use lookout_store::testing::TestDb;
use std::collections::HashSet;
use std::time::Duration;

use lookout_proto::v1::agent_gateway_client::AgentGatewayClient;
use lookout_proto::v1::http_assertion::Assertion;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{
    AgentMessage, CheckResult, Comparison, Hello, HttpAssertion, HttpCheck, JsonPathAssertion,
    Monitor, ResultBatch, agent_message::Msg,
};
use lookout_proto::{CheckStatus, FailureClass};
use lookout_tests::cluster::{Cluster, ResultLog};
use lookout_tests::eventually;
use lookout_tests::servers::{JsonTarget, Target};
use tokio_stream::wrappers::ReceiverStream;

const WAIT: Duration = Duration::from_secs(90);

fn http_monitor(name: &str, region: &str, url: String, assertions: Vec<HttpAssertion>) -> Monitor {
    Monitor {
        name: name.into(),
        regions: vec![region.into()],
        interval_secs: 1,
        timeout_ms: 1_000,
        check: Some(Check::Http(HttpCheck {
            url,
            assertions,
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// Waits until `monitor_id` has at least `n` results on the topic; returns them.
/// At least `n` results of the agent for `monitor_id` on Kafka. The coordinator's own
/// NO_DATA results (no `agent_id`; a slow machine can go 3 intervals without one) are left out.
async fn results_of(log: &ResultLog, monitor_id: &str, region: &str, n: usize) -> Vec<CheckResult> {
    let what = format!("{n} results of {monitor_id} on Kafka");
    eventually(WAIT, &what, || {
        let got: Vec<CheckResult> = log
            .of(monitor_id, region)
            .into_iter()
            .filter(|r| !r.agent_id.is_empty())
            .collect();
        async move { (got.len() >= n).then_some(got) }
    })
    .await
}

async fn a_huge_failure_message_does_not_stall_the_agent(db: TestDb) {
    let big = JsonTarget::start(1_000_000).await;
    let normal = Target::start(200).await;
    let mut cluster = Cluster::new(&db, &["eu-west"]);
    cluster.start_coordinator();
    cluster.start_agent("eu-west");
    let results = cluster.watch_results();

    let json_path = HttpAssertion {
        assertion: Some(Assertion::JsonPath(JsonPathAssertion {
            path: "$".into(),
            comparison: Comparison::Equals as i32,
            value: "\"x\"".into(),
        })),
    };
    let huge = cluster
        .create_monitor(http_monitor("huge", "eu-west", big.url(), vec![json_path]))
        .await;
    let plain = cluster
        .create_monitor(http_monitor("plain", "eu-west", normal.url(), vec![]))
        .await;

    let huge_results = results_of(&results, &huge.id, "eu-west", 8).await;
    let plain_results = results_of(&results, &plain.id, "eu-west", 8).await;
    for r in &huge_results {
        assert_eq!(r.status(), CheckStatus::Down, "{r:?}");
        assert_eq!(r.failure_class(), FailureClass::Assertion, "{r:?}");
        assert!(
            r.error_message.len() <= 1024,
            "{} bytes",
            r.error_message.len()
        );
    }
    assert!(plain_results.iter().all(|r| r.status() == CheckStatus::Up));

    let all = results.all();
    let mut seen = HashSet::new();
    let repeated: Vec<&str> = all
        .iter()
        .filter(|r| !seen.insert(r.id.as_str()))
        .map(|r| r.id.as_str())
        .collect();
    assert!(
        repeated.is_empty(),
        "published more than once: {repeated:?}"
    );

    let coordinator = cluster.coordinator.as_ref().expect("coordinator").output();
    assert_eq!(
        coordinator.matches("agent joined").count(),
        1,
        "one session, never dropped:\n{coordinator}"
    );
    assert!(!coordinator.contains("agent left"), "{coordinator}");
    assert!(
        !coordinator.contains("agent stream failed"),
        "{coordinator}"
    );
}

/// A raw gRPC client holding agent-us-east's token: Hello, then `batch`; returns the status the
/// session ends with.
async fn raw_session(addr: String, batch: ResultBatch) -> tonic::Status {
    let mut client = AgentGatewayClient::connect(addr).await.expect("connect");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let hello = Hello {
        agent_id: "agent-us-east".into(),
        region: "us-east".into(),
        version: "raw".into(),
        capacity: 1,
        last_assignment_version: 0,
        running: vec![],
    };
    tx.send(AgentMessage {
        msg: Some(Msg::Hello(hello)),
    })
    .await
    .expect("queue hello");
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    request.metadata_mut().insert(
        "authorization",
        "Bearer agent-token-us-east".parse().expect("ascii"),
    );
    let mut inbound = client.session(request).await.expect("session").into_inner();
    inbound.message().await.expect("welcome").expect("welcome");
    tx.send(AgentMessage {
        msg: Some(Msg::Results(batch)),
    })
    .await
    .expect("queue batch");
    loop {
        match tokio::time::timeout(WAIT, inbound.message())
            .await
            .expect("the session ends in time")
        {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("the session closed without a status"),
            Err(status) => return status,
        }
    }
}

async fn oversized_batches_are_refused_while_another_agent_flows(db: TestDb) {
    let normal = Target::start(200).await;
    let mut cluster = Cluster::new(&db, &["eu-west", "us-east"]);
    cluster.start_coordinator();
    cluster.start_agent("eu-west");
    let results = cluster.watch_results();
    let plain = cluster
        .create_monitor(http_monitor("plain", "eu-west", normal.url(), vec![]))
        .await;
    let us = cluster
        .create_monitor(http_monitor("us", "us-east", normal.url(), vec![]))
        .await;
    results_of(&results, &plain.id, "eu-west", 2).await;

    // A few bytes each: 100,000 of them stay under the byte limit.
    let tiny = CheckResult {
        status: CheckStatus::Up as i32,
        ..Default::default()
    };
    let many = ResultBatch {
        seq: 1,
        results: vec![tiny; 100_000],
    };
    let refused = raw_session(cluster.addr(), many).await;
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");
    assert!(
        refused
            .message()
            .starts_with("results.results: 100000 results"),
        "{refused:?}"
    );
    let before = results.of(&plain.id, "eu-west").len();
    results_of(&results, &plain.id, "eu-west", before + 2).await;

    let large = ResultBatch {
        seq: 1,
        results: vec![CheckResult {
            monitor_id: us.id.clone(),
            status: CheckStatus::Down as i32,
            error_message: "e".repeat(5 << 20),
            ..Default::default()
        }],
    };
    let refused = raw_session(cluster.addr(), large).await;
    assert_eq!(refused.code(), tonic::Code::OutOfRange, "{refused:?}");
    assert!(refused.message().contains("too large"), "{refused:?}");
    let before = results.of(&plain.id, "eu-west").len();
    results_of(&results, &plain.id, "eu-west", before + 2).await;

    // The coordinator's own NO_DATA reports for the agentless region are expected; nothing an
    // agent sent for it may appear.
    let from_agents: Vec<_> = results
        .of(&us.id, "us-east")
        .into_iter()
        .filter(|r| r.status != CheckStatus::NoData as i32)
        .collect();
    assert!(
        from_agents.is_empty(),
        "nothing of the refused batches was published: {from_agents:?}"
    );
    let coordinator = cluster.coordinator.as_ref().expect("coordinator").output();
    assert!(
        coordinator.contains("agent stream failed") && coordinator.contains("too large"),
        "the coordinator logs the refusal with its reason:\n{coordinator}"
    );
}

lookout_store::backend_tests!(
    a_huge_failure_message_does_not_stall_the_agent,
    oversized_batches_are_refused_while_another_agent_flows,
);
