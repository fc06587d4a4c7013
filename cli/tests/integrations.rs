//! `lookout integrations` and `lookout variables` against a running `lookout standalone`:
//! a webhook created from flags receives a signed test event that `integrations test` prints
//! as delivered, its secret survives updates from flags and from a file, a failed attempt
//! fails the command, a refused setting names the field, and a secret variable read from
//! stdin is never shown.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use lookout_tests::servers::Receiver;
use lookout_tests::standalone::Standalone;
use lookout_tests::{eventually, signature_valid};

const TOKEN: &str = "cli-integrations-token";
const SECRET: &str = "cli-hook-s3cret";

/// Runs `lookout args...` against `s` with its token, `stdin` piped in.
fn lookout(s: &Standalone, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lookout"));
    cmd.args(args)
        .env("LOOKOUT_ADDR", s.addr())
        .env("LOOKOUT_TOKEN", TOKEN)
        .env_remove("LOOKOUT_WEBHOOK_SECRET")
        .env_remove("LOOKOUT_WEBHOOK_BASIC_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("run lookout");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("lookout ends")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_from_flags_gets_a_signed_test_event() {
    let receiver = Receiver::start(200).await;
    let s = Standalone::new(TOKEN, "allow_private_webhooks: true\n");
    let _standalone = s.start("standalone", &[]);
    eventually(Duration::from_secs(60), "the admin API answers", || async {
        lookout(&s, &["integrations", "list"], &[], "")
            .status
            .success()
            .then_some(())
    })
    .await;

    let created = ok(lookout(
        &s,
        &[
            "integrations",
            "create",
            "--name",
            "Ops hook",
            "--url",
            &receiver.url(),
            "--header",
            "X-Team=ops",
            "--events",
            "failures,recoveries",
            "-o",
            "json",
        ],
        &[("LOOKOUT_WEBHOOK_SECRET", SECRET)],
        "",
    ));
    assert!(
        !created.contains(SECRET),
        "the secret is not shown: {created}"
    );
    let created: serde_json::Value = serde_json::from_str(&created).expect("JSON");
    let id = created["id"].as_str().expect("an id").to_string();
    assert_eq!(created["webhook"]["secret"], "***");
    assert_eq!(created["events"]["failures"], true);
    assert_eq!(
        created["events"]["degraded"], false,
        "events not named are off"
    );

    let shown = ok(lookout(&s, &["integrations", "get", &id], &[], ""));
    assert!(
        shown.contains("Ops hook") && shown.contains("***"),
        "{shown}"
    );
    assert!(shown.contains("failures,recoveries"), "{shown}");
    assert!(!shown.contains(SECRET), "{shown}");
    let listed = ok(lookout(&s, &["integrations", "list"], &[], ""));
    assert!(
        listed.contains(&id) && listed.contains(&receiver.url()),
        "{listed}"
    );

    let tested = ok(lookout(&s, &["integrations", "test", &id], &[], ""));
    assert!(tested.contains("delivered"), "{tested}");
    assert!(
        tested
            .lines()
            .any(|l| l.contains("status") && l.contains("200")),
        "{tested}"
    );
    let first = signed_test_events(&receiver, 1).await;
    assert_eq!(first[0].header("x-team"), "ops");

    // An update from flags sends the secret back as "***": the receiver still verifies it.
    let updated = ok(lookout(
        &s,
        &["integrations", "update", &id, "--rate-limit", "5"],
        &[],
        "",
    ));
    assert!(updated.contains("5/min"), "{updated}");
    ok(lookout(&s, &["integrations", "test", &id], &[], ""));
    signed_test_events(&receiver, 2).await;

    // So does an update from a file that leaves the secret out.
    let file = s.dir().join("hook.yaml");
    std::fs::write(
        &file,
        format!(
            "name: From a file\nwebhook:\n  url: {}\n  headers: [{{name: X-Team, value: sre}}]\n",
            receiver.url()
        ),
    )
    .expect("write the file");
    let updated = ok(lookout(
        &s,
        &[
            "integrations",
            "update",
            &id,
            "--file",
            &file.display().to_string(),
        ],
        &[],
        "",
    ));
    assert!(updated.contains("From a file"), "{updated}");
    ok(lookout(&s, &["integrations", "test", &id], &[], ""));
    let third = signed_test_events(&receiver, 3).await;
    assert_eq!(third[2].header("x-team"), "sre");

    // A failed attempt is printed and fails the command.
    receiver.set_status(500);
    let failed = lookout(&s, &["integrations", "test", &id], &[], "");
    assert!(!failed.status.success(), "{}", text(&failed));
    let stdout = String::from_utf8_lossy(&failed.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("status") && l.contains("500")),
        "{}",
        text(&failed)
    );
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("failed"),
        "{}",
        text(&failed)
    );
}

/// Waits for `n` test events at the receiver, each signed with [`SECRET`].
async fn signed_test_events(
    receiver: &Receiver,
    n: usize,
) -> Vec<lookout_tests::servers::Received> {
    let got = eventually(Duration::from_secs(10), "the test events", || async {
        let got = receiver.of_type("test");
        (got.len() >= n).then_some(got)
    })
    .await;
    for r in &got {
        assert!(
            signature_valid(
                SECRET,
                &r.header("x-lookout-timestamp"),
                &r.body,
                &r.header("x-lookout-signature")
            ),
            "signed with the secret: {:?}",
            r.headers
        );
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_field_and_secrets_stay_hidden() {
    let s = Standalone::new(TOKEN, "");
    let _standalone = s.start("standalone", &[]);
    eventually(Duration::from_secs(60), "the admin API answers", || async {
        lookout(&s, &["variables", "list"], &[], "")
            .status
            .success()
            .then_some(())
    })
    .await;

    let refused = lookout(
        &s,
        &[
            "integrations",
            "create",
            "--url",
            "ftp://files.example.org/x",
        ],
        &[],
        "",
    );
    assert!(!refused.status.success(), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("invalid argument: webhook.url") && err.contains("http or https"),
        "{}",
        text(&refused)
    );
    let refused = lookout(
        &s,
        &[
            "integrations",
            "create",
            "--url",
            "https://a.example.org",
            "--header",
            "novalue",
        ],
        &[],
        "",
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("--header \"novalue\""),
        "checked before sending: {}",
        text(&refused)
    );
    let listed = ok(lookout(
        &s,
        &["integrations", "list", "-o", "json"],
        &[],
        "",
    ));
    assert_eq!(listed.trim(), "[]", "nothing refused was stored");

    // Any kind from a file: a preset's refusal names its field, its secret is never shown,
    // and an update from a file without the secret keeps it (else "is required").
    let file = |name: &str, yaml: &str| {
        let path = s.dir().join(name);
        std::fs::write(&path, yaml).expect("write the file");
        path.display().to_string()
    };
    let bad = file("bad.yaml", "pagerduty:\n  severity: error\n");
    let refused = lookout(&s, &["integrations", "create", "--file", &bad], &[], "");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("pagerduty.routing_key: is required"),
        "{}",
        text(&refused)
    );
    let key = "0123456789abcdef0123456789ABCDEF";
    let pd = file(
        "pd.yaml",
        &format!("name: On call\npagerduty:\n  routing_key: {key}\n  severity: error\n"),
    );
    let created = ok(lookout(
        &s,
        &[
            "integrations",
            "create",
            "--file",
            &pd,
            "--events",
            "failures,recoveries",
        ],
        &[],
        "",
    ));
    assert!(!created.contains(key), "{created}");
    assert!(
        created.contains("pagerduty") && created.contains("\"***\""),
        "{created}"
    );
    assert!(created.contains("failures,recoveries"), "{created}");
    let id = created
        .split_whitespace()
        .find(|w| w.starts_with("int_"))
        .expect("the id")
        .to_string();
    let renamed = file(
        "pd2.yaml",
        "name: Night shift\npagerduty:\n  severity: warning\n",
    );
    // A webhook secret in the environment is no flag given with --file.
    let updated = ok(lookout(
        &s,
        &["integrations", "update", &id, "--file", &renamed],
        &[("LOOKOUT_WEBHOOK_SECRET", SECRET)],
        "",
    ));
    assert!(
        updated.contains("Night shift") && !updated.contains(key),
        "{updated}"
    );

    // A secret from stdin, so it is in neither the shell history nor `ps`.
    let set = ok(lookout(
        &s,
        &["variables", "set", "JIRA_TOKEN", "-", "--secret"],
        &[],
        "jira-t0ken\n",
    ));
    assert!(set.contains("***") && !set.contains("jira-t0ken"), "{set}");
    ok(lookout(&s, &["variables", "set", "TEAM", "ops"], &[], ""));
    let listed = ok(lookout(&s, &["variables", "list", "-o", "json"], &[], ""));
    let listed: serde_json::Value = serde_json::from_str(&listed).expect("JSON");
    assert_eq!(
        listed,
        serde_json::json!([
            {"name": "JIRA_TOKEN", "value": "***", "secret": true,
             "updated_at_ms": listed[0]["updated_at_ms"]},
            {"name": "TEAM", "value": "ops", "updated_at_ms": listed[1]["updated_at_ms"]},
        ])
    );
    let refused = lookout(&s, &["variables", "set", "jira", "x"], &[], "");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("variable.name"),
        "{}",
        text(&refused)
    );
    ok(lookout(&s, &["variables", "delete", "JIRA_TOKEN"], &[], ""));
    let listed = ok(lookout(&s, &["variables", "list"], &[], ""));
    assert!(
        !listed.contains("JIRA_TOKEN") && listed.contains("TEAM"),
        "{listed}"
    );
}
