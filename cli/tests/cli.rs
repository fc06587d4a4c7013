//! The `lookout` command's own errors: bad configs and missing settings are refused with a
//! message that names the problem, before anything starts.

use std::process::Command;

fn lookout(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .current_dir(dir)
        .env_remove("LOOKOUT_TOKEN")
        .output()
        .expect("run lookout")
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn standalone_refuses_a_missing_or_invalid_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lookout(&["standalone", "--config", "nope.yaml"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read config nope.yaml"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("typo.yaml"), "regoin: eu\n").expect("write");
    let out = lookout(&["standalone", "--config", "typo.yaml"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown field `regoin`"),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        dir.path().join("bad-monitor.yaml"),
        "monitors:\n  - id: web\n    name: Web\n    regions: [local]\n    interval_secs: 0\n    http:\n      url: https://example.org\n",
    )
    .expect("write");
    let out = lookout(&["standalone", "--config", "bad-monitor.yaml"], dir.path());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("monitors[0].interval_secs"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn monitors_commands_need_a_token() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = lookout(
        &["monitors", "list", "--addr", "http://127.0.0.1:1"],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("cannot reach the coordinator") || err.contains("LOOKOUT_TOKEN"),
        "{err}"
    );
    let out = lookout(
        &[
            "monitors",
            "create",
            "--name",
            "x",
            "--url",
            "https://a",
            "--region",
            "r",
            "--expect-status",
            "2xx",
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--expect-status \"2xx\""),
        "checked before connecting: {}",
        stderr(&out)
    );
}
