//! No data is not "up": a (monitor, region) without usable results for three intervals gets a
//! NO_DATA result on the bus from the coordinator, naming why, and real results end it.

mod common;

use std::time::Duration;

use common::{Harness, TestAgent, http_monitor};
use lookout_bus::{InProcConsumer, ResultConsumer};
use lookout_proto::v1::{CheckResult, CheckStatus, ResultBatch, agent_message::Msg};
use tokio::time::{Instant, timeout};

const BEAT: Option<Duration> = Some(Duration::from_millis(200));
/// Generous bound for a 1 s monitor: 3 intervals + 1 s timeout + 1 s sweep, with room to spare.
const BOUND: Duration = Duration::from_secs(15);

/// Everything read from the bus so far.
struct Log {
    consumer: InProcConsumer,
    results: Vec<CheckResult>,
}

impl Log {
    /// Reads what arrives within `wait`.
    async fn read_for(&mut self, wait: Duration) {
        let end = Instant::now() + wait;
        while let Ok(Ok(batch)) = timeout(
            end.saturating_duration_since(Instant::now()),
            self.consumer.poll(100),
        )
        .await
        {
            self.results.extend(batch.into_iter().map(|r| r.result));
        }
    }

    fn no_data(&self, monitor_id: &str, region: &str) -> Vec<CheckResult> {
        self.results
            .iter()
            .filter(|r| {
                r.monitor_id == monitor_id
                    && r.region == region
                    && r.status == CheckStatus::NoData as i32
            })
            .cloned()
            .collect()
    }
}

/// One UP result from `agent`, published and acknowledged.
async fn report_up(agent: &mut TestAgent, monitor_id: &str, seq: &mut u64) {
    *seq += 1;
    let n = *seq;
    let result = CheckResult {
        id: uuid::Uuid::now_v7().to_string(),
        monitor_id: monitor_id.into(),
        monitor_version: 1,
        status: CheckStatus::Up as i32,
        check_kind: "http".into(),
        ..Default::default()
    };
    agent
        .send(Msg::Results(ResultBatch {
            seq: n,
            results: vec![result],
        }))
        .await;
    agent
        .until("the batch is acknowledged", |a| a.acks.contains(&n))
        .await;
}

#[tokio::test]
async fn a_region_without_an_agent_has_no_data_until_results_come() {
    let h = Harness::start().await;
    let mut log = Log {
        consumer: h.bus.consumer(),
        results: Vec::new(),
    };
    let mut admin = h.admin().await;
    let mut m = http_monitor("two regions", &["eu", "us"]);
    m.interval_secs = 1;
    m.timeout_ms = 1_000;
    let m = admin.create(m).await.expect("create");
    let created = Instant::now();
    let mut eu = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let (mut eu_seq, mut us_seq) = (0, 0);

    // eu reports every half second; us has no agent.
    let first = loop {
        report_up(&mut eu, &m.id, &mut eu_seq).await;
        log.read_for(Duration::from_millis(500)).await;
        if let Some(r) = log.no_data(&m.id, "us").pop() {
            break r;
        }
        assert!(
            created.elapsed() < BOUND,
            "no NO_DATA for us within {BOUND:?}"
        );
    };
    assert!(
        created.elapsed() >= Duration::from_secs(3),
        "not before three intervals: {:?}",
        created.elapsed()
    );
    assert_eq!(first.error_message, "no agent connected in region us");
    assert_eq!(
        (
            first.monitor_version,
            first.agent_id.as_str(),
            first.check_kind.as_str()
        ),
        (m.version, "", "http")
    );
    assert!(first.scheduled_at_ms > 0);
    assert!(log.no_data(&m.id, "eu").is_empty(), "eu has data");

    // An agent in us and its results end the silence: nothing more for the next 5 s.
    let mut us = TestAgent::connect(h.addr, "u1", "us", BEAT).await;
    let reported = log.no_data(&m.id, "us").len();
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(5) {
        report_up(&mut eu, &m.id, &mut eu_seq).await;
        report_up(&mut us, &m.id, &mut us_seq).await;
        log.read_for(Duration::from_millis(500)).await;
    }
    assert_eq!(log.no_data(&m.id, "us").len(), reported, "results stop it");

    // us goes quiet with its agent still connected: a new silence, named as one.
    let silent = Instant::now();
    let second = loop {
        report_up(&mut eu, &m.id, &mut eu_seq).await;
        log.read_for(Duration::from_millis(500)).await;
        if log.no_data(&m.id, "us").len() > reported {
            break log.no_data(&m.id, "us").pop().expect("one more");
        }
        assert!(
            silent.elapsed() < BOUND,
            "no second NO_DATA within {BOUND:?}"
        );
    };
    assert_eq!(second.error_message, "no result for 3 intervals (3 s)");
    assert!(log.no_data(&m.id, "eu").is_empty(), "eu still has data");
    h.stop().await;
}

#[tokio::test]
async fn paused_and_deleted_monitors_are_not_reported() {
    let h = Harness::start().await;
    let mut log = Log {
        consumer: h.bus.consumer(),
        results: Vec::new(),
    };
    let mut admin = h.admin().await;
    let mut m = http_monitor("paused", &["us"]);
    m.interval_secs = 1;
    m.timeout_ms = 1_000;
    let paused = admin.create(m.clone()).await.expect("create");
    admin.pause(&paused.id, true).await.expect("pause");
    let deleted = admin.create(m.clone()).await.expect("create");
    admin.delete(&deleted.id).await.expect("delete");
    let control = admin.create(m).await.expect("create");
    let start = Instant::now();
    while log.no_data(&control.id, "us").is_empty() {
        log.read_for(Duration::from_millis(500)).await;
        assert!(start.elapsed() < BOUND, "the control monitor is reported");
    }
    log.read_for(Duration::from_secs(1)).await;
    assert!(log.no_data(&paused.id, "us").is_empty());
    assert!(log.no_data(&deleted.id, "us").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_restarted_coordinator_gives_agents_time_to_come_back() {
    let store =
        lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
    let mut stored = http_monitor("stored", &["us"]);
    stored.id = "mon_stored".into();
    stored.interval_secs = 1;
    stored.timeout_ms = 1_000;
    let stored = store.insert_monitor(stored).await.expect("insert");
    let h = Harness::start_on(store, 1_000, None).await;
    let mut log = Log {
        consumer: h.bus.consumer(),
        results: Vec::new(),
    };
    // A monitor created after the start is reported on its own clock...
    let mut admin = h.admin().await;
    let mut fresh = http_monitor("fresh", &["us"]);
    fresh.interval_secs = 1;
    fresh.timeout_ms = 1_000;
    let fresh = admin.create(fresh).await.expect("create");
    let start = Instant::now();
    while log.no_data(&fresh.id, "us").is_empty() {
        log.read_for(Duration::from_millis(500)).await;
        assert!(start.elapsed() < BOUND, "the fresh monitor is reported");
    }
    // ...while the one it had before waits for the reconnect grace.
    log.read_for(Duration::from_secs(2)).await;
    assert!(log.no_data(&stored.id, "us").is_empty());
    h.stop().await;
}
