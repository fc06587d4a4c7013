//! TcpCheck against a banner server and a TLS echo server on 127.0.0.1.

mod checks_support;

use std::time::Duration;

use checks_support::{TestCa, Validity, closed_port, soon};
use lookout_agent::checks::tcp::TcpCheck;
use lookout_agent::checks::{Check, Targets};
use lookout_proto::v1::{self, TcpStep, TlsOptions, tcp_step::Step};
use lookout_proto::{CheckStatus, FailureClass};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;

/// Sends `banner`, then echoes each line upper-cased.
async fn banner_server(banner: &'static str) -> std::net::SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(banner.as_bytes()).await;
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0
                        || s.write_all(buf[..n].to_ascii_uppercase().as_slice())
                            .await
                            .is_err()
                    {
                        break;
                    }
                }
            });
        }
    });
    addr
}

fn steps(list: &[(&str, &str)]) -> Vec<TcpStep> {
    list.iter()
        .map(|(kind, v)| TcpStep {
            step: Some(if *kind == "send" {
                Step::Send((*v).into())
            } else {
                Step::Expect((*v).into())
            }),
        })
        .collect()
}

#[tokio::test]
async fn connect_only_is_up_and_timed() {
    let addr = banner_server("").await;
    let o = TcpCheck::new(&v1::TcpCheck {
        address: addr.to_string(),
        ..Default::default()
    })
    .expect("valid")
    .with_targets(Targets::AnyAddress)
    .run(soon())
    .await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(o.timings.connect_us > 0);
}

#[tokio::test]
async fn refused_names_the_address() {
    let addr = closed_port().await;
    let o = TcpCheck::new(&v1::TcpCheck {
        address: addr.to_string(),
        ..Default::default()
    })
    .expect("valid")
    .with_targets(Targets::AnyAddress)
    .run(soon())
    .await;
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::ConnectRefused)
    );
    assert_eq!(o.message, format!("connection refused by {addr}"));
}

#[tokio::test]
async fn send_and_expect_steps() {
    let addr = banner_server("SSH-2.0-Test\r\n").await;
    let spec = v1::TcpCheck {
        address: addr.to_string(),
        steps: steps(&[
            ("expect", "^SSH-2\\.0-"),
            ("send", "ping\\r\\n"),
            ("expect", "PING\r\n"),
        ]),
        ..Default::default()
    };
    let o = TcpCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(o.timings.first_byte_us > 0);
}

#[tokio::test]
async fn unmet_expectation_times_out_showing_what_arrived() {
    let addr = banner_server("220 smtp ready\r\n").await;
    let spec = v1::TcpCheck {
        address: addr.to_string(),
        steps: steps(&[("expect", "^SSH")]),
        ..Default::default()
    };
    let started = Instant::now();
    let o = TcpCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(Instant::now() + Duration::from_millis(300))
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(o.failure, FailureClass::Timeout, "{o:?}");
    assert!(
        o.message.contains("waiting for /^SSH/") && o.message.contains("220 smtp ready"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn closed_before_expectation_is_an_assertion_failure() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.write_all(b"bye\n").await;
        }
    });
    let spec = v1::TcpCheck {
        address: addr.to_string(),
        steps: steps(&[("expect", "hello")]),
        ..Default::default()
    };
    let o = TcpCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await;
    assert_eq!(o.failure, FailureClass::Assertion, "{o:?}");
    assert!(
        o.message
            .contains("closed the connection before sending /hello/"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn tls_with_private_ca_and_wrong_name() {
    let ca = TestCa::new();
    let acceptor = ca.acceptor(&["banner.test"], Validity::Fine, &[]);
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut s) = acceptor.accept(s).await {
                    let _ = s.write_all(b"+OK secure\r\n").await;
                    let _ = s.shutdown().await;
                }
            });
        }
    });
    let mut spec = v1::TcpCheck {
        address: addr.to_string(),
        use_tls: true,
        tls: Some(TlsOptions {
            server_name: "banner.test".into(),
            ca_pem: ca.pem(),
            ..Default::default()
        }),
        steps: steps(&[("expect", "^\\+OK")]),
        ..Default::default()
    };
    let o = TcpCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(o.timings.tls_us > 0);
    spec.tls = Some(TlsOptions {
        server_name: "other.test".into(),
        ca_pem: ca.pem(),
        ..Default::default()
    });
    let o = TcpCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await;
    assert_eq!(o.failure, FailureClass::Tls, "{o:?}");
    assert!(
        o.message
            .starts_with("TLS handshake with other.test failed"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn connections_close_with_a_fin_or_with_close_with_reset_a_reset() {
    use lookout_agent::checks::Close;
    for (close, reset) in [(Close::Orderly, false), (Close::Reset, true)] {
        let (addr, ended) = checks_support::close_watcher(false).await;
        let o = TcpCheck::new(&v1::TcpCheck {
            address: addr.to_string(),
            ..Default::default()
        })
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .with_close(close)
        .run(soon())
        .await;
        assert_eq!(o.status, CheckStatus::Up, "{o:?}");
        checks_support::assert_ended(ended, reset).await;
    }
}
