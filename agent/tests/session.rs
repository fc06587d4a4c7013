//! The agent against a real tonic AgentGateway on 127.0.0.1: assignment in, TCP checks run
//! against a local listener, batches out and acked; a coordinator restart with unacked
//! batches gets them again; a refused agent keeps retrying until its token is accepted;
//! shutdown drains (keeps checking until the coordinator answers Drained, at most
//! `drain_timeout_ms`), then flushes buffered results and waits for their acknowledgements.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{
    TOKEN, assignment, config, counted_tcp_target, epoch_ms, result_ids, serve, tcp_target,
    wait_for,
};
use lookout_proto::CheckStatus;
use tokio::net::TcpListener;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_are_batched_acked_and_resent_after_a_restart() {
    let target = tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let first = serve(listener, assignment(target));
    let stop_agent = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(
        config(addr, TOKEN),
        stop_agent.clone().cancelled_owned(),
    ));

    // Results arrive in batches of at most 2, with increasing seq, and heartbeats flow.
    wait_for("three acked batches", 15, || {
        first.seen.lock().expect("lock").batches.len() >= 3
    })
    .await;
    wait_for("a heartbeat", 5, || {
        first.seen.lock().expect("lock").heartbeats >= 1
    })
    .await;
    {
        let seen = first.seen.lock().expect("lock");
        assert_eq!(seen.authorization[0], format!("Bearer {TOKEN}"));
        let hello = &seen.hellos[0];
        assert_eq!(
            (hello.agent_id.as_str(), hello.region.as_str()),
            ("agent-eu-1", "eu")
        );
        assert_eq!(hello.last_assignment_version, 0);
        assert!(hello.running.is_empty(), "a new agent runs nothing yet");
        let seqs: Vec<u64> = seen.batches.iter().map(|b| b.seq).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        for r in seen.batches.iter().flat_map(|b| &b.results) {
            assert_eq!(r.status, CheckStatus::Up as i32, "{r:?}");
            assert_eq!(
                (
                    r.monitor_id.as_str(),
                    r.monitor_version,
                    r.check_kind.as_str()
                ),
                ("mon_tcp", 3, "tcp")
            );
            assert_eq!(
                (r.agent_id.as_str(), r.region.as_str()),
                ("agent-eu-1", "eu")
            );
            assert!(r.started_at_ms >= r.scheduled_at_ms);
        }
        assert!(
            seen.batches
                .iter()
                .all(|b| (1..=2).contains(&b.results.len()))
        );
    }

    // The coordinator stops acknowledging, then goes away.
    first.ack.store(false, Ordering::SeqCst);
    let acked_batches = first.seen.lock().expect("lock").batches.len();
    wait_for("two unacked batches", 15, || {
        first.seen.lock().expect("lock").batches.len() >= acked_batches + 2
    })
    .await;
    let (unacked, last_seq) = {
        let seen = first.seen.lock().expect("lock");
        let unacked = result_ids(&seen.batches[acked_batches..]);
        (unacked, seen.batches.last().map_or(0, |b| b.seq))
    };
    let first_ids = result_ids(&first.seen.lock().expect("lock").batches);
    first.stop().await;
    let down_from_ms = epoch_ms();
    // Checks continue while no coordinator listens.
    sleep(Duration::from_millis(2500)).await;
    let down_until_ms = epoch_ms();

    // A new coordinator on the same address gets every unacked result again, under new seqs.
    let listener = TcpListener::bind(addr).await.expect("rebind gateway");
    let second = serve(listener, assignment(target));
    wait_for("the unacked results resent", 20, || {
        let seen = second.seen.lock().expect("lock");
        let ids = result_ids(&seen.batches);
        unacked.iter().all(|id| ids.contains(id))
    })
    .await;
    wait_for("results checked while disconnected", 10, || {
        let seen = second.seen.lock().expect("lock");
        seen.batches.iter().flat_map(|b| &b.results).any(|r| {
            !first_ids.contains(&r.id)
                && r.scheduled_at_ms > down_from_ms
                && r.scheduled_at_ms < down_until_ms
        })
    })
    .await;
    {
        let seen = second.seen.lock().expect("lock");
        assert!(
            seen.batches.iter().all(|b| b.seq > last_seq),
            "seq numbers are never reused"
        );
        assert_eq!(
            seen.hellos[0].last_assignment_version, 7,
            "Hello names the last applied assignment"
        );
        let running: Vec<(&str, u64)> = seen.hellos[0]
            .running
            .iter()
            .map(|r| (r.id.as_str(), r.version))
            .collect();
        assert_eq!(
            running,
            [("mon_tcp", 3)],
            "and what runs, for the coordinator to answer with a delta"
        );
    }

    stop_agent.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops in time");
    outcome.expect("agent task").expect("agent stops cleanly");
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_agent_keeps_retrying_until_its_token_is_accepted() {
    let target = tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let server = serve(listener, assignment(target));
    let mut c = config(addr, "rotated-token");
    c.refused_retry_secs = 1;
    let stop_agent = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(c, stop_agent.clone().cancelled_owned()));
    wait_for("a second attempt after the refusal", 15, || {
        server.seen.lock().expect("lock").authorization.len() >= 2
    })
    .await;
    assert!(!agent.is_finished(), "a refused agent does not exit");
    assert!(server.seen.lock().expect("lock").batches.is_empty());

    // The coordinator's side of a token rotation: the new token is accepted from now on.
    *server.token.lock().expect("lock") = "rotated-token".into();
    wait_for("results after the rotation", 15, || {
        !server.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    {
        let seen = server.seen.lock().expect("lock");
        let results: Vec<_> = seen.batches.iter().flat_map(|b| &b.results).collect();
        assert!(
            results.iter().any(|r| r.status == CheckStatus::Up as i32),
            "checks ran (and were buffered) while refused: {results:?}"
        );
        assert!(
            seen.authorization
                .iter()
                .all(|a| a == "Bearer rotated-token"),
            "the agent sends its configured token"
        );
    }
    stop_agent.cancel();
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops in time")
        .expect("agent task")
        .expect("agent stops cleanly");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_buffered_results_and_waits_for_their_acks() {
    let (target, checks_run) = counted_tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let server = serve(listener, assignment(target));
    // Results stay buffered: batches would only fill at 500 or after a minute.
    let mut c = config(addr, TOKEN);
    c.batch_max = 500;
    c.batch_linger_ms = 60_000;
    // Slower acks than the old fixed five-second drain allowed.
    server.ack_delay_ms.store(6_000, Ordering::SeqCst);
    let stop_agent = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(c, stop_agent.clone().cancelled_owned()));
    wait_for("a few checks run", 15, || {
        checks_run.load(Ordering::SeqCst) >= 3
    })
    .await;
    assert!(
        server.seen.lock().expect("lock").batches.is_empty(),
        "nothing sent before the shutdown"
    );

    let asked = tokio::time::Instant::now();
    stop_agent.cancel();
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops within its shutdown_timeout_ms")
        .expect("agent task")
        .expect("agent stops cleanly");
    assert!(
        asked.elapsed() >= Duration::from_secs(5),
        "the agent waited for the acknowledgements"
    );
    // A check cut short by the shutdown reports MISSED instead of UP.
    let reported = server
        .seen
        .lock()
        .expect("lock")
        .batches
        .iter()
        .flat_map(|b| &b.results)
        .filter(|r| [CheckStatus::Up as i32, CheckStatus::Missed as i32].contains(&r.status))
        .count();
    assert!(
        reported >= checks_run.load(Ordering::SeqCst),
        "every check that ran reached the coordinator: {reported} results, {} runs",
        checks_run.load(Ordering::SeqCst)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_disconnected_still_delivers_to_a_returning_coordinator() {
    let (target, checks_run) = counted_tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let first = serve(listener, assignment(target));
    let stop_agent = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(
        config(addr, TOKEN),
        stop_agent.clone().cancelled_owned(),
    ));
    wait_for("a first batch", 15, || {
        !first.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    first.stop().await;
    let runs_before = checks_run.load(Ordering::SeqCst);
    wait_for("checks while the coordinator is away", 15, || {
        checks_run.load(Ordering::SeqCst) >= runs_before + 2
    })
    .await;

    // Shutdown is asked for while disconnected; the coordinator comes back a moment later.
    stop_agent.cancel();
    sleep(Duration::from_millis(500)).await;
    let listener = TcpListener::bind(addr).await.expect("rebind gateway");
    let second = serve(listener, assignment(target));
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops within its shutdown_timeout_ms")
        .expect("agent task")
        .expect("agent stops cleanly");
    let resent = second
        .seen
        .lock()
        .expect("lock")
        .batches
        .iter()
        .flat_map(|b| &b.results)
        .filter(|r| r.status == CheckStatus::Up as i32)
        .count();
    assert!(
        resent >= 2,
        "results buffered while disconnected reached the returning coordinator: {resent}"
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shutdown_drains_checking_until_the_coordinator_answers_drained() {
    let (target, checks_run) = counted_tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let server = serve(listener, assignment(target));
    // The coordinator takes 2.5 s to hand the monitors over (other agents applying them).
    server.drained_delay_ms.store(2_500, Ordering::SeqCst);
    let stop_agent = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(
        config(addr, TOKEN),
        stop_agent.clone().cancelled_owned(),
    ));
    wait_for("a check run", 15, || checks_run.load(Ordering::SeqCst) >= 1).await;

    let asked = tokio::time::Instant::now();
    let before = checks_run.load(Ordering::SeqCst);
    stop_agent.cancel();
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops once drained")
        .expect("agent task")
        .expect("agent stops cleanly");
    assert_eq!(
        server.seen.lock().expect("lock").drains,
        1,
        "one Drain sent"
    );
    assert!(
        asked.elapsed() >= Duration::from_millis(2_500),
        "the agent waited for Drained"
    );
    // The 1 s monitor kept running while the coordinator handed it over.
    assert!(
        checks_run.load(Ordering::SeqCst) >= before + 2,
        "checks ran during the drain: {} before, {} after",
        before,
        checks_run.load(Ordering::SeqCst)
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_timeout_ms_bounds_the_wait_and_zero_skips_the_drain() {
    let (target, checks_run) = counted_tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let server = serve(listener, assignment(target));
    // A coordinator that never answers (an older one, or a stuck hand-over).
    server.drained_delay_ms.store(600_000, Ordering::SeqCst);
    for (timeout_ms, drains) in [(800, 1), (0, 1)] {
        let mut c = config(addr, TOKEN);
        c.drain_timeout_ms = timeout_ms;
        let stop_agent = CancellationToken::new();
        let agent = tokio::spawn(lookout_agent::run(c, stop_agent.clone().cancelled_owned()));
        let seen = checks_run.load(Ordering::SeqCst);
        wait_for("a check run", 15, || {
            checks_run.load(Ordering::SeqCst) > seen
        })
        .await;
        let asked = tokio::time::Instant::now();
        stop_agent.cancel();
        tokio::time::timeout(Duration::from_secs(10), agent)
            .await
            .expect("agent stops within its drain_timeout_ms")
            .expect("agent task")
            .expect("agent stops cleanly");
        let took = asked.elapsed();
        assert_eq!(
            server.seen.lock().expect("lock").drains,
            drains,
            "drain_timeout_ms {timeout_ms}"
        );
        if timeout_ms > 0 {
            assert!(took >= Duration::from_millis(800), "waited {took:?}");
        }
        assert!(
            took < Duration::from_secs(5),
            "drain_timeout_ms {timeout_ms}: {took:?}"
        );
    }
    server.stop().await;
}
