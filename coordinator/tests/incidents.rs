//! Incidents through the API: listed newest first page by page with state and monitor
//! filters, read one by one, never across projects; acknowledged and resolved by recording an
//! action that the notifier applies (here a stand-in plays the notifier's part of the
//! contract through the store), refused when the incident is not open, and left pending when
//! no notifier runs.

mod common;

use std::time::{Duration, Instant};

use common::{Harness, OPERATOR_TOKEN, Tenant, bearer, tenant};
use lookout_proto::v1::incident_service_client::IncidentServiceClient;
use lookout_proto::v1::{
    AcknowledgeIncidentRequest, GetIncidentRequest, Incident, IncidentState, ListIncidentsRequest,
    ResolveIncidentRequest,
};
use lookout_store::notifier::IncidentStatus;
use lookout_store::testing::{insert_incident, insert_monitors_in_bulk, open_incident};
use lookout_store::{Sql, Store, now_ms};
use tokio_util::sync::CancellationToken;
use tonic::Code;
use tonic::transport::Channel;

type Client = IncidentServiceClient<Channel>;

async fn monitors(s: &Store, project: &str, ids: &[&str]) {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    insert_monitors_in_bulk(s, project, &ids)
        .await
        .expect("monitors");
}

async fn list_all(
    c: &mut Client,
    token: &str,
    state: IncidentState,
    monitor: &str,
) -> Vec<Incident> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = c
            .list_incidents(bearer(
                token,
                ListIncidentsRequest {
                    state: state as i32,
                    monitor_id: monitor.into(),
                    page_size: 2,
                    page_token,
                },
            ))
            .await
            .expect("list")
            .into_inner();
        all.extend(page.incidents);
        if page.next_page_token.is_empty() {
            return all;
        }
        page_token = page.next_page_token;
    }
}

fn ids(v: &[Incident]) -> Vec<&str> {
    v.iter().map(|i| i.id.as_str()).collect()
}

/// Two tenants: `a` with monitors mon_a1, mon_a2 and five incidents, `b` with one.
async fn seeded(h: &Harness) -> (Client, Tenant, Tenant) {
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let b = tenant(&ch, "team-b").await;
    monitors(&h.store, &a.id, &["mon_a1", "mon_a2"]).await;
    monitors(&h.store, &b.id, &["mon_b1"]).await;
    for (n, monitor) in ["mon_a1", "mon_a2", "mon_a1", "mon_a2", "mon_a1"]
        .iter()
        .enumerate()
    {
        let n = n as i64;
        let mut i = open_incident(&format!("inc_a{n}"), monitor, 10_000 + n * 1_000);
        if n < 3 {
            i.status = IncidentStatus::Resolved;
            i.resolved_at_ms = Some(10_500 + n * 1_000);
            i.resolved_reason = "recovered".into();
        }
        insert_incident(&h.store, &i).await.expect("incident");
    }
    insert_incident(&h.store, &open_incident("inc_b0", "mon_b1", 50_000))
        .await
        .expect("incident");
    (IncidentServiceClient::new(ch), a, b)
}

#[tokio::test]
async fn lists_newest_first_in_pages_filtered_and_only_of_the_tokens_project() {
    let h = Harness::start().await;
    let (mut c, a, b) = seeded(&h).await;

    let before = now_ms();
    let all = list_all(&mut c, &a.token, IncidentState::Unspecified, "").await;
    assert_eq!(
        ids(&all),
        ["inc_a4", "inc_a3", "inc_a2", "inc_a1", "inc_a0"]
    );
    let newest = &all[0];
    assert_eq!(newest.state, IncidentState::Open as i32);
    assert_eq!(newest.monitor_name, "mon_a1");
    assert_eq!(newest.severity, "critical");
    assert_eq!(newest.first_error, "connection refused");
    assert_eq!(newest.regions, ["eu"]);
    assert_eq!(newest.level, 1);
    assert!(
        newest.duration_ms >= before - 14_000,
        "open: to now, {newest:?}"
    );
    let resolved = &all[2];
    assert_eq!(resolved.state, IncidentState::Resolved as i32);
    assert_eq!(resolved.resolved_reason, "recovered");
    assert_eq!(resolved.duration_ms, 500);

    let open = list_all(&mut c, &a.token, IncidentState::Open, "").await;
    assert_eq!(ids(&open), ["inc_a4", "inc_a3"]);
    let of_a2 = list_all(&mut c, &a.token, IncidentState::Unspecified, "mon_a2").await;
    assert_eq!(ids(&of_a2), ["inc_a3", "inc_a1"]);
    let resolved_a1 = list_all(&mut c, &a.token, IncidentState::Resolved, "mon_a1").await;
    assert_eq!(ids(&resolved_a1), ["inc_a2", "inc_a0"]);
    let of_b = list_all(&mut c, &b.token, IncidentState::Unspecified, "").await;
    assert_eq!(ids(&of_b), ["inc_b0"]);
    let cross = list_all(&mut c, &b.token, IncidentState::Unspecified, "mon_a1").await;
    assert!(cross.is_empty(), "{cross:?}");

    let got = c
        .get_incident(bearer(
            &a.token,
            GetIncidentRequest {
                id: "inc_a3".into(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got.monitor_id, "mon_a2");
    let s = c
        .get_incident(bearer(
            &b.token,
            GetIncidentRequest {
                id: "inc_a3".into(),
            },
        ))
        .await
        .expect_err("another project's incident");
    assert_eq!(s.code(), Code::NotFound, "{s:?}");
    assert!(s.message().contains("inc_a3"), "{}", s.message());
}

#[tokio::test]
async fn bad_requests_name_the_field_and_tokens_are_checked() {
    let h = Harness::start().await;
    let (mut c, a, _) = seeded(&h).await;
    let list = |r: ListIncidentsRequest| bearer(&a.token, r);
    let cases = [
        (
            ListIncidentsRequest {
                state: 7,
                ..Default::default()
            },
            "state",
        ),
        (
            ListIncidentsRequest {
                page_size: 100_000,
                ..Default::default()
            },
            "page_size",
        ),
        (
            ListIncidentsRequest {
                page_token: "zz".into(),
                ..Default::default()
            },
            "page_token",
        ),
        (
            ListIncidentsRequest {
                monitor_id: "m".repeat(65),
                ..Default::default()
            },
            "monitor_id",
        ),
    ];
    for (req, field) in cases {
        let s = c.list_incidents(list(req)).await.expect_err(field);
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(s.message().starts_with(field), "{field}: {}", s.message());
    }
    let s = c
        .get_incident(bearer(&a.token, GetIncidentRequest { id: String::new() }))
        .await
        .expect_err("empty id");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("id"), "{}", s.message());
    let s = c
        .acknowledge_incident(bearer(
            &a.token,
            AcknowledgeIncidentRequest {
                id: "inc_a4".into(),
                note: "n".repeat(1025),
            },
        ))
        .await
        .expect_err("long note");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("note"), "{}", s.message());

    let s = c
        .list_incidents(bearer(OPERATOR_TOKEN, ListIncidentsRequest::default()))
        .await
        .expect_err("operator token");
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = c
        .resolve_incident(bearer(
            OPERATOR_TOKEN,
            ResolveIncidentRequest {
                id: "inc_a4".into(),
                note: String::new(),
            },
        ))
        .await
        .expect_err("operator token");
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = c
        .list_incidents(ListIncidentsRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(s.code(), Code::Unauthenticated);
    assert_eq!(actions(&h.store).await, 0, "refused calls record nothing");
}

async fn actions(s: &Store) -> i64 {
    let rows = s
        .query(Sql::new("SELECT COUNT(*) AS n FROM incident_actions"))
        .await
        .expect("count");
    rows[0].get("n").expect("n")
}

/// The notifier's part of the contract, played through the store: apply each pending action
/// to its incident and set `applied_at_ms`.
async fn stand_in_notifier(s: Store, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let pending = s
            .query(Sql::new(
                "SELECT id, incident_id, action, actor FROM incident_actions \
                 WHERE applied_at_ms IS NULL ORDER BY created_at_ms",
            ))
            .await
            .expect("pending actions");
        for a in pending {
            let id: String = a.get("id").expect("id");
            let incident: String = a.get("incident_id").expect("incident");
            let action: String = a.get("action").expect("action");
            let actor: String = a.get("actor").expect("actor");
            let now = now_ms();
            let change = if action == "ack" {
                Sql::new(
                    "UPDATE incidents SET acknowledged_at_ms = $1, acknowledged_by = $2 \
                     WHERE id = $3",
                )
                .bind(now)
                .bind(actor)
                .bind(incident)
            } else {
                Sql::new(
                    "UPDATE incidents SET status = 'resolved', resolved_at_ms = $1, \
                     resolved_reason = 'manual' WHERE id = $2",
                )
                .bind(now)
                .bind(incident)
            };
            s.execute(change).await.expect("apply");
            s.execute(
                Sql::new("UPDATE incident_actions SET applied_at_ms = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id),
            )
            .await
            .expect("applied");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn acknowledge_and_resolve_return_the_incident_as_the_notifier_applied_them() {
    let h = Harness::start().await;
    let (mut c, a, b) = seeded(&h).await;
    let stop = CancellationToken::new();
    let notifier = tokio::spawn(stand_in_notifier(h.store.clone(), stop.clone()));
    let ack = |token: &str, id: &str, note: &str| {
        bearer(
            token,
            AcknowledgeIncidentRequest {
                id: id.into(),
                note: note.into(),
            },
        )
    };
    let resolve = |token: &str, id: &str| {
        bearer(
            token,
            ResolveIncidentRequest {
                id: id.into(),
                note: "fixed the config".into(),
            },
        )
    };

    let s = c
        .acknowledge_incident(ack(&b.token, "inc_a4", ""))
        .await
        .expect_err("another project's incident");
    assert_eq!(s.code(), Code::NotFound);
    assert_eq!(actions(&h.store).await, 0);

    let acked = c
        .acknowledge_incident(ack(&a.token, "inc_a4", "on it"))
        .await
        .expect("ack")
        .into_inner();
    assert_eq!(acked.state, IncidentState::Open as i32);
    assert!(acked.acknowledged_at_ms > 0, "{acked:?}");
    assert_eq!(acked.acknowledged_by, "test", "the token's name");
    assert_eq!(acked.acknowledged_note, "on it");
    assert_eq!(acked.pending_action, "");

    let s = c
        .acknowledge_incident(ack(&a.token, "inc_a4", ""))
        .await
        .expect_err("acknowledged already");
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().contains("\"test\""), "{}", s.message());

    let resolved = c
        .resolve_incident(resolve(&a.token, "inc_a4"))
        .await
        .expect("resolve")
        .into_inner();
    assert_eq!(resolved.state, IncidentState::Resolved as i32);
    assert_eq!(resolved.resolved_reason, "manual");
    assert!(resolved.resolved_at_ms >= acked.acknowledged_at_ms);

    let refused = [
        (
            "resolve",
            c.resolve_incident(resolve(&a.token, "inc_a4")).await,
        ),
        (
            "ack",
            c.acknowledge_incident(ack(&a.token, "inc_a4", "")).await,
        ),
        (
            "ack",
            c.acknowledge_incident(ack(&a.token, "inc_a0", "")).await,
        ),
    ];
    for (what, res) in refused {
        let s = res.expect_err(what);
        assert_eq!(s.code(), Code::FailedPrecondition, "{what}: {s:?}");
        assert!(
            s.message().contains("is resolved"),
            "{what}: {}",
            s.message()
        );
    }
    stop.cancel();
    notifier.await.expect("stand-in notifier");
}

#[tokio::test]
async fn without_a_notifier_an_action_stays_pending_and_a_retry_records_no_other() {
    let h = Harness::start().await;
    let (mut c, a, _) = seeded(&h).await;
    let started = Instant::now();
    let req = || {
        bearer(
            &a.token,
            ResolveIncidentRequest {
                id: "inc_a3".into(),
                note: String::new(),
            },
        )
    };
    let first = c
        .resolve_incident(req())
        .await
        .expect("resolve")
        .into_inner();
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(5) && waited < Duration::from_secs(30),
        "waited {waited:?}"
    );
    assert_eq!(first.state, IncidentState::Open as i32, "unchanged");
    assert_eq!(first.pending_action, "resolve");
    let again = c.resolve_incident(req()).await.expect("again").into_inner();
    assert_eq!(again.pending_action, "resolve");
    assert_eq!(
        actions(&h.store).await,
        1,
        "the retry waited on the first action"
    );
    let shown = c
        .get_incident(bearer(
            &a.token,
            GetIncidentRequest {
                id: "inc_a3".into(),
            },
        ))
        .await
        .expect("get")
        .into_inner();
    assert_eq!(shown.pending_action, "resolve");
}
