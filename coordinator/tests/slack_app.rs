//! The Slack app's OAuth flow and interactivity, as Uptinio's document describes them,
//! against a local stand-in for Slack's Web API: `initiate` hands out the OAuth URL, state and
//! redirect URI; the callback takes the state once, exchanges the code with
//! `oauth.v2.access` and creates a Slack integration that is not editable and shows no token;
//! states are bound to their project and expire; Resolve clicks are accepted only with a
//! valid `v0` signature within five minutes, and record the resolve the notifier applies.

mod common;
mod standins;

use std::sync::Arc;

use common::{Harness, OPERATOR_TOKEN, PROJECT_TOKEN, bearer, tenant};
use lookout_coordinator::Secret;
use lookout_coordinator::auth::AdminAuth;
use lookout_coordinator::incidents::IncidentDomain;
use lookout_coordinator::integrations::IntegrationDomain;
use lookout_coordinator::slack_app::{self, SlackAppConfig, SlackAppEndpoints};
use lookout_coordinator::sms::SmsVerification;
use lookout_proto::REDACTED;
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::{
    CreateIntegrationRequest, DeleteIntegrationRequest, GetIntegrationRequest, Integration,
    SlackApp, UpdateIntegrationRequest,
};
use lookout_render::presets::slack_app::RESOLVE_ACTION_ID;
use lookout_store::notifier::IncidentActionKind;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::slack::SlackMessageRow;
use lookout_store::testing::{insert_incident, insert_monitors_in_bulk, open_incident};
use lookout_store::{Sql, Store, now_ms};
use serde_json::Value;
use standins::slack::{self as slack, Slack};
use tonic::Code;

const PUBLIC_URL: &str = "https://lookout.example.com";

/// The endpoints served on loopback, and the stand-in Slack they talk to.
struct Endpoints {
    rest: String,
    slack: Slack,
    http: reqwest::Client,
}

struct Setup {
    h: Harness,
    ep: Endpoints,
}

fn app_config(slack: &Slack, installed_url: &str) -> SlackAppConfig {
    let c = SlackAppConfig {
        client_id: slack::CLIENT_ID.into(),
        client_secret: Secret::new(slack::CLIENT_SECRET),
        signing_secret: Secret::new(slack::SIGNING_SECRET),
        public_url: PUBLIC_URL.into(),
        api_url: slack.api_url(),
        authorize_url: format!("{}/oauth/v2/authorize", slack.url),
        scopes: vec!["chat:write".into(), "incoming-webhook".into()],
        user_scopes: vec![],
        installed_url: installed_url.into(),
    };
    c.validate().expect("valid slack_app");
    c
}

async fn endpoints(store: &Store, slack: &Slack, installed_url: &str) -> Endpoints {
    let auth = Arc::new(AdminAuth::new(
        &[Secret::new(OPERATOR_TOKEN)],
        &[Secret::new(PROJECT_TOKEN)],
        store.clone(),
    ));
    let sms = Arc::new(SmsVerification::new(store.clone(), None, true).expect("sms"));
    let integrations = Arc::new(IntegrationDomain::new(
        store.clone(),
        sms,
        lookout_coordinator::DestinationRules {
            allow_private: true,
        },
    ));
    let incidents = Arc::new(IncidentDomain::new(store.clone()));
    let app = SlackAppEndpoints::new(
        Some(app_config(slack, installed_url)),
        store.clone(),
        auth,
        integrations,
        incidents,
    )
    .expect("endpoints");
    Endpoints {
        rest: standins::serve(slack_app::routes(Arc::new(app))).await,
        slack: slack.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    }
}

async fn setup() -> Setup {
    let slack = Slack::start().await;
    let h = Harness::start().await;
    let ep = endpoints(&h.store, &slack, "").await;
    Setup { h, ep }
}

impl Endpoints {
    /// The document's curl: `POST .../slack/initiate` with the project token.
    async fn initiate(&self, token: &str) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/api/v1/integrations/slack/initiate", self.rest))
            .header("Authorization", format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send()
            .await
            .expect("answer");
        (resp.status().as_u16(), resp.json().await.expect("json"))
    }

    /// The browser arriving back from Slack at the callback with `query`.
    async fn callback(&self, query: &str) -> reqwest::Response {
        self.http
            .get(format!("{}/auth/slack/callback?{query}", self.rest))
            .send()
            .await
            .expect("answer")
    }

    /// Runs the flow for `token`'s project: initiate, the user allows, the callback.
    async fn connect(&self, token: &str, code: &str) -> (Value, reqwest::Response) {
        let (status, started) = self.initiate(token).await;
        assert_eq!(status, 200, "{started}");
        let redirect = started["redirect_uri"].as_str().expect("redirect_uri");
        self.slack.grant(code, redirect);
        let project = redirect.split("project_uuid=").nth(1).expect("project");
        let state = started["state"].as_str().expect("state");
        let resp = self
            .callback(&format!("project_uuid={project}&code={code}&state={state}"))
            .await;
        (started, resp)
    }

    async fn interact(
        &self,
        body: &[u8],
        timestamp: i64,
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/slack/interactivity", self.rest))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("X-Slack-Request-Timestamp", timestamp.to_string())
            .body(body.to_vec());
        if let Some(s) = signature {
            req = req.header("X-Slack-Signature", s);
        }
        let resp = req.send().await.expect("answer");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_slack_creates_an_integration_that_shows_no_token_and_is_not_editable() {
    let Setup { h, ep: s } = setup().await;
    let (started, resp) = s.connect(PROJECT_TOKEN, "code-1").await;
    let state = started["state"].as_str().expect("state");
    assert_eq!(state.len(), 64);
    let redirect = format!("{PUBLIC_URL}/auth/slack/callback?project_uuid={DEFAULT_PROJECT_ID}");
    assert_eq!(started["redirect_uri"], redirect);
    let oauth = url::Url::parse(started["oauth_url"].as_str().expect("oauth_url")).expect("url");
    assert_eq!(
        oauth.as_str().split('?').next(),
        Some(format!("{}/oauth/v2/authorize", s.slack.url).as_str())
    );
    let q: Vec<(String, String)> = oauth
        .query_pairs()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    for (k, v) in [
        ("client_id", slack::CLIENT_ID),
        ("scope", "chat:write,incoming-webhook"),
        ("redirect_uri", redirect.as_str()),
        ("state", state),
    ] {
        assert!(
            q.contains(&(k.to_string(), v.to_string())),
            "{k} in {oauth}"
        );
    }

    assert_eq!(resp.status().as_u16(), 200);
    let made: Value = resp.json().await.expect("json");
    assert_eq!(made["type"], "Integrations::SlackIntegration");
    assert_eq!(made["name"], "My Workspace #alerts");
    let id = made["uuid"].as_str().expect("uuid").to_string();
    let exchange = &s.slack.exchanges()[0];
    assert!(exchange.contains(&("code".into(), "code-1".into())));
    assert!(exchange.contains(&("redirect_uri".into(), redirect.clone())));

    // What users see: the workspace and channel, every token redacted.
    let mut c = IntegrationServiceClient::new(h.channel().await);
    let shown = c
        .get_integration(bearer(
            PROJECT_TOKEN,
            GetIntegrationRequest { id: id.clone() },
        ))
        .await
        .expect("get")
        .into_inner();
    let Some(Kind::SlackApp(app)) = &shown.kind else {
        panic!("a Slack app integration: {shown:?}")
    };
    assert_eq!(
        (
            app.team_id.as_str(),
            app.channel_id.as_str(),
            app.channel_name.as_str()
        ),
        (slack::TEAM_ID, slack::CHANNEL_ID, slack::CHANNEL)
    );
    assert_eq!(app.bot_user_id, slack::BOT_USER_ID);
    for secret in [&app.bot_token, &app.user_token, &app.webhook_url] {
        assert_eq!(secret, REDACTED);
    }
    let text = format!("{shown:?}");
    for token in [slack::BOT_TOKEN, slack::USER_TOKEN, "SecretPathXyz"] {
        assert!(!text.contains(token), "{token} shown");
    }
    // Sealed at rest: no token in clear in the database.
    let rows = h
        .store
        .query(Sql::new("SELECT spec FROM integrations"))
        .await
        .expect("rows");
    for r in &rows {
        let spec: Vec<u8> = r.get("spec").expect("spec");
        assert!(
            !spec
                .windows(slack::BOT_TOKEN.len())
                .any(|w| w == slack::BOT_TOKEN.as_bytes()),
            "the bot token is stored in clear"
        );
    }
    // The notifier reads the tokens as Slack gave them.
    let stored = h.store.get_integration(&id).await.expect("stored");
    assert!(matches!(&stored.kind, Some(Kind::SlackApp(a)) if a.bot_token == slack::BOT_TOKEN));

    // Not editable, and not made through the API.
    let e = c
        .update_integration(bearer(
            PROJECT_TOKEN,
            UpdateIntegrationRequest {
                integration: Some(Integration {
                    name: "renamed".into(),
                    ..shown.clone()
                }),
            },
        ))
        .await
        .expect_err("not editable");
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("not editable"), "{e:?}");
    let e = c
        .create_integration(bearer(
            PROJECT_TOKEN,
            CreateIntegrationRequest {
                integration: Some(Integration {
                    kind: Some(Kind::SlackApp(SlackApp {
                        bot_token: "xoxb-mine".into(),
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
            },
        ))
        .await
        .expect_err("only the OAuth flow makes one");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(
        e.message()
            .starts_with("slack_app: is made by connecting Slack"),
        "{e:?}"
    );

    // The state was used: the same callback again is refused.
    let again = s
        .callback(&format!(
            "project_uuid={DEFAULT_PROJECT_ID}&code=code-1&state={state}"
        ))
        .await;
    assert_eq!(again.status().as_u16(), 400);
    let body: Value = again.json().await.expect("json");
    assert_eq!(
        (body["error"].as_str(), body["field"].as_str()),
        (Some("invalid_state"), Some("state"))
    );

    // Deletable.
    c.delete_integration(bearer(PROJECT_TOKEN, DeleteIntegrationRequest { id }))
        .await
        .expect("deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_are_bound_to_their_project_single_use_and_expiring() {
    let Setup { h, ep: s } = setup().await;
    let (status, body) = s.initiate("not-a-token").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = s.initiate(OPERATOR_TOKEN).await;
    assert_eq!(status, 403);

    let expect_refused = |resp: reqwest::Response, status: u16, error: &'static str| async move {
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["error"], error, "{body}");
    };
    // Another project's id with this project's state.
    let ch = h.channel().await;
    let other = tenant(&ch, "team-b").await;
    let (_, started) = s.initiate(PROJECT_TOKEN).await;
    let state = started["state"].as_str().expect("state").to_string();
    s.slack
        .grant("code-2", started["redirect_uri"].as_str().expect("uri"));
    let resp = s
        .callback(&format!(
            "project_uuid={}&code=code-2&state={state}",
            other.id
        ))
        .await;
    expect_refused(resp, 400, "invalid_state").await;
    // ... and that state is spent.
    let resp = s
        .callback(&format!(
            "project_uuid={DEFAULT_PROJECT_ID}&code=code-2&state={state}"
        ))
        .await;
    expect_refused(resp, 400, "invalid_state").await;
    assert!(
        s.slack.exchanges().is_empty(),
        "no code exchanged on a bad state"
    );

    // Unknown and malformed states, a missing one.
    let unknown = "ab".repeat(32);
    for q in [
        format!("code=c&state={unknown}"),
        "code=c&state=xyz".to_string(),
        "code=c".to_string(),
    ] {
        let resp = s.callback(&q).await;
        assert_eq!(resp.status().as_u16(), 400, "{q}");
    }

    // Expired.
    let (_, started) = s.initiate(PROJECT_TOKEN).await;
    h.store
        .execute(Sql::new("UPDATE slack_oauth_states SET expires_at_ms = 1"))
        .await
        .expect("expire");
    let resp = s
        .callback(&format!(
            "code=c&state={}",
            started["state"].as_str().expect("state")
        ))
        .await;
    expect_refused(resp, 400, "invalid_state").await;

    // The user said no in Slack.
    let (_, started) = s.initiate(PROJECT_TOKEN).await;
    let resp = s
        .callback(&format!(
            "error=access_denied&state={}",
            started["state"].as_str().expect("state")
        ))
        .await;
    expect_refused(resp, 400, "slack_authorization_failed").await;

    // Slack refuses the code.
    let (_, started) = s.initiate(PROJECT_TOKEN).await;
    let resp = s
        .callback(&format!(
            "code=never-granted&state={}",
            started["state"].as_str().expect("state")
        ))
        .await;
    assert_eq!(resp.status().as_u16(), 502);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error"], "slack_exchange_failed");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("invalid_code")),
        "{body}"
    );

    // With installed_url, the browser goes back to Lookout's integrations page.
    let redirecting = endpoints(
        &h.store,
        &s.slack,
        "https://lookout.example.com/integrations",
    )
    .await;
    let (_, resp) = redirecting.connect(PROJECT_TOKEN, "code-3").await;
    assert_eq!(resp.status().as_u16(), 303);
    let to = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("location");
    assert!(
        to.starts_with("https://lookout.example.com/integrations?slack=connected&integration=int_"),
        "{to}"
    );
    let resp = redirecting
        .callback(&format!("state={unknown}&code=c"))
        .await;
    assert_eq!(resp.status().as_u16(), 303);
    let to = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(to.ends_with("slack=error&error=invalid_state"), "{to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolve_clicks_need_slacks_signature_and_record_the_resolve() {
    let Setup { h, ep: s } = setup().await;
    let (_, resp) = s.connect(PROJECT_TOKEN, "code-9").await;
    let made: Value = resp.json().await.expect("json");
    let integration = made["uuid"].as_str().expect("uuid").to_string();
    insert_monitors_in_bulk(&h.store, DEFAULT_PROJECT_ID, &["mon_1".to_string()])
        .await
        .expect("monitor");
    let inc = open_incident("inc_1", "mon_1", now_ms() - 60_000);
    insert_incident(&h.store, &inc).await.expect("incident");
    // What the notifier remembers when it posts the incident's message.
    let ts = "1700000000.000042";
    h.store
        .remember_slack_message(
            &SlackMessageRow {
                incident_id: "inc_1".into(),
                integration_id: integration.clone(),
                channel_id: slack::CHANNEL_ID.into(),
                ts: ts.into(),
            },
            now_ms(),
        )
        .await
        .expect("remember");
    let click = slack::block_actions(
        slack::TEAM_ID,
        slack::CHANNEL_ID,
        ts,
        RESOLVE_ACTION_ID,
        "inc_1",
    );
    let now = now_ms() / 1000;
    let pending = || async {
        h.store
            .pending_incident_action("inc_1", IncidentActionKind::Resolve)
            .await
            .expect("read")
    };

    // Refused: no signature, a wrong one (another secret), a stale timestamp, an altered body.
    let refusals = [
        (now, None, "x-slack-signature: is missing"),
        (
            now,
            Some(slack::sign("another-secret", now, &click)),
            "does not match",
        ),
        (
            now - 301,
            Some(slack::sign(slack::SIGNING_SECRET, now - 301, &click)),
            "5 minutes",
        ),
        (
            now + 301,
            Some(slack::sign(slack::SIGNING_SECRET, now + 301, &click)),
            "5 minutes",
        ),
    ];
    for (at, sig, says) in refusals {
        let (status, body) = s.interact(&click, at, sig).await;
        assert_eq!(status, 401, "{says}");
        assert_eq!(body["error"], "unauthorized");
        assert!(
            body["message"].as_str().is_some_and(|m| m.contains(says)),
            "{says}: {body}"
        );
    }
    let mut altered = click.clone();
    altered.extend_from_slice(b"&x=1");
    let sig = slack::sign(slack::SIGNING_SECRET, now, &click);
    let (status, _) = s.interact(&altered, now, Some(sig)).await;
    assert_eq!(status, 401);
    assert!(
        pending().await.is_none(),
        "nothing recorded for a refused request"
    );

    // Signed, but not a message Lookout posted, or from another workspace: nothing happens.
    for other in [
        slack::block_actions(
            slack::TEAM_ID,
            slack::CHANNEL_ID,
            "1700000000.999999",
            RESOLVE_ACTION_ID,
            "inc_1",
        ),
        slack::block_actions(
            "T0OTHER00",
            slack::CHANNEL_ID,
            ts,
            RESOLVE_ACTION_ID,
            "inc_1",
        ),
        slack::block_actions(
            slack::TEAM_ID,
            slack::CHANNEL_ID,
            ts,
            RESOLVE_ACTION_ID,
            "inc_other",
        ),
    ] {
        let (status, _) = s
            .interact(
                &other,
                now,
                Some(slack::sign(slack::SIGNING_SECRET, now, &other)),
            )
            .await;
        assert_eq!(status, 200);
    }
    assert!(
        pending().await.is_none(),
        "only the posted message's incident resolves"
    );

    // Slack's click: answered at once, the resolve recorded for the notifier to apply.
    let started = std::time::Instant::now();
    let (status, _) = s
        .interact(
            &click,
            now,
            Some(slack::sign(slack::SIGNING_SECRET, now, &click)),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "Slack waits 3 s at most"
    );
    let action = pending().await.expect("a resolve is recorded");
    assert_eq!(action.actor, "slack:alice (U0ALICE01)");
    assert_eq!(action.note, "resolved from Slack");
    // A second click records nothing new.
    let (status, _) = s
        .interact(
            &click,
            now,
            Some(slack::sign(slack::SIGNING_SECRET, now, &click)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(pending().await.map(|a| a.id), Some(action.id));
}
