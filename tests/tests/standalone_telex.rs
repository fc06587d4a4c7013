//! Telex's interval integration document against `lookout standalone` with `telex.enabled`:
//! its `/integration.json` (the `tick_url` on standalone's REST port), then the document's
//! curl command for `/tick`, only the host, the return URL and the sites changed (a loopback
//! site that is up and one that is down): the embedded agent checks both and the return URL
//! gets the message saying which is which.

use std::process::Command;
use std::time::Duration;

use lookout_tests::eventually;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::standalone::Standalone;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

/// `curl -s -w '\n%{http_code}' <args>`: the body and the status code.
fn curl(args: &[&str]) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    let code = code.trim().parse().unwrap_or(0);
    let body = serde_json::from_str(body).unwrap_or(Value::Null);
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documents_tick_works_against_standalone() {
    let receiver = Receiver::start(202).await;
    let up = Target::start(200).await;
    let down = Target::start(503).await;
    let standalone = Standalone::new(
        "telex-t0k3n",
        "allow_private_webhooks: true\ntelex:\n  enabled: true\n",
    );
    let _proc = standalone.start("standalone", &[]);
    let base = standalone.rest_url();
    let spec = eventually(WAIT, "/integration.json to answer", || {
        let (code, body) = curl(&[&format!("{base}/integration.json")]);
        async move { (code == 200).then_some(body) }
    })
    .await;
    assert_eq!(spec["data"]["integration_type"], "interval");
    assert_eq!(spec["data"]["tick_url"], format!("{base}/tick"));

    let data = format!(
        r#"{{
"channel_id": "0195336b-936c-7c6e-b962-dd25d02c7aba",
"return_url": "{}",
"settings": [
{{
"label": "site-1",
"type": "text",
"required": true,
"default": "{}"
}},
{{
"label": "site-2",
"default": "{}",
"type": "text",
"required": true
}},
{{
"label": "interval",
"type": "text",
"required": true,
"default": "* * * * *"
}}
]
}}"#,
        receiver.url(),
        up.url(),
        down.url()
    );
    let tick_url = format!("{base}/tick");
    // The embedded agent may still be connecting: until it is, the message says so.
    let message = eventually(WAIT, "a message naming both sites' status", || {
        let seen = receiver.received().len();
        let (code, body) = curl(&[
            "--location",
            &tick_url,
            "--header",
            "Content-Type: application/json",
            "--data",
            &data,
        ]);
        assert_eq!(code, 202, "{body}");
        let receiver = &receiver;
        async move {
            let m = eventually(WAIT, "the tick's message", || {
                let got = receiver.received().get(seen).map(|r| r.json());
                async move { got }
            })
            .await;
            let text = m["message"].as_str().unwrap_or_default();
            (!text.contains("no agent is connected")).then_some(m)
        }
    })
    .await;
    assert_eq!(message["event_name"], "Uptime Check");
    assert_eq!(message["status"], "error");
    let text = message["message"].as_str().expect("message");
    assert!(
        text.contains(&format!("{} is up (HTTP 200", up.url())),
        "{text}"
    );
    assert!(
        text.contains(&format!("{} is down: ", down.url())),
        "{text}"
    );
}
