//! Two projects on one coordinator: every admin method acts only on the caller's project, and
//! an id of the other project answers NOT_FOUND with exactly the message an unknown id gets.

mod common;

use common::{Harness, OPERATOR_TOKEN, PROJECT_TOKEN, bearer, http_monitor, tenant};
use lookout_proto::v1::delivery_service_client::DeliveryServiceClient;
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::project_service_client::ProjectServiceClient;
use lookout_proto::v1::token_service_client::TokenServiceClient;
use lookout_proto::v1::{
    CreateMonitorRequest, CreateTokenRequest, DeleteMonitorRequest, DeleteProjectRequest,
    GetDeliveryRequest, GetMonitorRequest, ListDeliveriesRequest, ListMonitorsRequest,
    ListProjectsRequest, ListTokensRequest, Monitor, PauseMonitorRequest, RetryDeliveryRequest,
    RevokeTokenRequest, UpdateMonitorRequest,
};
use lookout_store::notifier::{NotifierBatch, OutboxRow, OutboxState};
use tonic::{Code, Status};

fn dead_delivery(id: &str, project_id: &str, monitor_id: &str) -> OutboxRow {
    OutboxRow {
        project_id: project_id.into(),
        ..lookout_store::testing::pending_delivery(id, monitor_id, 10)
    }
}

/// The status for `id` with the id replaced, so the answer for another project's id can be
/// compared with the one for an unknown id.
fn shape(s: &Status, id: &str) -> (Code, String) {
    (s.code(), s.message().replace(id, "<id>"))
}

#[tokio::test]
async fn every_monitor_and_delivery_method_stays_in_its_project() {
    let h = Harness::start().await;
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let b = tenant(&ch, "team-b").await;
    let mut mon = MonitorServiceClient::new(ch.clone());
    let create = |token: &str, name: &str| {
        bearer(
            token,
            CreateMonitorRequest {
                monitor: Some(http_monitor(name, &["eu"])),
            },
        )
    };
    let ma = mon
        .create_monitor(create(&a.token, "a's"))
        .await
        .expect("a creates")
        .into_inner();
    let mb = mon
        .create_monitor(create(&b.token, "b's"))
        .await
        .expect("b creates")
        .into_inner();
    let unknown = "mon_0000000000000000000000000000dead";

    // Get, update, pause and delete: a's id through b's token is "not found", exactly like
    // an unknown id.
    let get = |token: &str, id: &str| bearer(token, GetMonitorRequest { id: id.into() });
    let other = mon
        .get_monitor(get(&b.token, &ma.id))
        .await
        .expect_err("get");
    let none = mon
        .get_monitor(get(&b.token, unknown))
        .await
        .expect_err("get");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &ma.id), shape(&none, unknown));

    let update = |token: &str, m: &Monitor| {
        bearer(
            token,
            UpdateMonitorRequest {
                monitor: Some(Monitor {
                    name: "taken over".into(),
                    ..m.clone()
                }),
            },
        )
    };
    let unknown_monitor = Monitor {
        id: unknown.into(),
        ..ma.clone()
    };
    let other = mon
        .update_monitor(update(&b.token, &ma))
        .await
        .expect_err("update");
    let none = mon
        .update_monitor(update(&b.token, &unknown_monitor))
        .await
        .expect_err("update");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &ma.id), shape(&none, unknown));

    let pause = |token: &str, id: &str| {
        bearer(
            token,
            PauseMonitorRequest {
                id: id.into(),
                paused: true,
            },
        )
    };
    let other = mon
        .pause_monitor(pause(&b.token, &ma.id))
        .await
        .expect_err("pause");
    let none = mon
        .pause_monitor(pause(&b.token, unknown))
        .await
        .expect_err("pause");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &ma.id), shape(&none, unknown));

    let delete = |token: &str, id: &str| bearer(token, DeleteMonitorRequest { id: id.into() });
    let other = mon
        .delete_monitor(delete(&b.token, &ma.id))
        .await
        .expect_err("delete");
    let none = mon
        .delete_monitor(delete(&b.token, unknown))
        .await
        .expect_err("delete");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &ma.id), shape(&none, unknown));

    // a's monitor is untouched, and each list holds only its own project's monitors.
    let still = mon
        .get_monitor(get(&a.token, &ma.id))
        .await
        .expect("a still has it")
        .into_inner();
    assert_eq!(
        (still.name.as_str(), still.paused, still.version),
        ("a's", false, 1)
    );
    let list = |token: &str| bearer(token, ListMonitorsRequest::default());
    for (t, want) in [(&a.token, &ma.id), (&b.token, &mb.id)] {
        let ids: Vec<String> = mon
            .list_monitors(list(t))
            .await
            .expect("list")
            .into_inner()
            .monitors
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids.as_slice(), std::slice::from_ref(want));
    }
    let ids: Vec<String> = mon
        .list_monitors(list(PROJECT_TOKEN))
        .await
        .expect("default project")
        .into_inner()
        .monitors
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert!(ids.is_empty(), "the default project holds neither: {ids:?}");

    // Deliveries belong to the project of their monitor.
    let batch = NotifierBatch {
        outbox: vec![
            dead_delivery("dlv_a", &a.id, &ma.id),
            dead_delivery("dlv_b", &b.id, &mb.id),
        ],
        ..Default::default()
    };
    h.store
        .apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("seed deliveries");
    for id in ["dlv_a", "dlv_b"] {
        h.store.outbox_dead(id, 1, "gone", 20).await.expect("dead");
    }
    let mut dlv = DeliveryServiceClient::new(ch.clone());
    let listed: Vec<String> = dlv
        .list_deliveries(bearer(&b.token, ListDeliveriesRequest::default()))
        .await
        .expect("list")
        .into_inner()
        .deliveries
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, ["dlv_b"]);
    let get = |id: &str| bearer(&b.token, GetDeliveryRequest { id: id.into() });
    let other = dlv.get_delivery(get("dlv_a")).await.expect_err("get");
    let none = dlv.get_delivery(get("dlv_none")).await.expect_err("get");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, "dlv_a"), shape(&none, "dlv_none"));
    let retry = |id: &str| bearer(&b.token, RetryDeliveryRequest { id: id.into() });
    let other = dlv.retry_delivery(retry("dlv_a")).await.expect_err("retry");
    let none = dlv
        .retry_delivery(retry("dlv_none"))
        .await
        .expect_err("retry");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, "dlv_a"), shape(&none, "dlv_none"));
    let a_row = h.store.list_outbox(None).await.expect("outbox");
    assert!(
        a_row
            .iter()
            .any(|r| r.id == "dlv_a" && r.state == OutboxState::Dead),
        "a's delivery was not re-driven"
    );
    dlv.retry_delivery(retry("dlv_b"))
        .await
        .expect("b re-drives its own");
    h.stop().await;
}

#[tokio::test]
async fn token_methods_stay_in_their_project_and_roles_are_kept_apart() {
    let h = Harness::start().await;
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let b = tenant(&ch, "team-b").await;
    let mut tokens = TokenServiceClient::new(ch.clone());
    let unknown = "prj_0000000000000000000000000000dead";

    let list = |token: &str, project_id: &str| {
        bearer(
            token,
            ListTokensRequest {
                project_id: project_id.into(),
            },
        )
    };
    let other = tokens
        .list_tokens(list(&b.token, &a.id))
        .await
        .expect_err("list");
    let none = tokens
        .list_tokens(list(&b.token, unknown))
        .await
        .expect_err("list");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &a.id), shape(&none, unknown));
    let own = tokens
        .list_tokens(list(&b.token, ""))
        .await
        .expect("own tokens")
        .into_inner()
        .tokens;
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].project_id, b.id);

    let create = |token: &str, project_id: &str| {
        bearer(
            token,
            CreateTokenRequest {
                project_id: project_id.into(),
                name: "sneaky".into(),
            },
        )
    };
    let other = tokens
        .create_token(create(&b.token, &a.id))
        .await
        .expect_err("create");
    let none = tokens
        .create_token(create(&b.token, unknown))
        .await
        .expect_err("create");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &a.id), shape(&none, unknown));

    let a_tokens = tokens
        .list_tokens(list(OPERATOR_TOKEN, &a.id))
        .await
        .expect("operator lists a's tokens")
        .into_inner()
        .tokens;
    let a_token_id = a_tokens[0].id.clone();
    let revoke = |token: &str, id: &str| {
        bearer(
            token,
            RevokeTokenRequest {
                project_id: String::new(),
                id: id.into(),
            },
        )
    };
    let other = tokens
        .revoke_token(revoke(&b.token, &a_token_id))
        .await
        .expect_err("revoke");
    let none = tokens
        .revoke_token(revoke(&b.token, "tok_none"))
        .await
        .expect_err("revoke");
    assert_eq!(other.code(), Code::NotFound);
    assert_eq!(shape(&other, &a_token_id), shape(&none, "tok_none"));
    let mut mon = MonitorServiceClient::new(ch.clone());
    mon.list_monitors(bearer(&a.token, ListMonitorsRequest::default()))
        .await
        .expect("a's token still works");

    // Project tokens cannot manage projects; the operator token cannot touch monitors.
    let mut projects = ProjectServiceClient::new(ch.clone());
    let s = projects
        .list_projects(bearer(&a.token, ListProjectsRequest::default()))
        .await
        .expect_err("project token");
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = projects
        .delete_project(bearer(
            PROJECT_TOKEN,
            DeleteProjectRequest { id: b.id.clone() },
        ))
        .await
        .expect_err("default project's token");
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = mon
        .list_monitors(bearer(OPERATOR_TOKEN, ListMonitorsRequest::default()))
        .await
        .expect_err("operator token");
    assert_eq!(s.code(), Code::PermissionDenied);
    let mut dlv = DeliveryServiceClient::new(ch.clone());
    let s = dlv
        .list_deliveries(bearer(OPERATOR_TOKEN, ListDeliveriesRequest::default()))
        .await
        .expect_err("operator token");
    assert_eq!(s.code(), Code::PermissionDenied);
    let s = tokens
        .list_tokens(list(OPERATOR_TOKEN, ""))
        .await
        .expect_err("operator names no project");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("project_id: "), "{s:?}");
    h.stop().await;
}
