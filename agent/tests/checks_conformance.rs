//! One conformance test for every `Check` implementation, built through `checks::build`:
//! against a target that accepts and never answers, each check returns by its deadline with a
//! timeout naming what it was doing; and a bad spec is refused with the monitor id.

use std::net::SocketAddr;
use std::time::Duration;

use lookout_agent::checks::{self, Outcome, Targets};
use lookout_proto::v1::{self, TcpStep, monitor::Check as Spec, tcp_step::Step};
use lookout_proto::{CheckStatus, FailureClass, Monitor};
use tokio::net::{TcpListener, UdpSocket};
use tokio::time::Instant;

/// Accepts TCP connections and holds them open without a byte.
async fn silent_tcp() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    addr
}

fn monitor(spec: Spec) -> Monitor {
    Monitor {
        id: "mon_conformance".into(),
        name: "conformance".into(),
        regions: vec!["local".into()],
        interval_secs: 60,
        check: Some(spec),
        ..Default::default()
    }
}

async fn run_with_deadline(m: &Monitor, budget: Duration) -> (Outcome, Duration) {
    let check = checks::build(m, Targets::AnyAddress).expect("valid spec builds");
    let started = Instant::now();
    let o = check.run(started + budget).await;
    (o, started.elapsed())
}

#[tokio::test]
async fn every_check_stops_at_its_deadline() {
    let tcp = silent_tcp().await;
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let dns_addr = udp.local_addr().expect("addr");
    let specs = vec![
        (
            "http",
            Spec::Http(v1::HttpCheck {
                url: format!("http://{tcp}/"),
                ..Default::default()
            }),
            "waiting for the response",
        ),
        (
            "https",
            Spec::Http(v1::HttpCheck {
                url: format!("https://{tcp}/"),
                ..Default::default()
            }),
            "TLS handshake",
        ),
        (
            "tcp",
            Spec::Tcp(v1::TcpCheck {
                address: tcp.to_string(),
                steps: vec![TcpStep {
                    step: Some(Step::Expect("hello".into())),
                }],
                ..Default::default()
            }),
            "waiting for /hello/",
        ),
        (
            "dns",
            Spec::Dns(v1::DnsCheck {
                name: "example.org".into(),
                resolver: dns_addr.to_string(),
                ..Default::default()
            }),
            "to answer A example.org.",
        ),
        (
            "tls",
            Spec::Tls(v1::TlsCheck {
                address: tcp.to_string(),
                ..Default::default()
            }),
            "TLS handshake",
        ),
        (
            "grpc",
            Spec::Grpc(v1::GrpcHealthCheck {
                address: tcp.to_string(),
                ..Default::default()
            }),
            "waiting for the health",
        ),
        (
            "icmp",
            Spec::Icmp(v1::IcmpCheck {
                host: "127.0.0.1".into(),
                count: 20,
                interval_ms: 100,
                ..Default::default()
            }),
            "pinging 127.0.0.1",
        ),
    ];
    let budget = Duration::from_millis(300);
    for (name, spec, doing) in specs {
        let (o, took) = run_with_deadline(&monitor(spec), budget).await;
        assert!(
            took < budget + Duration::from_millis(500),
            "{name} overran its deadline: {took:?}"
        );
        if name == "icmp"
            && o.failure == FailureClass::Internal
            && o.message.contains("net.ipv4.ping_group_range")
        {
            continue;
        }
        assert_eq!(
            (o.status, o.failure),
            (CheckStatus::Down, FailureClass::Timeout),
            "{name}: {o:?}"
        );
        assert!(
            o.message.starts_with("timed out after "),
            "{name}: {}",
            o.message
        );
        assert!(
            o.message.contains(doing),
            "{name}: {:?} should mention {doing:?}",
            o.message
        );
        assert!(
            o.timings.total_us >= 250_000,
            "{name}: total covers the wait: {:?}",
            o.timings
        );
    }
    drop(udp);
}

#[tokio::test]
async fn bad_specs_are_refused_with_the_monitor_id() {
    let cases = vec![
        Spec::Http(v1::HttpCheck {
            url: "not a url".into(),
            ..Default::default()
        }),
        Spec::Tcp(v1::TcpCheck {
            address: "nohost".into(),
            ..Default::default()
        }),
        Spec::Dns(v1::DnsCheck {
            name: "a.b".into(),
            resolver: "nope".into(),
            ..Default::default()
        }),
        Spec::Icmp(v1::IcmpCheck::default()),
        Spec::Tls(v1::TlsCheck {
            address: "x".into(),
            ..Default::default()
        }),
        Spec::Grpc(v1::GrpcHealthCheck {
            address: "x:0".into(),
            ..Default::default()
        }),
    ];
    for spec in cases {
        let kind = monitor(spec.clone()).kind();
        let e = checks::build(&monitor(spec), Targets::AnyAddress)
            .err()
            .expect("refused");
        assert_eq!(e.monitor_id, "mon_conformance");
        assert!(
            e.reason.starts_with(&format!("{kind}.")),
            "{kind}: reason names the field: {}",
            e.reason
        );
    }
    let e = checks::build(
        &Monitor {
            check: None,
            ..monitor(Spec::Icmp(v1::IcmpCheck::default()))
        },
        Targets::AnyAddress,
    )
    .err()
    .expect("no check");
    assert_eq!(
        e.to_string(),
        "monitor mon_conformance: check: must be one of: http, tcp, dns, icmp, tls, grpc"
    );
}
