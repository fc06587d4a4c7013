//! The paging services' documented request shapes (PagerDuty Events v2, Opsgenie, Pushover),
//! checked as their APIs check them, with the alerts they hold open.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::super::html::visible_text;
use super::super::{Received, Reply};
use super::{
    OPSGENIE_KEY, PAGERDUTY_KEY, PUSHOVER_TOKEN, PUSHOVER_USER, json_post, rfc3339, string,
};

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
            if v["routing_key"] != PAGERDUTY_KEY {
                return Err("Invalid routing key".into());
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
