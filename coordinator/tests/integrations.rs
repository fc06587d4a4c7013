//! IntegrationService through the real gRPC server, on both backends:
//! secrets are write-only ("***" in every response, kept when sent back), bad settings are
//! refused naming the field, another project's token sees nothing, monitors attach only their
//! project's integrations and an attached integration cannot be deleted.

mod common;

use common::{Harness, PROJECT_TOKEN, bearer, tenant};
use lookout_proto::v1::integration::Kind;
use lookout_proto::v1::integration_service_client::IntegrationServiceClient;
use lookout_proto::v1::monitor::Check;
use lookout_proto::v1::{
    BasicAuth, CreateIntegrationRequest, DeleteIntegrationRequest, DeliveryState,
    GetDeliveryRequest, GetIntegrationRequest, Header, HttpCheck, Integration,
    ListIntegrationsRequest, Monitor, TestIntegrationRequest, UpdateIntegrationRequest,
    WebhookIntegration, delivery_service_client::DeliveryServiceClient,
};
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;
use tonic::transport::Channel;
use tonic::{Code, Status};

const SECRET: &str = "s3cret-signing-key";
const PASSWORD: &str = "basic-pa55word";

type Integrations = IntegrationServiceClient<Channel>;

fn hook(url: &str) -> Integration {
    Integration {
        kind: Some(Kind::Webhook(WebhookIntegration {
            url: url.into(),
            headers: vec![Header {
                name: "X-Team".into(),
                value: "ops".into(),
            }],
            basic_auth: Some(BasicAuth {
                username: "lookout".into(),
                password: PASSWORD.into(),
            }),
            secret: SECRET.into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn webhook(i: &Integration) -> &WebhookIntegration {
    match &i.kind {
        Some(Kind::Webhook(w)) => w,
        other => panic!("expected a webhook, got {other:?}"),
    }
}

async fn create(
    api: &mut Integrations,
    token: &str,
    i: Integration,
) -> Result<Integration, Status> {
    let req = CreateIntegrationRequest {
        integration: Some(i),
    };
    Ok(api
        .create_integration(bearer(token, req))
        .await?
        .into_inner())
}

async fn get(api: &mut Integrations, token: &str, id: &str) -> Result<Integration, Status> {
    let req = GetIntegrationRequest { id: id.into() };
    Ok(api.get_integration(bearer(token, req)).await?.into_inner())
}

async fn update(
    api: &mut Integrations,
    token: &str,
    i: Integration,
) -> Result<Integration, Status> {
    let req = UpdateIntegrationRequest {
        integration: Some(i),
    };
    Ok(api
        .update_integration(bearer(token, req))
        .await?
        .into_inner())
}

async fn delete(api: &mut Integrations, token: &str, id: &str) -> Result<(), Status> {
    let req = DeleteIntegrationRequest { id: id.into() };
    api.delete_integration(bearer(token, req)).await.map(|_| ())
}

async fn list(api: &mut Integrations, token: &str) -> Vec<Integration> {
    let req = ListIntegrationsRequest::default();
    api.list_integrations(bearer(token, req))
        .await
        .expect("list")
        .into_inner()
        .integrations
}

/// Every secret of `i` reads "***" and no secret value appears anywhere in it.
fn assert_redacted(i: &Integration, what: &str) {
    let w = webhook(i);
    assert_eq!(w.secret, "***", "{what}: secret");
    assert_eq!(
        w.basic_auth.as_ref().map(|a| a.password.as_str()),
        Some("***"),
        "{what}: basic-auth password"
    );
    let shown = format!("{i:?}");
    for s in [SECRET, PASSWORD, "n3w-secret"] {
        assert!(!shown.contains(s), "{what} shows a secret: {shown}");
    }
}

fn assert_code<T: std::fmt::Debug>(r: Result<T, Status>, code: Code, needle: &str, what: &str) {
    match r {
        Ok(v) => panic!("{what}: expected {code:?}, got {v:?}"),
        Err(s) => {
            assert_eq!(s.code(), code, "{what}: {s:?}");
            assert!(
                s.message().contains(needle),
                "{what}: message names {needle:?}: {}",
                s.message()
            );
        }
    }
}

async fn stored_secret(db: &TestDb, id: &str) -> (String, String) {
    let i = db
        .store
        .get_integration_in_project(DEFAULT_PROJECT_ID, id)
        .await
        .expect("stored integration");
    let w = webhook(&i);
    (
        w.secret.clone(),
        w.basic_auth
            .as_ref()
            .map(|a| a.password.clone())
            .unwrap_or_default(),
    )
}

async fn crud_keeps_secrets_write_only(db: TestDb) {
    let h = Harness::start_on(db.store.clone(), 1_000, None).await;
    let mut api = IntegrationServiceClient::new(h.channel().await);
    let t = PROJECT_TOKEN;

    let created = create(&mut api, t, hook("https://hooks.example.org/lookout"))
        .await
        .expect("create");
    assert!(created.id.starts_with("int_"), "{}", created.id);
    assert_eq!(created.name, "webhook", "the name defaults to the kind");
    assert_eq!(created.rate_limit_per_minute, 100, "the default rate limit");
    assert_eq!(webhook(&created).method, "POST");
    assert_eq!(created.project_id, DEFAULT_PROJECT_ID);
    assert_redacted(&created, "create");

    let got = get(&mut api, t, &created.id).await.expect("get");
    assert_redacted(&got, "get");
    assert_eq!(got, created);
    let listed = list(&mut api, t).await;
    assert_eq!(listed.len(), 1);
    assert_redacted(&listed[0], "list");

    // What a read shows, sent back with a change: the stored secrets stay.
    let mut next = got.clone();
    next.name = "Ops webhook".into();
    next.rate_limit_per_minute = 10;
    let updated = update(&mut api, t, next).await.expect("update");
    assert_redacted(&updated, "update");
    assert_eq!(updated.name, "Ops webhook");
    assert_eq!(updated.rate_limit_per_minute, 10);
    assert!(updated.version > created.version, "the version is bumped");
    assert_eq!(
        stored_secret(&db, &created.id).await,
        (SECRET.to_string(), PASSWORD.to_string()),
        "\"***\" sent back keeps both stored secrets"
    );

    // A secret given anew replaces the stored one; the other stays.
    let mut next = updated.clone();
    if let Some(Kind::Webhook(w)) = &mut next.kind {
        w.secret = "n3w-secret".into();
    }
    let updated = update(&mut api, t, next).await.expect("update secret");
    assert_redacted(&updated, "update with a new secret");
    assert_eq!(
        stored_secret(&db, &created.id).await,
        ("n3w-secret".to_string(), PASSWORD.to_string())
    );

    // A stale version is refused rather than overwriting a concurrent change.
    assert_code(
        update(&mut api, t, got).await,
        Code::Aborted,
        &created.id,
        "update at a stale version",
    );

    // "***" is only a placeholder for a stored value: with none to keep, it is refused
    // rather than stored (and used to sign).
    let mut copied = updated.clone();
    copied.id.clear();
    assert_code(
        create(&mut api, t, copied).await,
        Code::InvalidArgument,
        "webhook.secret",
        "a create with \"***\" as the secret",
    );
    let mut no_secret = hook("https://hooks.example.org/plain");
    if let Some(Kind::Webhook(w)) = &mut no_secret.kind {
        w.secret.clear();
        w.basic_auth = None;
    }
    let mut plain = create(&mut api, t, no_secret)
        .await
        .expect("create without secrets");
    if let Some(Kind::Webhook(w)) = &mut plain.kind {
        w.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: "***".into(),
        });
    }
    assert_code(
        update(&mut api, t, plain.clone()).await,
        Code::InvalidArgument,
        "webhook.basic_auth.password",
        "an update with \"***\" for a secret never set",
    );
    delete(&mut api, t, &plain.id)
        .await
        .expect("delete the plain one");

    delete(&mut api, t, &created.id).await.expect("delete");
    assert_code(
        get(&mut api, t, &created.id).await,
        Code::NotFound,
        &created.id,
        "get after delete",
    );
    assert_code(
        delete(&mut api, t, &created.id).await,
        Code::NotFound,
        &created.id,
        "delete twice",
    );
    assert!(list(&mut api, t).await.is_empty());
    h.stop().await;
}

async fn bad_settings_are_refused_naming_the_field(db: TestDb) {
    let h = Harness::start_on(db.store.clone(), 1_000, None).await;
    let mut api = IntegrationServiceClient::new(h.channel().await);
    let with = |change: fn(&mut Integration)| {
        let mut i = hook("https://hooks.example.org/lookout");
        change(&mut i);
        i
    };
    fn hook_of(i: &mut Integration) -> &mut WebhookIntegration {
        match &mut i.kind {
            Some(Kind::Webhook(w)) => w,
            _ => unreachable!("a webhook"),
        }
    }
    let cases: Vec<(&str, Integration, &str)> = vec![
        (
            "webhook.url",
            with(|i| hook_of(i).url = "ftp://files.example.org/x".into()),
            "http or https",
        ),
        ("webhook.url", with(|i| hook_of(i).url.clear()), "required"),
        (
            "webhook.method",
            with(|i| hook_of(i).method = "DELETE".into()),
            "POST, PUT, PATCH or GET",
        ),
        (
            "webhook.headers[0].name",
            with(|i| hook_of(i).headers[0].name = "Bad Header".into()),
            "not a valid header name",
        ),
        (
            "rate_limit_per_minute",
            with(|i| i.rate_limit_per_minute = 60_001),
            "60000",
        ),
        ("kind", Integration::default(), "required"),
    ];
    for (field, i, reason) in cases {
        let r = create(&mut api, PROJECT_TOKEN, i).await;
        let Err(s) = r else {
            panic!("{field}: accepted {r:?}")
        };
        assert_eq!(s.code(), Code::InvalidArgument, "{field}: {s:?}");
        assert!(
            s.message().starts_with(&format!("{field}: ")) && s.message().contains(reason),
            "{field}: the message names the field and why: {}",
            s.message()
        );
    }
    // The same checks on update, on a stored integration.
    let stored = create(&mut api, PROJECT_TOKEN, hook("https://hooks.example.org/a"))
        .await
        .expect("create");
    let mut bad = stored.clone();
    hook_of(&mut bad).method = "TRACE".into();
    assert_code(
        update(&mut api, PROJECT_TOKEN, bad).await,
        Code::InvalidArgument,
        "webhook.method",
        "update with a bad method",
    );
    assert_eq!(
        list(&mut api, PROJECT_TOKEN).await.len(),
        1,
        "nothing refused was stored"
    );
    h.stop().await;
}

async fn another_projects_token_sees_nothing(db: TestDb) {
    let h = Harness::start_on(db.store.clone(), 1_000, None).await;
    let ch = h.channel().await;
    let other = tenant(&ch, "other").await;
    let mut api = IntegrationServiceClient::new(ch.clone());
    let mine = create(&mut api, PROJECT_TOKEN, hook("https://hooks.example.org/a"))
        .await
        .expect("create");
    let o = other.token.as_str();

    assert_code(
        get(&mut api, o, &mine.id).await,
        Code::NotFound,
        &mine.id,
        "get",
    );
    assert_code(
        update(&mut api, o, mine.clone()).await,
        Code::NotFound,
        &mine.id,
        "update",
    );
    assert_code(
        delete(&mut api, o, &mine.id).await,
        Code::NotFound,
        &mine.id,
        "delete",
    );
    let test = api
        .test_integration(bearer(
            o,
            TestIntegrationRequest {
                id: mine.id.clone(),
            },
        ))
        .await;
    assert_code(test, Code::NotFound, &mine.id, "test");
    assert!(list(&mut api, o).await.is_empty(), "list of the other");

    // Its own integrations are its own.
    let theirs = create(&mut api, o, hook("https://hooks.example.org/b"))
        .await
        .expect("create in the other project");
    assert_eq!(theirs.project_id, other.id);
    let ids: Vec<String> = list(&mut api, PROJECT_TOKEN)
        .await
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ids, vec![mine.id.clone()]);
    assert_eq!(
        get(&mut api, PROJECT_TOKEN, &mine.id).await.expect("get"),
        mine,
        "the other's attempts changed nothing"
    );
    h.stop().await;
}

fn monitor(integration_ids: &[&str]) -> Monitor {
    Monitor {
        name: "API".into(),
        regions: vec!["eu".into()],
        interval_secs: 30,
        integration_ids: integration_ids.iter().map(|s| s.to_string()).collect(),
        check: Some(Check::Http(HttpCheck {
            url: "http://127.0.0.1:9/health".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

async fn monitors_attach_only_their_projects_integrations(db: TestDb) {
    let h = Harness::start_on(db.store.clone(), 1_000, None).await;
    let ch = h.channel().await;
    let other = tenant(&ch, "other").await;
    let mut api = IntegrationServiceClient::new(ch.clone());
    let mut monitors = h.admin().await;
    let mine = create(&mut api, PROJECT_TOKEN, hook("https://hooks.example.org/a"))
        .await
        .expect("create");
    let theirs = create(&mut api, &other.token, hook("https://hooks.example.org/b"))
        .await
        .expect("create in the other project");

    assert_code(
        monitors.create(monitor(&["int_unknown"])).await,
        Code::InvalidArgument,
        "integration_ids[0]",
        "an unknown integration",
    );
    assert_code(
        monitors.create(monitor(&[&mine.id, &theirs.id])).await,
        Code::InvalidArgument,
        "integration_ids[1]",
        "another project's integration",
    );

    let m = monitors
        .create(monitor(&[&mine.id]))
        .await
        .expect("attach my integration");
    assert_eq!(m.integration_ids, vec![mine.id.clone()]);
    assert_code(
        delete(&mut api, PROJECT_TOKEN, &mine.id).await,
        Code::FailedPrecondition,
        &m.id,
        "deleting an attached integration",
    );
    get(&mut api, PROJECT_TOKEN, &mine.id)
        .await
        .expect("still there");

    monitors.delete(&m.id).await.expect("delete the monitor");
    delete(&mut api, PROJECT_TOKEN, &mine.id)
        .await
        .expect("delete once detached");
    h.stop().await;
}

async fn a_test_queues_a_test_delivery(db: TestDb) {
    let h = Harness::start_on(db.store.clone(), 1_000, None).await;
    let ch = h.channel().await;
    let mut api = IntegrationServiceClient::new(ch.clone());
    let i = create(&mut api, PROJECT_TOKEN, hook("https://hooks.example.org/a"))
        .await
        .expect("create");
    let d = api
        .test_integration(bearer(
            PROJECT_TOKEN,
            TestIntegrationRequest { id: i.id.clone() },
        ))
        .await
        .expect("test")
        .into_inner();
    assert!(d.id.starts_with("dlv_"), "{}", d.id);
    assert_eq!(d.event, "test");
    assert_eq!(d.channel, "webhook");
    assert_eq!(d.integration_id, i.id);
    assert_eq!(d.state, DeliveryState::Pending as i32);

    let mut deliveries = DeliveryServiceClient::new(ch);
    let got = deliveries
        .get_delivery(bearer(
            PROJECT_TOKEN,
            GetDeliveryRequest { id: d.id.clone() },
        ))
        .await
        .expect("the delivery log has it")
        .into_inner();
    assert_eq!(got.integration_id, i.id);
    assert_eq!(
        got.notification.map(|n| n.kind),
        Some(lookout_proto::v1::EventKind::Test as i32)
    );
    assert_code(
        api.test_integration(bearer(
            PROJECT_TOKEN,
            TestIntegrationRequest {
                id: "int_unknown".into(),
            },
        ))
        .await,
        Code::NotFound,
        "int_unknown",
        "testing an unknown integration",
    );
    h.stop().await;
}

lookout_store::backend_tests!(
    crud_keeps_secrets_write_only,
    bad_settings_are_refused_naming_the_field,
    another_projects_token_sees_nothing,
    monitors_attach_only_their_projects_integrations,
    a_test_queues_a_test_delivery,
);
