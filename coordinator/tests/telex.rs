//! Lookout as a Telex interval integration, as Telex's "Interval Custom Integration - Uptime
//! Monitor" document describes one: a real coordinator with its REST API and a real agent on
//! 127.0.0.1, loopback sites that are up and down, and a loopback `return_url` receiver.
//! `/integration.json` has the document's shape; a tick is accepted at once and its result
//! message reaches the receiver saying which site is up and which is down; bad ticks are 422
//! naming the field, a wrong tick key 401, and with the integration off both paths are 404.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{any, post};
use common::{Harness, PROJECT_TOKEN, Rest, TestAgent};
use lookout_coordinator::CoordinatorConfig;
use lookout_proto::v1::{
    CheckResult, ResultBatch, RunNowResult, agent_message::Msg, coordinator_message::Msg as Out,
};
use serde_json::{Value, json};
use tokio::time::Instant;

/// How long a result message may take: the checks (10 s timeout at most) and the post.
const MESSAGE_DEADLINE: Duration = Duration::from_secs(40);

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("test server");
    });
    addr
}

/// A site answering every request with `status`.
async fn site(status: u16) -> String {
    let code = StatusCode::from_u16(status).expect("status");
    let addr = serve(Router::new().fallback(any(move || async move { (code, "site\n") }))).await;
    format!("http://{addr}/health")
}

/// A loopback port nothing listens on.
async fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("http://{addr}/")
}

/// Telex's side: records every message posted to `/return/<channel>`.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Value>>>,
    addr: Option<SocketAddr>,
}

impl Receiver {
    async fn start() -> Receiver {
        let got: Arc<Mutex<Vec<Value>>> = Arc::default();
        let router = Router::new()
            .route(
                "/return/{channel}",
                post(
                    |State(got): State<Arc<Mutex<Vec<Value>>>>,
                     axum::Json(v): axum::Json<Value>| async move {
                        got.lock().expect("inbox").push(v);
                        StatusCode::ACCEPTED
                    },
                ),
            )
            .with_state(got.clone());
        Receiver {
            got,
            addr: Some(serve(router).await),
        }
    }

    fn url(&self, channel: &str) -> String {
        format!("http://{}/return/{channel}", self.addr.expect("started"))
    }

    fn count(&self) -> usize {
        self.got.lock().expect("inbox").len()
    }

    /// The message after the first `seen`, polled until [`MESSAGE_DEADLINE`].
    async fn message_after(&self, seen: usize) -> Value {
        let deadline = Instant::now() + MESSAGE_DEADLINE;
        loop {
            if let Some(m) = self.got.lock().expect("inbox").get(seen) {
                return m.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no message reached return_url within {MESSAGE_DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The coordinator's config: region eu with agent a1, the REST API, and `telex` as given.
fn config(telex: &str, allow_private: bool) -> CoordinatorConfig {
    let yaml = format!(
        "regions: [eu]\nproject_tokens: [{PROJECT_TOKEN}]\n\
         agent_tokens: {{a1: {{region: eu, token: tok-a1}}, a2: {{region: eu, token: tok-a2}}}}\n\
         heartbeat_interval_ms: 1000\n\
         allow_private_destinations: {allow_private}\ntelex: {telex}\n"
    );
    let c = CoordinatorConfig::from_yaml(&yaml).expect("test config parses");
    c.validate().expect("test config is valid");
    c
}

const ON: &str = "{enabled: true, public_url: 'https://lookout.example.org/'}";

async fn start(cfg: CoordinatorConfig) -> Harness {
    let store =
        lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
            .await
            .expect("in-memory store");
    Harness::start_rest_configured(store, cfg).await
}

/// A real agent of region eu that may check loopback sites, until the sender is dropped.
fn agent(h: &Harness) -> tokio::sync::oneshot::Sender<()> {
    agent_of(h, "a1", "eu", "tok-a1")
}

fn agent_of(h: &Harness, id: &str, region: &str, token: &str) -> tokio::sync::oneshot::Sender<()> {
    let config: lookout_agent::AgentConfig = serde_json::from_value(json!({
        "coordinator_url": h.url(),
        "agent_id": id,
        "region": region,
        "token": token,
        "allow_private_targets": true,
    }))
    .expect("agent config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        lookout_agent::run(config, async move {
            let _ = stopped.await;
        })
        .await
        .expect("agent runs");
    });
    stop
}

fn setting(label: &str, default: &str) -> Value {
    json!({"label": label, "type": "text", "required": true, "default": default})
}

/// The document's tick, with these sites.
fn tick(return_url: &str, sites: &[&str]) -> Value {
    let mut settings: Vec<Value> = sites
        .iter()
        .enumerate()
        .map(|(i, url)| setting(&format!("site-{}", i + 1), url))
        .collect();
    settings.push(setting("interval", "* * * * *"));
    json!({"channel_id": "chan-1", "return_url": return_url, "settings": settings})
}

#[tokio::test]
async fn the_integration_json_has_the_documents_shape() {
    let h = start(config(ON, false)).await;
    let spec = Rest::new(&h, None)
        .get("/integration.json")
        .await
        .expect(200)
        .body;
    let data = &spec["data"];
    assert_eq!(data["integration_type"], "interval");
    assert_eq!(data["tick_url"], "https://lookout.example.org/tick");
    let d = &data["descriptions"];
    assert_eq!(d["app_url"], "https://lookout.example.org");
    for key in [
        "app_name",
        "app_description",
        "app_logo",
        "background_color",
    ] {
        assert!(d[key].is_string(), "descriptions.{key}: {spec}");
    }
    let settings = data["settings"].as_array().expect("settings");
    let labels: Vec<&str> = settings
        .iter()
        .filter_map(|s| s["label"].as_str())
        .collect();
    assert_eq!(labels, ["site-1", "site-2", "regions", "interval"]);
    for s in settings {
        assert_eq!(s["type"], "text", "{s}");
        assert!(
            s["required"].is_boolean() && s["default"].is_string(),
            "{s}"
        );
    }
    assert_eq!(settings[2]["default"], "", "the first region with an agent");
    assert_eq!(settings[2]["required"], false);
    assert_eq!(settings[3]["default"], "* * * * *");
    assert_eq!(settings[0]["required"], true);

    // Documented in the OpenAPI document while on.
    let doc = Rest::new(&h, None)
        .get("/api/v1/openapi.json")
        .await
        .expect(200)
        .body;
    assert!(doc["paths"]["/integration.json"]["get"].is_object());
    assert_eq!(doc["paths"]["/tick"]["post"]["security"], json!([]));
    h.stop().await;
}

#[tokio::test]
async fn a_tick_reports_which_sites_are_up_and_which_are_down() {
    let h = start(config(ON, true)).await;
    let _agent = agent(&h);
    let receiver = Receiver::start().await;
    let (up, down, refused) = (site(200).await, site(503).await, closed_port().await);
    let telex = Rest::new(&h, None);
    let body = tick(&receiver.url("chan-1"), &[&up, &down, &refused]);

    // The agent connects in its own time: until it has, the message says there is none.
    let deadline = Instant::now() + MESSAGE_DEADLINE;
    let message = loop {
        let seen = receiver.count();
        let started = Instant::now();
        let r = telex.post("/tick", body.clone()).await.expect(202);
        assert_eq!(r.body, json!({"status": "accepted"}));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "answered at once"
        );
        let m = receiver.message_after(seen).await;
        let text = m["message"].as_str().expect("message").to_string();
        if !text.contains("no agent is connected") {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "the agent never connected: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(message["event_name"], "Uptime Check");
    assert_eq!(message["username"], "Lookout Uptime Monitor");
    assert_eq!(message["status"], "error", "{message}");
    let text = message["message"].as_str().expect("message");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert_eq!(
        lines[0],
        "2 of 3 sites are not up (checked from region eu)."
    );
    assert!(
        lines[1].starts_with(&format!("{up} is up (HTTP 200, ")),
        "{text}"
    );
    assert!(lines[2].starts_with(&format!("{down} is down: ")), "{text}");
    assert!(lines[2].contains("503"), "{text}");
    assert!(
        lines[3].starts_with(&format!("{refused} is down: ")),
        "{text}"
    );

    // All up: success.
    let seen = receiver.count();
    telex
        .post("/tick", tick(&receiver.url("chan-1"), &[&up]))
        .await
        .expect(202);
    let m = receiver.message_after(seen).await;
    assert_eq!(m["status"], "success", "{m}");
    assert!(
        m["message"]
            .as_str()
            .expect("message")
            .starts_with("The site is up"),
        "{m}"
    );
    h.stop().await;
}

#[tokio::test]
async fn no_agent_answers_the_return_url_saying_so() {
    let h = start(config(ON, true)).await;
    let receiver = Receiver::start().await;
    let up = site(200).await;
    Rest::new(&h, None)
        .post("/tick", tick(&receiver.url("chan-1"), &[&up]))
        .await
        .expect(202);
    let m = receiver.message_after(0).await;
    assert_eq!(m["status"], "error");
    let text = m["message"].as_str().expect("message");
    assert!(
        text.contains(&up) && text.contains("no agent is connected in region eu"),
        "{text}"
    );
    h.stop().await;
}

#[tokio::test]
async fn bad_ticks_are_refused_naming_the_field() {
    let h = start(config(ON, false)).await;
    let telex = Rest::new(&h, None);
    let site = "https://example.org";
    let ret = "https://ping.telex.im/v1/return/chan-1";
    let cases = [
        (
            json!({"return_url": ret, "settings": [setting("site-1", site)]}),
            "channel_id",
        ),
        (
            json!({"channel_id": "c", "settings": [setting("site-1", site)]}),
            "return_url",
        ),
        (tick("ftp://ping.telex.im/x", &[site]), "return_url"),
        (tick("javascript:alert(1)", &[site]), "return_url"),
        (
            tick(&format!("https://t.example/{}", "a".repeat(3000)), &[site]),
            "return_url",
        ),
        // Loopback and private receivers need allow_private_destinations.
        (tick("http://127.0.0.1:9/return", &[site]), "return_url"),
        (tick("http://10.0.0.1/return", &[site]), "return_url"),
        (json!({"channel_id": "c", "return_url": ret}), "settings"),
        (tick(ret, &[]), "settings"),
        (tick(ret, &["not a url"]), "settings[0].default"),
        (
            json!({"channel_id": "c", "return_url": ret, "settings": [{"default": site}]}),
            "settings[0].label",
        ),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        telex
            .post("/tick", body.clone())
            .await
            .expect_error(422, "invalid_request", Some(field));
    }
    let r = telex
        .raw("POST", "/tick", Some(b"{not json".to_vec()))
        .await;
    r.expect_error(422, "invalid_request", Some("body"));
    let r = telex.raw("POST", "/tick", None).await;
    r.expect_error(422, "invalid_request", Some("body"));
    let huge = vec![b' '; 65 * 1024];
    telex.raw("POST", "/tick", Some(huge)).await.expect(413);
    h.stop().await;
}

#[tokio::test]
async fn the_tick_key_is_required_when_set() {
    let h = start(config(
        "{enabled: true, public_url: 'https://lookout.example.org', tick_key: 'k3y/+x'}",
        true,
    ))
    .await;
    let receiver = Receiver::start().await;
    let anonymous = Rest::new(&h, None);
    anonymous
        .get("/integration.json")
        .await
        .expect_error(401, "unauthorized", None);
    anonymous
        .get("/integration.json?key=wrong")
        .await
        .expect_error(401, "unauthorized", None);
    let spec = anonymous
        .get("/integration.json?key=k3y%2F%2Bx")
        .await
        .expect(200)
        .body;
    // The advertised tick_url carries the key, percent-encoded.
    let tick_url = spec["data"]["tick_url"].as_str().expect("tick_url");
    assert_eq!(tick_url, "https://lookout.example.org/tick?key=k3y%2F%2Bx");
    let body = tick(&receiver.url("chan-1"), &["http://127.0.0.1:9/"]);
    anonymous
        .post("/tick", body.clone())
        .await
        .expect_error(401, "unauthorized", None);
    anonymous
        .post("/tick?key=k3y", body.clone())
        .await
        .expect_error(401, "unauthorized", None);
    Rest::new(&h, Some("wrong"))
        .post("/tick", body.clone())
        .await
        .expect_error(401, "unauthorized", None);
    anonymous
        .post("/tick?key=k3y%2F%2Bx", body.clone())
        .await
        .expect(202);
    Rest::new(&h, Some("k3y/+x"))
        .post("/tick", body)
        .await
        .expect(202);
    h.stop().await;
}

#[tokio::test]
async fn disabled_is_not_found() {
    let h = start(config("{enabled: false}", true)).await;
    let anonymous = Rest::new(&h, None);
    anonymous
        .get("/integration.json")
        .await
        .expect_error(404, "not_found", None);
    anonymous
        .post(
            "/tick",
            tick("https://ping.telex.im/x", &["https://example.org"]),
        )
        .await
        .expect_error(404, "not_found", None);
    let doc = anonymous.get("/api/v1/openapi.json").await.expect(200).body;
    assert!(
        doc["paths"].get("/tick").is_none(),
        "not documented while off"
    );
    h.stop().await;
}

#[tokio::test]
async fn only_the_agent_asked_may_answer_and_one_that_leaves_fails_its_checks() {
    let h = start(config(ON, true)).await;
    let receiver = Receiver::start().await;
    let beat = Some(Duration::from_millis(300));
    let mut a1 = TestAgent::connect(h.addr, "a1", "eu", beat).await;
    let mut a2 = TestAgent::connect(h.addr, "a2", "eu", beat).await;
    Rest::new(&h, None)
        .post(
            "/tick",
            tick(&receiver.url("chan-1"), &["http://127.0.0.1:9/"]),
        )
        .await
        .expect(202);
    // One of the two is sent the check.
    let (asked, request) = loop {
        tokio::select! {
            m = a1.next() => if let Ok(Some(Out::RunNow(r))) = m { break (1, r) },
            m = a2.next() => if let Ok(Some(Out::RunNow(r))) = m { break (2, r) },
        }
    };
    let monitor = request.monitor.expect("the check");
    assert_eq!(monitor.id, request.request_id);
    assert_eq!(monitor.regions, ["eu"]);
    assert!(
        request.request_id.starts_with("run_"),
        "{}",
        request.request_id
    );
    let (asked, other) = if asked == 1 { (a1, a2) } else { (a2, a1) };
    // The other agent's answer (and one for an unknown id) is dropped...
    let forged = |id: &str| {
        Msg::RunNowResult(RunNowResult {
            request_id: id.into(),
            result: Some(CheckResult {
                status: lookout_proto::CheckStatus::Up as i32,
                ..CheckResult::default()
            }),
        })
    };
    let mut other = other;
    other.send(forged(&request.request_id)).await;
    other.send(forged("run_unknown")).await;
    // An empty batch after them: its acknowledgement proves the session read both first.
    other
        .send(Msg::Results(ResultBatch {
            seq: 1,
            results: vec![],
        }))
        .await;
    other
        .until("batch 1 is acknowledged", |a| a.acks.contains(&1))
        .await;
    // ...and the agent asked leaves without answering: the check fails at once, saying so.
    drop(asked);
    let m = receiver.message_after(0).await;
    let text = m["message"].as_str().expect("message");
    assert!(text.contains("left before answering"), "{text}");
    assert!(!text.contains("is up"), "{text}");
    assert_eq!(m["status"], "error");
    drop(other);
    h.stop().await;
}

/// The `regions` setting checks every site from each region it names (a real agent in each),
/// one block of the message per region; a region the deployment lacks is refused by name.
#[tokio::test]
async fn the_regions_setting_checks_from_each_region() {
    let yaml = format!(
        "regions: [eu, us]\nproject_tokens: [{PROJECT_TOKEN}]\n\
         agent_tokens: {{a1: {{region: eu, token: tok-a1}}, u1: {{region: us, token: tok-u1}}}}\n\
         heartbeat_interval_ms: 1000\nallow_private_destinations: true\ntelex: {ON}\n"
    );
    let cfg = CoordinatorConfig::from_yaml(&yaml).expect("config parses");
    cfg.validate().expect("config is valid");
    let h = start(cfg).await;
    let _eu = agent_of(&h, "a1", "eu", "tok-a1");
    let _us = agent_of(&h, "u1", "us", "tok-u1");
    let receiver = Receiver::start().await;
    let up = site(200).await;
    let telex = Rest::new(&h, None);
    let with_regions = |regions: &str| {
        let mut b = tick(&receiver.url("chan-1"), &[&up]);
        b["settings"]
            .as_array_mut()
            .expect("settings")
            .push(setting("regions", regions));
        b
    };
    let r = telex
        .post("/tick", with_regions("eu, mars"))
        .await
        .expect(422);
    assert_eq!(r.body["field"], "settings[2].default", "{}", r.body);

    let deadline = Instant::now() + MESSAGE_DEADLINE;
    let message = loop {
        let seen = receiver.count();
        telex
            .post("/tick", with_regions("us, eu"))
            .await
            .expect(202);
        let m = receiver.message_after(seen).await;
        let text = m["message"].as_str().expect("message").to_string();
        if !text.contains("no agent is connected") {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "an agent never connected: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(message["status"], "success", "{message}");
    let text = message["message"].as_str().expect("message");
    let blocks: Vec<&str> = text.split("\n\n").collect();
    assert_eq!(blocks.len(), 2, "{text}");
    assert!(
        blocks[0].starts_with("The site is up (checked from region us)."),
        "{text}"
    );
    assert!(
        blocks[1].starts_with("The site is up (checked from region eu)."),
        "{text}"
    );
    h.stop().await;
}
