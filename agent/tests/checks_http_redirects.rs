//! Redirects and credentials: two loopback HTTP servers on different ports are different
//! origins; the second one records every request and must never see a credential or a body
//! the check was configured to send to the first.

mod checks_support;

use std::net::SocketAddr;

use checks_support::{Reply, Seen, http_server};
use lookout_agent::checks::http::HttpCheck;
use lookout_agent::checks::{Check, Outcome, Targets};
use lookout_proto::v1::{self, BasicAuth, http_check::Auth};
use lookout_proto::{CheckStatus, FailureClass};
use tokio::sync::mpsc::UnboundedReceiver;

/// Every credential a check can carry: secret headers (by the shared rule) and `auth`.
const SECRET_HEADERS: [(&str, &str); 4] = [
    ("Authorization", "Bearer header-token"),
    ("Cookie", "session=c00kie"),
    ("X-Api-Key", "k3y"),
    ("X-Auth-Token", "t0ken"),
];

fn spec(url: String, auth: Auth) -> v1::HttpCheck {
    let mut headers: Vec<v1::Header> = SECRET_HEADERS
        .iter()
        .map(|(name, value)| v1::Header {
            name: (*name).into(),
            value: (*value).into(),
        })
        .collect();
    headers.push(v1::Header {
        name: "X-Probe".into(),
        value: "plain".into(),
    });
    v1::HttpCheck {
        url,
        headers,
        auth: Some(auth),
        follow_redirects: true,
        ..Default::default()
    }
}

fn auths() -> [Auth; 2] {
    [
        Auth::BasicAuth(BasicAuth {
            username: "u".into(),
            password: "pw".into(),
        }),
        Auth::BearerToken("bearer-token".into()),
    ]
}

async fn run(spec: &v1::HttpCheck) -> Outcome {
    HttpCheck::new(spec)
        .expect("valid spec")
        .with_targets(Targets::AnyAddress)
        .run(checks_support::soon())
        .await
}

fn drain(rx: &mut UnboundedReceiver<Seen>) -> Vec<Seen> {
    let mut all = Vec::new();
    while let Ok(s) = rx.try_recv() {
        all.push(s);
    }
    all
}

/// No credential of any kind, and no trace of their values anywhere in the request.
fn assert_no_credentials(r: &Seen) {
    for name in ["authorization", "cookie", "x-api-key", "x-auth-token"] {
        assert_eq!(r.header(name), None, "{name} leaked to {}: {r:?}", r.path);
    }
    let all = format!("{:?}", r.headers);
    for secret in ["pw", "bearer-token", "c00kie", "k3y", "t0ken", "dTpwdw=="] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
}

/// An origin server whose `/start` redirects to `location(other)` with `status`.
async fn origin(
    status: u16,
    location: impl Fn() -> String + Send + Sync + 'static,
) -> (SocketAddr, UnboundedReceiver<Seen>) {
    http_server(None, move |r| match r.path.as_str() {
        "/start" => Reply::new(status, "").header("location", &location()),
        "/same" => Reply::new(302, "").header("location", "/landing"),
        _ => Reply::new(200, "landed"),
    })
    .await
}

#[tokio::test]
async fn credentials_never_follow_a_redirect_to_another_port() {
    let (other, mut other_seen) = http_server(None, |_| Reply::new(200, "other")).await;
    let (addr, mut seen) = origin(302, move || format!("http://{other}/landing")).await;
    for auth in auths() {
        let o = run(&spec(format!("http://{addr}/start"), auth)).await;
        assert_eq!(o.status, CheckStatus::Up, "{o:?}");
        let first = drain(&mut seen);
        assert_eq!(first.len(), 1);
        assert!(first[0].header("authorization").is_some());
        assert_eq!(first[0].header("x-api-key"), Some("k3y"));
        let landed = drain(&mut other_seen);
        assert_eq!(landed.len(), 1, "the redirect is followed");
        assert_no_credentials(&landed[0]);
        assert_eq!(
            landed[0].header("x-probe"),
            Some("plain"),
            "other headers stay"
        );
    }
}

#[tokio::test]
async fn another_host_name_is_another_origin() {
    // Same server, same port, but 127.0.0.1 and localhost are different origins.
    let (addr, mut seen) = http_server(None, |r| match r.path.as_str() {
        "/start" => Reply::new(302, "").header(
            "location",
            &format!(
                "http://localhost:{}/landing",
                r.header("host")
                    .map_or("", |h| { h.rsplit_once(':').map_or("", |(_, port)| port) })
            ),
        ),
        _ => Reply::new(200, "landed"),
    })
    .await;
    let o = run(&spec(format!("http://{addr}/start"), auths()[0].clone())).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    let all = drain(&mut seen);
    assert_eq!(all.len(), 2);
    assert!(all[0].header("authorization").is_some());
    assert_no_credentials(&all[1]);
}

#[tokio::test]
async fn same_origin_redirects_keep_credentials() {
    let (addr, mut seen) = origin(302, || "/same".into()).await;
    for auth in auths() {
        let expected = match &auth {
            Auth::BasicAuth(_) => "Basic dTpwdw==",
            Auth::BearerToken(_) => "Bearer bearer-token",
        };
        let o = run(&spec(format!("http://{addr}/start"), auth)).await;
        assert_eq!(o.status, CheckStatus::Up, "{o:?}");
        let all = drain(&mut seen);
        let paths: Vec<&str> = all.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/start", "/same", "/landing"]);
        for r in &all {
            assert_eq!(r.header("authorization"), Some(expected), "{}", r.path);
            assert_eq!(r.header("cookie"), Some("session=c00kie"), "{}", r.path);
            assert_eq!(r.header("x-api-key"), Some("k3y"), "{}", r.path);
        }
    }
}

#[tokio::test]
async fn credentials_stay_dropped_when_another_origin_sends_the_check_back() {
    // The other origin chose where to send the check back to, so it gets no credentials.
    let (other, mut other_seen) = http_server(None, |r| {
        let home = r.path.split_once("?to=").map_or("", |(_, to)| to);
        Reply::new(302, "").header("location", &format!("http://{home}/back"))
    })
    .await;
    let (addr, mut seen) = http_server(None, move |r| match r.path.as_str() {
        "/start" => Reply::new(302, "").header(
            "location",
            &format!(
                "http://{other}/bounce?to={}",
                r.header("host").unwrap_or("")
            ),
        ),
        _ => Reply::new(200, "back home"),
    })
    .await;
    let o = run(&spec(format!("http://{addr}/start"), auths()[1].clone())).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    let home = drain(&mut seen);
    let paths: Vec<&str> = home.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/start", "/back"]);
    assert!(home[0].header("authorization").is_some());
    assert_no_credentials(&home[1]);
    let bounced = drain(&mut other_seen);
    assert_eq!(bounced.len(), 1);
    assert_no_credentials(&bounced[0]);
}

#[tokio::test]
async fn a_post_body_is_not_resent_to_another_origin() {
    let (other, mut other_seen) = http_server(None, |_| Reply::new(200, "other")).await;
    for status in [301, 302, 303] {
        let (addr, _seen) = origin(status, move || format!("http://{other}/landing")).await;
        let mut s = spec(format!("http://{addr}/start"), auths()[0].clone());
        s.method = "POST".into();
        s.body = "secret-form=1".into();
        let o = run(&s).await;
        assert_eq!(o.status, CheckStatus::Up, "{status}: {o:?}");
        let landed = drain(&mut other_seen);
        assert_eq!(landed.len(), 1, "{status}");
        assert_eq!(landed[0].method, "GET", "{status} turns POST into GET");
        assert!(landed[0].body.is_empty(), "{status}: body resent");
        assert_no_credentials(&landed[0]);
    }
    for status in [307, 308] {
        let (addr, _seen) = origin(status, move || format!("http://{other}/landing")).await;
        let mut s = spec(format!("http://{addr}/start"), auths()[0].clone());
        s.method = "POST".into();
        s.body = "secret-form=1".into();
        let o = run(&s).await;
        assert_eq!(
            (o.status, o.failure),
            (CheckStatus::Down, FailureClass::Protocol),
            "{status}: {o:?}"
        );
        assert_eq!(
            o.message,
            format!(
                "http://{addr}/start answered {status} with a redirect to http://{other}/landing, \
                 another origin; the request body is not sent to another origin, so the check \
                 stops here (point it at the final URL)"
            )
        );
        assert!(
            drain(&mut other_seen).is_empty(),
            "{status}: nothing reaches it"
        );
    }
}

#[tokio::test]
async fn a_post_body_is_resent_on_the_same_origin_for_307() {
    let (addr, mut seen) = origin(307, || "/landing".into()).await;
    let mut s = spec(format!("http://{addr}/start"), auths()[0].clone());
    s.method = "POST".into();
    s.body = "form=1".into();
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    let all = drain(&mut seen);
    assert_eq!(all.len(), 2);
    assert_eq!(
        (all[1].method.as_str(), all[1].body.as_slice()),
        ("POST", b"form=1".as_slice())
    );
    assert!(all[1].header("authorization").is_some());
}
