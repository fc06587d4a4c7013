//! Admin API over a real server: validation, authentication, CRUD, pause and secret handling.

mod common;

use common::{Harness, http_monitor};
use lookout_proto::v1::{
    GetMonitorRequest, ListMonitorsRequest, Monitor, UpdateMonitorRequest, monitor::Check,
};
use tonic::Code;

#[tokio::test]
async fn invalid_monitors_are_refused_naming_the_field() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let mut bad_url = http_monitor("bad url", &["eu"]);
    if let Some(Check::Http(c)) = &mut bad_url.check {
        c.url = "not a url".into();
    }
    let cases = [
        (bad_url, "http.url: "),
        (
            Monitor {
                interval_secs: 0,
                ..http_monitor("zero", &["eu"])
            },
            "interval_secs: ",
        ),
        (http_monitor("mars", &["eu", "mars"]), "regions[1]: "),
    ];
    for (m, prefix) in cases {
        let s = admin.create(m).await.expect_err(prefix);
        assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
        assert!(
            s.message().starts_with(prefix),
            "{prefix} vs {:?}",
            s.message()
        );
    }
    let req = admin.req(lookout_proto::v1::CreateMonitorRequest { monitor: None });
    let s = admin
        .client
        .create_monitor(req)
        .await
        .expect_err("missing monitor");
    assert!(s.message().starts_with("monitor: "), "{s:?}");
    assert!(
        h.store.list_monitors().await.expect("list").is_empty(),
        "nothing was stored"
    );
    h.stop().await;
}

#[tokio::test]
async fn wrong_or_missing_project_token_is_unauthenticated() {
    let h = Harness::start().await;
    for token in [Some("wrong-token"), None] {
        let mut admin = h.admin_with(token).await;
        let s = admin
            .create(http_monitor("x", &["eu"]))
            .await
            .expect_err("refused");
        assert_eq!(s.code(), Code::Unauthenticated, "{token:?}: {s:?}");
        let req = admin.req(ListMonitorsRequest::default());
        let s = admin.client.list_monitors(req).await.expect_err("refused");
        assert_eq!(s.code(), Code::Unauthenticated);
    }
    assert!(h.store.list_monitors().await.expect("list").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn crud_never_returns_secrets() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let created = admin
        .create(http_monitor("api", &["us", "eu"]))
        .await
        .expect("create");
    assert!(
        created.id.starts_with("mon_") && created.id.len() == 36,
        "{}",
        created.id
    );
    assert_eq!(created.regions, ["eu", "us"]);
    assert_eq!(created.version, 1);
    assert_eq!(bearer(&created), "", "the token is blanked");

    let req = admin.req(GetMonitorRequest {
        id: created.id.clone(),
    });
    let got = admin
        .client
        .get_monitor(req)
        .await
        .expect("get")
        .into_inner();
    assert_eq!(got, created);
    let req = admin.req(ListMonitorsRequest::default());
    let listed = admin
        .client
        .list_monitors(req)
        .await
        .expect("list")
        .into_inner()
        .monitors;
    assert_eq!(listed, vec![created.clone()]);
    let raw = format!("{got:?}{listed:?}");
    assert!(
        !raw.contains("hook-secret"),
        "a response carried the secret"
    );

    // Sending back what was read keeps the stored secret.
    let mut change = got.clone();
    change.name = "api v2".into();
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(change),
    });
    let updated = admin
        .client
        .update_monitor(req)
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.name, "api v2");
    assert_eq!(bearer(&updated), "");
    let stored = h.store.get_monitor(&created.id).await.expect("stored");
    assert_eq!(bearer(&stored), "hook-secret");

    // A stale version is a conflict.
    let req = admin.req(UpdateMonitorRequest { monitor: Some(got) });
    let s = admin.client.update_monitor(req).await.expect_err("stale");
    assert_eq!(s.code(), Code::Aborted, "{s:?}");

    let paused = admin.pause(&created.id, true).await.expect("pause");
    assert!(paused.paused);
    assert_eq!(paused.version, 3);
    assert_eq!(bearer(&paused), "");

    admin.delete(&created.id).await.expect("delete");
    let req = admin.req(GetMonitorRequest {
        id: created.id.clone(),
    });
    assert_eq!(
        admin
            .client
            .get_monitor(req)
            .await
            .expect_err("gone")
            .code(),
        Code::NotFound
    );
    assert_eq!(
        admin.delete(&created.id).await.expect_err("gone").code(),
        Code::NotFound
    );
    assert_eq!(
        admin
            .pause("mon_unknown", true)
            .await
            .expect_err("unknown")
            .code(),
        Code::NotFound
    );
    let mut unknown = http_monitor("u", &["eu"]);
    unknown.id = "mon_unknown".into();
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(unknown),
    });
    assert_eq!(
        admin
            .client
            .update_monitor(req)
            .await
            .expect_err("unknown")
            .code(),
        Code::NotFound
    );
    h.stop().await;
}

#[tokio::test]
async fn health_is_served() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
    let h = Harness::start().await;
    let mut client = HealthClient::new(
        tonic::transport::Channel::from_shared(h.url())
            .expect("url")
            .connect()
            .await
            .expect("connect"),
    );
    for service in ["lookout.v1.MonitorService", "lookout.v1.AgentGateway"] {
        let req = HealthCheckRequest {
            service: service.into(),
        };
        let status = client.check(req).await.expect("health").into_inner().status;
        assert_eq!(status, ServingStatus::Serving as i32, "{service}");
    }
    h.stop().await;
}

#[tokio::test]
async fn reflection_lists_the_services() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let h = Harness::start().await;
    let channel = tonic::transport::Channel::from_shared(h.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut client = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client
        .server_reflection_info(futures::stream::iter([req]))
        .await
        .expect("reflection")
        .into_inner();
    let first = responses
        .message()
        .await
        .expect("response")
        .expect("one response");
    let Some(MessageResponse::ListServicesResponse(list)) = first.message_response else {
        panic!("expected a service list, got {first:?}");
    };
    let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
    for want in [
        "lookout.v1.MonitorService",
        "lookout.v1.AgentGateway",
        "grpc.health.v1.Health",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "{want} missing from {names:?}"
        );
    }
    h.stop().await;
}

/// The bearer token of an HTTP monitor (empty when blanked or absent).
fn bearer(m: &lookout_proto::Monitor) -> &str {
    use lookout_proto::v1::{http_check::Auth, monitor::Check};
    match &m.check {
        Some(Check::Http(h)) => match &h.auth {
            Some(Auth::BearerToken(t)) => t,
            _ => "",
        },
        _ => "",
    }
}
