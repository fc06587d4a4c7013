//! The private-target rule: built for a cluster agent (`Targets::PublicOnly`), every kind of
//! check that connects refuses loopback and link-local targets before sending a packet, with
//! a DOWN result that says how to allow them; an agent whose config does not allow private
//! targets reports that result for its real assignment.

mod common;

use std::net::SocketAddr;

use common::{TOKEN, assignment, config, serve, tcp_target, wait_for};
use lookout_agent::checks::{self, Targets};
use lookout_proto::v1::{self, monitor::Check as Spec};
use lookout_proto::{CheckStatus, FailureClass, Monitor};
use tokio::net::TcpListener;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn monitor(spec: Spec) -> Monitor {
    Monitor {
        id: "mon_private".into(),
        name: "private".into(),
        regions: vec!["eu".into()],
        interval_secs: 10,
        timeout_ms: 2_000,
        check: Some(spec),
        ..Default::default()
    }
}

/// A listener that counts connections, so a refusal can be shown to send nothing.
async fn counting_target() -> (SocketAddr, tokio::sync::watch::Receiver<u32>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        while let Ok((_s, _)) = l.accept().await {
            tx.send_modify(|n| *n += 1);
        }
    });
    (addr, rx)
}

const HINT: &str = "; set allow_private_targets on the agent to check it";

#[tokio::test]
async fn every_kind_refuses_private_targets_unless_allowed() {
    let (addr, connections) = counting_target().await;
    let cases = vec![
        Spec::Http(v1::HttpCheck {
            url: format!("http://{addr}/"),
            ..Default::default()
        }),
        Spec::Http(v1::HttpCheck {
            url: format!("https://localhost:{}/", addr.port()),
            ip_preference: v1::IpPreference::Ipv4Only as i32,
            ..Default::default()
        }),
        Spec::Tcp(v1::TcpCheck {
            address: addr.to_string(),
            ..Default::default()
        }),
        Spec::Tls(v1::TlsCheck {
            address: addr.to_string(),
            ..Default::default()
        }),
        Spec::Grpc(v1::GrpcHealthCheck {
            address: addr.to_string(),
            ..Default::default()
        }),
        Spec::Dns(v1::DnsCheck {
            name: "example.org".into(),
            resolver: addr.to_string(),
            ..Default::default()
        }),
        Spec::Icmp(v1::IcmpCheck {
            host: "169.254.169.254".into(),
            ..Default::default()
        }),
    ];
    for spec in cases {
        let m = monitor(spec.clone());
        let o = checks::build(&m, Targets::PublicOnly)
            .expect("builds")
            .run(Instant::now() + Duration::from_secs(5))
            .await;
        assert_eq!(
            (o.status, o.failure),
            (CheckStatus::Down, FailureClass::Connect),
            "{spec:?}: {o:?}"
        );
        let want = match &spec {
            Spec::Http(h) if h.url.contains("localhost") => {
                format!("localhost resolves to 127.0.0.1, a loopback address{HINT}")
            }
            Spec::Dns(_) => format!("resolver 127.0.0.1 is a loopback address{HINT}"),
            Spec::Icmp(_) => format!("169.254.169.254 is a link-local address{HINT}"),
            _ => format!("127.0.0.1 is a loopback address{HINT}"),
        };
        assert_eq!(o.message, want, "{spec:?}");
    }
    assert_eq!(
        *connections.borrow(),
        0,
        "a refused target is never connected to"
    );

    // The same checks run when private targets are allowed.
    let tcp = monitor(Spec::Tcp(v1::TcpCheck {
        address: addr.to_string(),
        ..Default::default()
    }));
    let o = checks::build(&tcp, Targets::AnyAddress)
        .expect("builds")
        .run(Instant::now() + Duration::from_secs(5))
        .await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_allow_private_targets_reports_the_refusal() {
    let target = tcp_target().await;
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let addr = listener.local_addr().expect("gateway addr");
    let gateway = serve(listener, assignment(target));
    let mut agent_config = config(addr, TOKEN);
    agent_config.allow_private_targets = false;
    let stop = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(
        agent_config,
        stop.clone().cancelled_owned(),
    ));
    wait_for("a result", 15, || {
        !gateway.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    {
        let seen = gateway.seen.lock().expect("lock");
        let r = &seen.batches[0].results[0];
        assert_eq!(r.status, CheckStatus::Down as i32, "{r:?}");
        assert_eq!(r.failure_class, FailureClass::Connect as i32);
        assert_eq!(
            r.error_message,
            format!("127.0.0.1 is a loopback address{HINT}")
        );
    }
    stop.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(15), agent)
        .await
        .expect("agent stops in time");
    outcome.expect("agent task").expect("agent stops cleanly");
    gateway.stop().await;
}
