//! Agents are trusted no further than their token: a Hello's capacity and version are bounded,
//! forged, stale or malformed results are dropped (never published), and an oversized batch or
//! message is refused with a clear status while other agents' results keep flowing.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{DEADLINE, Harness, TestAgent, hello, http_monitor, open_session, recv};
use lookout_bus::{InProcConsumer, ResultConsumer};
use lookout_proto::v1::{
    CheckResult, CheckStatus, Hello, ResultBatch, agent_message::Msg,
    coordinator_message::Msg as Out,
};
use tonic::Code;

const BEAT: Option<Duration> = Some(Duration::from_millis(100));

fn result(id: &str, monitor_id: &str, status: CheckStatus) -> CheckResult {
    CheckResult {
        id: id.into(),
        monitor_id: monitor_id.into(),
        monitor_version: 1,
        status: status as i32,
        check_kind: "http".into(),
        ..Default::default()
    }
}

/// Reads the bus until `n` results arrived.
async fn read(consumer: &mut InProcConsumer, n: usize) -> Vec<CheckResult> {
    let mut got = Vec::new();
    while got.len() < n {
        let records = tokio::time::timeout(DEADLINE, consumer.poll(1000))
            .await
            .expect("records in time")
            .expect("poll");
        got.extend(records.into_iter().map(|r| r.result));
    }
    got
}

/// Sends `batch` and waits for its acknowledgement.
async fn send_acked(agent: &mut TestAgent, batch: ResultBatch) {
    let seq = batch.seq;
    agent.send(Msg::Results(batch)).await;
    agent
        .until("the batch is acknowledged", |a| a.acks.contains(&seq))
        .await;
}

#[tokio::test]
async fn capacity_is_bounded() {
    let h = Harness::start().await;
    let greedy = Hello {
        capacity: u32::MAX,
        ..hello("a1", "eu")
    };
    let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), greedy)
        .await
        .expect("open");
    let s = recv(&mut rx).await.expect_err("refused");
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert!(s.message().starts_with("hello.capacity: "), "{s:?}");
    assert!(s.message().contains("1..=1000"), "{s:?}");

    let default = Hello {
        capacity: 0,
        ..hello("a1", "eu")
    };
    let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), default)
        .await
        .expect("open");
    assert!(matches!(recv(&mut rx).await, Ok(Some(Out::Welcome(_)))));
    h.stop().await;
}

#[tokio::test]
async fn a_huge_last_assignment_version_does_not_overflow() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let m = admin
        .create(http_monitor("m", &["eu"]))
        .await
        .expect("create");
    let claim = Hello {
        last_assignment_version: u64::MAX,
        ..hello("a1", "eu")
    };
    for _ in 0..2 {
        // Twice: the second session starts from the saturated counter of the first.
        let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), claim.clone())
            .await
            .expect("open");
        assert!(matches!(recv(&mut rx).await, Ok(Some(Out::Welcome(_)))));
        match recv(&mut rx).await {
            Ok(Some(Out::Assignment(a))) => {
                assert!(a.snapshot);
                assert_eq!(a.version, u64::MAX);
                assert_eq!(a.upserts[0].id, m.id);
            }
            other => panic!("expected the snapshot, got {other:?}"),
        }
    }
    // The coordinator is still serving.
    let agent = TestAgent::connect(h.addr, "a2", "eu", BEAT).await;
    drop(agent);
    h.stop().await;
}

#[tokio::test]
async fn forged_and_malformed_results_are_dropped_not_published() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let mut eu = BTreeSet::new();
    for i in 0..12 {
        let m = admin
            .create(http_monitor(&format!("m{i}"), &["eu"]))
            .await
            .expect("create");
        eu.insert(m.id);
    }
    let us = admin
        .create(http_monitor("us", &["us"]))
        .await
        .expect("create");
    let mut a = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let mut b = TestAgent::connect(h.addr, "a2", "eu", BEAT).await;
    let split = |a: &TestAgent| a.assigned.len() < eu.len() && !a.assigned.is_empty();
    a.until("a1 gives a share to a2", split).await;
    b.until("a2 has its share", |b| !b.assigned.is_empty())
        .await;
    a.until("a1 has exactly the rest", |a| {
        a.assigned.len() + b.assigned.len() == eu.len()
    })
    .await;
    let mine = a.ids()[0].clone();
    let theirs = b.ids()[0].clone();

    let mut consumer = h.bus.consumer();
    let mut long_id = result("", &mine, CheckStatus::Up);
    long_id.id = "x".repeat(65);
    let mut huge_message = result("ok-2", &mine, CheckStatus::Down);
    huge_message.error_message = "e".repeat(1 << 20);
    let batch = ResultBatch {
        seq: 1,
        results: vec![
            result("forged", &theirs, CheckStatus::Down),
            result("ghost", "mon_does_not_exist", CheckStatus::Down),
            result("other-region", &us.id, CheckStatus::Down),
            result("no-data", &mine, CheckStatus::NoData),
            result("bad-status", &mine, CheckStatus::Unspecified),
            long_id,
            result("ok-1", &mine, CheckStatus::Up),
            huge_message,
        ],
    };
    send_acked(&mut a, batch).await;
    // b's own result proves the bus is read past anything a published.
    send_acked(
        &mut b,
        ResultBatch {
            seq: 1,
            results: vec![result("b-1", &theirs, CheckStatus::Up)],
        },
    )
    .await;
    let got = read(&mut consumer, 3).await;
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["ok-1", "ok-2", "b-1"]);
    assert!(
        got[1].error_message.len() <= 1024,
        "bounded again at the gateway"
    );
    assert_eq!(got[2].agent_id, "a2");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), consumer.poll(10))
            .await
            .is_err(),
        "nothing else was published"
    );
    h.stop().await;
}

#[tokio::test]
async fn an_oversized_batch_is_refused_while_other_agents_flow() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let eu = admin
        .create(http_monitor("eu", &["eu"]))
        .await
        .expect("create");
    let us = admin
        .create(http_monitor("us", &["us"]))
        .await
        .expect("create");
    let mut consumer = h.bus.consumer();
    let mut steady = TestAgent::connect(h.addr, "u1", "us", BEAT).await;
    let mut next_seq = 0u64;
    let mut beat = async |steady: &mut TestAgent| {
        next_seq += 1;
        let id = format!("steady-{next_seq}");
        let batch = ResultBatch {
            seq: next_seq,
            results: vec![result(&id, &us.id, CheckStatus::Up)],
        };
        send_acked(steady, batch).await;
        id
    };

    // 100,000 tiny results: under the byte limit, over the count limit.
    let mut many = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let tiny = CheckResult {
        status: CheckStatus::Up as i32,
        ..Default::default()
    };
    let results = vec![tiny; 100_000];
    many.send(Msg::Results(ResultBatch { seq: 1, results }))
        .await;
    let s = ended(&mut many).await;
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert!(
        s.message().starts_with("results.results: 100000 results"),
        "{s:?}"
    );
    let first = beat(&mut steady).await;

    // Over the 4 MiB message limit: refused before it is decoded, with the reason.
    let mut large = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let mut big = result("big", &eu.id, CheckStatus::Down);
    big.error_message = "e".repeat(5 << 20);
    large
        .send(Msg::Results(ResultBatch {
            seq: 1,
            results: vec![big],
        }))
        .await;
    let s = ended(&mut large).await;
    assert_eq!(s.code(), Code::OutOfRange, "{s:?}");
    assert!(s.message().contains("too large"), "{s:?}");
    let second = beat(&mut steady).await;

    let got = read(&mut consumer, 2).await;
    let ids: Vec<&str> = got.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [first.as_str(), second.as_str()],
        "nothing of the refused batches"
    );
    h.stop().await;
}

/// Reads until the session ends; no batch of it may be acknowledged.
async fn ended(agent: &mut TestAgent) -> tonic::Status {
    loop {
        match agent.next().await {
            Err(s) => return s,
            Ok(Some(Out::Ack(a))) => panic!("acknowledged refused batch {}", a.seq),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("closed without a status"),
        }
    }
}
