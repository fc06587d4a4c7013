//! Preset settings are validated when saved: required fields, URL shapes, enumerations and
//! bounds, each refusal naming the field and never quoting a secret; defaults are filled.
//! And the local stand-ins of the services refuse what the services refuse, so the preset
//! tests passing means something.

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    DiscordWebhook, Integration, MattermostWebhook, Opsgenie, PagerDutyEvents, Pushover,
    SlackWebhook, TeamsWebhook, TelegramBot,
};
use lookout_render::{Variables, validate};

use crate::receivers::services::{self, Alerts};
use crate::receivers::{Receiver, send};

const SLACK: &str = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXX";
const TOKEN: &str = services::TELEGRAM_TOKEN;

fn slack(url: &str, channel: &str) -> Kind {
    Kind::Slack(SlackWebhook {
        url: url.into(),
        channel: channel.into(),
    })
}
fn telegram(token: &str, chat: &str, api: &str) -> Kind {
    Kind::Telegram(TelegramBot {
        bot_token: token.into(),
        chat_id: chat.into(),
        api_url: api.into(),
    })
}
fn pagerduty(key: &str, severity: &str) -> Kind {
    Kind::Pagerduty(PagerDutyEvents {
        routing_key: key.into(),
        severity: severity.into(),
        api_url: String::new(),
    })
}
fn opsgenie(key: &str, priority: &str) -> Kind {
    Kind::Opsgenie(Opsgenie {
        api_key: key.into(),
        priority: priority.into(),
        api_url: String::new(),
    })
}
fn pushover(token: &str, user: &str, priority: i32) -> Kind {
    Kind::Pushover(Pushover {
        token: token.into(),
        user_key: user.into(),
        priority,
        api_url: String::new(),
    })
}

fn check(kind: Kind) -> Result<Integration, lookout_render::FieldError> {
    validate(
        Integration {
            kind: Some(kind),
            ..Default::default()
        },
        &Variables::new(),
    )
}

#[test]
fn bad_settings_are_refused_naming_the_field() {
    let long = "x".repeat(65);
    let cases: Vec<(Kind, &str)> = vec![
        (slack("", ""), "slack.url"),
        (
            slack("http://hooks.slack.com/services/T0/B0/x", ""),
            "slack.url",
        ),
        (
            slack("https://hooks.slack.com.evil.example/services/x", ""),
            "slack.url",
        ),
        (
            slack("https://user:pw@hooks.slack.com/services/x", ""),
            "slack.url",
        ),
        (slack(SLACK, "#two words"), "slack.channel"),
        (
            Kind::Discord(DiscordWebhook {
                url: "https://discord.com/channels/1".into(),
            }),
            "discord.url",
        ),
        (telegram("", "-100", ""), "telegram.bot_token"),
        (telegram("not-a-token", "-100", ""), "telegram.bot_token"),
        (telegram(TOKEN, "", ""), "telegram.chat_id"),
        (telegram(TOKEN, "general chat", ""), "telegram.chat_id"),
        (
            telegram(TOKEN, "-100", "http://api.telegram.org"),
            "telegram.api_url",
        ),
        (
            telegram(TOKEN, "-100", "https://api.telegram.org/?x=1"),
            "telegram.api_url",
        ),
        (
            Kind::Mattermost(MattermostWebhook {
                url: "ftp://chat.example.com/hooks/x".into(),
                ..Default::default()
            }),
            "mattermost.url",
        ),
        (
            Kind::Mattermost(MattermostWebhook {
                url: "https://chat.example.com/hooks/x".into(),
                username: long.clone(),
                ..Default::default()
            }),
            "mattermost.username",
        ),
        (
            Kind::Mattermost(MattermostWebhook {
                url: "https://chat.example.com/hooks/x".into(),
                channel: "a\nb".into(),
                ..Default::default()
            }),
            "mattermost.channel",
        ),
        (
            Kind::Teams(TeamsWebhook {
                url: "http://prod.westus.logic.azure.com/workflows/x".into(),
            }),
            "teams.url",
        ),
        (pagerduty("", ""), "pagerduty.routing_key"),
        (pagerduty("short-key", ""), "pagerduty.routing_key"),
        (
            pagerduty(services::PAGERDUTY_KEY, "fatal"),
            "pagerduty.severity",
        ),
        (opsgenie("", ""), "opsgenie.api_key"),
        (opsgenie("key with spaces", ""), "opsgenie.api_key"),
        (opsgenie(services::OPSGENIE_KEY, "P6"), "opsgenie.priority"),
        (
            opsgenie(services::OPSGENIE_KEY, "high"),
            "opsgenie.priority",
        ),
        (
            pushover("short", services::PUSHOVER_USER, 0),
            "pushover.token",
        ),
        (
            pushover(services::PUSHOVER_TOKEN, "", 0),
            "pushover.user_key",
        ),
        (
            pushover(services::PUSHOVER_TOKEN, services::PUSHOVER_USER, 3),
            "pushover.priority",
        ),
        (
            pushover(services::PUSHOVER_TOKEN, services::PUSHOVER_USER, -3),
            "pushover.priority",
        ),
    ];
    let secrets = [
        SLACK,
        "hooks.slack.com.evil",
        "user:pw",
        TOKEN,
        "not-a-token",
        "short-key",
        services::PAGERDUTY_KEY,
        services::OPSGENIE_KEY,
        "key with spaces",
        services::PUSHOVER_TOKEN,
        services::PUSHOVER_USER,
        "prod.westus",
    ];
    for (kind, field) in cases {
        let shown = format!("{kind:?}").chars().take(60).collect::<String>();
        let e = check(kind).expect_err(&shown);
        assert_eq!(e.field, field, "{shown}: {e}");
        let text = e.to_string();
        for s in secrets {
            assert!(
                !text.contains(s),
                "{field}: the error quotes a secret: {text}"
            );
        }
    }
}

#[test]
fn good_settings_are_accepted_with_defaults_filled() {
    let ok = [
        slack(SLACK, "#ops"),
        slack("https://hooks.slack-gov.com/services/T0/B0/x", ""),
        Kind::Discord(DiscordWebhook {
            url: "https://discord.com/api/webhooks/1/abc".into(),
        }),
        Kind::Discord(DiscordWebhook {
            url: "https://discordapp.com/api/webhooks/1/abc".into(),
        }),
        telegram(TOKEN, "-1001234567890", ""),
        telegram(TOKEN, "@lookout_alerts", "http://127.0.0.1:8081/"),
        Kind::Mattermost(MattermostWebhook {
            url: "https://chat.example.com/hooks/x".into(),
            ..Default::default()
        }),
        Kind::Teams(TeamsWebhook {
            url: "https://prod-12.westus.logic.azure.com:443/workflows/x".into(),
        }),
        pagerduty(services::PAGERDUTY_KEY, "Warning"),
        opsgenie(services::OPSGENIE_KEY, ""),
        pushover(services::PUSHOVER_TOKEN, services::PUSHOVER_USER, -2),
    ];
    for kind in ok {
        let shown = format!("{kind:?}").chars().take(60).collect::<String>();
        check(kind).unwrap_or_else(|e| panic!("{shown}: {e}"));
    }
    let i = check(opsgenie(services::OPSGENIE_KEY, "")).expect("valid settings");
    assert_eq!(i.name, "opsgenie");
    let Some(Kind::Opsgenie(o)) = i.kind else {
        unreachable!()
    };
    assert_eq!(o.priority, "P3");
    let Some(Kind::Pagerduty(p)) = check(pagerduty(services::PAGERDUTY_KEY, " Warning "))
        .expect("valid settings")
        .kind
    else {
        unreachable!()
    };
    assert_eq!(p.severity, "warning");
    let Some(Kind::Telegram(t)) =
        check(telegram(TOKEN, "@lookout_alerts", "http://127.0.0.1:8081/"))
            .expect("valid settings")
            .kind
    else {
        unreachable!()
    };
    assert_eq!(t.api_url, "http://127.0.0.1:8081");
}

/// A request as a careless client would send it.
fn post(url: String, content_type: &str, body: &str) -> lookout_render::Request {
    lookout_render::Request {
        method: "POST".into(),
        url,
        headers: vec![("content-type".into(), content_type.into())],
        body: body.as_bytes().to_vec(),
    }
}

#[tokio::test]
async fn the_stand_ins_refuse_what_the_services_refuse() {
    const JSON: &str = "application/json";
    let slack = Receiver::start(services::slack).await;
    let discord = Receiver::start(services::discord).await;
    let telegram = Receiver::start(services::telegram).await;
    let pd = Receiver::start(services::pagerduty(Alerts::default())).await;
    let og = Receiver::start(services::opsgenie(Alerts::default())).await;
    let po = Receiver::start(services::pushover).await;
    let long = "x".repeat(2001);
    let tg = format!("{}/bot{TOKEN}/sendMessage", telegram.base);
    let cases = [
        (
            post(
                format!("{}{}", slack.base, services::SLACK_PATH),
                JSON,
                r#"{"blocks":[]}"#,
            ),
            400,
        ),
        (
            post(
                format!("{}{}", slack.base, services::SLACK_PATH),
                JSON,
                r##"{"text":"x","attachments":[{"color":"red","blocks":[]}]}"##,
            ),
            400,
        ),
        (
            post(
                format!("{}{}", discord.base, services::DISCORD_PATH),
                JSON,
                &format!(r#"{{"content":"{long}"}}"#),
            ),
            400,
        ),
        (
            post(
                format!("{}{}", discord.base, services::DISCORD_PATH),
                JSON,
                r#"{"content":"@everyone"}"#,
            ),
            400,
        ),
        (
            post(
                tg.clone(),
                JSON,
                r#"{"chat_id":1,"text":"a < b","parse_mode":"HTML"}"#,
            ),
            400,
        ),
        (
            post(
                tg.clone(),
                JSON,
                r#"{"chat_id":1,"text":"<b>open","parse_mode":"HTML"}"#,
            ),
            400,
        ),
        (
            post(
                tg.clone(),
                JSON,
                r#"{"chat_id":1,"text":"<b>ok</b> &amp;","parse_mode":"HTML"}"#,
            ),
            200,
        ),
        (
            post(
                format!("{}/v2/enqueue", pd.base),
                JSON,
                &format!(
                    r#"{{"routing_key":"{}","event_action":"trigger","dedup_key":"k","payload":{{"summary":"s","severity":"critical"}}}}"#,
                    services::PAGERDUTY_KEY
                ),
            ),
            400,
        ),
        (
            post(format!("{}/v2/alerts", og.base), JSON, r#"{"message":"m"}"#),
            401,
        ),
        (
            post(
                format!("{}/1/messages.json", po.base),
                "application/x-www-form-urlencoded",
                &format!(
                    "token={}&user={}&message=m&priority=2",
                    services::PUSHOVER_TOKEN,
                    services::PUSHOVER_USER
                ),
            ),
            400,
        ),
    ];
    for (n, (req, want)) in cases.iter().enumerate() {
        let (status, body) = send(req).await;
        assert_eq!(status, *want, "case {n}: {body}");
    }
}

#[test]
fn sends_is_the_event_filter_and_what_the_kind_has_a_use_for() {
    use lookout_proto::v1::{EventFilter, EventKind};
    let reminder = crate::receivers::events::event(EventKind::Reminder);
    let incident = crate::receivers::events::event(EventKind::Incident);
    let with = |kind: Kind, events: Option<EventFilter>| Integration {
        kind: Some(kind),
        events,
        ..Default::default()
    };
    let no_failures = Some(EventFilter {
        failures: Some(false),
        ..Default::default()
    });
    let pd = || pagerduty(services::PAGERDUTY_KEY, "");
    let sl = || slack(SLACK, "");
    assert!(lookout_render::sends(&with(pd(), None), &incident));
    assert!(!lookout_render::sends(&with(pd(), None), &reminder));
    assert!(!lookout_render::sends(
        &with(opsgenie(services::OPSGENIE_KEY, ""), None),
        &reminder
    ));
    assert!(lookout_render::sends(&with(sl(), None), &reminder));
    assert!(!lookout_render::sends(&with(sl(), no_failures), &incident));
    assert!(!lookout_render::sends(&with(pd(), no_failures), &incident));
}
