//! Monitors over REST (proto3 JSON of `lookout.v1.Monitor`), attaching integrations the way
//! the Uptinio document attaches them to servers (its curl, under `/servers` and `/monitors`),
//! the same over gRPC, and incidents read back.

mod common;

use common::{Harness, PROJECT_TOKEN, Rest, bearer};
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::{
    AttachIntegrationRequest, DetachIntegrationRequest, ListMonitorIntegrationsRequest,
};
use lookout_store::testing::TestDb;
use serde_json::{Value, json};
use tonic::Code;

fn monitor(name: &str) -> Value {
    json!({ "monitor": {
        "name": name,
        "regions": ["eu"],
        "interval_secs": 30,
        "http": {
            "url": "https://example.com/health",
            "bearer_token": "mon-secret",
            "expected_status": [{ "min": 200, "max": 299 }]
        }
    }})
}

async fn webhook(api: &Rest, url: &str) -> String {
    let i = api
        .post(
            "/api/v1/integrations",
            json!({ "integration": {
                "type": "Integrations::WebhookIntegration",
                "settings": { "webhook_url": url }
            }}),
        )
        .await
        .expect(201)
        .body;
    i["uuid"].as_str().expect("uuid").to_string()
}

async fn monitors_and_their_integrations(db: TestDb) {
    let h = Harness::start_rest_on(db.store.clone()).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));

    let created = api
        .post("/api/v1/monitors", monitor("shop"))
        .await
        .expect(201)
        .body;
    let id = created["id"].as_str().expect("id").to_string();
    assert!(id.starts_with("mon_"), "{created}");
    assert_eq!(created["name"], "shop");
    // Credentials are write-only, as over gRPC.
    assert!(!created.to_string().contains("mon-secret"), "{created}");
    assert_eq!(created["version"], "1");
    assert_eq!(created["region_status"][0]["status"], "PENDING");

    let listed = api.get("/api/v1/monitors").await.expect(200).body;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["id"], id.as_str());

    // Update: a whole definition; the credential sent back blank stays.
    let mut next = monitor("shop front");
    next["monitor"]["http"]["bearer_token"] = json!("");
    let updated = api
        .put(&format!("/api/v1/monitors/{id}"), next.clone())
        .await
        .expect(200)
        .body;
    assert_eq!(
        (updated["name"].as_str(), updated["version"].as_str()),
        (Some("shop front"), Some("2"))
    );
    let stored = h.store.get_monitor(&id).await.expect("stored");
    assert_eq!(lookout_store::testing::secret_of(&stored), "mon-secret");
    next["monitor"]["id"] = json!("mon_other");
    api.put(&format!("/api/v1/monitors/{id}"), next)
        .await
        .expect_error(422, "invalid_request", Some("monitor.id"));

    // The document's attach curl, with this monitor as the server.
    let hook = webhook(&api, "https://example.com/hook").await;
    let attach = format!(r#"{{"integration_id": "{hook}"}}"#);
    let attached = api
        .raw(
            "POST",
            &format!("/api/v1/servers/{id}/integrations"),
            Some(attach.into_bytes()),
        )
        .await
        .expect(201)
        .body;
    assert_eq!(attached["uuid"], hook.as_str());
    assert_eq!(attached["type"], "Integrations::WebhookIntegration");
    // Again: nothing changes.
    api.post(
        &format!("/api/v1/monitors/{id}/integrations"),
        json!({ "integration_id": hook }),
    )
    .await
    .expect(201);
    let second = webhook(&api, "https://example.com/second").await;
    api.post(
        &format!("/api/v1/monitors/{id}/integrations"),
        json!({ "integration_id": second }),
    )
    .await
    .expect(201);
    for base in ["monitors", "servers"] {
        let list = api
            .get(&format!("/api/v1/{base}/{id}/integrations"))
            .await
            .expect(200)
            .body;
        let ids: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .map(|i| i["uuid"].as_str().expect("uuid"))
            .collect();
        assert_eq!(ids, [hook.as_str(), second.as_str()], "{base}");
    }
    let m = api
        .get(&format!("/api/v1/monitors/{id}"))
        .await
        .expect(200)
        .body;
    assert_eq!(m["integration_ids"], json!([hook, second]));
    // Attached, the integration cannot be deleted; detached, it can.
    api.delete(&format!("/api/v1/integrations/{hook}"))
        .await
        .expect_error(422, "unprocessable_entity", None);
    api.delete(&format!("/api/v1/servers/{id}/integrations/{hook}"))
        .await
        .expect(204);
    api.delete(&format!("/api/v1/monitors/{id}/integrations/{hook}"))
        .await
        .expect_error(404, "integration_not_found", None);
    api.delete(&format!("/api/v1/integrations/{hook}"))
        .await
        .expect(204);
    api.post(
        &format!("/api/v1/monitors/{id}/integrations"),
        json!({ "integration_id": "int_nope" }),
    )
    .await
    .expect_error(404, "integration_not_found", None);
    api.post(&format!("/api/v1/monitors/{id}/integrations"), json!({}))
        .await
        .expect_error(422, "invalid_request", Some("integration_id"));
    api.post(
        "/api/v1/monitors/mon_nope/integrations",
        json!({ "integration_id": second }),
    )
    .await
    .expect_error(404, "monitor_not_found", None);

    // Incidents: none yet; a bad filter is named.
    assert_eq!(
        api.get(&format!("/api/v1/incidents?monitor_id={id}&state=open"))
            .await
            .expect(200)
            .body,
        json!([])
    );
    api.get("/api/v1/incidents?state=closed")
        .await
        .expect_error(422, "invalid_request", Some("state"));
    api.get("/api/v1/incidents/inc_nope")
        .await
        .expect_error(404, "incident_not_found", None);

    api.delete(&format!("/api/v1/monitors/{id}"))
        .await
        .expect(204);
    api.get(&format!("/api/v1/monitors/{id}"))
        .await
        .expect_error(404, "monitor_not_found", None);
    h.stop().await;
}

lookout_store::backend_tests!(monitors_and_their_integrations);

#[tokio::test]
async fn refused_monitors_name_the_field() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut m = monitor("m");
        f(&mut m["monitor"]);
        m
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|m| m["http"]["urll"] = json!("x")),
            "monitor.http.urll",
        ),
        (
            with(&|m| m["http"]["url"] = json!("nope")),
            "monitor.http.url",
        ),
        (
            with(&|m| m["interval_secs"] = json!("often")),
            "monitor.interval_secs",
        ),
        (
            with(&|m| m["interval_secs"] = json!(0)),
            "monitor.interval_secs",
        ),
        (
            with(&|m| m["regions"] = json!(["mars"])),
            "monitor.regions[0]",
        ),
        (
            with(&|m| m["http"]["headers"] = json!([{"name": "a", "vaule": "b"}])),
            "monitor.http.headers[0].vaule",
        ),
        (
            with(&|m| m["integration_ids"] = json!(["int_missing"])),
            "monitor.integration_ids[0]",
        ),
        (
            with(&|m| m["quorum_mode"] = json!("QUORUM_MODE_MOST")),
            "monitor.quorum_mode",
        ),
        (json!({ "monitor": [] }), "monitor"),
        (json!({ "monitor": {"name": "x"}, "extra": true }), "extra"),
        (json!({}), "monitor"),
    ];
    for (body, field) in cases {
        api.post("/api/v1/monitors", body)
            .await
            .expect_error(422, "invalid_request", Some(field));
    }
    assert_eq!(
        api.get("/api/v1/monitors").await.expect(200).body,
        json!([])
    );
    h.stop().await;
}

#[tokio::test]
async fn grpc_attaches_detaches_and_lists() {
    let h = Harness::start_rest_on(memory_store().await).await;
    let api = Rest::new(&h, Some(PROJECT_TOKEN));
    let id = api
        .post("/api/v1/monitors", monitor("grpc"))
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    let hook = webhook(&api, "https://example.com/grpc").await;
    let mut grpc = MonitorServiceClient::new(h.channel().await);
    let attach = |integration_id: &str| {
        bearer(
            PROJECT_TOKEN,
            AttachIntegrationRequest {
                monitor_id: id.clone(),
                integration_id: integration_id.into(),
            },
        )
    };
    let m = grpc
        .attach_integration(attach(&hook))
        .await
        .expect("attach")
        .into_inner();
    assert_eq!(m.integration_ids, std::slice::from_ref(&hook));
    let listed = grpc
        .list_monitor_integrations(bearer(
            PROJECT_TOKEN,
            ListMonitorIntegrationsRequest {
                monitor_id: id.clone(),
            },
        ))
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.integrations.len(), 1);
    assert_eq!(listed.integrations[0].id, hook);
    let e = grpc
        .attach_integration(attach(""))
        .await
        .expect_err("empty id");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("integration_id: "), "{e:?}");
    let e = grpc
        .attach_integration(attach("int_nope"))
        .await
        .expect_err("unknown");
    assert_eq!(e.code(), Code::NotFound);
    // Sixteen at most.
    for n in 0..15 {
        let more = webhook(&api, &format!("https://example.com/{n}")).await;
        grpc.attach_integration(attach(&more)).await.expect("room");
    }
    let extra = webhook(&api, "https://example.com/17").await;
    let e = grpc
        .attach_integration(attach(&extra))
        .await
        .expect_err("over the bound");
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("integration_id: "), "{e:?}");
    let detach = |integration_id: &str| {
        bearer(
            PROJECT_TOKEN,
            DetachIntegrationRequest {
                monitor_id: id.clone(),
                integration_id: integration_id.into(),
            },
        )
    };
    let m = grpc
        .detach_integration(detach(&hook))
        .await
        .expect("detach")
        .into_inner();
    assert_eq!(m.integration_ids.len(), 15);
    assert!(!m.integration_ids.contains(&hook));
    let e = grpc
        .detach_integration(detach(&hook))
        .await
        .expect_err("not attached");
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("does not attach"), "{e:?}");
    h.stop().await;
}

async fn memory_store() -> lookout_store::Store {
    lookout_store::Store::open("sqlite::memory:", lookout_store::testing::random_keyring())
        .await
        .expect("in-memory store")
}
