//! Logs people and shippers can read: written to a file, a binary's log has no terminal
//! colour codes; with `LOOKOUT_LOG_FORMAT=json` every line is one JSON object, the fatal
//! error included.

use std::time::{Duration, Instant};

use lookout_tests::procs::{Proc, free_port};

const WAIT: Duration = Duration::from_secs(60);

/// An agent whose coordinator is not there: it logs its start and each failed session.
fn lonely_agent(dir: &std::path::Path, env: &[(&str, &str)]) -> Proc {
    let path = dir.join("agent.yaml");
    let config = format!(
        "coordinator_url: http://127.0.0.1:{}\nagent_id: a1\nregion: eu\ntoken: t\n",
        free_port()
    );
    std::fs::write(&path, config).expect("write config");
    Proc::start(
        "agent",
        "lookout-agent",
        &["--config", &path.display().to_string()],
        env,
        dir,
    )
}

fn wait_for(proc: &mut Proc, what: &str, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let out = proc.output();
        if done(&out) {
            return out;
        }
        assert!(
            started.elapsed() < WAIT,
            "timed out waiting for {what}: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_log_file_has_no_escape_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut agent = lonely_agent(dir.path(), &[]);
    let out = wait_for(&mut agent, "two failed sessions", |out| {
        out.matches("coordinator session lost").count() >= 2
    });
    assert!(out.contains("INFO") && out.contains("WARN"), "{out}");
    assert!(
        !out.contains('\u{1b}'),
        "no ANSI escape codes in a file: {out:?}"
    );
}

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = [("LOOKOUT_LOG_FORMAT", "json")];
    let mut agent = lonely_agent(dir.path(), &json);
    let out = wait_for(&mut agent, "two failed sessions", |out| {
        out.matches("coordinator session lost").count() >= 2
    });
    let mut seen = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        let level = v["level"]
            .as_str()
            .unwrap_or_else(|| panic!("no level: {line}"));
        let message = v["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message: {line}"));
        seen.push((level.to_string(), message.to_string()));
    }
    assert!(
        seen.iter()
            .any(|(l, m)| l == "WARN" && m.contains("coordinator session lost")),
        "{seen:?}"
    );
    drop(agent);

    // The error that stops a binary is a JSON line too.
    let path = dir.path().join("coordinator.yaml");
    std::fs::write(
        &path,
        format!(
            "regions: [eu]\nproject_tokens: [p]\nstore_url: sqlite://{}\nkafka:\n  brokers: 127.0.0.1:{}\n",
            dir.path().join("c.db").display(),
            free_port()
        ),
    )
    .expect("write config");
    let key = lookout_store::Keyring::new_key_text("k1").expect("key");
    let mut coordinator = Proc::start(
        "coordinator",
        "lookout-coordinator",
        &["--config", &path.display().to_string()],
        &[json[0], ("LOOKOUT_SECRET_KEY", &key)],
        dir.path(),
    );
    let started = Instant::now();
    while coordinator.try_exit().is_none() {
        assert!(
            started.elapsed() < WAIT,
            "the coordinator gives up on the broker"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = coordinator.output();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}")))
        .collect();
    let last = lines.last().expect("the coordinator logged");
    assert_eq!(last["level"], "ERROR", "{out}");
    assert!(
        last["error"]
            .as_str()
            .is_some_and(|e| e.contains("no Kafka broker")),
        "{out}"
    );
}

#[test]
fn standalone_logs_json_on_stderr_from_start_to_stop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("lookout.yaml");
    std::fs::write(
        &config,
        format!(
            "store_url: sqlite://{}\ngrpc_addr: 127.0.0.1:{}\nrest_addr: 127.0.0.1:0\n",
            dir.path().join("s.db").display(),
            free_port()
        ),
    )
    .expect("write config");
    let log = dir.path().join("stderr.log");
    let mut child = std::process::Command::new(lookout_tests::procs::binary("lookout"))
        .args(["standalone", "--config", &config.display().to_string()])
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .env("LOOKOUT_LOG_FORMAT", "json")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start standalone");
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let started = Instant::now();
    while !read().contains("admin API on") {
        assert!(
            started.elapsed() < WAIT,
            "standalone did not start: {}",
            read()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}: {}", read());
    let out = read();
    let messages: Vec<String> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"));
            v["message"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert!(messages.iter().any(|m| m == "stopped"), "{out}");
    assert!(
        !out.contains("this run's token"),
        "a generated token is not shipped with the logs: {out}"
    );
}
