//! TlsCheck against TLS servers on 127.0.0.1 presenting rcgen certificates: valid, expired,
//! wrong host, expiring in 3 days, untrusted.

mod checks_support;

use checks_support::{TestCa, Validity, soon};
use lookout_agent::checks::tls::TlsCheck;
use lookout_agent::checks::{Check, Outcome, Targets};
use lookout_proto::v1::{self, TlsOptions};
use lookout_proto::{CheckStatus, FailureClass};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

async fn tls_server(acceptor: TlsAcceptor) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(s).await;
            });
        }
    });
    port
}

fn spec(port: u16, ca: &TestCa) -> v1::TlsCheck {
    v1::TlsCheck {
        address: format!("localhost:{port}"),
        tls: Some(TlsOptions {
            ca_pem: ca.pem(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

async fn run(spec: &v1::TlsCheck) -> Outcome {
    TlsCheck::new(spec)
        .expect("valid spec")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await
}

#[tokio::test]
async fn valid_certificate_with_subject_and_sans() {
    let ca = TestCa::new();
    let port = tls_server(ca.acceptor(&["localhost", "api.test"], Validity::Fine, &[])).await;
    let mut s = spec(port, &ca);
    s.min_days_remaining = 30;
    s.expected_subject = "CN=localhost".into();
    s.expected_sans = vec!["API.test".into(), "localhost".into()];
    let o = run(&s).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(o.timings.tls_us > 0 && o.timings.connect_us > 0);

    s.expected_sans = vec!["www.test".into()];
    let o = run(&s).await;
    assert_eq!(o.failure, FailureClass::Assertion);
    assert_eq!(
        o.message,
        "certificate for localhost does not name www.test; its names are localhost, api.test"
    );
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates_name_the_date() {
    let ca = TestCa::new();
    let port = tls_server(ca.acceptor(
        &["localhost"],
        Validity::Between((2020, 1, 1), (2020, 2, 1)),
        &[],
    ))
    .await;
    let o = run(&spec(port, &ca)).await;
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::Tls)
    );
    assert!(
        o.message
            .starts_with("certificate for localhost expired on 2020-02-01, ")
            && o.message.ends_with(" days ago"),
        "{}",
        o.message
    );

    let port = tls_server(ca.acceptor(
        &["localhost"],
        Validity::Between((2100, 1, 1), (2101, 1, 1)),
        &[],
    ))
    .await;
    let o = run(&spec(port, &ca)).await;
    assert_eq!(o.failure, FailureClass::Tls);
    assert_eq!(o.message, "certificate is not valid before 2100-01-01");
}

#[tokio::test]
async fn expiring_in_three_days() {
    let ca = TestCa::new();
    let port = tls_server(ca.acceptor(&["localhost"], Validity::ExpiresInDays(3), &[])).await;
    let mut s = spec(port, &ca);
    s.min_days_remaining = 14;
    let o = run(&s).await;
    assert_eq!(o.failure, FailureClass::Tls);
    assert_eq!(
        o.message,
        "certificate for localhost expires in 3 days, fewer than the required 14"
    );
    s.min_days_remaining = 3;
    assert_eq!(run(&s).await.status, CheckStatus::Up);
}

#[tokio::test]
async fn wrong_host_and_untrusted_chain() {
    let ca = TestCa::new();
    let port = tls_server(ca.acceptor(&["wrong.example.org"], Validity::Fine, &[])).await;
    let o = run(&spec(port, &ca)).await;
    assert_eq!(o.failure, FailureClass::Tls);
    assert_eq!(
        o.message,
        "certificate for wrong.example.org does not cover localhost"
    );

    let mut s = spec(port, &ca);
    s.tls = Some(TlsOptions {
        server_name: "wrong.example.org".into(),
        ..Default::default()
    });
    let o = run(&s).await;
    assert_eq!(o.failure, FailureClass::Tls, "no private CA given: {o:?}");
    assert_eq!(o.message, "certificate signed by an unknown authority");

    s.tls = Some(TlsOptions {
        skip_verify: true,
        ..Default::default()
    });
    assert_eq!(run(&s).await.status, CheckStatus::Up, "chain checks off");
}

#[tokio::test]
async fn a_plain_text_port_is_named_as_such() {
    let addr = checks_support::plain_text_server().await;
    let s = v1::TlsCheck {
        address: addr.to_string(),
        ..Default::default()
    };
    let o = run(&s).await;
    assert_eq!(o.failure, FailureClass::Tls);
    assert_eq!(
        o.message,
        "TLS handshake with 127.0.0.1 failed: the server did not answer with TLS (is the port \
         plain text?)"
    );
}

/// Every handshake's leaf certificate travels with the result, whatever the verdict, so the
/// notifier can announce a coming expiry and a renewal.
#[tokio::test]
async fn results_carry_the_certificate_facts() {
    let ca = TestCa::new();
    let port = tls_server(ca.acceptor(
        &["localhost"],
        Validity::Between((2020, 1, 1), (2020, 2, 1)),
        &[],
    ))
    .await;
    let o = run(&spec(port, &ca)).await;
    assert_eq!(o.status, CheckStatus::Down, "expired: {o:?}");
    let c = o.certificate.expect("the expired certificate is reported");
    assert_eq!(c.not_before_ms, 1_577_836_800_000, "2020-01-01");
    assert_eq!(c.not_after_ms, 1_580_515_200_000, "2020-02-01");
    assert_eq!(c.subject, "CN=localhost");
    assert_eq!(c.sha256.len(), 64);
    assert!(c.sha256.chars().all(|ch| ch.is_ascii_hexdigit()));

    let port = tls_server(ca.acceptor(&["localhost"], Validity::Fine, &[])).await;
    let o = run(&spec(port, &ca)).await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    let renewed = o.certificate.expect("certificate");
    assert!(renewed.not_after_ms > c.not_after_ms);
    assert_ne!(
        renewed.sha256, c.sha256,
        "another certificate, another digest"
    );
}
