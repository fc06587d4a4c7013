//! Handlebars webhook templates with Checkly's variables and helpers, and the Checkly
//! document's OpsGenie, Pushover and Trello examples, verbatim, rendering to what those APIs
//! expect.

mod webhook_support;

use lookout_proto::v1::{EventKind, Header, TemplateSyntax};
use lookout_render::Variables;
use serde_json::Value;
use webhook_support::*;

const HB: TemplateSyntax = TemplateSyntax::Handlebars;

fn json_body(template: &str, kind: EventKind, vars: &Variables) -> Value {
    let w = templated("https://hooks.example.com/in", HB, template, true);
    let r = render_with(&w, &event(kind), vars).expect("renders");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", body_text(&r)))
}

#[test]
fn checkly_variables_have_checkly_values() {
    let t = r#"{"name":"{{CHECK_NAME}}","id":"{{CHECK_ID}}","type":"{{CHECK_TYPE}}",
      "title":"{{ALERT_TITLE}}","alert":"{{ALERT_TYPE}}","result":"{{CHECK_RESULT_ID}}",
      "ms":{{RESPONSE_TIME}},"at":"{{RUN_LOCATION}}","link":"{{RESULT_LINK}}",
      "started":"{{STARTED_AT}}","code":{{API_CHECK_RESPONSE_STATUS_CODE}}}"#;
    let v = json_body(t, EventKind::Incident, &Variables::new());
    assert_eq!(v["name"], "API Server");
    assert_eq!(v["id"], "mon_abc123xyz789");
    assert_eq!(v["type"], "API");
    assert_eq!(v["title"], "Check “API Server” has failed");
    assert_eq!(v["alert"], "ALERT_FAILURE");
    assert_eq!(v["result"], "res_0001");
    assert_eq!(v["ms"], 30000);
    assert_eq!(v["at"], "us-east-1");
    assert_eq!(v["link"], "https://api.example.com/health");
    assert_eq!(v["started"], "2024-01-15T10:30:15.000Z");
    assert_eq!(v["code"], 0);
    // With the project's LOOKOUT_URL, the link points at the result.
    let mut vars = Variables::new();
    vars.insert("LOOKOUT_URL", "https://status.example.com/", false);
    let v = json_body(r#"{"link":"{{RESULT_LINK}}"}"#, EventKind::Incident, &vars);
    assert_eq!(
        v["link"],
        "https://status.example.com/monitors/mon_abc123xyz789/results/res_0001"
    );
}

#[test]
fn alert_type_follows_checklys_alert_state_table() {
    let case = |kind: EventKind, status: &str, previous: &str| {
        let mut ev = event(kind);
        ev.status = status.into();
        ev.previous_status = previous.into();
        lookout_render::template::alert_type(&ev)
    };
    for (kind, status, previous, want) in [
        (EventKind::Incident, "DOWN", "UP", "ALERT_FAILURE"),
        (EventKind::Reminder, "DOWN", "DOWN", "ALERT_FAILURE_REMAIN"),
        (
            EventKind::Escalation,
            "DOWN",
            "DOWN",
            "ALERT_FAILURE_REMAIN",
        ),
        (EventKind::Degraded, "DEGRADED", "UP", "ALERT_DEGRADED"),
        (
            EventKind::Reminder,
            "DEGRADED",
            "DEGRADED",
            "ALERT_DEGRADED_REMAIN",
        ),
        (
            EventKind::Incident,
            "DOWN",
            "DEGRADED",
            "ALERT_DEGRADED_FAILURE",
        ),
        (
            EventKind::DegradedRecovery,
            "DOWN",
            "DEGRADED",
            "ALERT_DEGRADED_FAILURE",
        ),
        (
            EventKind::DegradedRecovery,
            "UP",
            "DEGRADED",
            "ALERT_DEGRADED_RECOVERY",
        ),
        (
            EventKind::Recovery,
            "UP",
            "DEGRADED",
            "ALERT_DEGRADED_RECOVERY",
        ),
        (EventKind::Recovery, "UP", "DOWN", "ALERT_RECOVERY"),
        (
            EventKind::Recovery,
            "DEGRADED",
            "DOWN",
            "ALERT_FAILURE_DEGRADED",
        ),
        (
            EventKind::Degraded,
            "DEGRADED",
            "DOWN",
            "ALERT_FAILURE_DEGRADED",
        ),
        (EventKind::NoData, "NO_DATA", "UP", "ALERT_NO_DATA"),
        (EventKind::CertExpiring, "UP", "UP", "ALERT_SSL"),
        (EventKind::Test, "DOWN", "UP", "ALERT_FAILURE"),
    ] {
        assert_eq!(
            case(kind, status, previous),
            want,
            "{kind:?} {previous} -> {status}"
        );
    }
}

#[test]
fn helpers_uuid_random_number_and_block_eq() {
    let v = json_body(
        r#"{"id":"{{$UUID}}","n":{{RANDOM_NUMBER}},"same":{{eq CHECK_TYPE 'API'}},
            "sub":"{{#if (eq ALERT_TYPE 'ALERT_FAILURE')}}yes{{/if}}",
            "else":"{{#eq ALERT_TYPE 'ALERT_RECOVERY'}}up{{else}}not up{{/eq}}",
            "num":"{{#eq RESPONSE_TIME '30000'}}slow{{/eq}}"}"#,
        EventKind::Incident,
        &Variables::new(),
    );
    let id = v["id"].as_str().expect("string");
    let parsed = uuid::Uuid::parse_str(id).expect("a UUID");
    assert_eq!(parsed.get_version_num(), 4);
    let n = v["n"].as_u64().expect("number");
    assert!(n <= 1000);
    assert_eq!(v["same"], true);
    assert_eq!(v["sub"], "yes");
    assert_eq!(v["else"], "not up");
    assert_eq!(v["num"], "slow");
    let other = json_body(
        r#"{"id":"{{$UUID}}"}"#,
        EventKind::Incident,
        &Variables::new(),
    );
    assert_ne!(other["id"], v["id"], "a new UUID each rendering");
}

/// The document's `{{#eq}}` example, verbatim. Handlebars keeps the space between the two
/// blocks, so a failure reads "Check is DOWN " (the document prints it trimmed).
#[test]
fn documents_eq_example() {
    let t = "{\n  \"message\": \"Check is {{#eq ALERT_TYPE 'ALERT_FAILURE'}}DOWN{{/eq}} {{#eq ALERT_TYPE 'ALERT_RECOVERY'}}UP{{/eq}}\"\n}";
    assert_eq!(
        json_body(t, EventKind::Incident, &Variables::new())["message"],
        "Check is DOWN "
    );
    assert_eq!(
        json_body(t, EventKind::Recovery, &Variables::new())["message"],
        "Check is  UP"
    );
}

#[test]
fn values_are_escaped_for_where_they_land() {
    let mut ev = event(EventKind::Incident);
    if let Some(m) = ev.monitor.as_mut() {
        m.name = "Shop \"EU\" <main> & co\nline 2 \\ 100%/x?y=1".into();
    }
    let name = ev
        .monitor
        .as_ref()
        .map(|m| m.name.clone())
        .unwrap_or_default();
    // JSON body: `{{VAR}}` is JSON string content, so the body stays JSON.
    let w = templated(
        "https://hooks.example.com/in",
        HB,
        r#"{"n":"{{CHECK_NAME}}"}"#,
        true,
    );
    let r = render_with(&w, &ev, &Variables::new()).expect("renders");
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(v["n"], name.as_str());
    // `{{json VAR}}` writes a JSON literal, for places outside quotes.
    let w = templated(
        "https://hooks.example.com/in",
        HB,
        r#"{"n":{{json CHECK_NAME}},"ms":{{json RESPONSE_TIME}}}"#,
        true,
    );
    let r = render_with(&w, &ev, &Variables::new()).expect("renders");
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        (v["n"].as_str(), v["ms"].as_i64()),
        (Some(name.as_str()), Some(30000))
    );
    // `{{{VAR}}}` inserts it as it is (here breaking the JSON on purpose is refused).
    let w = templated(
        "https://hooks.example.com/in",
        HB,
        r#"{"n":"{{{CHECK_NAME}}}"}"#,
        true,
    );
    let e = render_with(&w, &ev, &Variables::new()).expect_err("raw quotes break the JSON");
    assert!(
        e.to_string()
            .starts_with("webhook.template: the rendered body is not JSON: line 1"),
        "{e}"
    );
    // A text body: Handlebars' HTML escaping, as Checkly; triple braces raw.
    let w = templated(
        "https://hooks.example.com/in",
        HB,
        "{{CHECK_NAME}}|{{{CHECK_NAME}}}",
        false,
    );
    let r = render_with(&w, &ev, &Variables::new()).expect("renders");
    assert_eq!(
        header(&r, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(
        body_text(&r),
        format!("Shop &quot;EU&quot; &lt;main&gt; &amp; co\nline 2 \\ 100%/x?y&#x3D;1|{name}")
    );
    // URL: one percent-encoded component.
    let w = templated(
        "https://hooks.example.com/in?name={{CHECK_NAME}}",
        HB,
        "",
        false,
    );
    let r = render_with(&w, &ev, &Variables::new()).expect("renders");
    let url = url::Url::parse(&r.url).expect("URL");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(pairs, vec![("name".to_string(), name.clone())]);
    // Header values as they are; a line break is refused.
    let mut w = webhook("https://hooks.example.com/in");
    w.syntax = HB as i32;
    w.headers = vec![Header {
        name: "X-Check".into(),
        value: "{{CHECK_NAME}}".into(),
    }];
    let e = render_with(&w, &ev, &Variables::new()).expect_err("line break in a header");
    assert_eq!(
        e.to_string(),
        "webhook.headers[0].value: renders to a line break or NUL, which no header may hold"
    );
    w.headers[0].value = "{{ALERT_TYPE}} {{{CHECK_ID}}}".into();
    let r = render_with(&w, &ev, &Variables::new()).expect("renders");
    assert_eq!(
        header(&r, "x-check"),
        Some("ALERT_FAILURE mon_abc123xyz789")
    );
}

#[test]
fn project_variables_and_secrets_in_url_headers_and_body() {
    let mut vars = Variables::new();
    vars.insert("JIRA_USER", "ops@example.com", false);
    vars.insert("JIRA_TOKEN", "jt-s3cret/+=", true);
    let mut w = templated(
        "https://{{JIRA_USER}}:{{JIRA_TOKEN}}@example.atlassian.net/rest/api/2/issue",
        HB,
        r#"{"fields":{"summary":"{{ALERT_TITLE}}","description":"{{RESULT_LINK}}"}}"#,
        true,
    );
    w.headers = vec![Header {
        name: "X-Token".into(),
        value: "{{JIRA_TOKEN}}".into(),
    }];
    let r = render_with(&w, &event(EventKind::Incident), &vars).expect("renders");
    let url = url::Url::parse(&r.url).expect("URL");
    assert_eq!(url.username(), "ops%40example.com");
    assert_eq!(url.password(), Some("jt-s3cret%2F%2B%3D"));
    assert_eq!(url.host_str(), Some("example.atlassian.net"));
    assert_eq!(header(&r, "x-token"), Some("jt-s3cret/+="));
    // Neither the request's Debug form nor a rendering error shows a secret.
    let shown = format!("{r:?}");
    assert!(!shown.contains("jt-s3cret"), "{shown}");
    let bad = templated(
        "https://x.example/{{JIRA_TOKEN}}",
        HB,
        "{{JIRA_TOKN}}",
        false,
    );
    let e = render_with(&bad, &event(EventKind::Incident), &vars).expect_err("unknown variable");
    assert!(!e.to_string().contains("jt-s3cret"), "{e}");
    // Event variables win over a project variable of the same name.
    vars.insert("CHECK_NAME", "not the check", false);
    let v = json_body(r#"{"n":"{{CHECK_NAME}}"}"#, EventKind::Incident, &vars);
    assert_eq!(v["n"], "API Server");
}

fn opsgenie_vars() -> Variables {
    let mut vars = Variables::new();
    vars.insert(
        "OPSGENIE_API_KEY",
        "eb243592-faa2-4ba2-a551q-1afdf565c889",
        true,
    );
    vars.insert(
        "CHECK_GROUP_TEAM",
        "4513b7ea-3b91-438f-b7e4-e3e54af9147c",
        false,
    );
    vars
}

/// What Opsgenie's Alert API requires of a create-alert body: `message` (a string of at most
/// 130 characters); `description`, `note` strings; `responders` objects with `id` and `type`;
/// `tags` strings; `priority` P1..P5.
fn assert_opsgenie_alert(v: &Value) {
    let message = v["message"].as_str().expect("message is a string");
    assert!(
        !message.is_empty() && message.chars().count() <= 130,
        "{message}"
    );
    assert!(v["description"].is_string());
    if let Some(responders) = v.get("responders") {
        for r in responders.as_array().expect("array") {
            assert!(
                r["id"].is_string()
                    && ["team", "user", "escalation", "schedule"]
                        .contains(&r["type"].as_str().unwrap_or(""))
            );
        }
    }
    if let Some(tags) = v.get("tags") {
        assert!(tags.as_array().expect("array").iter().all(Value::is_string));
    }
    if let Some(p) = v.get("priority") {
        assert!(["P1", "P2", "P3", "P4", "P5"].contains(&p.as_str().unwrap_or("")));
    }
}

#[test]
fn checkly_opsgenie_examples_render_to_opsgenie_alerts() {
    let simple = "{\n  \"message\": \"{{ALERT_TITLE}}\",\n  \"description\": \"{{ALERT_TYPE}} <br>{{STARTED_AT}} ({{RESPONSE_TIME}}ms) <br>{{RESULT_LINK}}\"\n}";
    let full = r#"{
  "message": "{{ALERT_TITLE}}",
  "description": "{{ALERT_TYPE}}: {{CHECK_NAME}} <br>{{STARTED_AT}} ({{RESPONSE_TIME}}ms) <br>{{RESULT_LINK}}",
  "responders": [
        {
            "id":"4513b7ea-3b91-438f-b7e4-e3e54af9147c",
            "type":"team"
        }
  ],
  "tags": ["Critical", "Production"],
  "priority":"P1",
  "note": "Location: {{RUN_LOCATION}}"
}"#;
    let by_group = full.replace(
        "\"id\":\"4513b7ea-3b91-438f-b7e4-e3e54af9147c\"",
        "\"id\":\"{{CHECK_GROUP_TEAM}}\"",
    );
    let vars = opsgenie_vars();
    for (n, template) in [simple, full, by_group.as_str()].into_iter().enumerate() {
        // The key in the URL's user part, as the document's first form.
        let w = templated(
            "https://{{OPSGENIE_API_KEY}}@api.opsgenie.com/v2/alerts",
            HB,
            template,
            true,
        );
        let r = render_with(&w, &event(EventKind::Incident), &vars).expect("renders");
        let url = url::Url::parse(&r.url).expect("URL");
        assert_eq!(url.username(), "eb243592-faa2-4ba2-a551q-1afdf565c889");
        assert_eq!(
            (url.host_str(), url.path()),
            (Some("api.opsgenie.com"), "/v2/alerts")
        );
        let v: Value = serde_json::from_slice(&r.body).expect("JSON");
        assert_opsgenie_alert(&v);
        assert_eq!(v["message"], "Check “API Server” has failed");
        if n == 0 {
            assert_eq!(
                v["description"],
                "ALERT_FAILURE <br>2024-01-15T10:30:15.000Z (30000ms) <br>https://api.example.com/health"
            );
        } else {
            assert_eq!(v["note"], "Location: us-east-1");
            assert_eq!(
                v["responders"][0]["id"],
                "4513b7ea-3b91-438f-b7e4-e3e54af9147c"
            );
            assert_eq!(
                v["description"]
                    .as_str()
                    .map(|d| d.starts_with("ALERT_FAILURE: API Server <br>")),
                Some(true)
            );
        }
    }
    // Or the key in a header, as the document's second form.
    let mut w = templated("https://api.opsgenie.com/v2/alerts", HB, simple, true);
    w.headers = vec![Header {
        name: "Authorization".into(),
        value: "GenieKey {{OPSGENIE_API_KEY}}".into(),
    }];
    let r = render_with(&w, &event(EventKind::Incident), &vars).expect("renders");
    assert_eq!(
        header(&r, "authorization"),
        Some("GenieKey eb243592-faa2-4ba2-a551q-1afdf565c889")
    );
}

#[test]
fn checkly_pushover_example_renders_to_a_pushover_message() {
    let t = r#"{
  "token":"FILL_IN_YOUR_SECRET_TOKEN_FROM_PUSHOVER",
  "user":"FILL_IN_YOUR_USER_FROM_PUSHOVER",
  "title":"{{ALERT_TITLE}}",
  "html":1,
  "priority":2,
  "retry":30,
  "expire":10800,
  "message":"{{ALERT_TYPE}} <br>{{STARTED_AT}} ({{RESPONSE_TIME}}ms) <br>{{RESULT_LINK}}"
}"#;
    let w = templated("https://api.pushover.net/1/messages.json", HB, t, true);
    let r = render_with(&w, &event(EventKind::Recovery), &Variables::new()).expect("renders");
    assert_eq!(header(&r, "content-type"), Some("application/json"));
    let v: Value = serde_json::from_slice(&r.body).expect("JSON");
    // Pushover's messages API: token, user and message required; title at most 250 and
    // message at most 1024 characters; emergency priority (2) needs retry >= 30 and
    // expire <= 10800.
    assert!(v["token"].is_string() && v["user"].is_string());
    let message = v["message"].as_str().expect("message");
    assert!(message.chars().count() <= 1024);
    assert!(
        v["title"]
            .as_str()
            .is_some_and(|t| t.chars().count() <= 250)
    );
    assert_eq!(v["priority"], 2);
    assert!(v["retry"].as_i64() >= Some(30) && v["expire"].as_i64() <= Some(10800));
    assert_eq!(v["html"], 1);
    assert_eq!(v["title"], "Check “API Server” has recovered");
    assert_eq!(
        message,
        "ALERT_RECOVERY <br>2024-01-15T10:42:30.000Z (245ms) <br>https://api.example.com/health"
    );
}

#[test]
fn checkly_trello_example_renders_to_a_card_request() {
    let mut vars = Variables::new();
    vars.insert("TRELLO_KEY", "a1b2c3d4", true);
    vars.insert("TRELLO_TOKEN", "t0k3n/with+odd=chars", true);
    let url = "https://api.trello.com/1/cards?idList=5b28c04aed47522097be8bc4&key={{TRELLO_KEY}}&token={{TRELLO_TOKEN}}&name={{CHECK_NAME}}";
    let w = templated(url, HB, "", false);
    let mut ev = event(EventKind::Incident);
    if let Some(m) = ev.monitor.as_mut() {
        m.name = "API Server & DB #1".into();
    }
    let r = render_with(&w, &ev, &vars).expect("renders");
    assert_eq!(r.method, "POST");
    assert!(r.body.is_empty(), "no payload");
    let u = url::Url::parse(&r.url).expect("URL");
    assert_eq!(
        (u.host_str(), u.path()),
        (Some("api.trello.com"), "/1/cards")
    );
    let q: Vec<(String, String)> = u.query_pairs().into_owned().collect();
    let pairs: Vec<(&str, &str)> = q.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(
        pairs,
        vec![
            ("idList", "5b28c04aed47522097be8bc4"),
            ("key", "a1b2c3d4"),
            ("token", "t0k3n/with+odd=chars"),
            ("name", "API Server & DB #1"),
        ]
    );
}

#[test]
fn runaway_output_is_refused() {
    // No loop can run away (the variables are scalars, partials are refused), so the only
    // growth is the template's own size times its values: capped at 1 MiB.
    let mut vars = Variables::new();
    vars.insert("BIG", "x".repeat(4000), false);
    let t = "{{BIG}}".repeat(300);
    let w = templated("https://hooks.example.com/in", HB, &t, false);
    let e = render_with(&w, &event(EventKind::Incident), &vars).expect_err("over 1 MiB");
    assert_eq!(
        e.to_string(),
        "webhook.template: renders to more than 1 MiB (the payload cap)"
    );
    let w = templated(
        "https://hooks.example.com/in",
        HB,
        "{{#*inline \"p\"}}{{> p}}{{/inline}}{{> p}}",
        false,
    );
    let e = render_with(&w, &event(EventKind::Incident), &vars).expect_err("partials refused");
    assert_eq!(
        e.to_string(),
        "webhook.template: partials and decorators are not supported"
    );
}
