//! Admin API bounds over a real server: oversized and malformed input is INVALID_ARGUMENT
//! naming the field with a short message, enums are range-checked, bytes that are not protobuf
//! are the caller's error, and stored credentials never follow a check to a new host.

mod common;

use common::{Harness, PROJECT_TOKEN, http_monitor};
use lookout_proto::v1::{
    GetMonitorRequest, Header, Monitor, StatusRange, TlsOptions, UpdateMonitorRequest,
    http_check::Auth, monitor::Check,
};
use tonic::Code;

const MB: usize = 1024 * 1024;

fn with_http(name: &str, edit: impl FnOnce(&mut lookout_proto::v1::HttpCheck)) -> Monitor {
    let mut m = http_monitor(name, &["eu"]);
    if let Some(Check::Http(h)) = &mut m.check {
        edit(h);
    }
    m
}

#[tokio::test]
async fn oversized_and_unsendable_values_are_invalid_argument_naming_the_field() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let huge = "a".repeat(MB);
    let cases = [
        (
            with_http("url", |c| c.url = format!("http://127.0.0.1:9/{huge}")),
            "http.url: ",
        ),
        (
            with_http("header", |c| {
                c.headers.push(Header {
                    name: "x-big".into(),
                    value: huge.clone(),
                })
            }),
            "http.headers[0].value: ",
        ),
        (
            with_http("control", |c| {
                c.headers.push(Header {
                    name: "x-a".into(),
                    value: "a\u{1}b".into(),
                })
            }),
            "http.headers[0].value: ",
        ),
        (
            with_http("ca", |c| {
                c.tls = Some(TlsOptions {
                    ca_pem: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into(),
                    ..Default::default()
                })
            }),
            "http.tls.ca_pem: ",
        ),
        (
            with_http("enum", |c| c.ip_preference = 99),
            "http.ip_preference: ",
        ),
        (
            Monitor {
                interval_secs: 5,
                timeout_ms: 10_000,
                ..http_monitor("timeout", &["eu"])
            },
            "timeout_ms: ",
        ),
    ];
    for (m, prefix) in cases {
        let s = admin.create(m).await.expect_err(prefix);
        assert_eq!(s.code(), Code::InvalidArgument, "{prefix} {}", s.code());
        assert!(
            s.message().starts_with(prefix),
            "{prefix} vs {:.300}",
            s.message()
        );
        assert!(
            s.message().len() < 400,
            "{prefix}: {} bytes",
            s.message().len()
        );
    }
    assert!(h.store.list_monitors().await.expect("list").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_request_that_is_not_protobuf_is_invalid_argument() {
    use lookout_proto::codec::LookoutCodec;
    use tonic::codegen::http::uri::PathAndQuery;
    let h = Harness::start().await;
    let channel = tonic::transport::Channel::from_shared(h.url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    // Encodes as the bytes 08 05: field 1 as a varint, where CreateMonitorRequest has a
    // message, so the server cannot decode it.
    let mut req = tonic::Request::new(StatusRange { min: 5, max: 0 });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {PROJECT_TOKEN}").parse().expect("ascii"),
    );
    let s = grpc
        .unary::<_, Monitor, _>(
            req,
            PathAndQuery::from_static("/lookout.v1.MonitorService/CreateMonitor"),
            LookoutCodec::<StatusRange, Monitor>::default(),
        )
        .await
        .expect_err("not a CreateMonitorRequest");
    assert_eq!(s.code(), Code::InvalidArgument, "{s:?}");
    assert!(s.message().contains("not valid protobuf"), "{s:?}");
    assert!(h.store.list_monitors().await.expect("list").is_empty());
    h.stop().await;
}

#[tokio::test]
async fn credentials_do_not_follow_a_new_origin() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let created = admin
        .create(with_http("api", |c| {
            c.auth = Some(Auth::BearerToken("tok-1".into()));
            c.headers.push(Header {
                name: "X-Api-Key".into(),
                value: "key-1".into(),
            });
        }))
        .await
        .expect("create");
    // Sent back redacted with a new host: the stored token is not carried over, so the
    // update is refused for the missing token, and nothing changes.
    let mut moved = created.clone();
    if let Some(Check::Http(c)) = &mut moved.check {
        c.url = "http://127.0.0.2:9/health".into();
    }
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(moved.clone()),
    });
    let s = admin
        .client
        .update_monitor(req)
        .await
        .expect_err("no token");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message()
            .starts_with("http.bearer_token: must be sent again"),
        "{s:?}"
    );
    // Without bearer auth the move succeeds, and the credential header is cleared.
    if let Some(Check::Http(c)) = &mut moved.check {
        c.auth = None;
    }
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(moved),
    });
    admin.client.update_monitor(req).await.expect("moved");
    let stored = h.store.get_monitor(&created.id).await.expect("stored");
    let Some(Check::Http(c)) = &stored.check else {
        panic!("http")
    };
    assert_eq!(c.url, "http://127.0.0.2:9/health");
    assert_eq!(c.headers[0].value, "", "the key stayed with the old host");
    // A new key sent with the new host is stored; a redacted round trip to another path of
    // the same origin keeps it.
    let mut rekeyed = stored.clone();
    if let Some(Check::Http(c)) = &mut rekeyed.check {
        c.headers[0].value = "key-2".into();
    }
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(rekeyed),
    });
    let shown = admin
        .client
        .update_monitor(req)
        .await
        .expect("rekey")
        .into_inner();
    let mut same_origin = shown.clone();
    if let Some(Check::Http(c)) = &mut same_origin.check {
        assert_eq!(c.headers[0].value, "", "redacted in the response");
        c.url = "http://127.0.0.2:9/other".into();
    }
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(same_origin),
    });
    admin.client.update_monitor(req).await.expect("same origin");
    let stored = h.store.get_monitor(&created.id).await.expect("stored");
    let Some(Check::Http(c)) = &stored.check else {
        panic!("http")
    };
    assert_eq!(c.headers[0].value, "key-2", "same origin keeps the key");
    h.stop().await;
}

#[tokio::test]
async fn webhooks_on_a_monitor_are_refused_for_integrations() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let mut m = http_monitor("hooks", &["eu"]);
    m.webhooks = vec![lookout_proto::v1::Webhook {
        url: "http://127.0.0.1:9/hook?token=hook-token-1".into(),
        secret: "whsec".into(),
        secret_set: false,
    }];
    let s = admin.create(m).await.expect_err("refused");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message().starts_with("webhooks: moved to integrations"),
        "{}",
        s.message()
    );
    assert!(!s.message().contains("hook-token-1"));
    let mut m = http_monitor("hooks", &["eu"]);
    m.integration_ids = vec!["int_nope".into()];
    let s = admin.create(m).await.expect_err("unknown integration");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message()
            .starts_with("integration_ids[0]: no integration"),
        "{}",
        s.message()
    );
    h.stop().await;
}

#[tokio::test]
async fn ids_are_bounded_and_long_lists_are_paged() {
    use lookout_proto::v1::ListMonitorsRequest;
    use lookout_proto::validate::{DEFAULT_PAGE_SIZE, MAX_LIST_MONITORS};
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let req = admin.req(GetMonitorRequest { id: "m".repeat(MB) });
    let s = admin.client.get_monitor(req).await.expect_err("huge id");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(
        s.message().starts_with("id: ") && s.message().len() < 100,
        "{s:?}"
    );
    for i in 0..=MAX_LIST_MONITORS {
        let mut m = http_monitor(&format!("m{i}"), &["eu"]);
        m.id = format!("m{i}");
        h.store.insert_monitor(m).await.expect("seed");
    }
    let list = |page_size: u32| ListMonitorsRequest {
        page_size,
        ..Default::default()
    };
    let first = admin
        .client
        .list_monitors(admin.req(list(0)))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(first.monitors.len(), DEFAULT_PAGE_SIZE as usize);
    assert!(!first.next_page_token.is_empty());
    let most = admin
        .client
        .list_monitors(admin.req(list(MAX_LIST_MONITORS as u32)))
        .await
        .expect("largest page")
        .into_inner();
    assert_eq!(most.monitors.len(), MAX_LIST_MONITORS);
    let rest = ListMonitorsRequest {
        page_size: MAX_LIST_MONITORS as u32,
        page_token: most.next_page_token,
    };
    let rest = admin
        .client
        .list_monitors(admin.req(rest))
        .await
        .expect("last page")
        .into_inner();
    assert_eq!(rest.monitors.len(), 1);
    assert!(rest.next_page_token.is_empty(), "the last page says so");
    let s = admin
        .client
        .list_monitors(admin.req(list(MAX_LIST_MONITORS as u32 + 1)))
        .await
        .expect_err("over the bound");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("page_size: "), "{s:?}");
    let bad = ListMonitorsRequest {
        page_token: "not-a-token".into(),
        ..Default::default()
    };
    let s = admin
        .client
        .list_monitors(admin.req(bad))
        .await
        .expect_err("malformed token");
    assert_eq!(s.code(), Code::InvalidArgument);
    assert!(s.message().starts_with("page_token: "), "{s:?}");
    h.stop().await;
}
