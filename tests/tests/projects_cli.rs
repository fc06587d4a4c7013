//! The real `lookout` binary against `lookout standalone`: the operator creates a project and
//! its token (`lookout projects`, `lookout tokens`), that token sees only its project's
//! monitors, revoking it refuses its next request, and `monitors list` pages through
//! everything (`--page-size`, `--limit`).

use std::process::Command;
use std::time::Duration;

use lookout_tests::eventually;
use lookout_tests::procs::binary;
use lookout_tests::standalone::Standalone;

const WAIT: Duration = Duration::from_secs(60);
const TOKEN: &str = "projects-cli-t0k";
const OPERATOR: &str = "projects-cli-0perator";

/// Runs `lookout` with `LOOKOUT_TOKEN=token` (if any) and the operator token.
fn lookout(addr: &str, token: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(binary("lookout"));
    cmd.args(args)
        .env("LOOKOUT_ADDR", addr)
        .env("LOOKOUT_OPERATOR_TOKEN", OPERATOR)
        .env_remove("LOOKOUT_TOKEN");
    if let Some(t) = token {
        cmd.env("LOOKOUT_TOKEN", t);
    }
    cmd.output().expect("run lookout")
}

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "lookout failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("--output json prints JSON")
}

fn create_monitor(addr: &str, token: &str, name: &str) -> serde_json::Value {
    json_of(&lookout(
        addr,
        Some(token),
        &[
            "monitors",
            "create",
            "--name",
            name,
            "--url",
            "http://127.0.0.1:9/health",
            "--region",
            "local",
            "--interval",
            "60",
            "-o",
            "json",
        ],
    ))
}

fn listed_names(v: &serde_json::Value) -> Vec<String> {
    let list = v.as_array().expect("a JSON array");
    list.iter()
        .map(|m| m["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_and_tokens_through_the_cli() {
    let standalone = Standalone::new(TOKEN, "");
    let addr = standalone.addr();
    let _proc = standalone.start("standalone", &[("LOOKOUT_OPERATOR_TOKEN", OPERATOR)]);
    let projects = eventually(WAIT, "lookout projects list to answer", || {
        let out = lookout(&addr, None, &["projects", "list", "-o", "json"]);
        async move { out.status.success().then_some(out) }
    })
    .await;
    assert_eq!(json_of(&projects)[0]["name"], "default");

    let created = json_of(&lookout(
        &addr,
        None,
        &[
            "projects",
            "create",
            "team-a",
            "--max-monitors",
            "5",
            "-o",
            "json",
        ],
    ));
    let project_id = created[0]["id"].as_str().expect("project id").to_string();
    assert_eq!(created[0]["quotas"]["max_monitors"], 5);
    let token = json_of(&lookout(
        &addr,
        None,
        &[
            "tokens",
            "create",
            "--project",
            &project_id,
            "--name",
            "ci",
            "-o",
            "json",
        ],
    ));
    let secret = token["secret"].as_str().expect("secret").to_string();
    let token_id = token["token"]["id"].as_str().expect("id").to_string();
    assert!(secret.starts_with("lkt_"), "{secret}");
    // The table form prints the token alone on stdout, for scripts.
    let plain = lookout(&addr, Some(&secret), &["tokens", "create", "--name", "two"]);
    let printed = String::from_utf8_lossy(&plain.stdout).trim().to_string();
    assert!(
        printed.starts_with("lkt_") && printed.len() == 68,
        "{printed}"
    );

    // Each token sees only its own project's monitors.
    create_monitor(&addr, &secret, "team-a-web");
    for name in ["d1", "d2", "d3"] {
        create_monitor(&addr, TOKEN, name);
    }
    let mine = json_of(&lookout(
        &addr,
        Some(&secret),
        &["monitors", "list", "-o", "json"],
    ));
    assert_eq!(listed_names(&mine), ["team-a-web"]);
    let paged = json_of(&lookout(
        &addr,
        Some(TOKEN),
        &["monitors", "list", "--page-size", "1", "-o", "json"],
    ));
    assert_eq!(
        listed_names(&paged),
        ["d1", "d2", "d3"],
        "every page fetched"
    );
    let limited = json_of(&lookout(
        &addr,
        Some(TOKEN),
        &[
            "monitors",
            "list",
            "--page-size",
            "1",
            "--limit",
            "2",
            "-o",
            "json",
        ],
    ));
    assert_eq!(listed_names(&limited), ["d1", "d2"]);

    // Tokens are listed by prefix, never in full.
    let listed = lookout(&addr, Some(&secret), &["tokens", "list", "-o", "json"]);
    let listed_text = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed_text.contains(&secret[..12]), "{listed_text}");
    assert!(!listed_text.contains(&secret), "{listed_text}");
    assert_eq!(json_of(&listed).as_array().map(Vec::len), Some(2));

    // A project with monitors is not deleted; the message says why.
    let refused = lookout(&addr, None, &["projects", "delete", &project_id]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("holds 1 monitors"), "{err}");

    // Revoked: the next request with it is refused.
    json_of(&lookout(
        &addr,
        Some(&secret),
        &["tokens", "revoke", &token_id, "-o", "json"],
    ));
    let after = lookout(&addr, Some(&secret), &["monitors", "list"]);
    assert!(!after.status.success());
    let err = String::from_utf8_lossy(&after.stderr);
    assert!(err.contains("unauthenticated"), "{err}");

    // Without the operator token, `projects` says what is missing.
    let out = Command::new(binary("lookout"))
        .args(["projects", "list"])
        .env("LOOKOUT_ADDR", &addr)
        .env_remove("LOOKOUT_OPERATOR_TOKEN")
        .output()
        .expect("run lookout");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LOOKOUT_OPERATOR_TOKEN"), "{err}");
}
