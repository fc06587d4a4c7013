//! The SMS and Slack app channels through the running notifier, against local stand-ins for
//! Twilio's Messages API and Slack's Web API: an incident sends one-segment SMS through the
//! deployment's Twilio account and its recovery another; Twilio's refusal and a missing
//! account are dead deliveries saying why. A Slack app integration posts the incident with a
//! Resolve button, remembers the message, threads reminders under it, and rewrites it with
//! `chat.update` when the incident resolves by hand (what a Resolve click records) or by a
//! recovering result; a message deleted in Slack gets the resolution as a new one.

mod common;
#[path = "../../coordinator/tests/standins/mod.rs"]
mod standins;

use common::{eventually, monitor_with, publish_down, result};
use lookout_bus::ResultPublisher;
use lookout_proto::CheckStatus;
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::{EscalationLevel, Integration, SlackApp, SmsIntegration};
use lookout_render::presets::slack_app::RESOLVE_ACTION_ID;
use lookout_store::notifier::{IncidentActionKind, IncidentActionRow, OutboxState};
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::{Store, now_ms};
use standins::slack::{self as slack, Slack};
use standins::twilio::{FROM, Twilio};

async fn integration(store: &Store, id: &str, kind: &str, k: Kind) -> Integration {
    store
        .insert_integration_in_project(
            DEFAULT_PROJECT_ID,
            kind,
            Integration {
                id: id.into(),
                name: id.into(),
                rate_limit_per_minute: 100,
                kind: Some(k),
                ..Default::default()
            },
        )
        .await
        .expect("insert integration")
}

fn sms(phone: &str) -> Kind {
    Kind::Sms(SmsIntegration {
        phone_number: phone.into(),
        verification_code: String::new(),
    })
}

fn slack_app(api_url: &str) -> Kind {
    Kind::SlackApp(SlackApp {
        team_id: slack::TEAM_ID.into(),
        team_name: slack::TEAM_NAME.into(),
        channel_id: slack::CHANNEL_ID.into(),
        channel_name: slack::CHANNEL.into(),
        bot_token: slack::BOT_TOKEN.into(),
        user_token: slack::USER_TOKEN.into(),
        webhook_url: slack::WEBHOOK_URL.into(),
        bot_user_id: slack::BOT_USER_ID.into(),
        app_id: slack::APP_ID.into(),
        api_url: api_url.into(),
    })
}

async fn publish_up(publisher: &impl ResultPublisher, monitor_id: &str) {
    publisher
        .publish(&[result(monitor_id, "eu", CheckStatus::Up)])
        .await
        .expect("publish");
}

/// The one delivery of `integration_id` for `event` once it is delivered or dead, and its
/// last attempt's error.
async fn settled(store: &Store, integration_id: &str, event: &str) -> (OutboxState, String) {
    let find = || async {
        store
            .list_outbox(None)
            .await
            .expect("outbox")
            .into_iter()
            .find(|r| {
                r.integration_id == integration_id
                    && r.event.label() == event
                    && matches!(r.state, OutboxState::Delivered | OutboxState::Dead)
            })
    };
    eventually("the delivery settles", || async { find().await.is_some() }).await;
    let row = find().await.expect("settled");
    let attempts = store.delivery_attempts(&row.id).await.expect("attempts");
    let error = attempts.last().map(|a| a.error.clone()).unwrap_or_default();
    (row.state, error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_and_recoveries_go_out_as_one_segment_sms() {
    let db = lookout_store::testing::TestDb::sqlite().await;
    let store = db.store.clone();
    let twilio = Twilio::start().await;
    let mut config = common::config();
    config.twilio = Some(twilio.config());
    let bus = lookout_bus::InProcBus::new();
    let running = common::start(config, store.clone(), Box::new(bus.consumer()), None);
    let publisher = bus.publisher();

    integration(&store, "int_sms", "sms", sms("+1234567890")).await;
    let m = monitor_with(&store, "mon_sms", &["eu"], 1, &["int_sms"]).await;
    publish_down(&publisher, &m.id, "eu", 3).await;
    let sent = twilio.wait_for(1).await;
    assert_eq!(
        (sent[0].to.as_str(), sent[0].from.as_str()),
        ("+1234567890", FROM)
    );
    assert!(
        sent[0].body.starts_with("Lookout: API mon_sms is down."),
        "{}",
        sent[0].body
    );
    assert_eq!(sent[0].segments, 1, "{}", sent[0].body);
    publish_up(&publisher, &m.id).await;
    let sent = twilio.wait_for(2).await;
    assert_eq!(
        sent[1].body,
        "Lookout: API mon_sms is up again (https://api.example.com/health)"
    );

    // Twilio refuses the number: dead at once, Twilio's reason in the attempt log.
    integration(&store, "int_bad", "sms", sms("+1999000111")).await;
    let bad = monitor_with(&store, "mon_bad", &["eu"], 1, &["int_bad"]).await;
    twilio.refuse_next(
        400,
        21211,
        "The 'To' number +1999000111 is not a valid phone number.",
    );
    publish_down(&publisher, &bad.id, "eu", 3).await;
    let (state, error) = settled(&store, "int_bad", "incident").await;
    assert_eq!(state, OutboxState::Dead);
    assert!(error.contains("400"), "{error}");
    let attempts = store
        .list_outbox(None)
        .await
        .expect("outbox")
        .into_iter()
        .find(|r| r.integration_id == "int_bad")
        .expect("row");
    let log = store
        .delivery_attempts(&attempts.id)
        .await
        .expect("attempts");
    assert!(log[0].response_excerpt.contains("21211"), "{:?}", log[0]);
    assert_eq!(twilio.messages().len(), 2);
    running.stop().await;

    // A notifier without a Twilio account says so.
    let bus = lookout_bus::InProcBus::new();
    let running = common::start(
        common::config(),
        store.clone(),
        Box::new(bus.consumer()),
        None,
    );
    integration(&store, "int_none", "sms", sms("+1234567890")).await;
    let none = monitor_with(&store, "mon_none", &["eu"], 1, &["int_none"]).await;
    publish_down(&bus.publisher(), &none.id, "eu", 3).await;
    let (state, error) = settled(&store, "int_none", "incident").await;
    assert_eq!(state, OutboxState::Dead);
    assert!(error.contains("twilio in its config"), "{error}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slack_app_posts_threads_and_updates_the_incident_message() {
    let db = lookout_store::testing::TestDb::sqlite().await;
    let store = db.store.clone();
    let slack = Slack::start().await;
    let (publisher, running) = common::start_in_process(&store);
    integration(
        &store,
        "int_slack",
        "slack_app",
        slack_app(&slack.api_url()),
    )
    .await;
    let m = monitor_with(&store, "mon_slack", &["eu"], 1, &["int_slack"]).await;
    // Escalated after two more failures: the escalation goes into the incident's thread.
    let mut escalating = m.clone();
    escalating.escalation = vec![EscalationLevel {
        after_failures: 2,
        after_secs: 0,
        integration_ids: vec!["int_slack".into()],
    }];
    let m = store
        .update_monitor(escalating, m.version)
        .await
        .expect("escalation level");

    publish_down(&publisher, &m.id, "eu", 3).await;
    let posted = slack.wait_calls("chat.postMessage", 1).await;
    let body = &posted[0].body;
    let button = body["blocks"]
        .as_array()
        .and_then(|b| b.iter().find(|b| b["type"] == "actions"))
        .map(|b| b["elements"][0].clone())
        .expect("a Resolve button");
    assert_eq!(button["action_id"], RESOLVE_ACTION_ID);
    assert_eq!(button["text"]["text"], "Resolve");
    let inc = store
        .open_incident(&m.id)
        .await
        .expect("read")
        .expect("open");
    assert_eq!(button["value"], inc.id.as_str());
    assert!(
        body["text"]
            .as_str()
            .is_some_and(|t| t.contains("API mon_slack is down")),
        "{body}"
    );
    let ts = posted[0].ts.clone();
    // Stored once Slack's answer is back, a moment after the fake saw the call.
    let remember = || async {
        store
            .slack_message(&inc.id, "int_slack")
            .await
            .expect("read")
    };
    eventually("the message is remembered", || async {
        remember().await.is_some()
    })
    .await;
    let remembered = remember().await.expect("the message is remembered");
    assert_eq!(
        (remembered.channel_id.as_str(), remembered.ts.as_str()),
        (slack::CHANNEL_ID, ts.as_str())
    );
    publish_down(&publisher, &m.id, "eu", 2).await;
    let posted = slack.wait_calls("chat.postMessage", 2).await;
    assert_eq!(
        posted[1].body["thread_ts"],
        ts.as_str(),
        "{}",
        posted[1].body
    );
    assert!(!posted[1].body.to_string().contains(RESOLVE_ACTION_ID));
    assert!(
        posted[1].body["text"]
            .as_str()
            .is_some_and(|t| t.contains("escalated to level 2")),
        "{}",
        posted[1].body
    );

    // A Resolve click records this; the notifier applies it and rewrites the message.
    store
        .insert_incident_action(&IncidentActionRow {
            id: format!("act_{}", uuid::Uuid::now_v7().simple()),
            incident_id: inc.id.clone(),
            action: IncidentActionKind::Resolve,
            actor: "slack:alice (U0ALICE01)".into(),
            note: "resolved from Slack".into(),
            created_at_ms: now_ms(),
            applied_at_ms: None,
        })
        .await
        .expect("resolve requested");
    let updated = slack.wait_calls("chat.update", 1).await;
    assert_eq!(updated[0].body["ts"], ts.as_str());
    assert_eq!(updated[0].body["channel"], slack::CHANNEL_ID);
    let now_reads = slack.message(&ts).expect("the message");
    let text = now_reads.to_string();
    assert!(
        !text.contains(RESOLVE_ACTION_ID),
        "the button is gone: {text}"
    );
    assert!(text.contains("incident resolved (manual)"), "{text}");
    assert_eq!(
        slack.wait_calls("chat.postMessage", 2).await.len(),
        2,
        "no new message"
    );

    // A recovering result updates the message of the next incident the same way; its
    // deletion in Slack makes the resolution a new message instead.
    // The consumer drops what it cached of a monitor an action changed within a second;
    // until then failures count against the resolved incident, so fail until one opens.
    eventually("a new incident after fresh failures", || async {
        publish_down(&publisher, &m.id, "eu", 1).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        store.open_incident(&m.id).await.expect("read").is_some()
    })
    .await;
    let posted = slack.wait_calls("chat.postMessage", 3).await;
    let next = posted[2].ts.clone();
    publish_up(&publisher, &m.id).await;
    let updated = slack.wait_calls("chat.update", 2).await;
    assert_eq!(updated[1].body["ts"], next.as_str());
    assert!(
        updated[1].body["text"]
            .as_str()
            .is_some_and(|t| t.contains("is up again"))
    );

    publish_down(&publisher, &m.id, "eu", 3).await;
    let posted = slack.wait_calls("chat.postMessage", 4).await;
    slack.delete(&posted[3].ts);
    publish_up(&publisher, &m.id).await;
    let posted = slack.wait_calls("chat.postMessage", 5).await;
    assert!(
        posted[4].body["text"]
            .as_str()
            .is_some_and(|t| t.contains("is up again"))
    );
    assert!(
        posted[4]
            .body
            .get("thread_ts")
            .is_none_or(serde_json::Value::is_null)
    );
    running.stop().await;
}
