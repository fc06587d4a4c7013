//! How `lookout integrations` shows integrations and test attempts: tables for people (secrets
//! as the server sends them, "***") and `--output json` for scripts.

use anyhow::Result;
use comfy_table::{Table, presets::UTF8_BORDERS_ONLY};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    BodyFormat, Delivery, DeliveryAttempt, Integration, SignatureMode, TemplateSyntax,
    WebhookIntegration,
};

use crate::monitors::Output;

pub(super) fn print_attempt(d: &Delivery, a: &DeliveryAttempt) {
    let mut t = Table::new();
    t.load_preset(UTF8_BORDERS_ONLY);
    let rows = [
        ("delivery", d.id.clone()),
        ("integration", d.integration_id.clone()),
        ("channel", d.channel.clone()),
        (
            "status",
            if a.status_code == 0 {
                "- (no answer)".to_string()
            } else {
                a.status_code.to_string()
            },
        ),
        ("latency", format!("{:.1} ms", a.latency_us as f64 / 1000.0)),
        ("outcome", a.outcome.clone()),
        ("error", a.error.clone()),
        ("response", a.response_excerpt.chars().take(200).collect()),
    ];
    for (k, v) in rows {
        t.add_row(vec![k.to_string(), v]);
    }
    println!("{t}");
}

/// The events an integration receives: "all", or the names of those that are on.
pub(super) fn events(i: &Integration) -> String {
    let Some(f) = &i.events else {
        return "all".into();
    };
    let named = [
        ("failures", f.failures),
        ("recoveries", f.recoveries),
        ("degraded", f.degraded),
        ("reminders", f.reminders),
        ("certificate-expiry", f.certificate_expiry),
        ("no-data", f.no_data),
        ("flapping", f.flapping),
    ];
    let on: Vec<&str> = named
        .iter()
        .filter(|(_, v)| *v != Some(false))
        .map(|(n, _)| *n)
        .collect();
    match on.len() {
        0 => "none".into(),
        7 => "all".into(),
        _ => on.join(","),
    }
}

/// Where it sends, without secrets: a webhook's method and (redacted) URL, else the kind's
/// non-secret settings.
fn destination(i: &Integration) -> String {
    let or_default = |url: &str, default: &str| {
        if url.is_empty() {
            default.to_string()
        } else {
            url.to_string()
        }
    };
    match &i.kind {
        Some(Kind::Webhook(w)) => format!("{} {}", w.method, w.url),
        Some(Kind::Slack(s)) if !s.channel.is_empty() => format!("channel {}", s.channel),
        Some(Kind::Mattermost(m)) if !m.channel.is_empty() => format!("channel {}", m.channel),
        Some(Kind::Telegram(t)) => format!("chat {}", t.chat_id),
        Some(Kind::Pagerduty(p)) => or_default(&p.api_url, "https://events.pagerduty.com"),
        Some(Kind::Opsgenie(o)) => or_default(&o.api_url, "https://api.opsgenie.com"),
        Some(Kind::Pushover(p)) => or_default(&p.api_url, "https://api.pushover.net"),
        Some(Kind::Sms(s)) => format!("SMS {}", s.phone_number),
        Some(Kind::SlackApp(s)) => lookout_render::presets::slack_app::default_name(s),
        Some(Kind::Email(e)) => match &e.smtp {
            Some(s) => format!("{} via {}:{}", e.email, s.host, s.port),
            None => e.email.clone(),
        },
        Some(Kind::SshRestart(s)) => format!("{}@{}:{}", s.username, s.ip, s.port),
        _ => "(incoming webhook)".into(),
    }
}

pub(super) fn print_one(out: Output, i: &Integration) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(i)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            let mut rows = vec![
                ("id", i.id.clone()),
                ("name", i.name.clone()),
                ("kind", lookout_render::kind_name(i).to_string()),
                ("destination", destination(i)),
            ];
            if i.system {
                rows.push(("system", "declared in the config file (read-only)".into()));
            }
            match &i.kind {
                Some(Kind::Webhook(w)) => rows.extend(webhook_rows(w)),
                Some(Kind::SshRestart(s)) => {
                    // What the user checks against `ssh-keygen -l` on the server.
                    rows.push((
                        "host key",
                        format!("{}\n{}", s.host_key_fingerprint, s.host_key),
                    ));
                    rows.push(("settings", kind_settings(i)?));
                }
                Some(_) => rows.push(("settings", kind_settings(i)?)),
                None => {}
            }
            rows.extend([
                ("events", events(i)),
                ("rate limit", format!("{}/min", i.rate_limit_per_minute)),
                ("version", i.version.to_string()),
                (
                    "updated",
                    lookout_render::native::rfc3339_seconds(i.updated_at_ms),
                ),
            ]);
            for (k, v) in rows {
                t.add_row(vec![k.to_string(), v]);
            }
            println!("{t}");
        }
    }
    Ok(())
}

/// The settings of a kind other than webhook, as JSON (secrets read "***").
fn kind_settings(i: &Integration) -> Result<String> {
    let v = serde_json::to_value(i)?;
    let settings = v
        .get(lookout_render::kind_name(i))
        .cloned()
        .unwrap_or_default();
    Ok(serde_json::to_string_pretty(&settings)?)
}

fn webhook_rows(w: &WebhookIntegration) -> Vec<(&'static str, String)> {
    let headers = w
        .headers
        .iter()
        .map(|h| format!("{}: {}", h.name, h.value))
        .collect::<Vec<_>>()
        .join("\n");
    let signature = match SignatureMode::try_from(w.signature) {
        Ok(SignatureMode::Checkly) => "checkly",
        Ok(SignatureMode::Statuspageone) => "statuspageone",
        _ => "lookout",
    };
    let body = match BodyFormat::try_from(w.body) {
        Ok(BodyFormat::Uptinio) => "uptinio".to_string(),
        Ok(BodyFormat::Template) => {
            let syntax = match TemplateSyntax::try_from(w.syntax) {
                Ok(TemplateSyntax::Go) => "go",
                _ => "handlebars",
            };
            let json = if w.template_is_json { ", JSON" } else { "" };
            format!("template ({syntax}{json}, {} bytes)", w.template.len())
        }
        _ => "native".to_string(),
    };
    let set = |v: &str| if v.is_empty() { "-" } else { v }.to_string();
    vec![
        ("headers", headers),
        (
            "basic auth",
            w.basic_auth
                .as_ref()
                .map_or("-".into(), |a| format!("{}:{}", a.username, a.password)),
        ),
        ("signature", signature.to_string()),
        ("secret", set(&w.secret)),
        ("body", body),
    ]
}

pub(super) fn print_many(out: Output, is: &[Integration]) -> Result<()> {
    match out {
        Output::Json => println!("{}", serde_json::to_string_pretty(is)?),
        Output::Table => {
            let mut t = Table::new();
            t.load_preset(UTF8_BORDERS_ONLY);
            t.set_header(vec![
                "ID",
                "NAME",
                "KIND",
                "DESTINATION",
                "EVENTS",
                "RATE LIMIT",
            ]);
            for i in is {
                t.add_row(vec![
                    i.id.clone(),
                    i.name.clone(),
                    lookout_render::kind_name(i).to_string(),
                    destination(i),
                    events(i),
                    format!("{}/min", i.rate_limit_per_minute),
                ]);
            }
            println!("{t}");
        }
    }
    Ok(())
}
