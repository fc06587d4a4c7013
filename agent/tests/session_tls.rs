//! The agent reaches an `https://` coordinator whose certificate is signed by a private CA
//! named in `coordinator_ca_file`, and refuses it without that CA.

mod common;

use std::time::Duration;

use common::{TOKEN, assignment, config, serve_tls, tcp_target, wait_for};
use tokio::net::TcpListener;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;
use tonic::transport::Identity;

fn certificate() -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed certificate");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_flow_over_tls_with_a_private_ca() {
    let target = tcp_target().await;
    let (cert_pem, key_pem) = certificate();
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind gateway");
    let port = listener.local_addr().expect("gateway addr").port();
    let server = serve_tls(
        listener,
        assignment(target),
        Identity::from_pem(&cert_pem, &key_pem),
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, &cert_pem).expect("write CA file");

    // Without the CA the certificate is not trusted: no session starts.
    let mut untrusting = config(([127, 0, 0, 1], port).into(), TOKEN);
    untrusting.coordinator_url = format!("https://localhost:{port}");
    let stop = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(
        untrusting.clone(),
        stop.clone().cancelled_owned(),
    ));
    sleep(Duration::from_millis(1500)).await;
    assert!(
        server.seen.lock().expect("lock").hellos.is_empty(),
        "an untrusted certificate was accepted"
    );
    stop.cancel();
    agent
        .await
        .expect("agent task")
        .expect("agent stops cleanly");

    let mut trusting = untrusting;
    trusting.coordinator_ca_file = Some(ca_file);
    let stop = CancellationToken::new();
    let agent = tokio::spawn(lookout_agent::run(trusting, stop.clone().cancelled_owned()));
    wait_for("a result batch over TLS", 15, || {
        !server.seen.lock().expect("lock").batches.is_empty()
    })
    .await;
    assert_eq!(
        server.seen.lock().expect("lock").authorization[0],
        format!("Bearer {TOKEN}")
    );
    stop.cancel();
    agent
        .await
        .expect("agent task")
        .expect("agent stops cleanly");
    server.stop().await;
}
