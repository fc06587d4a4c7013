//! Config files cannot be turned against the process, and their mistakes are explained: the
//! real binaries refuse an alias bomb at once, expand `${VAR}` inside values only (every
//! binary, the same way), and name the field and the rule for bad numbers, missing schedules,
//! PostgreSQL URLs and brokers that do not answer.

use lookout_store::testing::TestDb;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use lookout_tests::cluster::{Cluster, PROJECT_TOKEN};
use lookout_tests::eventually;
use lookout_tests::procs::{Proc, binary, free_port};

const WAIT: Duration = Duration::from_secs(60);

/// Runs `bin args` to its end (at most `WAIT`) and returns what it printed.
fn run(bin: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> (Output, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new(binary(bin));
    cmd.args(args).current_dir(dir).env("RUST_LOG", "info");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("run {bin}: {e}"));
    (out, started.elapsed())
}

fn refused(bin: &str, config: &str, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, config).expect("write config");
    let path = path.display().to_string();
    let args: Vec<&str> = if bin == "lookout" {
        vec!["standalone", "--config", &path]
    } else {
        vec!["--config", &path]
    };
    let (out, took) = run(bin, &args, env, dir.path());
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{bin} refuses the config: {said}");
    assert!(
        took < Duration::from_secs(30),
        "{bin} refused it in {took:?}"
    );
    said
}

/// One large string repeated through aliases, in a field `bin` reads: under 1 MB of file,
/// about 12 GB once expanded.
fn alias_bomb(bin: &str) -> String {
    let big = "lol".repeat(100_000);
    let mut text = match bin {
        "lookout" => format!("monitors:\n  - &x\n    id: a\n    name: \"{big}\"\n"),
        "lookout-notifier" => format!("kafka:\n  properties:\n    k: &x \"{big}\"\n"),
        _ => format!("regions:\n  - &x \"{big}\"\n"),
    };
    for i in 0..40_000 {
        text.push_str(&match bin {
            "lookout-notifier" => format!("    k{i}: *x\n"),
            _ => "  - *x\n".to_string(),
        });
    }
    text
}

#[test]
fn an_alias_bomb_is_refused_by_every_binary() {
    for bin in [
        "lookout",
        "lookout-coordinator",
        "lookout-agent",
        "lookout-notifier",
    ] {
        let bomb = alias_bomb(bin);
        assert!(bomb.len() < 1 << 20, "the file itself is small");
        let said = refused(bin, &bomb, &[]);
        assert!(
            said.contains("aliases expand to more than 16777216 bytes"),
            "{bin}: {said}"
        );
    }
}

#[test]
fn standalone_explains_bad_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("s.db").display());
    let monitor = |extra: &str| {
        format!(
            "store_url: {store}\ngrpc_addr: 127.0.0.1:{port}\nregion: local\nmonitors:\n  - id: shop\n    name: Shop\n    regions: [local]\n\
             \x20   http:\n      url: http://127.0.0.1:1/\n{extra}",
            port = free_port()
        )
    };
    let cases = [
        (
            monitor("    interval_secs: -5\n"),
            "monitors[0].interval_secs: value is invalid, must be a whole number 0..=4294967295",
        ),
        (
            monitor("    interval_secs: 99999999999\n"),
            "monitors[0].interval_secs: value is invalid, must be a whole number 0..=4294967295",
        ),
        (
            monitor("    cron: ''\n"),
            "interval_secs: one of interval_secs (1..=",
        ),
        (
            "store_url: mysql://lookout:hunter2@db/lookout\n".to_string(),
            "use sqlite://path.db, sqlite::memory: or postgres://user@host/db",
        ),
    ];
    for (config, want) in cases {
        let said = refused("lookout", &config, &[]);
        assert!(said.contains(want), "want {want:?} in: {said}");
        assert!(!said.contains("hunter2"), "no password in errors: {said}");
    }
}

#[test]
fn a_variable_with_a_line_break_stays_one_value() {
    // Expanded as text, the value would add a key the config does not know and be refused.
    let dir = tempfile::tempdir().expect("tempdir");
    let config = format!(
        "store_url: sqlite://{}\ngrpc_addr: 127.0.0.1:{}\nrest_addr: 127.0.0.1:0\nregion: local\nproject_token: ${{TOKEN}}\n",
        dir.path().join("s.db").display(),
        free_port()
    );
    let path = dir.path().join("lookout.yaml");
    std::fs::write(&path, config).expect("write config");
    let mut proc = Proc::start(
        "standalone",
        "lookout",
        &["standalone", "--config", &path.display().to_string()],
        &[("TOKEN", "abc\nallow_private_webhooks: true\nregoin: x")],
        dir.path(),
    );
    let started = Instant::now();
    loop {
        let out = proc.output();
        if out.contains("admin API on") {
            break;
        }
        assert!(
            proc.try_exit().is_none(),
            "standalone refused its config: {out}"
        );
        assert!(started.elapsed() < WAIT, "standalone did not start: {out}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn an_unreachable_broker_is_reported_within_seconds() {
    let brokers = format!("127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let store = format!("sqlite://{}", dir.path().join("s.db").display());
    let key = lookout_store::Keyring::new_key_text("k1").expect("key");
    for (bin, config) in [
        (
            "lookout-coordinator",
            format!(
                "regions: [eu]\nproject_tokens: [p]\nstore_url: {store}\ngrpc_addr: 127.0.0.1:{}\nkafka:\n  brokers: {brokers}\n",
                free_port()
            ),
        ),
        (
            "lookout-notifier",
            format!("store_url: {store}\nkafka:\n  brokers: {brokers}\n"),
        ),
    ] {
        let path = dir.path().join(format!("{bin}.yaml"));
        std::fs::write(&path, config).expect("write config");
        let mut proc = Proc::start(
            bin,
            bin,
            &["--config", &path.display().to_string()],
            &[("LOOKOUT_SECRET_KEY", &key)],
            dir.path(),
        );
        let started = Instant::now();
        while !proc.output().contains("contacting the Kafka brokers") {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{bin} says at once whom it contacts: {}",
                proc.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        while proc.try_exit().is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{bin} gives up within a bound: {}",
                proc.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = proc.output();
        assert!(
            out.contains(&format!(
                "no Kafka broker at {brokers} answered within 10 s"
            )),
            "{bin}: {out}"
        );
    }
}

async fn every_binary_expands_variables(db: TestDb) {
    let mut cluster = Cluster::new(&db, &["eu"]);
    let dir = cluster.path().to_path_buf();
    let edit = |name: &str, from: &str, to: &str| {
        let path = dir.join(name);
        let text = std::fs::read_to_string(&path).expect("config");
        assert!(text.contains(from), "{name} has {from:?}");
        std::fs::write(&path, text.replace(from, to)).expect("write config");
    };
    edit(
        "coordinator.yaml",
        &format!("project_tokens: [{PROJECT_TOKEN}]"),
        "project_tokens:\n  - ${TEST_PROJECT_TOKEN}",
    );
    edit(
        "coordinator.yaml",
        "token: agent-token-eu}",
        "token: \"${TEST_AGENT_TOKEN}\"}",
    );
    edit(
        "agent-eu.yaml",
        "token: agent-token-eu",
        "token: ${TEST_AGENT_TOKEN}",
    );
    edit(
        "notifier.yaml",
        &format!("group_id: {}", cluster.group),
        "group_id: ${TEST_GROUP}",
    );
    let env = [
        ("TEST_PROJECT_TOKEN", PROJECT_TOKEN),
        ("TEST_AGENT_TOKEN", "agent-token-from-env"),
        ("TEST_GROUP", "group-from-env"),
    ];
    let config = |name: &str| dir.join(name).display().to_string();
    cluster.coordinator = Some(Proc::start(
        "coordinator",
        "lookout-coordinator",
        &["--config", &config("coordinator.yaml")],
        &env,
        &dir,
    ));
    let agent = Proc::start(
        "agent-eu",
        "lookout-agent",
        &["--config", &config("agent-eu.yaml")],
        &env,
        &dir,
    );
    let notifier = Proc::start(
        "notifier",
        "lookout-notifier",
        &["--config", &config("notifier.yaml")],
        &env,
        &dir,
    );
    let mut admin = cluster.admin().await;
    admin
        .list_monitors(lookout_proto::v1::ListMonitorsRequest::default())
        .await
        .expect("the project token came from the environment");
    eventually(
        WAIT,
        "the agent to connect with the token from the environment",
        || {
            let out = agent.output();
            async move { out.contains("connected to coordinator").then_some(()) }
        },
    )
    .await;
    eventually(
        WAIT,
        "the notifier to join the group named in the environment",
        || {
            let out = notifier.output();
            async move { out.contains("group=group-from-env").then_some(()) }
        },
    )
    .await;
}

lookout_store::backend_tests!(every_binary_expands_variables,);
