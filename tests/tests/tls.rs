//! TLS on the coordinator's gRPC port, with rcgen certificates made here: the agent and the
//! CLI connect with the right CA, a wrong CA is refused with a clear error, and with a client
//! CA (mTLS) an agent without a client certificate is refused.

use lookout_store::testing::TestDb;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use lookout_tests::cluster::{Cluster, PROJECT_TOKEN};
use lookout_tests::eventually;
use lookout_tests::procs::{Proc, binary};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

const WAIT: Duration = Duration::from_secs(60);

/// A private CA that signs leaf certificates into PEM files.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().expect("ca key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("ca cert"),
        }
    }

    fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, self.issuer.pem()).expect("write ca");
        path
    }

    /// A leaf for `names` (`usage` server or client), written as `<name>.pem` and
    /// `<name>.key`.
    fn leaf(
        &self,
        dir: &Path,
        name: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("leaf params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }
}

/// A cluster whose coordinator serves TLS with a certificate for 127.0.0.1 signed by `ca`;
/// `client_ca` turns on mTLS. Returns once the coordinator listens. Transport is the subject
/// here, so one backend (SQLite) is enough.
async fn tls_coordinator(db: &TestDb, ca: &Ca, client_ca: Option<&Path>) -> Cluster {
    let mut cluster = Cluster::new(db, &["eu"]);
    let dir = cluster.path().to_path_buf();
    let (cert, key) = ca.leaf(
        &dir,
        "coordinator",
        &["127.0.0.1", "localhost"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let mut tls = format!(
        "tls:\n  cert_file: {}\n  key_file: {}\n",
        cert.display(),
        key.display()
    );
    if let Some(path) = client_ca {
        tls.push_str(&format!("  client_ca_file: {}\n", path.display()));
    }
    let config = dir.join("coordinator.yaml");
    let text = std::fs::read_to_string(&config).expect("coordinator config") + &tls;
    std::fs::write(&config, text).expect("write coordinator config");
    cluster.start_coordinator();
    let coordinator = cluster.coordinator.as_ref().expect("started");
    eventually(WAIT, "the coordinator to listen with TLS", || {
        let out = coordinator.output();
        async move { out.contains("coordinator listening").then_some(()) }
    })
    .await;
    assert!(coordinator.output().contains("tls=true"));
    cluster
}

fn https(cluster: &Cluster) -> String {
    format!("https://127.0.0.1:{}", cluster.grpc_port)
}

/// Starts an agent of region `eu` against the TLS port with the extra config `tls_lines`.
fn agent(cluster: &Cluster, name: &str, tls_lines: &str) -> Proc {
    let path = cluster.path().join(format!("{name}.yaml"));
    let config = format!(
        "coordinator_url: {url}\nagent_id: agent-eu\nregion: eu\ntoken: agent-token-eu\n{tls_lines}",
        url = https(cluster)
    );
    std::fs::write(&path, config).expect("write agent config");
    Proc::start(
        name,
        "lookout-agent",
        &["--config", &path.display().to_string()],
        &[],
        cluster.path(),
    )
}

async fn connected(agent: &Proc) {
    eventually(WAIT, "the agent to connect over TLS", || {
        let out = agent.output();
        async move { out.contains("connected to coordinator").then_some(()) }
    })
    .await;
}

/// Waits until `agent` reported two failed sessions, and returns its log.
async fn refused(agent: &Proc) -> String {
    eventually(WAIT, "the agent to report failed sessions", || {
        let out = agent.output();
        async move { (out.matches("coordinator session lost").count() >= 2).then_some(out) }
    })
    .await
}

fn cli(cluster: &Cluster, args: &[&str]) -> Output {
    let mut all = vec!["monitors", "list", "--output", "json"];
    all.extend_from_slice(args);
    Command::new(binary("lookout"))
        .args(&all)
        .env("LOOKOUT_ADDR", https(cluster))
        .env("LOOKOUT_TOKEN", PROJECT_TOKEN)
        .output()
        .expect("run lookout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_and_cli_connect_with_the_right_ca_and_refuse_a_wrong_one() {
    let ca = Ca::new("Lookout Test CA");
    let db = TestDb::sqlite().await;
    let cluster = tls_coordinator(&db, &ca, None).await;
    let dir = cluster.path().to_path_buf();
    let ca_file = ca.write(&dir, "ca");
    let wrong_ca_file = Ca::new("Somebody Else").write(&dir, "wrong-ca");

    let ok = cli(&cluster, &["--ca-file", &ca_file.display().to_string()]);
    assert!(
        ok.status.success(),
        "the CLI lists monitors over TLS: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&ok.stdout).trim(), "[]");

    let wrong = cli(
        &cluster,
        &["--ca-file", &wrong_ca_file.display().to_string()],
    );
    assert!(!wrong.status.success(), "a wrong CA is refused");
    let said = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        said.contains("cannot reach the coordinator at https://127.0.0.1")
            && said.contains("certificate"),
        "the refusal says why: {said}"
    );

    let good = agent(
        &cluster,
        "agent-good",
        &format!("coordinator_ca_file: {}\n", ca_file.display()),
    );
    connected(&good).await;
    drop(good);

    let bad = agent(
        &cluster,
        "agent-wrong-ca",
        &format!("coordinator_ca_file: {}\n", wrong_ca_file.display()),
    );
    let log = refused(&bad).await;
    assert!(
        log.contains("certificate") && !log.contains("connected to coordinator"),
        "the agent says the certificate is not trusted: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_refuses_an_agent_without_a_client_certificate() {
    let ca = Ca::new("Lookout Test CA");
    let clients = Ca::new("Lookout Agents CA");
    let dir = tempfile::tempdir().expect("tempdir");
    let client_ca = clients.write(dir.path(), "client-ca");
    let db = TestDb::sqlite().await;
    let cluster = tls_coordinator(&db, &ca, Some(&client_ca)).await;
    let ca_file = ca.write(cluster.path(), "ca");
    let (cert, key) = clients.leaf(
        cluster.path(),
        "agent-eu",
        &["agent-eu"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );

    let with_cert = agent(
        &cluster,
        "agent-with-cert",
        &format!(
            "coordinator_ca_file: {}\ncoordinator_client_cert_file: {}\ncoordinator_client_key_file: {}\n",
            ca_file.display(),
            cert.display(),
            key.display()
        ),
    );
    connected(&with_cert).await;
    drop(with_cert);

    let without = agent(
        &cluster,
        "agent-without-cert",
        &format!("coordinator_ca_file: {}\n", ca_file.display()),
    );
    let log = refused(&without).await;
    assert!(
        !log.contains("connected to coordinator"),
        "an agent without a client certificate never gets a session: {log}"
    );

    let ca_arg = ca_file.display().to_string();
    let refused_cli = cli(&cluster, &["--ca-file", &ca_arg]);
    assert!(
        !refused_cli.status.success(),
        "the CLI needs a certificate too"
    );
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let ok = cli(
        &cluster,
        &[
            "--ca-file",
            &ca_arg,
            "--client-cert-file",
            &cert_arg,
            "--client-key-file",
            &key_arg,
        ],
    );
    assert!(
        ok.status.success(),
        "with a client certificate the CLI gets in: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}
