//! Every preset renders, for every event kind, the request its service documents: each is
//! sent with reqwest to a local stand-in of the service (`receivers`) that checks the shape
//! (method, path, headers, fields, types, lengths) as the service does and answers as it
//! does. Paging services open on an incident and close the same alert on its recovery.
//! Settings are validated when saved, each refusal naming the field and never quoting a
//! secret; and the stand-ins refuse what the services refuse, so a pass means something.

mod golden;
mod receivers;
mod settings;

use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    DiscordWebhook, EventKind, Integration, MattermostWebhook, Opsgenie, PagerDutyEvents, Pushover,
    SlackWebhook, TeamsWebhook, TelegramBot,
};
use lookout_render::{Variables, render, sends, validate};
use receivers::events::{ALL_KINDS, context, event, worst};
use receivers::services::{self, Alerts};
use receivers::{Receiver, send};

fn integration(kind: Kind) -> Integration {
    Integration {
        kind: Some(kind),
        ..Default::default()
    }
}

/// Renders `ev` for `i` and sends it; returns the answer's status and body.
async fn deliver(
    i: &Integration,
    ev: &lookout_proto::v1::NotificationEvent,
    delivery: &str,
) -> (u16, String) {
    let vars = Variables::new();
    let req = render(i, &context(ev, delivery, &vars)).unwrap_or_else(|e| panic!("renders: {e}"));
    send(&req).await
}

/// Sends every kind (and the worst case of each) and expects `ok` each time.
async fn every_kind_accepted(i: &Integration, ok: u16) {
    for kind in ALL_KINDS {
        for ev in [event(kind), worst(kind)] {
            let (status, body) = deliver(i, &ev, "dlv_1").await;
            assert_eq!(status, ok, "{kind:?}: {body}");
        }
    }
}

#[tokio::test]
async fn slack_renders_every_event_as_slack_accepts_it() {
    let rx = Receiver::start(services::slack).await;
    let mut slack = SlackWebhook {
        url: format!("{}{}", rx.base, services::SLACK_PATH),
        channel: "#ops".into(),
    };
    let i = validate(integration(Kind::Slack(slack.clone())), &Variables::new())
        .expect("valid settings");
    every_kind_accepted(&i, 200).await;
    let got = rx.received();
    assert_eq!(got.len(), 2 * ALL_KINDS.len());
    let colors: Vec<String> = got
        .iter()
        .step_by(2)
        .map(|r| {
            r.json()["attachments"][0]["color"]
                .as_str()
                .expect("a string")
                .to_string()
        })
        .collect();
    assert_eq!(colors[0], "#E01E5A", "an incident is red");
    assert_eq!(colors[3], "#2EB67D", "a recovery is green");
    assert_eq!(colors[4], "#ECB22E", "degraded is amber");
    let first = got[0].json();
    assert_eq!(first["text"], "🔴 Sample API is down");
    assert_eq!(first["channel"], "#ops");
    // A name that tries to ping the channel arrives escaped.
    let worst = String::from_utf8(got[1].body.clone()).expect("UTF-8");
    assert!(!worst.contains("<!channel>") && worst.contains("&lt;!channel&gt;"));

    slack.channel.clear();
    let (status, _) = deliver(
        &integration(Kind::Slack(slack)),
        &event(EventKind::Incident),
        "d",
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        rx.received()
            .last()
            .expect("a request")
            .json()
            .get("channel")
            .is_none()
    );
}

#[tokio::test]
async fn discord_renders_every_event_as_discord_accepts_it() {
    let rx = Receiver::start(services::discord).await;
    let i = integration(Kind::Discord(DiscordWebhook {
        url: format!("{}{}", rx.base, services::DISCORD_PATH),
    }));
    every_kind_accepted(&i, 204).await;
    let first = rx.received()[0].json();
    assert_eq!(first["content"], "🔴 **Sample API is down**");
    assert_eq!(first["embeds"][0]["color"], 0xE0_1E5A);
    assert_eq!(first["embeds"][0]["url"], "https://api.example.com/health");
}

#[tokio::test]
async fn telegram_sends_html_messages_telegram_can_parse() {
    let rx = Receiver::start(services::telegram).await;
    for chat_id in ["-1001234567890", "@lookout_alerts"] {
        let i = integration(Kind::Telegram(TelegramBot {
            bot_token: services::TELEGRAM_TOKEN.into(),
            chat_id: chat_id.into(),
            api_url: rx.base.clone(),
        }));
        let i = validate(i, &Variables::new()).expect("valid settings");
        for kind in ALL_KINDS {
            for ev in [event(kind), worst(kind)] {
                let (status, body) = deliver(&i, &ev, "dlv_1").await;
                assert_eq!(status, 200, "{kind:?}: {body}");
                assert!(body.contains("\"ok\":true"));
            }
        }
    }
    let got = rx.received();
    assert_eq!(
        got[0].json()["chat_id"],
        -1_001_234_567_890_i64,
        "a numeric chat id goes as a number"
    );
    assert_eq!(
        got.last().expect("a request").json()["chat_id"],
        "@lookout_alerts"
    );
    let text = got[0].json()["text"]
        .as_str()
        .expect("a string")
        .to_string();
    assert!(
        text.starts_with(
            "🔴 <b>Sample API is down</b>\n<b>Target:</b> https://api.example.com/health"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn mattermost_sends_text_channel_and_username() {
    let rx = Receiver::start(services::mattermost).await;
    let i = integration(Kind::Mattermost(MattermostWebhook {
        url: format!("{}{}", rx.base, services::MATTERMOST_PATH),
        channel: "town-square".into(),
        username: "lookout".into(),
    }));
    let i = validate(i, &Variables::new()).expect("valid settings");
    every_kind_accepted(&i, 200).await;
    let first = rx.received()[0].json();
    assert_eq!(first["channel"], "town-square");
    assert_eq!(first["username"], "lookout");
    assert!(
        first["text"]
            .as_str()
            .expect("a string")
            .starts_with("#### 🔴 Sample API is down\n**Target:**")
    );
}

#[tokio::test]
async fn teams_sends_an_adaptive_card() {
    let rx = Receiver::start(services::teams).await;
    let i = integration(Kind::Teams(TeamsWebhook {
        url: format!("{}{}", rx.base, services::TEAMS_PATH),
    }));
    let i = validate(i, &Variables::new()).expect("valid settings");
    every_kind_accepted(&i, 202).await;
    let card = rx.received()[0].json()["attachments"][0]["content"].clone();
    assert_eq!(card["body"][0]["text"], "🔴 Sample API is down");
    assert_eq!(card["body"][0]["color"], "Attention");
    assert_eq!(card["body"][1]["facts"][0]["title"], "Target");
}

#[tokio::test]
async fn pagerduty_triggers_then_resolves_one_dedup_key() {
    let alerts = Alerts::default();
    let rx = Receiver::start(services::pagerduty(alerts.clone())).await;
    let i = integration(Kind::Pagerduty(PagerDutyEvents {
        routing_key: services::PAGERDUTY_KEY.into(),
        severity: String::new(),
        api_url: rx.base.clone(),
    }));
    let i = validate(i, &Variables::new()).expect("valid settings");
    let Some(Kind::Pagerduty(pd)) = &i.kind else {
        unreachable!()
    };
    assert_eq!(pd.severity, "critical", "the default severity is filled in");

    let (status, body) = deliver(&i, &event(EventKind::Incident), "dlv_1").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(alerts.open_keys(), ["lookout-inc_sample"]);
    let trigger = &alerts.open.lock().expect("no holder panicked")["lookout-inc_sample"][0].clone();
    assert_eq!(trigger["payload"]["severity"], "critical");
    assert_eq!(trigger["payload"]["summary"], "Sample API is down");
    assert_eq!(
        trigger["payload"]["source"],
        "https://api.example.com/health"
    );
    assert_eq!(
        trigger["payload"]["custom_details"]["Error"],
        "connection timed out after 10000 ms"
    );

    // An escalation re-triggers the same alert; a reminder is skipped, never sent.
    assert!(deliver(&i, &event(EventKind::Escalation), "dlv_2").await.0 == 202);
    assert!(!sends(&i, &event(EventKind::Reminder)));
    let vars = Variables::new();
    let reminder = event(EventKind::Reminder);
    let err =
        render(&i, &context(&reminder, "dlv_3", &vars)).expect_err("a reminder is not rendered");
    assert_eq!(err.0.field, "event");
    assert_eq!(alerts.open_keys(), ["lookout-inc_sample"]);

    let (status, body) = deliver(&i, &event(EventKind::Recovery), "dlv_4").await;
    assert_eq!(status, 202, "{body}");
    assert!(
        alerts.open_keys().is_empty(),
        "the recovery resolved the incident's alert"
    );
    assert_eq!(
        alerts.log(),
        [
            ("trigger".into(), "lookout-inc_sample".into()),
            ("trigger".into(), "lookout-inc_sample".into()),
            ("resolve".into(), "lookout-inc_sample".into()),
        ]
    );

    // Every other start opens an alert its end resolves; warnings are warnings.
    for (start, end) in [
        (EventKind::Degraded, EventKind::DegradedRecovery),
        (EventKind::NoData, EventKind::DataResumed),
        (EventKind::CertExpiring, EventKind::CertRenewed),
        (EventKind::Flapping, EventKind::FlappingEnded),
    ] {
        for ev in [worst(start), worst(end)] {
            let (status, body) = deliver(&i, &ev, "dlv_5").await;
            assert_eq!(status, 202, "{start:?}: {body}");
        }
        assert!(alerts.open_keys().is_empty(), "{end:?} resolved {start:?}");
        let log = alerts.log();
        let trigger = &log[log.len() - 2];
        assert_eq!(trigger.1, log[log.len() - 1].1);
    }
    let (status, _) = deliver(&i, &event(EventKind::Test), "dlv_test").await;
    assert_eq!(status, 202);
    let test = alerts.open.lock().expect("no holder panicked")["lookout-test-dlv_test"][0].clone();
    assert_eq!(test["payload"]["severity"], "info");
}

#[tokio::test]
async fn opsgenie_creates_then_closes_by_alias() {
    let alerts = Alerts::default();
    let rx = Receiver::start(services::opsgenie(alerts.clone())).await;
    let i = integration(Kind::Opsgenie(Opsgenie {
        api_key: services::OPSGENIE_KEY.into(),
        priority: "p2".into(),
        api_url: format!("{}/", rx.base),
    }));
    let i = validate(i, &Variables::new()).expect("valid settings");

    let (status, body) = deliver(&i, &worst(EventKind::Incident), "dlv_1").await;
    assert_eq!(status, 202, "{body}");
    let created = alerts.open.lock().expect("no holder panicked")["lookout-inc_sample"][0].clone();
    assert_eq!(created["priority"], "P2");
    assert_eq!(
        created["message"]
            .as_str()
            .expect("a string")
            .chars()
            .count(),
        130,
        "cut to Opsgenie's bound"
    );
    assert!(!sends(&i, &event(EventKind::Reminder)));

    let (status, body) = deliver(&i, &event(EventKind::Recovery), "dlv_2").await;
    assert_eq!(status, 202, "{body}");
    assert!(alerts.open_keys().is_empty());
    assert_eq!(
        alerts.log(),
        [
            ("create".into(), "lookout-inc_sample".into()),
            ("close".into(), "lookout-inc_sample".into())
        ]
    );
    let close = rx.received().last().expect("a request").clone();
    assert_eq!(close.path, "/v2/alerts/lookout-inc_sample/close");

    for (start, end, priority) in [
        (EventKind::Degraded, EventKind::DegradedRecovery, "P4"),
        (EventKind::NoData, EventKind::DataResumed, "P4"),
        (EventKind::CertExpiring, EventKind::CertRenewed, "P4"),
        (EventKind::Flapping, EventKind::FlappingEnded, "P4"),
    ] {
        assert_eq!(deliver(&i, &event(start), "d").await.0, 202, "{start:?}");
        let opened = alerts
            .open
            .lock()
            .expect("no holder panicked")
            .values()
            .next()
            .expect("an open alert")[0]
            .clone();
        assert_eq!(opened["priority"], priority, "{start:?}");
        let (status, body) = deliver(&i, &event(end), "d").await;
        assert_eq!(status, 202, "{end:?}: {body}");
        assert!(alerts.open_keys().is_empty(), "{end:?} closed {start:?}");
    }
}

#[tokio::test]
async fn pushover_sends_every_event_with_its_priority() {
    let rx = Receiver::start(services::pushover).await;
    let mut settings = Pushover {
        token: services::PUSHOVER_TOKEN.into(),
        user_key: services::PUSHOVER_USER.into(),
        priority: 0,
        api_url: rx.base.clone(),
    };
    let i = validate(
        integration(Kind::Pushover(settings.clone())),
        &Variables::new(),
    )
    .expect("valid settings");
    every_kind_accepted(&i, 200).await;
    let form = |n: usize| -> std::collections::BTreeMap<String, String> {
        url::form_urlencoded::parse(&rx.received()[n].body)
            .into_owned()
            .collect()
    };
    assert_eq!(
        form(0)["priority"],
        "1",
        "incidents go at high priority by default"
    );
    assert_eq!(form(0)["title"], "🔴 Sample API is down");
    assert_eq!(form(0)["url"], "https://api.example.com/health");
    assert_eq!(form(6)["priority"], "0", "recoveries at normal priority");

    settings.priority = 2;
    let i = integration(Kind::Pushover(settings));
    let (status, body) = deliver(&i, &event(EventKind::Incident), "d").await;
    assert_eq!(status, 200, "{body}");
    let last = rx.received().len() - 1;
    assert_eq!(
        (form(last)["retry"].as_str(), form(last)["expire"].as_str()),
        ("60", "3600")
    );
}
