//! A rendered webhook request as a receiver gets it over HTTP: method, basic auth, custom
//! headers (templated), content type and the lookout signature, checked by a local axum
//! server.

mod webhook_support;

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use base64::Engine as _;
use lookout_proto::v1::{BasicAuth, EventKind, Header, SignatureMode, TemplateSyntax};
use lookout_render::Variables;
use lookout_render::webhook::verify_lookout;
use webhook_support::*;

type Seen = Arc<Mutex<Vec<(Method, HeaderMap, Bytes)>>>;

async fn receiver() -> (u16, Seen) {
    let seen: Seen = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::any(move |method: Method, headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().expect("lock").push((method, headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, seen)
}

#[tokio::test]
async fn basic_auth_and_custom_headers_reach_the_receiver() {
    let (port, seen) = receiver().await;
    let mut vars = Variables::new();
    vars.insert("API_KEY", "k-123-secret", true);
    let mut w = signed(
        templated(
            &format!("http://127.0.0.1:{port}/hook"),
            TemplateSyntax::Go,
            "{{ .Title }}",
            false,
        ),
        SignatureMode::Lookout,
        "whsec_1",
    );
    w.method = "put".into();
    w.basic_auth = Some(BasicAuth {
        username: "coroot".into(),
        password: "p@ss:wörd".into(),
    });
    w.headers = vec![
        Header {
            name: "X-Api-Key".into(),
            value: "{{ .Vars.API_KEY }}".into(),
        },
        Header {
            name: "X-Status".into(),
            value: "{{ .Status }}".into(),
        },
        Header {
            name: "X-Static".into(),
            value: "plain value".into(),
        },
    ];
    let r = render_with(&w, &event(EventKind::Incident), &vars).expect("renders");
    let client = reqwest::Client::new();
    let mut req = client.request(reqwest::Method::PUT, &r.url);
    for (n, v) in &r.headers {
        req = req.header(n, v);
    }
    let resp = req.body(r.body.clone()).send().await.expect("sent");
    assert_eq!(resp.status(), 200);
    let seen = seen.lock().expect("lock");
    let (method, headers, body) = seen.first().expect("one request");
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(method, Method::PUT);
    let auth = h("authorization");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(auth.strip_prefix("Basic ").expect("basic auth"))
        .expect("base64");
    assert_eq!(
        String::from_utf8(decoded).expect("utf-8"),
        "coroot:p@ss:wörd"
    );
    assert_eq!(h("x-api-key"), "k-123-secret");
    assert_eq!(h("x-status"), "CRITICAL");
    assert_eq!(h("x-static"), "plain value");
    assert_eq!(h("content-type"), "text/plain; charset=utf-8");
    assert_eq!(&body[..], "Check “API Server” has failed".as_bytes());
    assert_eq!(h("x-lookout-delivery"), "dlv_0001");
    assert!(verify_lookout(
        b"whsec_1",
        &h("x-lookout-timestamp"),
        body,
        &h("x-lookout-signature")
    ));
}
