//! The agent against several coordinator replicas (scripted gateways on 127.0.0.1): a
//! replica that does not lead sends it straight to the leader it names, and a replica of an
//! older leadership term (a deposed leader) is refused while the newer term is recent.

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{TOKEN, assignment, config, counted_tcp_target, serve, tcp_target, wait_for};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Stops the agent and waits for a clean exit.
async fn stop_agent(
    stop: CancellationToken,
    agent: tokio::task::JoinHandle<Result<(), lookout_agent::AgentError>>,
) {
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops in time")
        .expect("agent task")
        .expect("agent stops cleanly");
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    (l, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_points_the_agent_to_the_leader() {
    let target = tcp_target().await;
    let (follower_l, follower_url) = listener().await;
    let (leader_l, leader_url) = listener().await;
    // Between them in the list, an address that only counts connections: the agent, sent to
    // the leader by name, never needs it.
    let (skipped, skipped_connections) = counted_tcp_target().await;
    let follower = serve(follower_l, assignment(target));
    *follower.not_leading.lock().expect("lock") = Some(leader_url.clone());
    let leader = serve(leader_l, assignment(target));
    leader.epoch.store(4, Ordering::SeqCst);

    let mut c = config(target, TOKEN);
    c.coordinator_url = follower_url;
    c.coordinator_urls = vec![format!("http://{skipped}"), format!("{leader_url}/")];
    let stop = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(c, stop.clone().cancelled_owned()));
    wait_for("results at the leader", 15, || {
        !leader.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    assert_eq!(
        follower.seen.lock().expect("lock").authorization.len(),
        1,
        "the follower was asked once"
    );
    assert!(
        follower.seen.lock().expect("lock").hellos.is_empty(),
        "and refused the stream before any Hello"
    );
    assert_eq!(
        skipped_connections.load(Ordering::SeqCst),
        0,
        "the agent went straight to the leader"
    );
    stop_agent(stop, agent).await;
    follower.stop().await;
    leader.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_of_an_older_term_is_refused() {
    let target = tcp_target().await;
    let (new_l, new_url) = listener().await;
    let new_addr = new_l.local_addr().expect("addr");
    let (old_l, old_url) = listener().await;
    let newer = serve(new_l, assignment(target));
    newer.epoch.store(5, Ordering::SeqCst);
    let older = serve(old_l, assignment(target));
    older.epoch.store(3, Ordering::SeqCst);

    let mut c = config(target, TOKEN);
    c.coordinator_url = new_url;
    c.coordinator_urls = vec![old_url];
    let stop = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(c, stop.clone().cancelled_owned()));
    wait_for("results in term 5", 15, || {
        !newer.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    // The leader of term 5 goes away; the deposed leader of term 3 still answers.
    newer.stop().await;
    wait_for("the agent to try the deposed leader", 15, || {
        !older.seen.lock().expect("lock").hellos.is_empty()
    })
    .await;
    // It is asked again and again, and never handed a result.
    wait_for("a second attempt at the deposed leader", 15, || {
        older.seen.lock().expect("lock").hellos.len() >= 2
    })
    .await;
    assert!(
        older.seen.lock().expect("lock").batches.is_empty(),
        "no result goes to a leader of an older term"
    );
    // Term 6 begins where term 5 was: the buffered results go there.
    let back = TcpListener::bind(new_addr).await.expect("rebind");
    let next = serve(back, assignment(target));
    next.epoch.store(6, Ordering::SeqCst);
    wait_for("results in term 6", 30, || {
        !next.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    assert!(older.seen.lock().expect("lock").batches.is_empty());
    stop_agent(stop, agent).await;
    older.stop().await;
    next.stop().await;
}
