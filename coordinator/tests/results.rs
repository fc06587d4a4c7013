//! Result batches: acknowledged only after the bus accepted them, in order, stamped with the
//! session's agent and region; a failing bus gets no acknowledgement; a result refused for good
//! is replaced by an INTERNAL result once; a coordinator stopping mid-batch publishes and
//! acknowledges what it accepted.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{DEADLINE, Harness, TestAgent, http_monitor};
use futures::future::BoxFuture;
use lookout_bus::{BusError, ResultConsumer, ResultPublisher};
use lookout_proto::v1::{
    CheckResult, CheckStatus, ResultBatch, agent_message::Msg, coordinator_message::Msg as Out,
};
use tonic::Code;

const BEAT: Option<Duration> = Some(Duration::from_millis(100));

fn result(monitor_id: &str, n: u64) -> CheckResult {
    CheckResult {
        id: format!("res-{monitor_id}-{n}"),
        monitor_id: monitor_id.into(),
        monitor_version: 1,
        region: "forged".into(),
        agent_id: "forged".into(),
        status: CheckStatus::Up as i32,
        check_kind: "http".into(),
        ..Default::default()
    }
}

/// A coordinator whose store holds monitors `mon_a` and `mon_b` in eu (results are accepted
/// only for monitors the sending agent runs).
async fn start_seeded(publisher: Option<Arc<dyn ResultPublisher>>) -> Harness {
    let store =
        lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
    for id in ["mon_a", "mon_b"] {
        let mut m = http_monitor(id, &["eu"]);
        m.id = id.into();
        store.insert_monitor(m).await.expect("seed");
    }
    Harness::start_on(store, 1_000, publisher).await
}

#[tokio::test]
async fn batches_are_published_then_acknowledged_in_order() {
    let h = start_seeded(None).await;
    let mut consumer = h.bus.consumer();
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    for seq in 1..=5u64 {
        let results = vec![result("mon_a", seq * 2), result("mon_b", seq * 2 + 1)];
        agent.send(Msg::Results(ResultBatch { seq, results })).await;
    }
    agent
        .until("all five batches are acknowledged", |a| a.acks.len() == 5)
        .await;
    assert_eq!(agent.acks, [1, 2, 3, 4, 5]);

    let mut got = Vec::new();
    while got.len() < 10 {
        let records = tokio::time::timeout(DEADLINE, consumer.poll(100))
            .await
            .expect("records in time")
            .expect("poll");
        got.extend(records.into_iter().map(|r| r.result));
    }
    assert_eq!(got.len(), 10);
    assert!(
        got.iter().all(|r| r.agent_id == "a1" && r.region == "eu"),
        "results are stamped by the session"
    );
    let ids: Vec<_> = got
        .iter()
        .filter(|r| r.monitor_id == "mon_a")
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "res-mon_a-2",
            "res-mon_a-4",
            "res-mon_a-6",
            "res-mon_a-8",
            "res-mon_a-10"
        ]
    );
    h.stop().await;
}

/// The in-process bus, refusing everything while `down`, as Kafka does when no broker is
/// reachable.
struct FlakyBus {
    inner: lookout_bus::InProcPublisher,
    down: Arc<std::sync::atomic::AtomicBool>,
}

impl ResultPublisher for FlakyBus {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            if self.down.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(BusError::Closed);
            }
            self.inner.publish(results).await
        })
    }
}

/// While the bus is down nothing is acknowledged; the session stays up, takes batches until
/// its queue is full and refuses the rest (the agent keeps them); once the bus is back, the
/// batches it took are published in order and acknowledged.
#[tokio::test]
async fn while_the_bus_is_down_batches_wait_or_are_refused_and_nothing_is_lost() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let bus = lookout_bus::InProcBus::new();
    let mut consumer = bus.consumer();
    let down = Arc::new(AtomicBool::new(true));
    let flaky = FlakyBus {
        inner: bus.publisher(),
        down: down.clone(),
    };
    let h = start_seeded(Some(Arc::new(flaky))).await;
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    for seq in 1..=20u64 {
        agent
            .send(Msg::Results(ResultBatch {
                seq,
                results: vec![result("mon_a", seq)],
            }))
            .await;
    }
    let mut refused = Vec::new();
    let mut retry_after = Duration::ZERO;
    while refused.len() < 5 {
        match agent.next().await {
            Ok(Some(Out::Refused(r))) => {
                assert!(r.retry_after_ms >= 100, "{r:?}");
                assert!(!r.reason.is_empty());
                retry_after = Duration::from_millis(u64::from(r.retry_after_ms));
                refused.push(r.seq);
            }
            Ok(Some(Out::Ack(a))) => panic!("acknowledged batch {} while the bus is down", a.seq),
            Ok(Some(_)) => {}
            Ok(None) => panic!("closed"),
            Err(s) => panic!("the session ended while the bus was down: {s:?}"),
        }
    }
    let first_refused = refused[0];
    assert!(
        refused.windows(2).all(|w| w[0] < w[1]),
        "once one is refused, those after it are too: {refused:?}"
    );
    down.store(false, Ordering::SeqCst);
    let taken: Vec<u64> = (1..first_refused).collect();
    assert!(!taken.is_empty(), "the queue took some before refusing");
    agent
        .until("the batches taken are acknowledged", |a| {
            a.acks.len() >= taken.len()
        })
        .await;
    assert_eq!(agent.acks, taken, "in order, and none of the refused ones");
    let mut got = Vec::new();
    while got.len() < taken.len() {
        let records = tokio::time::timeout(DEADLINE, consumer.poll(100))
            .await
            .expect("records in time")
            .expect("poll");
        got.extend(records.into_iter().map(|r| r.result.id));
    }
    let expected: Vec<String> = taken.iter().map(|s| format!("res-mon_a-{s}")).collect();
    assert_eq!(got, expected);
    // The agent waits as asked, then sends a refused one again under a new number: taken.
    tokio::time::sleep(retry_after).await;
    agent
        .send(Msg::Results(ResultBatch {
            seq: 21,
            results: vec![result("mon_a", first_refused)],
        }))
        .await;
    agent
        .until("the resent batch is acknowledged", |a| a.acks.contains(&21))
        .await;
    h.stop().await;
}

/// The in-process bus, slowed down: each publish takes a while, as a loaded broker does.
struct SlowBus(lookout_bus::InProcPublisher);

impl ResultPublisher for SlowBus {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            self.0.publish(results).await
        })
    }
}

#[tokio::test]
async fn shutdown_mid_batch_still_publishes_and_acknowledges() {
    let bus = lookout_bus::InProcBus::new();
    let mut consumer = bus.consumer();
    let h = start_seeded(Some(Arc::new(SlowBus(bus.publisher())))).await;
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    for seq in 1..=2u64 {
        let results = vec![result("mon_a", seq), result("mon_b", seq)];
        agent.send(Msg::Results(ResultBatch { seq, results })).await;
    }
    // Both batches are taken in before the shutdown starts; the first is being published.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(h.stop());
    let ended = loop {
        match agent.next().await {
            Err(s) => break s,
            Ok(_) => continue,
        }
    };
    assert_eq!(
        agent.acks,
        [1, 2],
        "accepted batches are acknowledged first"
    );
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    stopping.await.expect("server stopped");
    let records = tokio::time::timeout(DEADLINE, consumer.poll(100))
        .await
        .expect("records in time")
        .expect("poll");
    assert_eq!(records.len(), 4, "every accepted result was published");
}

/// The in-process bus with a size limit like Kafka's `message.max.bytes`: larger results are
/// refused for good, the others published (the same contract `KafkaPublisher` keeps).
struct SizeLimitedBus(lookout_bus::InProcPublisher, usize);

impl ResultPublisher for SizeLimitedBus {
    fn publish<'a>(&'a self, results: &'a [CheckResult]) -> BoxFuture<'a, Result<(), BusError>> {
        Box::pin(async move {
            use prost::Message;
            let (fit, refused): (Vec<_>, Vec<_>) = results
                .iter()
                .enumerate()
                .partition(|(_, r)| r.encoded_len() <= self.1);
            let fit: Vec<CheckResult> = fit.into_iter().map(|(_, r)| r.clone()).collect();
            self.0.publish(&fit).await?;
            if refused.is_empty() {
                return Ok(());
            }
            Err(BusError::Refused(
                refused
                    .into_iter()
                    .map(|(index, _)| lookout_bus::Refusal {
                        index,
                        reason: "Message size too large".into(),
                    })
                    .collect(),
            ))
        })
    }
}

#[tokio::test]
async fn a_result_refused_for_good_is_replaced_once_and_acknowledged() {
    let bus = lookout_bus::InProcBus::new();
    let mut consumer = bus.consumer();
    let h = start_seeded(Some(Arc::new(SizeLimitedBus(bus.publisher(), 600)))).await;
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let mut large = result("mon_a", 2);
    large.status = CheckStatus::Down as i32;
    large.error_message = "x".repeat(1_000);
    let results = vec![result("mon_a", 1), large, result("mon_b", 3)];
    agent
        .send(Msg::Results(ResultBatch { seq: 1, results }))
        .await;
    agent
        .until("the batch is acknowledged", |a| a.acks == [1])
        .await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let records = tokio::time::timeout(DEADLINE, consumer.poll(100))
            .await
            .expect("records in time")
            .expect("poll");
        got.extend(records.into_iter().map(|r| r.result));
    }
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["res-mon_a-1", "res-mon_b-3", "res-mon_a-2"]);
    let replaced = &got[2];
    assert_eq!(replaced.status(), CheckStatus::Missed);
    assert_eq!(
        replaced.failure_class(),
        lookout_proto::FailureClass::Internal
    );
    assert_eq!(
        (replaced.agent_id.as_str(), replaced.region.as_str()),
        ("a1", "eu")
    );
    assert!(
        replaced
            .error_message
            .contains("refused this result for good")
            && replaced.error_message.contains("Message size too large"),
        "{}",
        replaced.error_message
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.poll(10))
            .await
            .is_err(),
        "nothing published twice"
    );
    h.stop().await;
}
