//! The exact request of every preset for an incident and its recovery, against golden files
//! in `golden/` (regenerate with `LOOKOUT_UPDATE_GOLDEN=1`), so a change to what a service
//! receives shows in review.

use std::path::PathBuf;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    DiscordWebhook, EventKind, Integration, MattermostWebhook, Opsgenie, PagerDutyEvents, Pushover,
    SlackWebhook, TeamsWebhook, TelegramBot,
};
use lookout_render::{Variables, render};
use serde_json::{Value, json};

use crate::receivers::events::{context, event};
use crate::receivers::services;

fn presets() -> Vec<(&'static str, Kind)> {
    vec![
        (
            "slack",
            Kind::Slack(SlackWebhook {
                url: format!("https://hooks.slack.com{}", services::SLACK_PATH),
                channel: "#ops".into(),
            }),
        ),
        (
            "discord",
            Kind::Discord(DiscordWebhook {
                url: format!("https://discord.com{}", services::DISCORD_PATH),
            }),
        ),
        (
            "telegram",
            Kind::Telegram(TelegramBot {
                bot_token: services::TELEGRAM_TOKEN.into(),
                chat_id: "-1001234567890".into(),
                api_url: String::new(),
            }),
        ),
        (
            "mattermost",
            Kind::Mattermost(MattermostWebhook {
                url: format!("https://chat.example.com{}", services::MATTERMOST_PATH),
                channel: "town-square".into(),
                username: "lookout".into(),
            }),
        ),
        (
            "teams",
            Kind::Teams(TeamsWebhook {
                url: format!(
                    "https://prod-12.westus.logic.azure.com{}",
                    services::TEAMS_PATH
                ),
            }),
        ),
        (
            "pagerduty",
            Kind::Pagerduty(PagerDutyEvents {
                routing_key: services::PAGERDUTY_KEY.into(),
                severity: "critical".into(),
                api_url: String::new(),
            }),
        ),
        (
            "opsgenie",
            Kind::Opsgenie(Opsgenie {
                api_key: services::OPSGENIE_KEY.into(),
                priority: "P3".into(),
                api_url: String::new(),
            }),
        ),
        (
            "pushover",
            Kind::Pushover(Pushover {
                token: services::PUSHOVER_TOKEN.into(),
                user_key: services::PUSHOVER_USER.into(),
                priority: 0,
                api_url: String::new(),
            }),
        ),
    ]
}

/// A request as JSON: the body parsed when it is JSON, as form pairs when it is a form.
fn shown(i: &Integration, kind: EventKind) -> Value {
    let ev = event(kind);
    let vars = Variables::new();
    let req = render(i, &context(&ev, "dlv_golden", &vars)).expect("renders");
    let body = serde_json::from_slice::<Value>(&req.body).unwrap_or_else(|_| {
        url::form_urlencoded::parse(&req.body)
            .map(|(k, v)| json!([k, v]))
            .collect()
    });
    json!({
        "method": req.method,
        "url": req.url,
        "headers": req.headers,
        "body": body,
    })
}

#[test]
fn every_preset_sends_its_golden_requests() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/presets/golden");
    for (name, kind) in presets() {
        let i = Integration {
            kind: Some(kind),
            ..Default::default()
        };
        let got = json!({
            "incident": shown(&i, EventKind::Incident),
            "recovery": shown(&i, EventKind::Recovery),
        });
        let mut got = serde_json::to_string_pretty(&got).expect("serialises");
        got.push('\n');
        let path = dir.join(format!("{name}.json"));
        if std::env::var_os("LOOKOUT_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(&dir).expect("golden dir");
            std::fs::write(&path, &got).expect("write golden file");
        }
        let want = std::fs::read_to_string(&path).expect("golden file exists");
        assert_eq!(
            got, want,
            "{name}.json differs; rerun with LOOKOUT_UPDATE_GOLDEN=1 if intended"
        );
    }
}
