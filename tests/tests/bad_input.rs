//! Bad input is refused with a clear error and loses nothing: invalid monitors get
//! INVALID_ARGUMENT naming the field, a wrong project token UNAUTHENTICATED, an agent with a
//! wrong token is refused and keeps retrying; the CLI prints the same errors and round-trips monitors as JSON.

use lookout_store::testing::TestDb;
use std::process::Command;
use std::time::Duration;

use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{CreateMonitorRequest, HttpCheck, ListMonitorsRequest, Monitor};
use lookout_tests::cluster::{Cluster, PROJECT_TOKEN};
use lookout_tests::eventually;
use lookout_tests::procs::binary;

fn http_monitor(url: &str) -> Monitor {
    Monitor {
        name: "site".into(),
        regions: vec!["eu-west".into()],
        interval_secs: 30,
        check: Some(Check::Http(HttpCheck {
            url: url.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn invalid_monitors_and_tokens_are_refused(db: TestDb) {
    let mut cluster = Cluster::new(&db, &["eu-west"]);
    cluster.start_coordinator();
    let mut admin = cluster.admin().await;

    let cases = [
        (http_monitor("not a url"), "http.url"),
        (
            Monitor {
                interval_secs: 0,
                ..http_monitor("https://example.org")
            },
            "interval_secs",
        ),
        (
            Monitor {
                regions: vec!["mars-1".into()],
                ..http_monitor("https://example.org")
            },
            "regions[0]",
        ),
    ];
    for (monitor, field) in cases {
        let err = admin
            .create_monitor(CreateMonitorRequest {
                monitor: Some(monitor),
            })
            .await
            .expect_err("invalid monitor refused");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err:?}");
        assert!(
            err.message().starts_with(field),
            "message names {field}: {:?}",
            err.message()
        );
    }
    let listed = admin
        .list_monitors(ListMonitorsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.monitors.is_empty(), "nothing invalid was stored");

    let err = cluster
        .admin_with("wrong-token")
        .await
        .list_monitors(ListMonitorsRequest::default())
        .await
        .expect_err("wrong token refused");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);
}

async fn agent_with_a_wrong_token_is_refused(db: TestDb) {
    let mut cluster = Cluster::new(&db, &["eu-west"]);
    cluster.start_coordinator();
    cluster.admin().await;
    let config = cluster.path().join("agent-eu-west.yaml");
    let text = std::fs::read_to_string(&config).expect("agent config");
    std::fs::write(
        &config,
        text.replace("token: agent-token-eu-west", "token: forged"),
    )
    .expect("write");
    cluster.start_agent("eu-west");
    let agent = cluster.agents.get_mut("eu-west").expect("agent");
    let out = eventually(
        Duration::from_secs(60),
        "the agent to report the refusal",
        || {
            let out = agent.output().to_lowercase();
            async move { out.contains("refused this agent").then_some(out) }
        },
    )
    .await;
    assert!(out.contains("unauthenticated"), "the agent says why: {out}");
    assert!(!out.contains("forged"), "the token is never logged");
    // It keeps running (and retrying), so a token rotated on the coordinator heals it.
    assert!(agent.try_exit().is_none(), "a refused agent does not exit");
}

fn lookout(cluster: &Cluster, args: &[&str]) -> std::process::Output {
    Command::new(binary("lookout"))
        .args(args)
        .env("LOOKOUT_ADDR", cluster.addr())
        .env("LOOKOUT_TOKEN", PROJECT_TOKEN)
        .output()
        .expect("run lookout")
}

async fn cli_manages_monitors_and_reports_errors(db: TestDb) {
    let mut cluster = Cluster::new(&db, &["eu-west"]);
    cluster.start_coordinator();
    cluster.admin().await;

    let out = lookout(
        &cluster,
        &[
            "monitors", "create", "--name", "bad", "--url", "nope", "--region", "eu-west",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("invalid argument: http.url"), "{err}");
    let out = lookout(
        &cluster,
        &[
            "monitors",
            "create",
            "--name",
            "bad",
            "--url",
            "https://shop.example.org/health",
            "--region",
            "eu-west",
            "--integration",
            "int_nope",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid argument: integration_ids[0]: no integration \"int_nope\""),
        "{err}"
    );

    let hook = cluster
        .create_webhook("https://hooks.example.org/x", "topsecret")
        .await;
    let out = lookout(
        &cluster,
        &[
            "monitors",
            "create",
            "--name",
            "Shop",
            "--url",
            "https://shop.example.org/health",
            "--region",
            "eu-west",
            "--interval",
            "15",
            "--integration",
            &hook,
            "-o",
            "json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!stdout.contains("topsecret"), "secrets are never returned");
    let created: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    let id = created["id"].as_str().expect("id").to_string();
    assert_eq!(created["interval_secs"], 15);
    assert_eq!(created["integration_ids"][0], hook.as_str());

    let out = lookout(&cluster, &["monitors", "list"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&id) && table.contains("Shop"), "{table}");

    let out = lookout(&cluster, &["monitors", "get", &id, "-o", "json"]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(got["http"]["url"], "https://shop.example.org/health");

    let out = lookout(&cluster, &["monitors", "delete", &id]);
    assert!(out.status.success());
    let out = lookout(&cluster, &["monitors", "get", &id]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("not found"));

    let out = Command::new(binary("lookout"))
        .args(["monitors", "list"])
        .env("LOOKOUT_ADDR", cluster.addr())
        .env("LOOKOUT_TOKEN", "wrong")
        .output()
        .expect("run");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unauthenticated"));
}

lookout_store::backend_tests!(
    invalid_monitors_and_tokens_are_refused,
    agent_with_a_wrong_token_is_refused,
    cli_manages_monitors_and_reports_errors,
);
