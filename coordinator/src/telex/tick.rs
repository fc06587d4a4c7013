//! A tick's body, as Telex's document sends it: `{"channel_id", "return_url", "settings":
//! [{"label", "type", "required", "default"}, ...]}`. Every field is checked and bounded, and
//! a refusal names it as the body names it (`settings[2].default`). Keys Telex may add beside
//! these are ignored; settings other than `site*` and `interval` are ignored after their
//! shape is checked.

use lookout_proto::Monitor;
use lookout_proto::bounds::{quote, truncate_chars};
use lookout_proto::v1::{HttpCheck, StatusRange, monitor::Check};
use lookout_proto::validate::{
    MAX_CRON_BYTES, MAX_NAME_CHARS, MAX_URL_BYTES, ValidMonitor, cron_expression, http_url,
};
use serde_json::{Map, Value};
use url::Url;

use super::TickError;
use crate::config::MAX_TELEX_SITES;
use crate::rest::json_type;

/// Bytes of a tick's body at most: 413 beyond it.
pub const MAX_TICK_BODY_BYTES: usize = 64 * 1024;
/// Settings of one tick at most.
pub const MAX_SETTINGS: usize = 64;
/// Bytes of `channel_id` and of a setting's `label` and `type` at most.
const MAX_CHANNEL_ID_BYTES: usize = 128;
const MAX_LABEL_BYTES: usize = 128;
/// Each site's check: no longer than the document's own (httpx, 10 s).
pub const CHECK_TIMEOUT_MS: u32 = 10_000;

/// A tick that passed every rule.
#[derive(Debug, Clone)]
pub struct Tick {
    pub channel_id: String,
    pub return_url: Url,
    pub sites: Vec<Site>,
    /// The regions the `regions` setting chose, each site checked from each; empty: the
    /// integration's default (`telex.region`, or the first region with an agent).
    pub regions: Vec<String>,
}

/// One `site*` setting: its URL and the validated check of it.
#[derive(Debug, Clone)]
pub struct Site {
    pub url: String,
    pub monitor: Monitor,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> TickError {
    TickError::invalid(field, reason)
}

/// A required, non-empty string of at most `max` bytes without control characters.
fn text(body: &mut Map<String, Value>, key: &str, max: usize) -> Result<String, TickError> {
    match body.remove(key) {
        None | Some(Value::Null) => Err(invalid(key, "is required")),
        Some(Value::String(s)) => bounded_text(key, s, max),
        Some(other) => Err(invalid(
            key,
            format!("must be a string, not {}", json_type(&other)),
        )),
    }
}

fn bounded_text(field: &str, s: String, max: usize) -> Result<String, TickError> {
    if s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes, at most {max}", s.len()),
        ));
    }
    if s.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(s)
}

/// The check of one site: a GET that counts any status below 400 as up and follows no
/// redirect, as the document's `httpx` check does, within [`CHECK_TIMEOUT_MS`].
fn site_monitor(url: &str, region: &str) -> Result<Monitor, String> {
    let m = Monitor {
        name: truncate_chars(url, MAX_NAME_CHARS).into_owned(),
        regions: vec![region.to_string()],
        interval_secs: 60,
        timeout_ms: CHECK_TIMEOUT_MS,
        check: Some(Check::Http(HttpCheck {
            url: url.to_string(),
            expected_status: vec![StatusRange { min: 200, max: 399 }],
            follow_redirects: false,
            ..HttpCheck::default()
        })),
        ..Monitor::default()
    };
    ValidMonitor::try_from(m)
        .map(ValidMonitor::into_spec)
        .map_err(|e| e.reason)
}

/// Checks `body`; `region` is one the checks may run in (each site's check is validated
/// as a monitor of it), `known` the deployment's regions (what `regions` may name).
pub fn parse(
    mut body: Map<String, Value>,
    region: &str,
    known: &[String],
) -> Result<Tick, TickError> {
    let channel_id = text(&mut body, "channel_id", MAX_CHANNEL_ID_BYTES)?;
    let raw_url = text(&mut body, "return_url", MAX_URL_BYTES)?;
    let return_url =
        http_url("return_url", raw_url.trim()).map_err(|e| invalid(e.field, e.reason))?;
    if return_url.username() != "" || return_url.password().is_some() {
        return Err(invalid(
            "return_url",
            "must not carry credentials (user:password@)",
        ));
    }
    let settings = match body.remove("settings") {
        None | Some(Value::Null) => return Err(invalid("settings", "is required")),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(invalid(
                "settings",
                format!("must be an array, not {}", json_type(&other)),
            ));
        }
    };
    if settings.len() > MAX_SETTINGS {
        return Err(invalid(
            "settings",
            format!("has {} entries, at most {MAX_SETTINGS}", settings.len()),
        ));
    }
    let mut sites = Vec::new();
    let mut regions: Vec<String> = Vec::new();
    for (i, setting) in settings.into_iter().enumerate() {
        let at = |key: &str| format!("settings[{i}].{key}");
        let mut s = match setting {
            Value::Object(m) => m,
            other => {
                return Err(invalid(
                    format!("settings[{i}]"),
                    format!("must be an object, not {}", json_type(&other)),
                ));
            }
        };
        let label = match s.remove("label") {
            Some(Value::String(l)) => bounded_text(&at("label"), l, MAX_LABEL_BYTES)?,
            None | Some(Value::Null) => return Err(invalid(at("label"), "is required")),
            Some(other) => {
                return Err(invalid(
                    at("label"),
                    format!("must be a string, not {}", json_type(&other)),
                ));
            }
        };
        match s.remove("type") {
            None | Some(Value::Null) => {}
            Some(Value::String(t)) => {
                bounded_text(&at("type"), t, MAX_LABEL_BYTES)?;
            }
            Some(other) => {
                return Err(invalid(
                    at("type"),
                    format!("must be a string, not {}", json_type(&other)),
                ));
            }
        }
        match s.remove("required") {
            None | Some(Value::Null | Value::Bool(_)) => {}
            Some(other) => {
                return Err(invalid(
                    at("required"),
                    format!("must be a boolean, not {}", json_type(&other)),
                ));
            }
        }
        let label = label.trim();
        let is_site = label.starts_with("site");
        if !is_site && label != "interval" && label != "regions" {
            continue;
        }
        let value = match s.remove("default") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(v)) => v.trim().to_string(),
            Some(other) => {
                return Err(invalid(
                    at("default"),
                    format!("must be a string, not {}", json_type(&other)),
                ));
            }
        };
        if label == "regions" {
            regions = chosen_regions(&value, known).map_err(|r| invalid(at("default"), r))?;
        } else if is_site {
            // A site setting left empty (one of the optional ones) checks nothing.
            if value.is_empty() {
                continue;
            }
            if sites.len() == MAX_TELEX_SITES as usize {
                return Err(invalid(
                    "settings",
                    format!("names more than {MAX_TELEX_SITES} sites"),
                ));
            }
            let monitor = site_monitor(&value, region).map_err(|r| invalid(at("default"), r))?;
            sites.push(Site {
                url: value,
                monitor,
            });
        } else {
            // Telex keeps the clock; a schedule it cannot mean is still a mistake to report.
            if value.len() > MAX_CRON_BYTES {
                return Err(invalid(
                    at("default"),
                    format!("is {} bytes, at most {MAX_CRON_BYTES}", value.len()),
                ));
            }
            cron_expression(&value).map_err(|r| {
                invalid(
                    at("default"),
                    format!("{} is not a 5-field cron expression: {r}", quote(&value)),
                )
            })?;
        }
    }
    if sites.is_empty() {
        return Err(invalid(
            "settings",
            "has no site setting with a URL: give site-1 the URL of a site to check",
        ));
    }
    Ok(Tick {
        channel_id,
        return_url,
        sites,
        regions,
    })
}

/// The regions a `regions` setting names (`eu, us-east`: comma- or space-separated), each
/// once, in its order; empty for an empty setting. A name the deployment does not have is
/// refused, listing the ones it has.
fn chosen_regions(value: &str, known: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for name in value
        .split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        if !known.iter().any(|k| k == name) {
            return Err(format!(
                "{} is not a region of this deployment; its regions are {}",
                quote(name),
                known.join(", ")
            ));
        }
        if !out.iter().any(|o| o == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn setting(label: &str, default: &str) -> Value {
        json!({"label": label, "type": "text", "required": true, "default": default})
    }

    fn tick(settings: Value) -> Value {
        json!({
            "channel_id": "0195336b-936c-7c6e-b962-dd25d02c7aba",
            "return_url": "https://ping.telex.im/v1/return/0195336b",
            "settings": settings,
        })
    }

    fn known() -> Vec<String> {
        vec!["eu".to_string(), "us-east".to_string()]
    }

    fn refused(v: Value) -> String {
        match parse(body(v), "eu", &known()) {
            Err(TickError::Invalid { field, .. }) => field,
            other => format!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_documents_tick_parses() {
        let t = parse(
            body(tick(json!([
                setting("site-1", "https://google.com"),
                setting("site-2", "https://www.somefakewebsitethatisfake.com"),
                setting("interval", "* * * * *"),
            ]))),
            "eu",
            &known(),
        )
        .expect("the document's example");
        assert!(t.regions.is_empty(), "no regions setting: the default");
        assert_eq!(t.channel_id, "0195336b-936c-7c6e-b962-dd25d02c7aba");
        let urls: Vec<&str> = t.sites.iter().map(|s| s.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://google.com",
                "https://www.somefakewebsitethatisfake.com"
            ]
        );
        let m = &t.sites[0].monitor;
        assert_eq!(
            (m.timeout_ms, m.regions.as_slice()),
            (10_000, &["eu".to_string()][..])
        );
        let Some(Check::Http(h)) = &m.check else {
            panic!("an http check: {m:?}");
        };
        assert_eq!(h.expected_status, [StatusRange { min: 200, max: 399 }]);
        assert!(!h.follow_redirects);
    }

    #[test]
    fn extra_keys_other_settings_and_empty_optional_sites_are_ignored() {
        let mut v = tick(json!([
            setting("site-1", "http://127.0.0.1:8080/health"),
            json!({"label": "site-2", "type": "text", "required": false, "default": ""}),
            json!({"label": "Sensitivity", "type": "dropdown", "default": 3, "options": ["a"]}),
        ]));
        v["organisation_id"] = json!("org");
        let t = parse(body(v), "eu", &known()).expect("parses");
        assert_eq!(t.sites.len(), 1);
    }

    #[test]
    fn regions_are_chosen_by_name() {
        let t = parse(
            body(tick(json!([
                setting("site-1", "https://example.org"),
                setting("regions", "us-east, eu,eu"),
            ]))),
            "eu",
            &known(),
        )
        .expect("parses");
        assert_eq!(t.regions, ["us-east", "eu"]);
        let field = refused(tick(json!([
            setting("site-1", "https://example.org"),
            setting("regions", "eu, mars"),
        ])));
        assert_eq!(field, "settings[1].default");
        match parse(
            body(tick(json!([
                setting("site-1", "https://example.org"),
                setting("regions", "mars"),
            ]))),
            "eu",
            &known(),
        ) {
            Err(TickError::Invalid { reason, .. }) => assert_eq!(
                reason,
                "\"mars\" is not a region of this deployment; its regions are eu, us-east"
            ),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn every_bad_field_is_named() {
        let ok = || setting("site-1", "https://example.org");
        let mut cases = vec![
            (
                json!({"return_url": "https://t.example/r", "settings": [ok()]}),
                "channel_id",
            ),
            (
                json!({"channel_id": 5, "return_url": "https://t.example/r", "settings": [ok()]}),
                "channel_id",
            ),
            (json!({"channel_id": "c", "settings": [ok()]}), "return_url"),
            (
                json!({"channel_id": "c", "return_url": "ftp://t.example/r", "settings": [ok()]}),
                "return_url",
            ),
            (
                json!({"channel_id": "c", "return_url": "not a url", "settings": [ok()]}),
                "return_url",
            ),
            (
                json!({"channel_id": "c", "return_url": "https://u:p@t.example/r", "settings": [ok()]}),
                "return_url",
            ),
            (
                json!({"channel_id": "c", "return_url": "https://t.example/r"}),
                "settings",
            ),
            (
                json!({"channel_id": "c", "return_url": "https://t.example/r", "settings": {}}),
                "settings",
            ),
            (tick(json!([])), "settings"),
            (tick(json!([setting("interval", "* * * * *")])), "settings"),
            (tick(json!([7])), "settings[0]"),
            (
                tick(json!([{"default": "https://example.org"}])),
                "settings[0].label",
            ),
            (tick(json!([{"label": ["site-1"]}])), "settings[0].label"),
            (
                tick(json!([ok(), {"label": "site-2", "type": 1, "default": "x"}])),
                "settings[1].type",
            ),
            (
                tick(json!([{"label": "site-1", "required": "yes", "default": "x"}])),
                "settings[0].required",
            ),
            (
                tick(json!([setting("site-1", "mailto:a@b.c")])),
                "settings[0].default",
            ),
            (
                tick(json!([setting("site-1", "nope")])),
                "settings[0].default",
            ),
            (
                tick(json!([{"label": "site-1", "default": 42}])),
                "settings[0].default",
            ),
            (
                tick(json!([ok(), setting("interval", "every minute")])),
                "settings[1].default",
            ),
            (
                tick(json!([ok(), setting("interval", &"* ".repeat(100))])),
                "settings[1].default",
            ),
        ];
        cases.push((
            json!({"channel_id": "x".repeat(129), "return_url": "https://t.example/r", "settings": [ok()]}),
            "channel_id",
        ));
        cases.push((
            json!({"channel_id": "a\nb", "return_url": "https://t.example/r", "settings": [ok()]}),
            "channel_id",
        ));
        cases.push((
            tick(json!([setting(
                "site-1",
                &format!("https://example.org/{}", "a".repeat(3000))
            )])),
            "settings[0].default",
        ));
        let many: Vec<Value> = (0..21)
            .map(|n| setting(&format!("site-{n}"), "https://example.org"))
            .collect();
        cases.push((tick(Value::Array(many)), "settings"));
        let too_many: Vec<Value> = (0..65).map(|_| json!({"label": "other"})).collect();
        cases.push((tick(Value::Array(too_many)), "settings"));
        for (v, field) in cases {
            assert_eq!(refused(v.clone()), field, "{v}");
        }
    }
}
