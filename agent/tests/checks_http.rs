//! HttpCheck against scripted HTTP and HTTPS servers on 127.0.0.1.

mod checks_support;

use std::time::Duration;

use checks_support::{Reply, TestCa, Validity, closed_port, http_server, soon};
use lookout_agent::checks::http::HttpCheck;
use lookout_agent::checks::{Check, Outcome, Targets};
use lookout_proto::v1::{
    self, BasicAuth, Comparison, HeaderAssertion, HttpAssertion, JsonPathAssertion, StatusRange,
    TlsOptions, header_assertion, http_assertion::Assertion, http_check::Auth,
};
use lookout_proto::{CheckStatus, FailureClass};
use tokio::time::Instant;

fn spec(url: String) -> v1::HttpCheck {
    v1::HttpCheck {
        url,
        ..Default::default()
    }
}

async fn run(spec: &v1::HttpCheck) -> Outcome {
    HttpCheck::new(spec)
        .expect("valid spec")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await
}

fn assertion(a: Assertion) -> HttpAssertion {
    HttpAssertion { assertion: Some(a) }
}

#[tokio::test]
async fn up_with_status_and_timings() {
    let (addr, _) = http_server(None, |_| Reply::new(200, "ok")).await;
    let o = run(&spec(format!("http://{addr}/health"))).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert_eq!(o.status_code, Some(200));
    assert_eq!(o.timings.dns_us, 0, "an IP literal needs no DNS");
    assert!(
        o.timings.connect_us > 0 && o.timings.total_us >= o.timings.first_byte_us,
        "{:?}",
        o.timings
    );
}

#[tokio::test]
async fn unexpected_status_is_down_with_a_readable_reason() {
    let (addr, _) = http_server(None, |_| Reply::new(503, "busy")).await;
    let o = run(&spec(format!("http://{addr}/"))).await;
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::HttpStatus)
    );
    assert_eq!(o.message, "expected status 200-299, got 503");
    assert_eq!(o.status_code, Some(503));

    let mut s = spec(format!("http://{addr}/"));
    s.expected_status = vec![
        StatusRange { min: 500, max: 503 },
        StatusRange { min: 200, max: 0 },
    ];
    assert_eq!(run(&s).await.status, CheckStatus::Up);
}

#[tokio::test]
async fn slow_first_byte_times_out_naming_the_phase() {
    let (addr, _) = http_server(None, |_| {
        Reply::new(200, "late").delay(Duration::from_secs(3))
    })
    .await;
    let check = HttpCheck::new(&spec(format!("http://{addr}/")))
        .expect("valid")
        .with_targets(Targets::AnyAddress);
    let started = Instant::now();
    let o = check.run(Instant::now() + Duration::from_millis(300)).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline must cut the check off"
    );
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::Timeout),
        "{o:?}"
    );
    assert!(
        o.message
            .contains(&format!("waiting for the response from {addr}")),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn refused_connection_names_the_address() {
    let addr = closed_port().await;
    let o = run(&spec(format!("http://{addr}/"))).await;
    assert_eq!(o.failure, FailureClass::ConnectRefused);
    assert_eq!(o.message, format!("connection refused by {addr}"));
}

#[tokio::test]
async fn redirects_followed_within_max_hops() {
    let (addr, mut seen) = http_server(None, |r| match r.path.as_str() {
        "/a" => Reply::new(302, "").header("location", "/b"),
        "/b" => Reply::new(301, "").header("location", "/c?x=1"),
        "/loop" => Reply::new(302, "").header("location", "/loop"),
        _ => Reply::new(200, "landed"),
    })
    .await;
    let mut s = spec(format!("http://{addr}/a"));
    let o = run(&s).await;
    assert_eq!(
        o.message, "expected status 200-299, got 302",
        "not following by default"
    );
    s.follow_redirects = true;
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    let mut paths = Vec::new();
    while let Ok(r) = seen.try_recv() {
        paths.push(r.path);
    }
    assert_eq!(paths, ["/a", "/a", "/b", "/c?x=1"]);

    let mut s = spec(format!("http://{addr}/loop"));
    s.follow_redirects = true;
    s.max_redirects = 2;
    let o = run(&s).await;
    assert_eq!(
        (o.failure, o.message.as_str()),
        (FailureClass::Protocol, "more than 2 redirects")
    );
}

#[tokio::test]
async fn sends_method_headers_body_auth_and_user_agent() {
    let (addr, mut seen) = http_server(None, |_| Reply::new(201, "")).await;
    let mut s = spec(format!("http://{addr}/submit"));
    s.method = "POST".into();
    s.body = "{\"a\":1}".into();
    s.headers = vec![v1::Header {
        name: "x-probe".into(),
        value: "yes".into(),
    }];
    s.user_agent = "probe/1".into();
    s.auth = Some(Auth::BasicAuth(BasicAuth {
        username: "Aladdin".into(),
        password: "open sesame".into(),
    }));
    assert_eq!(run(&s).await.status, CheckStatus::Up);
    let r = seen.recv().await.expect("request");
    assert_eq!(
        (r.method.as_str(), r.body.as_slice()),
        ("POST", b"{\"a\":1}".as_slice())
    );
    assert_eq!(r.header("x-probe"), Some("yes"));
    assert_eq!(r.header("user-agent"), Some("probe/1"));
    assert_eq!(
        r.header("authorization"),
        Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
    );
    assert_eq!(r.header("host"), Some(addr.to_string().as_str()));

    s.auth = Some(Auth::BearerToken("t0k".into()));
    run(&s).await;
    assert_eq!(
        seen.recv().await.expect("request").header("authorization"),
        Some("Bearer t0k")
    );
}

#[tokio::test]
async fn body_json_and_header_assertions() {
    let (addr, _) = http_server(None, |r| {
        let body = if r.path == "/down" {
            r#"{"status":"DOWN","load":0.9}"#
        } else {
            r#"{"status":"UP","load":0.2}"#
        };
        Reply::new(200, body).header("content-type", "application/json")
    })
    .await;
    let mut s = spec(format!("http://{addr}/up"));
    s.assertions = vec![
        assertion(Assertion::BodyContains("status".into())),
        assertion(Assertion::BodyNotContains("error".into())),
        assertion(Assertion::BodyRegex("\"load\":0\\.\\d".into())),
        assertion(Assertion::JsonPath(JsonPathAssertion {
            path: "$.status".into(),
            comparison: Comparison::Equals as i32,
            value: "UP".into(),
        })),
        assertion(Assertion::JsonPath(JsonPathAssertion {
            path: "$.load".into(),
            comparison: Comparison::LessThan as i32,
            value: "0.5".into(),
        })),
        assertion(Assertion::Header(HeaderAssertion {
            name: "Content-Type".into(),
            expect: Some(header_assertion::Expect::Equals("application/json".into())),
        })),
    ];
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    s.url = format!("http://{addr}/down");
    let o = run(&s).await;
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::Assertion)
    );
    assert_eq!(o.message, "$.status is \"DOWN\", expected == \"UP\"");
}

#[tokio::test]
async fn slow_response_is_degraded_not_down() {
    let (addr, _) = http_server(None, |_| {
        Reply::new(200, "ok").delay(Duration::from_millis(150))
    })
    .await;
    let mut s = spec(format!("http://{addr}/"));
    s.assertions = vec![assertion(Assertion::ResponseTimeMs(50))];
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Degraded, "{o:?}");
    assert!(
        o.message.starts_with("response took ") && o.message.ends_with("over the 50 ms limit"),
        "{}",
        o.message
    );
}

fn tls_spec(url: String, ca: &TestCa) -> v1::HttpCheck {
    v1::HttpCheck {
        url,
        tls: Some(TlsOptions {
            ca_pem: ca.pem(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[tokio::test]
async fn https_verifies_chain_host_and_expiry() {
    let ca = TestCa::new();
    let (good, _) = http_server(
        Some(ca.acceptor(&["localhost"], Validity::Fine, &[])),
        |_| Reply::new(200, "ok"),
    )
    .await;
    let o = run(&tls_spec(
        format!("https://localhost:{}/", good.port()),
        &ca,
    ))
    .await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(o.timings.tls_us > 0);

    let o = run(&tls_spec(
        format!("https://127.0.0.1:{}/", good.port()),
        &ca,
    ))
    .await;
    assert_eq!(o.failure, FailureClass::Tls, "wrong host: {o:?}");
    assert_eq!(
        o.message,
        "TLS handshake with 127.0.0.1 failed: certificate for localhost does not cover 127.0.0.1"
    );

    let mut untrusted = spec(format!("https://localhost:{}/", good.port()));
    untrusted.tls = None;
    let o = run(&untrusted).await;
    assert_eq!(o.failure, FailureClass::Tls, "unknown CA: {o:?}");
    assert_eq!(
        o.message,
        "TLS handshake with localhost failed: certificate signed by an unknown authority"
    );

    let (expired, _) = http_server(
        Some(ca.acceptor(
            &["localhost"],
            Validity::Between((2020, 1, 1), (2020, 2, 1)),
            &[],
        )),
        |_| Reply::new(200, ""),
    )
    .await;
    let mut s = tls_spec(format!("https://localhost:{}/", expired.port()), &ca);
    let o = run(&s).await;
    assert_eq!(o.failure, FailureClass::Tls, "expired: {o:?}");
    assert_eq!(
        o.message,
        "TLS handshake with localhost failed: certificate expired on 2020-02-01"
    );
    s.tls = Some(TlsOptions {
        skip_verify: true,
        ..Default::default()
    });
    assert_eq!(
        run(&s).await.status,
        CheckStatus::Up,
        "verification off accepts it"
    );

    let (soon_expiring, _) = http_server(
        Some(ca.acceptor(&["localhost"], Validity::ExpiresInDays(3), &[])),
        |_| Reply::new(200, ""),
    )
    .await;
    let mut s = tls_spec(format!("https://localhost:{}/", soon_expiring.port()), &ca);
    s.assertions = vec![assertion(Assertion::CertExpiresInDays(7))];
    let o = run(&s).await;
    assert_eq!(o.failure, FailureClass::Tls, "{o:?}");
    assert_eq!(
        o.message,
        "certificate for localhost expires in 3 days, fewer than the required 7"
    );
    s.assertions = vec![assertion(Assertion::CertExpiresInDays(2))];
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Up);
    // The certificate travels with every https result, assertion or not.
    s.assertions.clear();
    let o = run(&s).await;
    let c = o.certificate.expect("https results carry the certificate");
    let days = (c.not_after_ms - now_ms()) / 86_400_000;
    assert_eq!(days, 3, "{c:?}");
    assert_eq!(c.subject, "CN=localhost");
    let (plain, _) = http_server(None, |_| Reply::new(200, "ok")).await;
    let o = run(&spec(format!("http://localhost:{}/", plain.port()))).await;
    assert_eq!(o.certificate, None, "plain http has none");
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[tokio::test]
async fn ip_preference_filters_families() {
    let (addr, _) = http_server(None, |_| Reply::new(200, "ok")).await;
    let mut s = spec(format!("http://localhost:{}/", addr.port()));
    s.ip_preference = v1::IpPreference::Ipv6 as i32;
    let o = run(&s).await;
    assert_eq!(
        o.status,
        CheckStatus::Up,
        "falls back to IPv4 when IPv6 refuses: {o:?}"
    );
    s.ip_preference = v1::IpPreference::Ipv4Only as i32;
    assert_eq!(run(&s).await.status, CheckStatus::Up);
    s.url = format!("http://{addr}/");
    s.ip_preference = v1::IpPreference::Ipv6Only as i32;
    assert_eq!(run(&s).await.failure, FailureClass::Dns);
}

#[tokio::test]
async fn body_is_read_up_to_one_mib() {
    let big = format!("{}END", "a".repeat(3 * 1024 * 1024));
    let (addr, _) = http_server(None, move |r| {
        Reply::new(200, if r.path == "/big" { &big } else { "small END" })
    })
    .await;
    let mut s = spec(format!("http://{addr}/big"));
    s.assertions = vec![assertion(Assertion::BodyContains("END".into()))];
    let o = run(&s).await;
    assert_eq!(
        o.failure,
        FailureClass::Assertion,
        "only the first MiB is judged: {o:?}"
    );
    assert_eq!(
        o.message,
        "the first 1 MiB of the response body does not contain \"END\""
    );
    s.url = format!("http://{addr}/small");
    assert_eq!(run(&s).await.status, CheckStatus::Up);
    s.assertions = vec![assertion(Assertion::BodyContains("nothere".into()))];
    assert_eq!(
        run(&s).await.message,
        "response body does not contain \"nothere\"",
        "a whole body is not called cut"
    );
}

#[tokio::test]
async fn a_one_megabyte_json_value_is_quoted_as_an_excerpt() {
    let value = "v".repeat(1_000_000);
    let body = format!(r#"{{"big":"{value}"}}"#);
    let (addr, _) = http_server(None, move |_| Reply::new(200, &body)).await;
    for path in ["$", "$.big"] {
        let mut s = spec(format!("http://{addr}/"));
        s.assertions = vec![assertion(Assertion::JsonPath(JsonPathAssertion {
            path: path.into(),
            comparison: Comparison::Equals as i32,
            value: "x".into(),
        }))];
        let o = run(&s).await;
        assert_eq!(o.failure, FailureClass::Assertion, "{o:?}");
        assert!(
            o.message.starts_with(&format!("{path} is "))
                && o.message.ends_with(" expected == \"x\""),
            "names the path: {}",
            o.message
        );
        assert!(o.message.contains('…'), "the cut is marked: {}", o.message);
        assert!(
            o.message.chars().count() <= 260,
            "{} chars",
            o.message.chars().count()
        );
    }
}

#[tokio::test]
async fn https_to_a_plain_text_port_says_so() {
    let addr = checks_support::plain_text_server().await;
    let o = run(&spec(format!("https://{addr}/"))).await;
    assert_eq!(o.failure, FailureClass::Tls, "{o:?}");
    assert_eq!(
        o.message,
        "TLS handshake with 127.0.0.1 failed: the server did not answer with TLS (is the port \
         plain text?)"
    );
}

#[tokio::test]
async fn connections_close_with_a_fin_or_with_close_with_reset_a_reset() {
    use lookout_agent::checks::Close;
    for (close, reset) in [(Close::Orderly, false), (Close::Reset, true)] {
        let (addr, ended) = checks_support::close_watcher(true).await;
        let o = HttpCheck::new(&spec(format!("http://{addr}/")))
            .expect("valid spec")
            .with_targets(Targets::AnyAddress)
            .with_close(close)
            .run(soon())
            .await;
        assert_eq!(o.status, CheckStatus::Up, "{o:?}");
        checks_support::assert_ended(ended, reset).await;
    }
}
