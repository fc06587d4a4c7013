//! Moves between live agents are make-before-break: an agent keeps a monitor that moved away
//! until the new owner reported applying it, and a draining agent is answered Drained once
//! every one of its monitors runs elsewhere. Driven through the hub as the sessions drive it.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::{DEADLINE, http_monitor};
use lookout_coordinator::hub::{Hub, Joined, OutboxItem};
use lookout_proto::CheckResult;
use lookout_proto::v1::{Assignment, Heartbeat};
use lookout_store::Store;

/// Long enough for a wrongly early removal to show up.
const QUIET: Duration = Duration::from_millis(300);

async fn hub_with(monitors: usize) -> (Arc<Hub>, BTreeSet<String>) {
    let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
        .await
        .expect("store");
    let mut ids = BTreeSet::new();
    for i in 0..monitors {
        let mut m = http_monitor(&format!("m{i}"), &["eu"]);
        m.id = format!("mon_{i:03}");
        let m = store.insert_monitor(m).await.expect("insert");
        ids.insert(m.id);
    }
    (Hub::load(store).await.expect("hub"), ids)
}

fn ids(a: &Assignment) -> BTreeSet<String> {
    a.upserts.iter().map(|m| m.id.clone()).collect()
}

async fn next(joined: &Joined) -> OutboxItem {
    tokio::time::timeout(DEADLINE, joined.outbox.next())
        .await
        .expect("an outbox item in time")
}

async fn delta(joined: &Joined) -> Assignment {
    match next(joined).await {
        OutboxItem::Delta(a) => a,
        other => panic!("expected a delta, got {other:?}"),
    }
}

async fn quiet(joined: &Joined, what: &str) {
    if let Ok(item) = tokio::time::timeout(QUIET, joined.outbox.next()).await {
        panic!("{what}, but the outbox gave {item:?}");
    }
}

/// What a session and its agent do with an assignment: write it, apply it, report it.
async fn apply(hub: &Hub, agent: &str, joined: &Joined, version: u64) {
    joined.outbox.sent(version);
    let beat = Heartbeat {
        applied_assignment_version: version,
        ..Default::default()
    };
    hub.heartbeat(agent, "eu", joined.session, &beat).await;
}

/// How many of results for `of`, scheduled now, the hub takes from the agent.
async fn accepted(hub: &Hub, agent: &str, joined: &Joined, of: &BTreeSet<String>) -> usize {
    accepted_at(hub, agent, joined, of, lookout_store::now_ms()).await
}

async fn accepted_at(
    hub: &Hub,
    agent: &str,
    joined: &Joined,
    of: &BTreeSet<String>,
    scheduled_at_ms: i64,
) -> usize {
    let mut results: Vec<CheckResult> = of
        .iter()
        .map(|id| CheckResult {
            monitor_id: id.clone(),
            scheduled_at_ms,
            ..Default::default()
        })
        .collect();
    hub.retain_assigned(agent, "eu", joined.session, &mut results)
        .await;
    results.len()
}

#[tokio::test]
async fn a_joining_agent_takes_its_share_only_once_it_reported_it_applied() {
    let (hub, all) = hub_with(40).await;
    let a1 = hub
        .join("a1", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    assert_eq!(ids(&a1.snapshot()), all);
    apply(&hub, "a1", &a1, a1.version).await;

    let a2 = hub
        .join("a2", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    let moving = ids(&a2.snapshot());
    assert!(
        !moving.is_empty() && moving.len() < all.len(),
        "a2 takes a share: {}",
        moving.len()
    );
    quiet(&a1, "a1 keeps its monitors until a2 has them").await;
    assert_eq!(
        accepted(&hub, "a1", &a1, &all).await,
        all.len(),
        "a1's results for the moving monitors are still taken"
    );

    let before_release = lookout_store::now_ms() - 1;
    apply(&hub, "a2", &a2, a2.version).await;
    let removal = delta(&a1).await;
    let removed: BTreeSet<String> = removal.removals.iter().cloned().collect();
    assert_eq!(removed, moving, "a1 drops exactly what a2 took");
    assert!(removal.upserts.is_empty(), "{removal:?}");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        accepted(&hub, "a1", &a1, &moving).await,
        0,
        "a1's results for checks after the hand-over are not taken"
    );
    assert_eq!(
        accepted_at(&hub, "a1", &a1, &moving, before_release).await,
        moving.len(),
        "a1's results for checks scheduled before the hand-over still are (buffered, in flight)"
    );

    let listed = hub.agents("").await;
    let assigned: Vec<(String, u32)> = listed
        .iter()
        .map(|a| (a.agent_id.clone(), a.assigned_monitors))
        .collect();
    let share = u32::try_from(moving.len()).expect("small");
    assert_eq!(
        assigned,
        [("a1".to_string(), 40 - share), ("a2".to_string(), share)]
    );
}

#[tokio::test]
async fn a_draining_agent_runs_its_monitors_until_the_others_have_them_then_is_drained() {
    let (hub, all) = hub_with(40).await;
    let a1 = hub
        .join("a1", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    apply(&hub, "a1", &a1, a1.version).await;
    let a2 = hub
        .join("a2", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    apply(&hub, "a2", &a2, a2.version).await;
    let _ = delta(&a1).await;
    let kept: BTreeSet<String> = all.difference(&ids(&a2.snapshot())).cloned().collect();

    assert!(hub.drain("a1", "eu", a1.session).await);
    assert!(
        !hub.drain("a1", "eu", a1.session).await,
        "a second drain of the same session is ignored"
    );
    let handed = delta(&a2).await;
    assert_eq!(ids(&handed), kept, "a2 is sent everything a1 ran");
    quiet(&a1, "a1 runs its monitors until a2 reported them applied").await;
    let listed = hub.agents("eu").await;
    assert!(listed[0].draining && !listed[1].draining, "{listed:?}");
    assert_eq!(accepted(&hub, "a1", &a1, &kept).await, kept.len());

    apply(&hub, "a2", &a2, handed.version).await;
    let removal = delta(&a1).await;
    assert_eq!(
        removal.removals.iter().cloned().collect::<BTreeSet<_>>(),
        kept
    );
    match next(&a1).await {
        OutboxItem::Drained(d) => {
            assert_eq!(usize::try_from(d.moved).expect("small"), kept.len());
            assert!(d.handed_over, "{d:?}");
        }
        other => panic!("expected Drained, got {other:?}"),
    }
}

#[tokio::test]
async fn a_drain_with_nowhere_to_go_is_answered_at_once_and_says_so() {
    let (hub, all) = hub_with(5).await;
    let a1 = hub
        .join("a1", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    apply(&hub, "a1", &a1, a1.version).await;
    assert!(hub.drain("a1", "eu", a1.session).await);
    let removal = delta(&a1).await;
    assert_eq!(
        removal.removals.iter().cloned().collect::<BTreeSet<_>>(),
        all
    );
    match next(&a1).await {
        OutboxItem::Drained(d) => {
            assert_eq!(d.moved, 0);
            assert!(!d.handed_over, "no other agent took them: {d:?}");
        }
        other => panic!("expected Drained, got {other:?}"),
    }
}

#[tokio::test]
async fn a_move_towards_an_agent_that_leaves_goes_to_the_next_owner() {
    let (hub, all) = hub_with(30).await;
    let a1 = hub
        .join("a1", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    apply(&hub, "a1", &a1, a1.version).await;
    let a2 = hub
        .join("a2", "eu", "test", 1, 0)
        .await
        .expect("the hub leads");
    assert!(!ids(&a2.snapshot()).is_empty());
    // a2 goes away before it reported anything: a1 simply keeps its monitors.
    hub.leave("a2", "eu", a2.session).await;
    quiet(&a1, "a1 keeps everything when the move's target leaves").await;
    assert_eq!(accepted(&hub, "a1", &a1, &all).await, all.len());
}

/// An agent played in-process: applies its snapshot and every delta to `held`, and reports
/// each applied at once, as a real agent does.
fn play(
    hub: Arc<Hub>,
    agent: &'static str,
    joined: Joined,
) -> Arc<std::sync::Mutex<BTreeSet<String>>> {
    let held = Arc::new(std::sync::Mutex::new(ids(&joined.snapshot())));
    let sink = Arc::clone(&held);
    tokio::spawn(async move {
        let mut applied = joined.version;
        loop {
            apply(&hub, agent, &joined, applied).await;
            match joined.outbox.next().await {
                OutboxItem::Delta(a) => {
                    let mut h = sink.lock().expect("held");
                    for id in &a.removals {
                        h.remove(id);
                    }
                    h.extend(a.upserts.iter().map(|m| m.id.clone()));
                    applied = a.version;
                }
                OutboxItem::Closed(_) => return,
                OutboxItem::RunNow(_) | OutboxItem::Drained(_) => {}
            }
        }
    });
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitors_created_while_agents_join_each_end_on_exactly_one_agent() {
    for round in 0u64..20 {
        let store = Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
        let hub = Hub::load(store.clone()).await.expect("hub");
        let b = play(
            Arc::clone(&hub),
            "b",
            hub.join("b", "eu", "test", 1, 0)
                .await
                .expect("the hub leads"),
        );
        let creating = {
            let (hub, store) = (Arc::clone(&hub), store.clone());
            tokio::spawn(async move {
                let mut all = BTreeSet::new();
                for i in 0..30 {
                    let mut m = http_monitor(&format!("m{i}"), &["eu"]);
                    m.id = format!("mon_{round:02}_{i:03}");
                    let m = store.insert_monitor(m).await.expect("insert");
                    hub.refresh_monitor(&m.id).await;
                    all.insert(m.id);
                    tokio::task::yield_now().await;
                }
                all
            })
        };
        tokio::time::sleep(Duration::from_millis(round % 5)).await;
        let a = play(
            Arc::clone(&hub),
            "a",
            hub.join("a", "eu", "test", 1, 0)
                .await
                .expect("the hub leads"),
        );
        let all = creating.await.expect("create");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let (ha, hb) = (a.lock().expect("a").clone(), b.lock().expect("b").clone());
            let union: BTreeSet<String> = ha.union(&hb).cloned().collect();
            if union == all && ha.is_disjoint(&hb) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: a {ha:?}, b {hb:?}, missing {:?}",
                all.difference(&union).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}
