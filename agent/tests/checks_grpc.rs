//! GrpcCheck against a tonic health server on 127.0.0.1.

mod checks_support;

use std::net::SocketAddr;
use std::time::Duration;

use checks_support::{TestCa, Validity, closed_port, soon};
use lookout_agent::checks::grpc::GrpcCheck;
use lookout_agent::checks::{Check, Outcome, Targets};
use lookout_proto::v1;
use lookout_proto::{CheckStatus, FailureClass};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::Connected;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

async fn health_server() -> (SocketAddr, HealthReporter, tokio::sync::oneshot::Sender<()>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("orders", ServingStatus::Serving)
        .await;
    reporter
        .set_service_status("billing", ServingStatus::NotServing)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stopped.await;
            }),
    );
    (addr, reporter, stop)
}

async fn run(addr: SocketAddr, service: &str) -> Outcome {
    let spec = v1::GrpcHealthCheck {
        address: addr.to_string(),
        service: service.into(),
        ..Default::default()
    };
    GrpcCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await
}

#[tokio::test]
async fn serving_service_and_server_are_up() {
    let (addr, _reporter, _stop) = health_server().await;
    let o = run(addr, "orders").await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(
        o.timings.connect_us > 0 && o.timings.first_byte_us > 0,
        "{:?}",
        o.timings
    );
    assert_eq!(
        run(addr, "").await.status,
        CheckStatus::Up,
        "the server as a whole"
    );
}

#[tokio::test]
async fn not_serving_and_unknown_services_are_down() {
    let (addr, reporter, _stop) = health_server().await;
    let o = run(addr, "billing").await;
    assert_eq!(
        (o.status, o.failure),
        (CheckStatus::Down, FailureClass::Assertion)
    );
    assert_eq!(
        o.message,
        format!("{addr} reports service \"billing\" as NOT_SERVING")
    );

    let o = run(addr, "nope").await;
    assert_eq!(o.message, format!("{addr} does not know service \"nope\""));

    reporter
        .set_service_status("billing", ServingStatus::Serving)
        .await;
    assert_eq!(
        run(addr, "billing").await.status,
        CheckStatus::Up,
        "status flips are seen"
    );
}

#[tokio::test]
async fn refused_and_non_grpc_servers() {
    let addr = closed_port().await;
    let o = run(addr, "").await;
    assert_eq!(o.failure, FailureClass::ConnectRefused);

    // A TCP server that accepts and says nothing: the check must stop at its deadline.
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let silent = l.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let spec = v1::GrpcHealthCheck {
        address: silent.to_string(),
        ..Default::default()
    };
    let started = Instant::now();
    let o = GrpcCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(Instant::now() + Duration::from_millis(300))
        .await;
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(o.failure, FailureClass::Timeout, "{o:?}");
    assert!(
        o.message.contains(&format!(
            "waiting for the health of the server from {silent}"
        )),
        "{}",
        o.message
    );
}

/// A server-side TLS stream tonic can serve (it needs `Connected`).
struct Tls(tokio_rustls::server::TlsStream<tokio::net::TcpStream>);

impl Connected for Tls {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl tokio::io::AsyncRead for Tls {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Tls {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn health_over_tls_with_alpn_h2() {
    let ca = TestCa::new();
    let acceptor = ca.acceptor(&["localhost"], Validity::Fine, &[b"h2"]);
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("orders", ServingStatus::Serving)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let incoming = futures::stream::unfold((listener, acceptor), |(l, acceptor)| async move {
        loop {
            let Ok((s, _)) = l.accept().await else {
                return None;
            };
            if let Ok(tls) = acceptor.accept(s).await {
                return Some((Ok::<_, std::io::Error>(Tls(tls)), (l, acceptor)));
            }
        }
    });
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    let mut spec = v1::GrpcHealthCheck {
        address: format!("localhost:{port}"),
        service: "orders".into(),
        use_tls: true,
        tls: Some(v1::TlsOptions {
            ca_pem: ca.pem(),
            ..Default::default()
        }),
    };
    let o = GrpcCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await;
    assert_eq!(o.status, CheckStatus::Up, "{o:?}");
    assert!(o.timings.tls_us > 0);

    spec.tls = None;
    let o = GrpcCheck::new(&spec)
        .expect("valid")
        .with_targets(Targets::AnyAddress)
        .run(soon())
        .await;
    assert_eq!(
        o.failure,
        FailureClass::Tls,
        "private CA not trusted without ca_pem: {o:?}"
    );
}
