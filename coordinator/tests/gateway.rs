//! Agent gateway over a real server: authentication, Hello checks, snapshots, deltas,
//! splitting a region between agents, moving monitors when an agent leaves or goes silent,
//! and replaced sessions.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Harness, TestAgent, hello, http_monitor, open_session, recv};
use futures::StreamExt;
use lookout_proto::v1::{AgentMessage, Heartbeat, agent_message::Msg};
use tonic::Code;

const BEAT: Option<Duration> = Some(Duration::from_millis(100));

#[tokio::test]
async fn agents_with_wrong_tokens_are_refused() {
    let h = Harness::start().await;
    let cases = [
        (Some("tok-a2"), hello("a1", "eu")),
        (Some("tok-a1"), hello("nobody", "eu")),
        (None, hello("a1", "eu")),
    ];
    for (token, hello) in cases {
        let refused = match open_session(h.addr, token, hello).await {
            Err(s) => s,
            Ok((_tx, mut rx)) => recv(&mut rx).await.expect_err("refused before any message"),
        };
        assert_eq!(
            refused.code(),
            Code::Unauthenticated,
            "{token:?}: {refused:?}"
        );
    }
    h.stop().await;
}

#[tokio::test]
async fn hello_must_come_first_with_a_known_region() {
    let h = Harness::start().await;
    let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), hello("a1", "mars"))
        .await
        .expect("open");
    let s = recv(&mut rx).await.expect_err("unknown region");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("hello.region: "), "{s:?}");

    let mut client = lookout_proto::v1::agent_gateway_client::AgentGatewayClient::connect(h.url())
        .await
        .expect("connect");
    let first = AgentMessage {
        msg: Some(Msg::Heartbeat(Heartbeat::default())),
    };
    let mut req =
        tonic::Request::new(futures::stream::iter([first]).chain(futures::stream::pending()));
    req.metadata_mut()
        .insert("authorization", "Bearer tok-a1".parse().expect("ascii"));
    let mut rx = client.session(req).await.expect("open").into_inner();
    let s = recv(&mut rx).await.expect_err("heartbeat before hello");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("hello: "), "{s:?}");
    h.stop().await;
}

#[tokio::test]
async fn snapshot_holds_the_regions_monitors_and_changes_arrive_as_deltas() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let hook = lookout_proto::v1::Integration {
        id: "int_hook".into(),
        kind: Some(lookout_proto::v1::integration::Kind::Webhook(
            lookout_proto::v1::WebhookIntegration {
                url: "http://127.0.0.1:9/hook".into(),
                ..Default::default()
            },
        )),
        ..Default::default()
    };
    h.store
        .insert_integration_in_project(lookout_store::projects::DEFAULT_PROJECT_ID, "webhook", hook)
        .await
        .expect("integration");
    let eu = admin
        .create(lookout_proto::Monitor {
            integration_ids: vec!["int_hook".into()],
            ..http_monitor("eu only", &["eu"])
        })
        .await
        .expect("create");
    let both = admin
        .create(http_monitor("both", &["eu", "us"]))
        .await
        .expect("create");
    let us = admin
        .create(http_monitor("us only", &["us"]))
        .await
        .expect("create");

    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    assert_eq!(agent.ids(), [eu.id.clone(), both.id.clone()]);
    assert!(
        agent
            .assigned
            .values()
            .all(|m| m.integration_ids.is_empty()),
        "agents never receive integrations"
    );
    let mut usa = TestAgent::connect(h.addr, "u1", "us", BEAT).await;
    assert_eq!(usa.ids(), [both.id.clone(), us.id.clone()]);

    let new = admin
        .create(http_monitor("new", &["eu"]))
        .await
        .expect("create");
    agent
        .until("the new monitor arrives", |a| {
            a.assigned.contains_key(&new.id)
        })
        .await;
    admin.delete(&eu.id).await.expect("delete");
    agent
        .until("the deleted monitor is removed", |a| {
            !a.assigned.contains_key(&eu.id)
        })
        .await;
    admin.pause(&both.id, true).await.expect("pause");
    agent
        .until("the paused monitor is removed", |a| {
            !a.assigned.contains_key(&both.id)
        })
        .await;
    usa.until("the paused monitor is removed in us", |a| {
        !a.assigned.contains_key(&both.id)
    })
    .await;
    admin.pause(&both.id, false).await.expect("resume");
    agent
        .until("the resumed monitor returns", |a| {
            a.assigned.get(&both.id).is_some_and(|m| !m.paused)
        })
        .await;
    assert_eq!(agent.ids(), [both.id.clone(), new.id.clone()]);
    h.stop().await;
}

async fn create_many(h: &Harness, n: usize) -> BTreeSet<String> {
    let mut admin = h.admin().await;
    let mut ids = BTreeSet::new();
    for i in 0..n {
        ids.insert(
            admin
                .create(http_monitor(&format!("m{i}"), &["eu"]))
                .await
                .expect("create")
                .id,
        );
    }
    ids
}

fn split_exactly(a: &TestAgent, b: &TestAgent, all: &BTreeSet<String>) -> bool {
    let (x, y): (BTreeSet<_>, BTreeSet<_>) = (
        a.assigned.keys().cloned().collect(),
        b.assigned.keys().cloned().collect(),
    );
    x.is_disjoint(&y) && x.union(&y).cloned().collect::<BTreeSet<_>>() == *all
}

#[tokio::test]
async fn two_agents_split_a_region_and_a_leaver_moves_its_share() {
    let h = Harness::start().await;
    let all = create_many(&h, 24).await;
    let mut a = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    assert_eq!(a.assigned.keys().cloned().collect::<BTreeSet<_>>(), all);
    let b = TestAgent::connect(h.addr, "a2", "eu", BEAT).await;
    assert!(
        !b.assigned.is_empty() && b.assigned.len() < all.len(),
        "b got {} of 24",
        b.assigned.len()
    );
    let b_ids = b.assigned.clone();
    a.until("a hands b's share over", |a| {
        b_ids.keys().all(|id| !a.assigned.contains_key(id))
    })
    .await;
    assert!(
        split_exactly(&a, &b, &all),
        "a {:?} b {:?}",
        a.ids(),
        b.ids()
    );

    // A third agent takes only from the others, never shuffles between them.
    let mut b = b;
    let c = TestAgent::connect(h.addr, "a3", "eu", BEAT).await;
    let c_ids = c.assigned.clone();
    a.until("a drops c's share", |a| {
        c_ids.keys().all(|id| !a.assigned.contains_key(id))
    })
    .await;
    b.until("b drops c's share", |b| {
        c_ids.keys().all(|id| !b.assigned.contains_key(id))
    })
    .await;
    assert!(
        b.assigned.keys().all(|id| b_ids.contains_key(id)),
        "b gained monitors when c joined"
    );
    drop(c);

    drop(b);
    a.until("a runs everything after b and c left", |a| {
        a.assigned.len() == all.len()
    })
    .await;
    assert_eq!(a.assigned.keys().cloned().collect::<BTreeSet<_>>(), all);
    h.stop().await;
}

#[tokio::test]
async fn a_silent_agent_is_dropped_and_its_monitors_move() {
    let h = Harness::start_with(150, None).await;
    let all = create_many(&h, 12).await;
    let mut a = TestAgent::connect(h.addr, "a1", "eu", Some(Duration::from_millis(40))).await;
    let mut silent = TestAgent::connect(h.addr, "a2", "eu", None).await;
    assert!(!silent.assigned.is_empty());
    a.until("a takes over the silent agent's monitors", |a| {
        a.assigned.len() == all.len()
    })
    .await;
    let ended = loop {
        match silent.next().await {
            Err(s) => break s,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream closed without a status"),
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    h.stop().await;
}

#[tokio::test]
async fn a_newer_session_replaces_the_old_one() {
    let h = Harness::start().await;
    let all = create_many(&h, 3).await;
    let mut old = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let new = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    assert_eq!(new.assigned.keys().cloned().collect::<BTreeSet<_>>(), all);
    assert!(
        new.version > old.version,
        "versions keep increasing across sessions"
    );
    let ended = loop {
        match old.next().await {
            Err(s) => break s,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("old stream closed without a status"),
        }
    };
    assert_eq!(ended.code(), Code::Unavailable);
    assert!(ended.message().contains("replaced"), "{ended:?}");
    // The old session leaving must not take the new session's monitors away.
    let mut new = new;
    let mut admin = h.admin().await;
    let extra = admin
        .create(http_monitor("extra", &["eu"]))
        .await
        .expect("create");
    new.until("the new session still receives deltas", |a| {
        a.assigned.contains_key(&extra.id)
    })
    .await;
    assert_eq!(new.assigned.len(), all.len() + 1);
    h.stop().await;
}

#[tokio::test]
async fn shutdown_ends_agent_sessions() {
    let h = Harness::start().await;
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    let stopping = tokio::spawn(h.stop());
    let ended = loop {
        match agent.next().await {
            Err(s) => break s,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("closed without status"),
        }
    };
    assert_eq!(ended.code(), Code::Unavailable, "{ended:?}");
    stopping.await.expect("server stopped");
}

#[tokio::test]
async fn large_assignments_arrive_in_parts_under_the_message_limit() {
    let store =
        lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("store");
    let mut all = BTreeSet::new();
    for i in 0..5_000 {
        let mut m = http_monitor(&format!("m{i}"), &["eu"]);
        m.id = format!("mon_{i:05}");
        if let Some(lookout_proto::v1::monitor::Check::Http(c)) = &mut m.check {
            c.body = "x".repeat(1_000);
        }
        all.insert(store.insert_monitor(m).await.expect("seed").id);
    }
    // About 5 MB of monitors: more than gRPC's default 4 MiB limit the agent decodes with.
    let h = Harness::start_on(store, 1_000, None).await;
    let mut agent = TestAgent::connect(h.addr, "a1", "eu", BEAT).await;
    assert!(
        agent.assigned.len() < all.len(),
        "the snapshot came in parts"
    );
    agent
        .until("every part arrived", |a| a.assigned.len() == all.len())
        .await;
    assert_eq!(agent.assigned.keys().cloned().collect::<BTreeSet<_>>(), all);
    h.stop().await;
}

#[tokio::test]
async fn an_agent_token_is_bound_to_its_region() {
    let h = Harness::start().await;
    let eu = create_many(&h, 8).await;
    let mut admin = h.admin().await;
    admin
        .create(http_monitor("us", &["us"]))
        .await
        .expect("create");
    let mut stays = TestAgent::connect(h.addr, "a2", "eu", BEAT).await;
    // a1's token is bound to eu: it cannot report from us, with a region that exists.
    let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), hello("a1", "us"))
        .await
        .expect("open");
    let s = recv(&mut rx).await.expect_err("refused");
    assert_eq!(s.code(), Code::PermissionDenied, "{s:?}");
    assert!(s.message().starts_with("hello.region: "), "{s:?}");
    assert!(s.message().contains("\"eu\""), "{s:?}");
    assert!(!s.message().contains("tok-a1"), "{s:?}");
    stays
        .until("the eu agent runs all of eu", |a| {
            a.assigned.len() == eu.len()
        })
        .await;
    assert_eq!(stays.assigned.keys().cloned().collect::<BTreeSet<_>>(), eu);
    h.stop().await;
}

/// An agent that says in its Hello what it runs gets a delta against it, not a snapshot: the
/// monitors it lacks or runs in another version, and removals of those it should not run.
#[tokio::test]
async fn a_reconnecting_agent_gets_the_difference_to_what_it_runs() {
    use lookout_proto::v1::RunningMonitor;
    use lookout_proto::v1::coordinator_message::Msg as Out;
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let same = admin
        .create(http_monitor("same", &["eu"]))
        .await
        .expect("create");
    let changed = admin
        .create(http_monitor("changed", &["eu"]))
        .await
        .expect("create");
    let missing = admin
        .create(http_monitor("missing", &["eu"]))
        .await
        .expect("create");
    let running = vec![
        RunningMonitor {
            id: same.id.clone(),
            version: same.version,
        },
        RunningMonitor {
            id: changed.id.clone(),
            version: changed.version - 1,
        },
        RunningMonitor {
            id: "mon_deleted_meanwhile".into(),
            version: 4,
        },
    ];
    let reconnect = lookout_proto::v1::Hello {
        running,
        ..hello("a1", "eu")
    };
    let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), reconnect)
        .await
        .expect("open");
    assert!(matches!(recv(&mut rx).await, Ok(Some(Out::Welcome(_)))));
    let Ok(Some(Out::Assignment(a))) = recv(&mut rx).await else {
        panic!("an assignment after Welcome");
    };
    assert!(!a.snapshot, "a delta, not a snapshot");
    let mut upserts: Vec<&str> = a.upserts.iter().map(|m| m.id.as_str()).collect();
    upserts.sort_unstable();
    let mut expected = vec![changed.id.as_str(), missing.id.as_str()];
    expected.sort_unstable();
    assert_eq!(upserts, expected, "what it lacks or runs in an old version");
    assert_eq!(a.removals, ["mon_deleted_meanwhile"]);

    // More than the bound is refused with the field named.
    let too_many = (0..=lookout_proto::bounds::MAX_RECONCILE_MONITORS)
        .map(|i| RunningMonitor {
            id: format!("m{i}"),
            version: 1,
        })
        .collect();
    let flood = lookout_proto::v1::Hello {
        running: too_many,
        ..hello("a1", "eu")
    };
    let (_tx, mut rx) = open_session(h.addr, Some("tok-a1"), flood)
        .await
        .expect("open");
    let s = recv(&mut rx).await.expect_err("refused");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("hello.running: "), "{s:?}");
    h.stop().await;
}
