//! Hostile input against every REST endpoint that reads a body, a query or a path: malformed
//! JSON, wrong types in every field, huge strings, unknown types, deep nesting, random
//! documents. Never a 5xx, never a dropped connection, always a JSON answer of bounded size;
//! the server serves normally afterwards.

mod common;

use common::{Harness, PROJECT_TOKEN, Reply, Rest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

/// Every answer to bad input: refused (or, for a random document that happens to be valid,
/// accepted), with a JSON body well under the limits.
fn sane(r: &Reply, what: &str) {
    assert!(
        matches!(r.status, 200 | 201 | 204 | 404 | 413 | 422),
        "{what}: {} {}",
        r.status,
        r.body
    );
    if r.status >= 400 {
        assert!(r.body["error"].is_string(), "{what}: {}", r.body);
        assert!(
            r.body.to_string().len() < 4096,
            "{what}: a bounded error: {} bytes",
            r.body.to_string().len()
        );
    }
}

async fn memory_store() -> lookout_store::Store {
    lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
        .await
        .expect("in-memory store")
}

/// The endpoints that read a body, with a monitor and an integration to aim at.
async fn targets(api: &Rest) -> Vec<(&'static str, String)> {
    let i = api
        .post(
            "/api/v1/integrations",
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": "https://example.com/h"}}}),
        )
        .await
        .expect(201)
        .body["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    let m = api
        .post(
            "/api/v1/monitors",
            json!({"monitor": {"name": "m", "regions": ["eu"], "interval_secs": 30,
                "http": {"url": "https://example.com/"}}}),
        )
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    vec![
        ("POST", "/api/v1/integrations".into()),
        ("PUT", format!("/api/v1/integrations/{i}")),
        ("POST", "/api/v1/monitors".into()),
        ("PUT", format!("/api/v1/monitors/{m}")),
        ("POST", format!("/api/v1/monitors/{m}/integrations")),
    ]
}

#[tokio::test]
async fn malformed_bodies_are_refused_by_name() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!(
        "{{\"integration\": {}1{}}}",
        "{\"a\":".repeat(5_000),
        "}".repeat(5_000)
    );
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"   \n".to_vec(),
        b"{".to_vec(),
        b"{\"integration\":".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        b"\"integration\"".to_vec(),
        b"123".to_vec(),
        b"{\"integration\": {},}".to_vec(),
        b"\xff\xfe{}".to_vec(),
        b"\xef\xbb\xbf{\"integration\": {}}".to_vec(),
        b"{\"integration\": {\"type\": \"\\ud800\"}}".to_vec(),
        b"{\"integration\": 1e99999}".to_vec(),
        b"{\"a\": 1, \"a\": 2}".to_vec(),
        deep_array.into_bytes(),
        deep_object.into_bytes(),
        vec![0u8; 1000],
    ];
    for (method, path) in targets(&api).await {
        for b in &bodies {
            let what = format!(
                "{method} {path} {:?}",
                String::from_utf8_lossy(&b[..b.len().min(40)])
            );
            let r = api.raw(method, &path, Some(b.clone())).await;
            sane(&r, &what);
            assert_eq!(r.status, 422, "{what}: {}", r.body);
        }
    }
    h.stop().await;
}

#[tokio::test]
async fn huge_bodies_and_strings_are_bounded() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    // Over the body limit: 413, named.
    let big = json!({"integration": {"type": "Integrations::WebhookIntegration",
        "settings": {"webhook_url": format!("https://example.com/{}", "a".repeat(300 * 1024))}}});
    let r = api.post("/api/v1/integrations", big).await;
    sane(&r, "300 KiB body");
    r.expect_error(413, "invalid_request", Some("body"));
    // Under it, but over a field's bound: 422 naming the field, the answer short.
    let cases = [
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": format!("https://example.com/{}", "a".repeat(200 * 1024))}}}),
            "integration.settings.webhook_url",
        ),
        (
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": {"webhook_url": "https://example.com/"}, "name": "n".repeat(200 * 1024)}}),
            "integration.name",
        ),
        (
            json!({"integration": {"type": "x".repeat(200 * 1024), "settings": {}}}),
            "integration.type",
        ),
    ];
    for (body, field) in cases {
        let r = api.post("/api/v1/integrations", body).await;
        sane(&r, field);
        assert_eq!(r.status, 422, "{field}: {}", r.body);
        assert_eq!(r.body["field"], field);
    }
    // A huge unknown key is named, cut to the bound.
    let mut settings = Map::new();
    settings.insert("k".repeat(100 * 1024), json!(1));
    let r = api
        .post(
            "/api/v1/integrations",
            json!({"integration": {"type": "Integrations::WebhookIntegration",
                "settings": Value::Object(settings)}}),
        )
        .await;
    sane(&r, "huge key");
    assert_eq!(r.status, 422);
    // Huge path ids and query values.
    let long = "i".repeat(10 * 1024);
    for path in [
        format!("/api/v1/integrations/{long}"),
        format!("/api/v1/monitors/{long}/integrations"),
        format!("/api/v1/incidents?monitor_id={long}"),
        format!("/api/v1/deliveries?integration_id={long}"),
        format!("/api/v1/monitors?page_token={long}"),
    ] {
        let r = api.get(&path).await;
        sane(&r, &path[..40]);
        assert_eq!(r.status, 422, "{}: {}", &path[..40], r.body);
    }
    h.stop().await;
}

/// Every field of the two main bodies replaced by every JSON type.
#[tokio::test]
async fn wrong_types_in_every_field() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let values = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!(18446744073709551615u64),
        json!("s"),
        json!([]),
        json!([1, "a"]),
        json!({}),
        json!({"x": 1}),
    ];
    let integration = json!({"integration": {"type": "Lookout::WebhookIntegration",
        "name": "n", "rate_limit_per_minute": 10, "events": {"failures": true},
        "settings": {"url": "https://example.com/", "method": "POST",
            "headers": [{"name": "a", "value": "b"}], "basic_auth": {"username": "u", "password": "p"},
            "signature": "SIGNATURE_MODE_LOOKOUT", "body": "BODY_FORMAT_NATIVE", "secret": "s"}}});
    let monitor = json!({"monitor": {"name": "m", "regions": ["eu"], "interval_secs": 30,
        "timeout_ms": 1000, "failure_threshold": 2, "notify_no_data": true,
        "reminders": {"every_minutes": 5}, "maintenance": [{"cron": "0 3 * * *", "duration_minutes": 30}],
        "http": {"url": "https://example.com/", "method": "GET", "expected_status": [{"min": 200}],
            "assertions": [{"body_contains": "ok"}], "tls": {"skip_verify": false}}}});
    let mut sent = 0;
    for (path, base) in [
        ("/api/v1/integrations", integration),
        ("/api/v1/monitors", monitor),
    ] {
        for pointer in leaves(&base, String::new()) {
            for v in &values {
                let mut body = base.clone();
                *body.pointer_mut(&pointer).expect("leaf") = v.clone();
                let r = api.post(path, body).await;
                sane(&r, &format!("{path} {pointer} = {v}"));
                sent += 1;
            }
        }
    }
    assert!(sent > 300, "{sent} requests");
    h.stop().await;
}

/// JSON pointers of every value of `v`, containers included.
fn leaves(v: &Value, at: String) -> Vec<String> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{at}/{k}");
                out.push(p.clone());
                out.extend(leaves(x, p));
            }
        }
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                out.extend(leaves(x, p));
            }
        }
        _ => {}
    }
    out
}

/// Random documents from the API's own vocabulary (and noise), to every body endpoint.
#[tokio::test]
async fn random_documents() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let targets = targets(&api).await;
    let mut rng = StdRng::seed_from_u64(0x1007_0057);
    for n in 0..400 {
        let body = random_value(&mut rng, 0);
        let (method, path) = &targets[n % targets.len()];
        let r = api.call(method, path, Some(body.clone())).await;
        sane(&r, &format!("{method} {path} {body}"));
    }
    h.stop().await;
}

const WORDS: [&str; 24] = [
    "integration",
    "monitor",
    "type",
    "settings",
    "webhook_url",
    "url",
    "secret",
    "name",
    "Integrations::WebhookIntegration",
    "Lookout::TelegramIntegration",
    "Lookout::WebhookIntegration",
    "http",
    "regions",
    "eu",
    "interval_secs",
    "integration_id",
    "headers",
    "events",
    "chat_id",
    "bot_token",
    "https://example.com/",
    "tcp",
    "cron",
    "\u{0}\u{202e}\"\\",
];

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    let word = |rng: &mut StdRng| WORDS[rng.random_range(0..WORDS.len())].to_string();
    match rng.random_range(0..if depth > 4 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(rng.random::<f64>()),
        4 => json!(word(rng)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut m = Map::new();
            for _ in 0..rng.random_range(0..5) {
                m.insert(word(rng), random_value(rng, depth + 1));
            }
            Value::Object(m)
        }
    }
}

#[tokio::test]
async fn unknown_routes_methods_and_parameters_answer_json() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    for path in [
        "/",
        "/api/v1/nope",
        "/api/v2/integrations",
        "/api/v1/integrations/a/b/c",
    ] {
        api.get(path).await.expect_error(404, "not_found", None);
    }
    for (method, path) in [
        ("PATCH", "/api/v1/integrations"),
        ("DELETE", "/api/v1/integrations"),
        ("POST", "/api/v1/incidents"),
        ("PUT", "/api/v1/deliveries/dlv_x"),
        ("POST", "/api/v1/openapi.json"),
    ] {
        api.call(method, path, None)
            .await
            .expect_error(405, "method_not_allowed", None);
    }
    let cases = [
        ("/api/v1/integrations?page_size=abc", "page_size"),
        ("/api/v1/integrations?page_size=9999", "page_size"),
        ("/api/v1/integrations?colour=red", "colour"),
        ("/api/v1/integrations?page_size=1&page_size=2", "page_size"),
        ("/api/v1/monitors?page_token=zz", "page_token"),
        ("/api/v1/incidents?page_token=%ff%fe", "page_token"),
        ("/api/v1/deliveries?state=DEAD", "state"),
        ("/api/v1/integrations/%ff", "path"),
    ];
    for (path, field) in cases {
        api.get(path)
            .await
            .expect_error(422, "invalid_request", Some(field));
    }
    // A header that is not text is no token.
    let r = reqwest::Client::new()
        .get(h.rest_url("/api/v1/integrations"))
        .header(
            "authorization",
            reqwest::header::HeaderValue::from_bytes(b"Bearer \xff\xfe").expect("obs-text"),
        )
        .send()
        .await
        .expect("answers");
    assert_eq!(r.status().as_u16(), 401);
    // Still serving.
    api.get("/api/v1/integrations").await.expect(200);
    h.stop().await;
}
