//! Projects through the API: created and deleted by the operator token, their tokens shown once
//! and revoked at once, their quotas refused with RESOURCE_EXHAUSTED naming the quota, and a
//! project of 100,000 monitors listed completely, page by page.

mod common;

use std::collections::HashSet;

use common::{Harness, OPERATOR_TOKEN, bearer, http_monitor, tenant};
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::project_service_client::ProjectServiceClient;
use lookout_proto::v1::token_service_client::TokenServiceClient;
use lookout_proto::v1::{
    CreateMonitorRequest, CreateProjectRequest, CreateTokenRequest, DeleteMonitorRequest,
    DeleteProjectRequest, ListMonitorsRequest, ListProjectsRequest, ListTokensRequest, Monitor,
    Quotas, RevokeTokenRequest, UpdateMonitorRequest, UpdateProjectQuotasRequest,
};
use tonic::Code;

fn create(token: &str, m: Monitor) -> tonic::Request<CreateMonitorRequest> {
    bearer(token, CreateMonitorRequest { monitor: Some(m) })
}

#[tokio::test]
async fn tokens_are_shown_once_listed_without_secret_and_revoked_at_once() {
    let h = Harness::start().await;
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let mut tokens = TokenServiceClient::new(ch.clone());
    let created = tokens
        .create_token(bearer(
            &a.token,
            CreateTokenRequest {
                project_id: String::new(),
                name: "deploy bot".into(),
            },
        ))
        .await
        .expect("a project token creates one for its project")
        .into_inner();
    let secret = created.secret.clone();
    assert!(secret.starts_with("lkt_") && secret.len() == 68, "{secret}");
    let token = created.token.expect("token");
    assert_eq!(token.prefix, secret[..12]);
    assert_eq!(token.project_id, a.id);

    let listed = tokens
        .list_tokens(bearer(&a.token, ListTokensRequest::default()))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.tokens.len(), 2);
    assert!(listed.tokens.iter().any(|t| t.name == "deploy bot"));
    let shown = format!("{listed:?}");
    assert!(
        !shown.contains(&secret) && !shown.contains(&a.token),
        "{shown}"
    );

    let mut mon = MonitorServiceClient::new(ch.clone());
    let list = |t: &str| bearer(t, ListMonitorsRequest::default());
    mon.list_monitors(list(&secret))
        .await
        .expect("the new token works");
    tokens
        .revoke_token(bearer(
            &a.token,
            RevokeTokenRequest {
                project_id: String::new(),
                id: token.id.clone(),
            },
        ))
        .await
        .expect("revoke");
    let s = mon
        .list_monitors(list(&secret))
        .await
        .expect_err("revoked token");
    assert_eq!(s.code(), Code::Unauthenticated);
    mon.list_monitors(list(&a.token))
        .await
        .expect("the other token still works");

    let s = tokens
        .create_token(bearer(
            &a.token,
            CreateTokenRequest {
                project_id: String::new(),
                name: "x".repeat(65),
            },
        ))
        .await
        .expect_err("long label");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("name: "), "{s:?}");
    h.stop().await;
}

#[tokio::test]
async fn quotas_are_refused_with_resource_exhausted_naming_the_quota() {
    let h = Harness::start().await;
    let ch = h.channel().await;
    let mut projects = ProjectServiceClient::new(ch.clone());
    let quotas = Quotas {
        max_monitors: 2,
        min_interval_secs: 60,
        max_regions_per_monitor: 1,
    };
    let p = projects
        .create_project(bearer(
            OPERATOR_TOKEN,
            CreateProjectRequest {
                name: "small".into(),
                quotas: Some(quotas),
            },
        ))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(p.quotas, Some(quotas));
    let mut tokens = TokenServiceClient::new(ch.clone());
    let token = tokens
        .create_token(bearer(
            OPERATOR_TOKEN,
            CreateTokenRequest {
                project_id: p.id.clone(),
                name: String::new(),
            },
        ))
        .await
        .expect("token")
        .into_inner()
        .secret;
    let mut mon = MonitorServiceClient::new(ch.clone());
    let monitor = |interval_secs: u32, regions: &[&str]| Monitor {
        interval_secs,
        ..http_monitor("m", regions)
    };

    let s = mon
        .create_monitor(create(&token, monitor(30, &["eu"])))
        .await
        .expect_err("too often");
    assert_eq!(s.code(), Code::ResourceExhausted);
    assert!(
        s.message().starts_with("quota min_interval_secs is 60"),
        "{s:?}"
    );
    let s = mon
        .create_monitor(create(&token, monitor(60, &["eu", "us"])))
        .await
        .expect_err("too many regions");
    assert_eq!(s.code(), Code::ResourceExhausted);
    assert!(
        s.message()
            .starts_with("quota max_regions_per_monitor is 1"),
        "{s:?}"
    );

    let first = mon
        .create_monitor(create(&token, monitor(60, &["eu"])))
        .await
        .expect("within quota")
        .into_inner();
    mon.create_monitor(create(&token, monitor(60, &["us"])))
        .await
        .expect("second");
    let s = mon
        .create_monitor(create(&token, monitor(60, &["eu"])))
        .await
        .expect_err("third");
    assert_eq!(s.code(), Code::ResourceExhausted);
    assert!(s.message().starts_with("quota max_monitors is 2"), "{s:?}");

    // The operator raises the quota; zero fields keep their value.
    let raised = projects
        .update_project_quotas(bearer(
            OPERATOR_TOKEN,
            UpdateProjectQuotasRequest {
                id: p.id.clone(),
                quotas: Some(Quotas {
                    max_monitors: 3,
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect("raise")
        .into_inner();
    assert_eq!(
        raised.quotas,
        Some(Quotas {
            max_monitors: 3,
            ..quotas
        })
    );
    let third = mon
        .create_monitor(create(&token, monitor(60, &["eu"])))
        .await
        .expect("room after the raise")
        .into_inner();
    mon.delete_monitor(bearer(&token, DeleteMonitorRequest { id: third.id }))
        .await
        .expect("delete");
    let s = projects
        .update_project_quotas(bearer(
            &token,
            UpdateProjectQuotasRequest {
                id: p.id.clone(),
                quotas: None,
            },
        ))
        .await
        .expect_err("a project token cannot raise its own quotas");
    assert_eq!(s.code(), Code::PermissionDenied);

    let faster = Monitor {
        interval_secs: 10,
        ..first.clone()
    };
    let s = mon
        .update_monitor(bearer(
            &token,
            UpdateMonitorRequest {
                monitor: Some(faster),
            },
        ))
        .await
        .expect_err("an update is held to the quota too");
    assert_eq!(s.code(), Code::ResourceExhausted);

    // Deleting one makes room again.
    mon.delete_monitor(bearer(
        &token,
        DeleteMonitorRequest {
            id: first.id.clone(),
        },
    ))
    .await
    .expect("delete");
    mon.create_monitor(create(&token, monitor(120, &["eu"])))
        .await
        .expect("room again");
    h.stop().await;
}

#[tokio::test]
async fn projects_are_created_with_defaults_listed_and_deleted_only_when_empty() {
    let h = Harness::start().await;
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let mut projects = ProjectServiceClient::new(ch.clone());
    let again = CreateProjectRequest {
        name: "team-a".into(),
        quotas: None,
    };
    let s = projects
        .create_project(bearer(OPERATOR_TOKEN, again))
        .await
        .expect_err("taken name");
    assert_eq!(s.code(), Code::AlreadyExists);
    for (name, field) in [("Team A", "name: "), ("", "name: ")] {
        let req = CreateProjectRequest {
            name: name.into(),
            quotas: None,
        };
        let s = projects
            .create_project(bearer(OPERATOR_TOKEN, req))
            .await
            .expect_err(name);
        assert_eq!(s.code(), Code::InvalidArgument);
        assert!(s.message().starts_with(field), "{s:?}");
    }
    let listed = projects
        .list_projects(bearer(
            OPERATOR_TOKEN,
            ListProjectsRequest {
                page_size: 1,
                ..Default::default()
            },
        ))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(listed.projects.len(), 1);
    let rest = projects
        .list_projects(bearer(
            OPERATOR_TOKEN,
            ListProjectsRequest {
                page_size: 10,
                page_token: listed.next_page_token,
            },
        ))
        .await
        .expect("rest")
        .into_inner();
    let mut all: Vec<_> = listed.projects.into_iter().chain(rest.projects).collect();
    all.sort_by(|x, y| x.name.cmp(&y.name));
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default", "team-a"]);
    let q = all[1].quotas.expect("quotas");
    assert_eq!(
        (
            q.max_monitors,
            q.min_interval_secs,
            q.max_regions_per_monitor
        ),
        (1_000, 30, 5),
        "documented defaults"
    );

    let mut mon = MonitorServiceClient::new(ch.clone());
    let m = mon
        .create_monitor(create(&a.token, http_monitor("a", &["eu"])))
        .await
        .expect("monitor")
        .into_inner();
    let delete = |id: &str| bearer(OPERATOR_TOKEN, DeleteProjectRequest { id: id.into() });
    let s = projects
        .delete_project(delete(&a.id))
        .await
        .expect_err("holds a monitor");
    assert_eq!(s.code(), Code::FailedPrecondition);
    assert!(s.message().contains("holds 1 monitors"), "{s:?}");
    let s = projects
        .delete_project(delete("prj_default"))
        .await
        .expect_err("default");
    assert_eq!(s.code(), Code::FailedPrecondition);
    mon.delete_monitor(bearer(&a.token, DeleteMonitorRequest { id: m.id }))
        .await
        .expect("delete monitor");
    projects
        .delete_project(delete(&a.id))
        .await
        .expect("empty project");
    let s = mon
        .list_monitors(bearer(&a.token, ListMonitorsRequest::default()))
        .await
        .expect_err("its tokens went with it");
    assert_eq!(s.code(), Code::Unauthenticated);
    let s = projects
        .delete_project(delete(&a.id))
        .await
        .expect_err("gone");
    assert_eq!(s.code(), Code::NotFound);
    h.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_of_100000_monitors_lists_completely_and_alone() {
    const MANY: usize = 100_000;
    let h = Harness::start().await;
    let ch = h.channel().await;
    let big = tenant(&ch, "big").await;
    let other = tenant(&ch, "other").await;
    let mut mon = MonitorServiceClient::new(ch.clone());
    let mut others = HashSet::new();
    for i in 0..3 {
        let m = mon
            .create_monitor(create(
                &other.token,
                http_monitor(&format!("o{i}"), &["eu"]),
            ))
            .await
            .expect("other's monitor")
            .into_inner();
        others.insert(m.id);
    }
    let ids: Vec<String> = (0..MANY).map(|i| format!("mon_bulk_{i:06}")).collect();
    lookout_store::testing::insert_monitors_in_bulk(&h.store, &big.id, &ids)
        .await
        .expect("bulk insert");

    let mut seen = HashSet::with_capacity(MANY);
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let req = ListMonitorsRequest {
            page_size: 500,
            page_token,
        };
        let page = mon
            .list_monitors(bearer(&big.token, req))
            .await
            .expect("page")
            .into_inner();
        pages += 1;
        for m in page.monitors {
            assert!(
                !others.contains(&m.id),
                "another project's monitor {}",
                m.id
            );
            assert!(seen.insert(m.id), "a monitor listed twice");
        }
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen.len(), MANY);
    assert!(pages >= MANY / 500, "{pages} pages");
    h.stop().await;
}

#[tokio::test]
async fn deliveries_page_newest_first_and_refuse_another_lists_token() {
    use lookout_proto::v1::EventKind;
    use lookout_proto::v1::ListDeliveriesRequest;
    use lookout_proto::v1::delivery_service_client::DeliveryServiceClient;
    use lookout_store::notifier::{NotifierBatch, OutboxRow, OutboxState};
    let h = Harness::start().await;
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let mut mon = MonitorServiceClient::new(ch.clone());
    let m = mon
        .create_monitor(create(&a.token, http_monitor("a", &["eu"])))
        .await
        .expect("monitor")
        .into_inner();
    let row = |i: i64| OutboxRow {
        id: format!("dlv_{i}"),
        project_id: a.id.clone(),
        incident_id: None,
        monitor_id: Some(m.id.clone()),
        integration_id: "int_hook".into(),
        event: EventKind::NoData,
        channel: "webhook".into(),
        payload: Vec::new(),
        attempts: 0,
        next_attempt_at_ms: i,
        state: OutboxState::Pending,
        last_error: None,
        // Two share a creation time: the id breaks the tie, so none is skipped.
        created_at_ms: i.min(4),
    };
    let batch = NotifierBatch {
        outbox: (1..=5).map(row).collect(),
        ..Default::default()
    };
    h.store
        .apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("seed");
    let mut dlv = DeliveryServiceClient::new(ch.clone());
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let req = ListDeliveriesRequest {
            page_size: 2,
            page_token,
            ..Default::default()
        };
        let page = dlv
            .list_deliveries(bearer(&a.token, req))
            .await
            .expect("page")
            .into_inner();
        seen.extend(page.deliveries.into_iter().map(|d| d.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(seen, ["dlv_5", "dlv_4", "dlv_3", "dlv_2", "dlv_1"]);

    for _ in 0..2 {
        mon.create_monitor(create(&a.token, http_monitor("b", &["eu"])))
            .await
            .expect("monitor");
    }
    let first = mon
        .list_monitors(bearer(
            &a.token,
            ListMonitorsRequest {
                page_size: 1,
                ..Default::default()
            },
        ))
        .await
        .expect("monitors")
        .into_inner();
    let monitor_token = first.next_page_token;
    assert!(!monitor_token.is_empty());
    let req = ListDeliveriesRequest {
        page_size: 2,
        page_token: monitor_token,
        ..Default::default()
    };
    let s = dlv
        .list_deliveries(bearer(&a.token, req))
        .await
        .expect_err("a monitor list's token");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("page_token: "), "{s:?}");
    h.stop().await;
}
