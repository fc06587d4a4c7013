//! End to end through the real notifier and the in-process bus, one test per preset family:
//! a monitor goes down and recovers, and each service's local stand-in (the same one the
//! render tests use, checking the documented request shape) sees the alert and its end:
//! chat messages in red then green, PagerDuty trigger then resolve on one `dedup_key`,
//! Opsgenie create then close by one alias, Pushover at high then normal priority.

mod common;
#[path = "../../render/tests/presets/receivers/mod.rs"]
mod receivers;

use common::{eventually, monitor_with, result};
use lookout_bus::{InProcBus, ResultPublisher};
use lookout_proto::CheckStatus::{Down, Up};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{
    DiscordWebhook, Integration, MattermostWebhook, Opsgenie, PagerDutyEvents, Pushover,
    SlackWebhook, TeamsWebhook, TelegramBot,
};
use lookout_store::Store;
use lookout_store::notifier::OutboxState;
use lookout_store::testing::TestDb;
use receivers::Receiver;
use receivers::services::{self, Alerts};

/// Stores preset `kind` as `id` in the default project, validated as the coordinator does.
async fn preset(store: &Store, id: &str, kind: Kind) -> String {
    let i = Integration {
        id: id.into(),
        kind: Some(kind),
        ..Default::default()
    };
    let i = lookout_render::validate(i, &lookout_render::Variables::new()).expect("valid settings");
    let name = lookout_render::kind_name(&i);
    store
        .insert_integration_in_project(lookout_store::projects::DEFAULT_PROJECT_ID, name, i)
        .await
        .expect("insert integration")
        .id
}

/// Runs the notifier while monitor `id` (attaching `integrations`) fails three times, then
/// waits for `down`; then recovers and waits for `up`.
async fn down_then_up<D, U>(store: &Store, id: &str, integrations: &[&str], down: D, up: U)
where
    D: Fn() -> bool,
    U: Fn() -> bool,
{
    let m = monitor_with(store, id, &["eu"], 1, integrations).await;
    let bus = InProcBus::new();
    let publisher = bus.publisher();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    let failures = [
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
    ];
    publisher.publish(&failures).await.expect("publish");
    eventually("the services to see the incident", || async { down() }).await;
    publisher
        .publish(&[result(&m.id, "eu", Up)])
        .await
        .expect("publish");
    eventually("the services to see the recovery", || async { up() }).await;
    running.stop().await;
}

async fn chat_presets_post_the_incident_then_the_recovery(db: TestDb) {
    let store = db.store.clone();
    let slack = Receiver::start(services::slack).await;
    let discord = Receiver::start(services::discord).await;
    let telegram = Receiver::start(services::telegram).await;
    let mattermost = Receiver::start(services::mattermost).await;
    let teams = Receiver::start(services::teams).await;
    let ids = [
        preset(
            &store,
            "int_slack",
            Kind::Slack(SlackWebhook {
                url: format!("{}{}", slack.base, services::SLACK_PATH),
                channel: String::new(),
            }),
        )
        .await,
        preset(
            &store,
            "int_discord",
            Kind::Discord(DiscordWebhook {
                url: format!("{}{}", discord.base, services::DISCORD_PATH),
            }),
        )
        .await,
        preset(
            &store,
            "int_telegram",
            Kind::Telegram(TelegramBot {
                bot_token: services::TELEGRAM_TOKEN.into(),
                chat_id: "-1001234567890".into(),
                api_url: telegram.base.clone(),
            }),
        )
        .await,
        preset(
            &store,
            "int_mattermost",
            Kind::Mattermost(MattermostWebhook {
                url: format!("{}{}", mattermost.base, services::MATTERMOST_PATH),
                ..Default::default()
            }),
        )
        .await,
        preset(
            &store,
            "int_teams",
            Kind::Teams(TeamsWebhook {
                url: format!("{}{}", teams.base, services::TEAMS_PATH),
            }),
        )
        .await,
    ];
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let all = [&slack, &discord, &telegram, &mattermost, &teams];
    let seen = |n: usize| all.iter().all(|rx| rx.accepted().len() >= n);
    down_then_up(&store, "mon_chat", &ids, || seen(1), || seen(2)).await;

    for rx in all {
        assert_eq!(
            (rx.received().len(), rx.accepted().len()),
            (2, 2),
            "one accepted message each for the incident and the recovery"
        );
    }
    let colors: Vec<String> = slack
        .received()
        .iter()
        .map(|r| {
            r.json()["attachments"][0]["color"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(colors, ["#E01E5A", "#2EB67D"]);
    assert_eq!(
        slack.received()[0].json()["text"],
        "🔴 API mon_chat is down"
    );
    assert_eq!(
        slack.received()[1].json()["text"],
        "✅ API mon_chat is up again"
    );
    let tg = telegram.received()[0].json();
    assert!(
        tg["text"]
            .as_str()
            .unwrap_or_default()
            .contains("<b>Error:</b> connection refused")
    );
    assert_eq!(
        discord.received()[1].json()["embeds"][0]["color"],
        0x2E_B67D
    );
    assert!(
        mattermost.received()[0].json()["text"]
            .as_str()
            .unwrap_or_default()
            .starts_with(r"#### 🔴 API mon\_chat is down")
    );
    assert_eq!(
        teams.received()[1].json()["attachments"][0]["content"]["body"][0]["color"],
        "Good"
    );
}

async fn pagerduty_triggers_and_resolves_the_incidents_alert(db: TestDb) {
    let store = db.store.clone();
    let alerts = Alerts::default();
    let rx = Receiver::start(services::pagerduty(alerts.clone())).await;
    let id = preset(
        &store,
        "int_pd",
        Kind::Pagerduty(PagerDutyEvents {
            routing_key: services::PAGERDUTY_KEY.into(),
            severity: "error".into(),
            api_url: rx.base.clone(),
        }),
    )
    .await;
    let log = alerts.clone();
    down_then_up(
        &store,
        "mon_pd",
        &[&id],
        || !alerts.open_keys().is_empty(),
        || log.log().len() >= 2,
    )
    .await;

    let log = alerts.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (log[0].0.as_str(), log[1].0.as_str()),
        ("trigger", "resolve")
    );
    assert_eq!(
        log[0].1, log[1].1,
        "the resolve names the trigger's dedup_key"
    );
    let incident = store
        .list_incidents(Some("mon_pd"), 10)
        .await
        .expect("incidents");
    assert_eq!(
        log[0].1,
        format!("lookout-{}", incident[0].id),
        "the key is the incident's"
    );
    assert!(alerts.open_keys().is_empty());
    let trigger = rx.received()[0].json();
    assert_eq!(trigger["payload"]["severity"], "error");
    assert_eq!(trigger["payload"]["summary"], "API mon_pd is down");
}

async fn opsgenie_creates_and_closes_the_incidents_alert(db: TestDb) {
    let store = db.store.clone();
    let alerts = Alerts::default();
    let rx = Receiver::start(services::opsgenie(alerts.clone())).await;
    let id = preset(
        &store,
        "int_og",
        Kind::Opsgenie(Opsgenie {
            api_key: services::OPSGENIE_KEY.into(),
            priority: "P1".into(),
            api_url: rx.base.clone(),
        }),
    )
    .await;
    let log = alerts.clone();
    down_then_up(
        &store,
        "mon_og",
        &[&id],
        || !alerts.open_keys().is_empty(),
        || log.log().len() >= 2,
    )
    .await;

    let log = alerts.log();
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!((log[0].0.as_str(), log[1].0.as_str()), ("create", "close"));
    assert_eq!(
        log[0].1, log[1].1,
        "closed by the alias it was created with"
    );
    assert!(alerts.open_keys().is_empty());
    let created = rx.received()[0].clone();
    assert_eq!(
        created.header("authorization"),
        format!("GenieKey {}", services::OPSGENIE_KEY)
    );
    assert_eq!(created.json()["priority"], "P1");
}

async fn pushover_pushes_the_incident_then_the_recovery(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(services::pushover).await;
    let id = preset(
        &store,
        "int_po",
        Kind::Pushover(Pushover {
            token: services::PUSHOVER_TOKEN.into(),
            user_key: services::PUSHOVER_USER.into(),
            priority: 0,
            api_url: rx.base.clone(),
        }),
    )
    .await;
    down_then_up(
        &store,
        "mon_po",
        &[&id],
        || !rx.accepted().is_empty(),
        || rx.accepted().len() >= 2,
    )
    .await;

    let forms: Vec<std::collections::BTreeMap<String, String>> = rx
        .received()
        .iter()
        .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
        .collect();
    assert_eq!(forms.len(), 2);
    assert_eq!(
        (forms[0]["priority"].as_str(), forms[1]["priority"].as_str()),
        ("1", "0")
    );
    assert_eq!(forms[0]["title"], "🔴 API mon_po is down");
    assert_eq!(forms[1]["title"], "✅ API mon_po is up again");
}

/// A bot token travels in Telegram's URL path; an error echoing the path (as a proxy in
/// front of the Bot API might) must not put it in the delivery log.
async fn a_telegram_error_never_logs_the_bot_token(db: TestDb) {
    let store = db.store.clone();
    let rx = Receiver::start(|r: &receivers::Received| {
        receivers::Reply::new(
            404,
            "application/json",
            format!(
                r#"{{"ok":false,"error_code":404,"description":"Not Found: {}"}}"#,
                r.path
            ),
        )
    })
    .await;
    let id = preset(
        &store,
        "int_tg_err",
        Kind::Telegram(TelegramBot {
            bot_token: services::TELEGRAM_TOKEN.into(),
            chat_id: "-1001234567890".into(),
            api_url: rx.base.clone(),
        }),
    )
    .await;
    let m = monitor_with(&store, "mon_tg_err", &["eu"], 1, &[&id]).await;
    let bus = InProcBus::new();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    let failures = [
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
        result(&m.id, "eu", Down),
    ];
    bus.publisher().publish(&failures).await.expect("publish");
    eventually("the delivery to be dead", || async {
        let rows = store.list_outbox(None).await.expect("outbox");
        rows.iter().any(|r| r.state == OutboxState::Dead)
    })
    .await;
    running.stop().await;

    let row = store.list_outbox(None).await.expect("outbox").remove(0);
    let attempts = store.delivery_attempts(&row.id).await.expect("attempts");
    assert_eq!(attempts.len(), 1, "a 404 is permanent");
    let logged = format!(
        "{} {} {:?}",
        attempts[0].error, attempts[0].response_excerpt, row.last_error
    );
    assert!(logged.contains("Not Found"), "{logged}");
    let secret = services::TELEGRAM_TOKEN
        .split_once(':')
        .map(|(_, s)| s)
        .unwrap_or_default();
    assert!(
        rx.received()[0].path.contains(secret),
        "the answer echoed the token"
    );
    assert!(
        !logged.contains(secret),
        "the token is in the delivery log: {logged}"
    );
}

lookout_store::backend_tests!(
    chat_presets_post_the_incident_then_the_recovery,
    pagerduty_triggers_and_resolves_the_incidents_alert,
    opsgenie_creates_and_closes_the_incidents_alert,
    pushover_pushes_the_incident_then_the_recovery,
    a_telegram_error_never_logs_the_bot_token,
);
