//! Each service's documented request shape, checked as its API checks it, and its
//! documented answers. A refusal carries the reason, so a failing test says what is wrong.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::html::visible_text;
use super::{Received, Reply};

pub const SLACK_PATH: &str = "/services/T0000/B0000/XXXXXXXX";
pub const DISCORD_PATH: &str = "/api/webhooks/1234567890/abcDEF";
pub const MATTERMOST_PATH: &str = "/hooks/xxx-generatedkey-xxx";
pub const TEAMS_PATH: &str = "/workflows/abc/triggers/manual/paths/invoke";
pub const TELEGRAM_TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";
pub const PAGERDUTY_KEY: &str = "R0123456789abcdefABCDEF012345678";
pub const OPSGENIE_KEY: &str = "eb243592-faa2-4ba2-a551-1afdf565c889";
pub const PUSHOVER_TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
pub const PUSHOVER_USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

fn chars(v: &Value) -> usize {
    v.as_str().map_or(0, |s| s.chars().count())
}

fn string(v: &Value, what: &str, max: usize) -> Result<(), String> {
    let s = v.as_str().ok_or(format!("{what} must be a string"))?;
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{what} must be 1..={max} characters, is {n}"));
    }
    Ok(())
}

fn json_post(r: &Received, path: &str) -> Result<Value, String> {
    if r.method != "POST" || r.path != path {
        return Err(format!("{} {} is not the endpoint", r.method, r.path));
    }
    if !r.header("content-type").starts_with("application/json") {
        return Err("content-type must be application/json".into());
    }
    let v: Value = serde_json::from_slice(&r.body).map_err(|e| format!("not JSON: {e}"))?;
    v.is_object()
        .then_some(v)
        .ok_or("the body must be an object".into())
}

fn rfc3339(v: &Value, what: &str) -> Result<(), String> {
    let s = v.as_str().ok_or(format!("{what} must be a string"))?;
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|_| ())
        .map_err(|e| format!("{what} is not ISO 8601: {e}"))
}

/// Slack incoming webhooks: `text`, Block Kit bounds; answers `ok`, or `invalid_payload`.
pub fn slack(r: &Received) -> Reply {
    let check = || -> Result<(), String> {
        let v = json_post(r, SLACK_PATH)?;
        string(&v["text"], "text", 40_000)?;
        for a in v["attachments"].as_array().into_iter().flatten() {
            let color = a["color"].as_str().unwrap_or_default();
            if !(color.len() == 7
                && color.starts_with('#')
                && color[1..].chars().all(|c| c.is_ascii_hexdigit()))
            {
                return Err(format!("attachment color {color:?} is not #RRGGBB"));
            }
            let blocks = a["blocks"]
                .as_array()
                .ok_or("attachment blocks must be an array")?;
            if blocks.len() > 50 {
                return Err("more than 50 blocks".into());
            }
            for b in blocks {
                match b["type"].as_str() {
                    Some("section") => {
                        if !b["text"].is_null() {
                            string(&b["text"]["text"], "section text", 3000)?;
                        }
                        let fields = b["fields"].as_array().map_or(&[][..], Vec::as_slice);
                        if fields.len() > 10 {
                            return Err("a section holds at most 10 fields".into());
                        }
                        for f in fields {
                            string(&f["text"], "field text", 2000)?;
                        }
                        if b["text"].is_null() && fields.is_empty() {
                            return Err("a section needs text or fields".into());
                        }
                    }
                    Some("context") => {
                        for e in b["elements"].as_array().ok_or("context elements")? {
                            string(&e["text"], "context text", 3000)?;
                        }
                    }
                    other => return Err(format!("unknown block type {other:?}")),
                }
            }
        }
        if !v["channel"].is_null() {
            string(&v["channel"], "channel", 81)?;
        }
        Ok(())
    };
    match check() {
        Ok(()) => Reply::new(200, "text/plain", "ok"),
        Err(e) => Reply::new(400, "text/plain", format!("invalid_payload: {e}")),
    }
}

/// Discord webhooks: content and embed bounds (6,000 characters in all); answers 204.
pub fn discord(r: &Received) -> Reply {
    let check = || -> Result<(), String> {
        let v = json_post(r, DISCORD_PATH)?;
        let embeds = v["embeds"].as_array().map_or(&[][..], Vec::as_slice);
        if chars(&v["content"]) == 0 && embeds.is_empty() {
            return Err("Cannot send an empty message".into());
        }
        if chars(&v["content"]) > 2000 {
            return Err("content must be 2000 or fewer in length".into());
        }
        if embeds.len() > 10 {
            return Err("at most 10 embeds".into());
        }
        let mut total = 0;
        for e in embeds {
            if !e["title"].is_null() {
                string(&e["title"], "embed title", 256)?;
            }
            if !e["description"].is_null() {
                string(&e["description"], "embed description", 4096)?;
            }
            let color = e["color"]
                .as_u64()
                .ok_or("embed color must be an integer")?;
            if color > 0xFF_FFFF {
                return Err("embed color is more than 0xFFFFFF".into());
            }
            rfc3339(&e["timestamp"], "embed timestamp")?;
            let fields = e["fields"].as_array().map_or(&[][..], Vec::as_slice);
            if fields.len() > 25 {
                return Err("at most 25 fields".into());
            }
            for f in fields {
                string(&f["name"], "field name", 256)?;
                string(&f["value"], "field value", 1024)?;
                total += chars(&f["name"]) + chars(&f["value"]);
            }
            total += chars(&e["title"]) + chars(&e["description"]) + chars(&e["footer"]["text"]);
        }
        if total > 6000 {
            return Err(format!("embeds hold {total} characters, more than 6000"));
        }
        if v["allowed_mentions"]["parse"] != json!([]) {
            return Err("mentions are not disabled".into());
        }
        Ok(())
    };
    match check() {
        Ok(()) => Reply::new(204, "text/plain", ""),
        Err(e) => Reply::new(
            400,
            "application/json",
            json!({"code": 50035, "message": e}).to_string(),
        ),
    }
}

/// Telegram `sendMessage`: token in the path, `chat_id`, HTML text of 1..=4096 visible
/// characters.
pub fn telegram(r: &Received) -> Reply {
    let check = || -> Result<Value, String> {
        let v = json_post(r, &format!("/bot{TELEGRAM_TOKEN}/sendMessage"))?;
        if !(v["chat_id"].is_i64() || v["chat_id"].as_str().is_some_and(|c| c.starts_with('@'))) {
            return Err("chat_id must be an integer or @channelusername".into());
        }
        if v["parse_mode"] != "HTML" {
            return Err("expected parse_mode HTML".into());
        }
        let text = v["text"].as_str().ok_or("text must be a string")?;
        let tags = [
            "b",
            "strong",
            "i",
            "em",
            "u",
            "ins",
            "s",
            "strike",
            "del",
            "a",
            "code",
            "pre",
            "blockquote",
        ];
        let visible =
            visible_text(text, &tags).map_err(|e| format!("can't parse entities: {e}"))?;
        let n = visible.chars().count();
        if n == 0 || n > 4096 {
            return Err(format!("message text is {n} characters, must be 1..=4096"));
        }
        Ok(
            json!({"message_id": 1, "chat": {"id": v["chat_id"]}, "date": 1_705_314_615, "text": visible}),
        )
    };
    match check() {
        Ok(m) => Reply::new(
            200,
            "application/json",
            json!({"ok": true, "result": m}).to_string(),
        ),
        Err(e) => Reply::new(
            400,
            "application/json",
            json!({"ok": false, "error_code": 400, "description": format!("Bad Request: {e}")})
                .to_string(),
        ),
    }
}

/// Mattermost incoming webhooks: `text` (or attachments), optional `channel`, `username`.
pub fn mattermost(r: &Received) -> Reply {
    let check = || -> Result<(), String> {
        let v = json_post(r, MATTERMOST_PATH)?;
        string(&v["text"], "text", 16_383)?;
        for f in ["channel", "username"] {
            if !v[f].is_null() {
                string(&v[f], f, 64)?;
            }
        }
        Ok(())
    };
    match check() {
        Ok(()) => Reply::new(200, "text/plain", "ok"),
        Err(e) => Reply::new(
            400,
            "application/json",
            json!({"id": "web.incoming_webhook.text.app_error", "message": e}).to_string(),
        ),
    }
}

/// Teams workflows: a `message` whose attachment is an Adaptive Card; answers 202.
pub fn teams(r: &Received) -> Reply {
    let check = || -> Result<(), String> {
        let v = json_post(r, TEAMS_PATH)?;
        if v["type"] != "message" {
            return Err("type must be message".into());
        }
        let a = &v["attachments"][0];
        if a["contentType"] != "application/vnd.microsoft.card.adaptive" {
            return Err("the attachment is not an Adaptive Card".into());
        }
        let card = &a["content"];
        if card["type"] != "AdaptiveCard" || !card["version"].is_string() {
            return Err("content must be an AdaptiveCard with a version".into());
        }
        for el in card["body"]
            .as_array()
            .ok_or("card body must be an array")?
        {
            match el["type"].as_str() {
                Some("TextBlock") => string(&el["text"], "TextBlock text", 100_000)?,
                Some("FactSet") => {
                    for f in el["facts"].as_array().ok_or("FactSet facts")? {
                        string(&f["title"], "fact title", 1000)?;
                        string(&f["value"], "fact value", 10_000)?;
                    }
                }
                other => return Err(format!("unexpected element {other:?}")),
            }
        }
        for act in card["actions"].as_array().into_iter().flatten() {
            if act["type"] != "Action.OpenUrl" || !act["url"].is_string() {
                return Err("actions must be Action.OpenUrl with a url".into());
            }
        }
        Ok(())
    };
    match check() {
        Ok(()) => Reply::new(202, "text/plain", ""),
        Err(e) => Reply::new(
            400,
            "application/json",
            json!({"error": {"code": "InvalidRequestContent", "message": e}}).to_string(),
        ),
    }
}

/// Alerts a paging stand-in holds open, by key, with every trigger's body; and a log of
/// (action, key).
#[derive(Clone, Default)]
pub struct Alerts {
    pub open: Arc<Mutex<BTreeMap<String, Vec<Value>>>>,
    pub log: Arc<Mutex<Vec<(String, String)>>>,
}

impl Alerts {
    pub fn open_keys(&self) -> Vec<String> {
        self.open
            .lock()
            .expect("no holder panicked")
            .keys()
            .cloned()
            .collect()
    }

    pub fn log(&self) -> Vec<(String, String)> {
        self.log.lock().expect("no holder panicked").clone()
    }
}

/// PagerDuty Events API v2 (`POST /v2/enqueue`).
pub fn pagerduty(alerts: Alerts) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |r: &Received| {
        let check = || -> Result<(String, String), String> {
            let v = json_post(r, "/v2/enqueue")?;
            if v["routing_key"].as_str().is_none_or(|k| k.len() != 32) {
                return Err("routing_key must be 32 characters".into());
            }
            let action = v["event_action"].as_str().unwrap_or_default().to_string();
            let key = v["dedup_key"].as_str().unwrap_or_default().to_string();
            if key.is_empty() || key.chars().count() > 255 {
                return Err("dedup_key must be 1..=255 characters".into());
            }
            match action.as_str() {
                "trigger" => {
                    let p = &v["payload"];
                    string(&p["summary"], "payload.summary", 1024)?;
                    string(&p["source"], "payload.source", 1024)?;
                    let sev = p["severity"].as_str().unwrap_or_default();
                    if !["critical", "error", "warning", "info"].contains(&sev) {
                        return Err(format!("payload.severity {sev:?} is invalid"));
                    }
                    rfc3339(&p["timestamp"], "payload.timestamp")?;
                    if !p["custom_details"].is_object() {
                        return Err("payload.custom_details must be an object".into());
                    }
                    alerts
                        .open
                        .lock()
                        .expect("no holder panicked")
                        .entry(key.clone())
                        .or_default()
                        .push(v.clone());
                }
                "resolve" | "acknowledge" => {
                    alerts.open.lock().expect("no holder panicked").remove(&key);
                }
                other => return Err(format!("event_action {other:?} is invalid")),
            }
            Ok((action, key))
        };
        match check() {
            Ok((action, key)) => {
                alerts.log.lock().expect("no holder panicked").push((action, key.clone()));
                Reply::new(202, "application/json", json!({"status": "success", "message": "Event processed", "dedup_key": key}).to_string())
            }
            Err(e) => Reply::new(400, "application/json", json!({"status": "invalid event", "message": "Event object is invalid", "errors": [e]}).to_string()),
        }
    }
}

/// Opsgenie Alert API: create (`POST /v2/alerts`) and close by alias.
pub fn opsgenie(alerts: Alerts) -> impl Fn(&Received) -> Reply + Send + Sync + 'static {
    move |r: &Received| {
        if r.header("authorization") != format!("GenieKey {OPSGENIE_KEY}") {
            return Reply::new(
                401,
                "application/json",
                json!({"message": "Key format is not valid!"}).to_string(),
            );
        }
        let check = || -> Result<(String, String), String> {
            if r.path == "/v2/alerts" {
                let v = json_post(r, "/v2/alerts")?;
                string(&v["message"], "message", 130)?;
                string(&v["alias"], "alias", 512)?;
                string(&v["description"], "description", 15_000)?;
                string(&v["entity"], "entity", 512)?;
                string(&v["source"], "source", 100)?;
                let p = v["priority"].as_str().unwrap_or_default();
                if !["P1", "P2", "P3", "P4", "P5"].contains(&p) {
                    return Err(format!("priority {p:?} is invalid"));
                }
                let details = v["details"]
                    .as_object()
                    .ok_or("details must be an object")?;
                if details.values().any(|d| !d.is_string()) {
                    return Err("details values must be strings".into());
                }
                if v["tags"]
                    .as_array()
                    .is_none_or(|t| t.iter().any(|t| !t.is_string()))
                {
                    return Err("tags must be strings".into());
                }
                let alias = v["alias"].as_str().unwrap_or_default().to_string();
                alerts
                    .open
                    .lock()
                    .expect("no holder panicked")
                    .entry(alias.clone())
                    .or_default()
                    .push(v);
                return Ok(("create".into(), alias));
            }
            let alias = r
                .path
                .strip_prefix("/v2/alerts/")
                .and_then(|p| p.strip_suffix("/close"))
                .ok_or(format!("{} is not an endpoint", r.path))?;
            let alias = url::form_urlencoded::parse(format!("a={alias}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
            json_post(r, &r.path)?;
            if r.query.as_deref() != Some("identifierType=alias") {
                return Err("close must name identifierType=alias".into());
            }
            if alerts
                .open
                .lock()
                .expect("no holder panicked")
                .remove(&alias)
                .is_none()
            {
                return Err(format!("Alert with alias {alias} does not exist"));
            }
            Ok(("close".into(), alias))
        };
        match check() {
            Ok((action, alias)) => {
                alerts
                    .log
                    .lock()
                    .expect("no holder panicked")
                    .push((action, alias));
                Reply::new(202, "application/json", json!({"result": "Request will be processed", "took": 0.01, "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}).to_string())
            }
            Err(e) if e.contains("does not exist") => {
                Reply::new(404, "application/json", json!({"message": e}).to_string())
            }
            Err(e) => Reply::new(
                422,
                "application/json",
                json!({"message": "Request body is not processable", "errors": {"body": e}})
                    .to_string(),
            ),
        }
    }
}

/// Pushover messages API (`POST /1/messages.json`, form-encoded).
pub fn pushover(r: &Received) -> Reply {
    let check = || -> Result<(), String> {
        if r.method != "POST" || r.path != "/1/messages.json" {
            return Err(format!("{} {} is not the endpoint", r.method, r.path));
        }
        if r.header("content-type") != "application/x-www-form-urlencoded" {
            return Err("expected a form".into());
        }
        let f: BTreeMap<String, String> =
            url::form_urlencoded::parse(&r.body).into_owned().collect();
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
        if get("token") != PUSHOVER_TOKEN {
            return Err("application token is invalid".into());
        }
        if get("user") != PUSHOVER_USER {
            return Err(
                "user identifier is not a valid user, group, or subscribed user key".into(),
            );
        }
        let title = get("title").chars().count();
        if title > 250 {
            return Err(format!("title is {title} characters, at most 250"));
        }
        let message = if get("html") == "1" {
            visible_text(get("message"), &["b", "i", "u", "font", "a"])
                .map_err(|e| format!("message HTML: {e}"))?
        } else {
            get("message").to_string()
        };
        let n = message.chars().count();
        if n == 0 || n > 1024 {
            return Err(format!("message is {n} characters, must be 1..=1024"));
        }
        if get("url").chars().count() > 512 || get("url_title").chars().count() > 100 {
            return Err("url or url_title is too long".into());
        }
        let priority: i32 = get("priority")
            .parse()
            .map_err(|_| "priority must be a number")?;
        if !(-2..=2).contains(&priority) {
            return Err("priority must be -2..=2".into());
        }
        if priority == 2 {
            let retry: u32 = get("retry")
                .parse()
                .map_err(|_| "retry is required for emergency")?;
            let expire: u32 = get("expire")
                .parse()
                .map_err(|_| "expire is required for emergency")?;
            if retry < 30 || expire > 10_800 {
                return Err("retry must be at least 30, expire at most 10800".into());
            }
        }
        Ok(())
    };
    match check() {
        Ok(()) => Reply::new(
            200,
            "application/json",
            json!({"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}).to_string(),
        ),
        Err(e) => Reply::new(
            400,
            "application/json",
            json!({"status": 0, "errors": [e], "request": "x"}).to_string(),
        ),
    }
}
