//! A failing receiver: 5xx is retried with backoff until it answers 200 (delivered once),
//! 4xx is dead at once, and neither stalls the consumption of other results.

mod common;

use common::{Receiver, eventually, monitor, outbox_settled, result};
use lookout_bus::{InProcBus, ResultPublisher};
use lookout_store::notifier::OutboxState;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;

async fn server_errors_are_retried_until_delivered_without_stalling_consumption(db: TestDb) {
    let store = db.store.clone();
    let failing = Receiver::start(500).await;
    let healthy = Receiver::start(200).await;
    let a = monitor(&store, "mon_a", &["eu"], 1, &failing.url).await;
    let b = monitor(&store, "mon_b", &["eu"], 1, &healthy.url).await;
    let (publisher, running) = common::start_in_process(&store);

    common::publish_down(&publisher, &a.id, "eu", 3).await;
    eventually("two failed attempts", || async {
        failing.hits().len() >= 2
    })
    .await;

    // The receiver of mon_a keeps failing; mon_b's results are still consumed and delivered.
    common::publish_down(&publisher, &b.id, "eu", 3).await;
    eventually("mon_b's incident while mon_a retries", || async {
        healthy.accepted_of("incident").len() == 1
    })
    .await;
    assert!(failing.accepted().is_empty());

    failing.answer(200);
    eventually("mon_a delivered after the receiver healed", || async {
        failing.accepted().len() == 1
    })
    .await;
    eventually("the outbox to settle", || outbox_settled(&store)).await;
    assert_eq!(failing.accepted().len(), 1, "delivered exactly once");
    let attempts = failing.hits().len();
    assert!(attempts >= 3, "{attempts} attempts");
    let ids: std::collections::HashSet<_> = failing
        .hits()
        .iter()
        .map(|h| h.header("x-lookout-delivery").to_string())
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "every attempt carries the same idempotency id"
    );
    let rows = store.list_outbox(None).await.expect("outbox");
    let row = rows
        .iter()
        .find(|r| r.monitor_id.as_deref() == Some("mon_a"))
        .expect("mon_a row");
    assert_eq!(
        (row.state, row.attempts as usize),
        (OutboxState::Delivered, attempts)
    );
    assert_eq!(
        row.last_error.as_deref(),
        Some("receiver answered 500 Internal Server Error")
    );
    running.stop().await;
}

async fn client_errors_are_dead_at_once_and_retries_run_out(db: TestDb) {
    let store = db.store.clone();
    let gone = Receiver::start(404).await;
    let broken = Receiver::start(503).await;
    let a = monitor(&store, "mon_gone", &["eu"], 1, &gone.url).await;
    let b = monitor(&store, "mon_broken", &["eu"], 1, &broken.url).await;
    let bus = InProcBus::new();
    let publisher = bus.publisher();
    let mut config = common::config();
    config.delivery.max_retries = 2;
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);

    for m in [&a, &b] {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    eventually("both deliveries to finish", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() == 2 && rows.iter().all(|r| r.state == OutboxState::Dead)
    })
    .await;
    assert!(outbox_settled(&store).await);
    assert_eq!(gone.hits().len(), 1, "404 is permanent");
    assert_eq!(broken.hits().len(), 3, "first attempt plus max_retries");
    let rows = store.list_outbox(None).await.expect("outbox");
    let dead = rows
        .iter()
        .find(|r| r.monitor_id.as_deref() == Some("mon_broken"))
        .expect("row");
    assert_eq!(
        dead.last_error.as_deref(),
        Some("gave up after 3 attempts: receiver answered 503 Service Unavailable")
    );
    running.stop().await;
}

async fn slow_receivers_time_out_and_oversized_payloads_are_dead(db: TestDb) {
    let store = db.store.clone();
    let slow = Receiver::start(200).await;
    slow.delay(2_000);
    let m = monitor(&store, "mon_slow", &["eu"], 1, &slow.url).await;
    let bus = InProcBus::new();
    let publisher = bus.publisher();
    let mut config = common::config();
    config.delivery.timeout_ms = 200;
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    common::publish_down(&publisher, &m.id, "eu", 3).await;
    eventually("a timed-out attempt to be recorded", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.first()
            .is_some_and(|r| r.attempts >= 1 && r.state == OutboxState::Pending)
    })
    .await;
    slow.delay(0);
    eventually("delivery once the receiver is fast", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.first()
            .is_some_and(|r| r.state == OutboxState::Delivered)
    })
    .await;
    let row = &store.list_outbox(None).await.expect("outbox")[0];
    assert!(row.attempts >= 2, "{row:?}");
    assert!(
        row.last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out") || e.contains("no answer")),
        "{row:?}"
    );
    running.stop().await;

    // Same store, tiny payload cap: the recovery is refused before any request is made.
    let mut config = common::config();
    config.delivery.max_payload_bytes = 64;
    let bus = InProcBus::new();
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    let sent_before = slow.hits().len();
    bus.publisher()
        .publish(&[result(&m.id, "eu", lookout_proto::CheckStatus::Up)])
        .await
        .expect("publish");
    eventually("the recovery to be dead", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().any(|r| {
            r.event == lookout_proto::v1::EventKind::Recovery && r.state == OutboxState::Dead
        })
    })
    .await;
    let rows = store.list_outbox(None).await.expect("outbox");
    let dead = rows
        .iter()
        .find(|r| r.state == OutboxState::Dead)
        .expect("dead row");
    assert!(
        dead.last_error
            .as_deref()
            .is_some_and(|e| e.contains("exceeds max_payload_bytes 64")),
        "{dead:?}"
    );
    assert_eq!(slow.hits().len(), sent_before, "nothing sent");
    running.stop().await;
}

async fn rate_limited_deliveries_wait_without_using_an_attempt(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    // One integration at one delivery a minute, shared by two monitors.
    let mut shared = common::webhook_integration(&store, "int_rl", &rx.url).await;
    shared.rate_limit_per_minute = 1;
    store
        .update_integration_in_project(DEFAULT_PROJECT_ID, "webhook", shared, 1)
        .await
        .expect("rate limit");
    let a = common::monitor_with(&store, "mon_rl_a", &["eu"], 1, &["int_rl"]).await;
    let b = common::monitor_with(&store, "mon_rl_b", &["eu"], 1, &["int_rl"]).await;
    let bus = InProcBus::new();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    let publisher = bus.publisher();
    for m in [&a, &b] {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    // Deferred until the next token (~60 s), beyond the claim lease (timeout + 30 s).
    eventually("one delivery and one deferred row", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        let now = lookout_store::now_ms();
        rows.len() == 2
            && rows.iter().any(|r| r.state == OutboxState::Delivered)
            && rows
                .iter()
                .any(|r| r.state == OutboxState::Pending && r.next_attempt_at_ms > now + 45_000)
    })
    .await;
    let rows = store.list_outbox(None).await.expect("outbox");
    let deferred = rows
        .iter()
        .find(|r| r.state == OutboxState::Pending)
        .expect("deferred row");
    assert_eq!(
        (deferred.attempts, deferred.last_error.as_deref()),
        (0, None),
        "{deferred:?}"
    );
    assert_eq!(
        rx.hits().len(),
        1,
        "the second delivery waits for the integration's next token"
    );
    running.stop().await;
}

async fn private_destinations_are_refused_unless_allowed(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(200).await;
    let port = rx
        .url
        .trim_start_matches("http://127.0.0.1:")
        .trim_end_matches("/hook");
    let by_name = format!("http://localhost:{port}/hook");
    let a = monitor(&store, "mon_literal", &["eu"], 1, &rx.url).await;
    let b = monitor(&store, "mon_name", &["eu"], 1, &by_name).await;
    let bus = InProcBus::new();
    let mut config = common::config();
    config.delivery.allow_private_destinations = false;
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    let publisher = bus.publisher();
    for m in [&a, &b] {
        common::publish_down(&publisher, &m.id, "eu", 3).await;
    }
    eventually("both deliveries to be refused", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.len() == 2 && rows.iter().all(|r| r.state == OutboxState::Dead)
    })
    .await;
    for row in store.list_outbox(None).await.expect("outbox") {
        let err = row.last_error.clone().unwrap_or_default();
        assert!(err.contains("is not a public address"), "{row:?}");
        assert_eq!(row.attempts, 1, "refusals are permanent: {row:?}");
    }
    assert!(rx.hits().is_empty(), "nothing reached the private receiver");
    running.stop().await;
}

async fn a_recovery_waits_for_its_incident_to_be_delivered(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(503).await;
    let m = monitor(&store, "mon_order", &["eu"], 1, &rx.url).await;
    let (publisher, running) = common::start_in_process(&store);
    common::publish_down(&publisher, &m.id, "eu", 3).await;
    publisher
        .publish(&[result(&m.id, "eu", lookout_proto::CheckStatus::Up)])
        .await
        .expect("publish");
    eventually(
        "the recovery row and a few failed incident attempts",
        || async {
            store.list_outbox(None).await.expect("outbox").len() == 2 && rx.hits().len() >= 3
        },
    )
    .await;
    let tried: Vec<String> = rx.hits().iter().map(|h| h.notification_type()).collect();
    assert!(
        tried.iter().all(|t| t == "incident"),
        "the recovery went out first: {tried:?}"
    );

    rx.answer(200);
    eventually("both delivered", || async { rx.accepted().len() == 2 }).await;
    let order: Vec<String> = rx
        .accepted()
        .iter()
        .map(|h| h.notification_type())
        .collect();
    assert_eq!(order, ["incident", "recovery"]);
    running.stop().await;
}

lookout_store::backend_tests!(
    server_errors_are_retried_until_delivered_without_stalling_consumption,
    client_errors_are_dead_at_once_and_retries_run_out,
    slow_receivers_time_out_and_oversized_payloads_are_dead,
    rate_limited_deliveries_wait_without_using_an_attempt,
    private_destinations_are_refused_unless_allowed,
    a_recovery_waits_for_its_incident_to_be_delivered,
);
