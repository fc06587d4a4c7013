//! Each service's documented request shape, checked as its API checks it, and its
//! documented answers (the paging services in `paging.rs`). A refusal carries the reason,
//! so a failing test says what is wrong.

use serde_json::{Value, json};

use super::html::visible_text;
use super::{Received, Reply};

mod paging;
pub use paging::{Alerts, opsgenie, pagerduty, pushover};

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

pub(super) fn string(v: &Value, what: &str, max: usize) -> Result<(), String> {
    let s = v.as_str().ok_or(format!("{what} must be a string"))?;
    let n = s.chars().count();
    if n == 0 || n > max {
        return Err(format!("{what} must be 1..={max} characters, is {n}"));
    }
    Ok(())
}

pub(super) fn json_post(r: &Received, path: &str) -> Result<Value, String> {
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

pub(super) fn rfc3339(v: &Value, what: &str) -> Result<(), String> {
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
