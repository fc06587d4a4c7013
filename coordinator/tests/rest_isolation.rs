//! Two projects on one coordinator, over REST and the new gRPC calls: a token never sees,
//! changes or attaches another project's integrations, monitors, incidents or deliveries; an
//! id of the other project answers 404 (NOT_FOUND) exactly as an unknown id does.

mod common;

use common::{Harness, Reply, Rest, bearer, tenant};
use lookout_proto::v1::monitor_service_client::MonitorServiceClient;
use lookout_proto::v1::{
    AttachIntegrationRequest, DetachIntegrationRequest, ListMonitorIntegrationsRequest,
};
use lookout_store::testing::{TestDb, insert_incident, open_incident};
use serde_json::{Value, json};
use tonic::Code;

fn webhook(url: &str) -> Value {
    json!({ "integration": {
        "type": "Integrations::WebhookIntegration",
        "settings": { "webhook_url": url }
    }})
}

fn monitor(name: &str) -> Value {
    json!({ "monitor": {
        "name": name, "regions": ["eu"], "interval_secs": 30,
        "http": { "url": "https://example.com/" }
    }})
}

/// Status, code and message with `id` replaced, to compare another project's id with an
/// unknown one.
fn shape(r: &Reply, id: &str) -> (u16, Value, String) {
    let message = r.body["message"].as_str().unwrap_or_default();
    (
        r.status,
        r.body["error"].clone(),
        message.replace(id, "<id>"),
    )
}

async fn nothing_crosses_projects(db: TestDb) {
    let h = Harness::start_rest_on(db.store.clone()).await;
    let ch = h.channel().await;
    let a = tenant(&ch, "team-a").await;
    let b = tenant(&ch, "team-b").await;
    let api_a = Rest::new(&h, Some(&a.token));
    let api_b = Rest::new(&h, Some(&b.token));

    let ia = api_a
        .post("/api/v1/integrations", webhook("https://a.example/hook"))
        .await
        .expect(201)
        .body["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    let ma = api_a
        .post("/api/v1/monitors", monitor("a's"))
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();
    api_a
        .post(
            &format!("/api/v1/monitors/{ma}/integrations"),
            json!({ "integration_id": ia }),
        )
        .await
        .expect(201);
    let da = api_a
        .call("POST", &format!("/api/v1/integrations/{ia}/test"), None)
        .await
        .expect(202)
        .body["id"]
        .as_str()
        .expect("delivery")
        .to_string();
    insert_incident(&h.store, &open_incident("inc_a", &ma, 1_000))
        .await
        .expect("incident");
    let mb = api_b
        .post("/api/v1/monitors", monitor("b's"))
        .await
        .expect(201)
        .body["id"]
        .as_str()
        .expect("id")
        .to_string();

    // Lists show only the caller's own.
    for path in [
        "/api/v1/integrations",
        "/api/v1/incidents",
        "/api/v1/deliveries",
    ] {
        assert_eq!(api_b.get(path).await.expect(200).body, json!([]), "{path}");
    }
    let monitors = api_b.get("/api/v1/monitors").await.expect(200).body;
    assert_eq!(monitors.as_array().map(Vec::len), Some(1));
    assert_eq!(monitors[0]["id"], mb.as_str());

    // Every call naming a's ids through b's token answers as for an unknown id.
    let unknown_int = "int_0000000000000000000000000000dead";
    let unknown_mon = "mon_0000000000000000000000000000dead";
    let calls: Vec<(&str, String, String, Option<Value>)> = vec![
        ("GET", "/api/v1/integrations/{}".into(), ia.clone(), None),
        (
            "PUT",
            "/api/v1/integrations/{}".into(),
            ia.clone(),
            Some(webhook("https://b.example/")),
        ),
        ("DELETE", "/api/v1/integrations/{}".into(), ia.clone(), None),
        (
            "POST",
            "/api/v1/integrations/{}/test".into(),
            ia.clone(),
            None,
        ),
        ("GET", "/api/v1/monitors/{}".into(), ma.clone(), None),
        (
            "PUT",
            "/api/v1/monitors/{}".into(),
            ma.clone(),
            Some(monitor("b takes it")),
        ),
        ("DELETE", "/api/v1/monitors/{}".into(), ma.clone(), None),
        (
            "GET",
            "/api/v1/monitors/{}/integrations".into(),
            ma.clone(),
            None,
        ),
        (
            "POST",
            "/api/v1/servers/{}/integrations".into(),
            ma.clone(),
            Some(json!({ "integration_id": ia })),
        ),
        (
            "DELETE",
            format!("/api/v1/monitors/{{}}/integrations/{ia}"),
            ma.clone(),
            None,
        ),
        ("GET", "/api/v1/incidents/{}".into(), "inc_a".into(), None),
        ("GET", "/api/v1/deliveries/{}".into(), da.clone(), None),
    ];
    for (method, path, id, body) in calls {
        let unknown = if id.starts_with("int_") {
            unknown_int
        } else if id.starts_with("mon_") {
            unknown_mon
        } else if id.starts_with("inc_") {
            "inc_unknown"
        } else {
            "dlv_unknown"
        };
        let theirs = api_b
            .call(method, &path.replace("{}", &id), body.clone())
            .await;
        let none = api_b.call(method, &path.replace("{}", unknown), body).await;
        assert_eq!(theirs.status, 404, "{method} {path}: {}", theirs.body);
        assert_eq!(
            shape(&theirs, &id),
            shape(&none, unknown),
            "{method} {path}"
        );
    }
    // b's own monitor cannot attach a's integration.
    api_b
        .post(
            &format!("/api/v1/monitors/{mb}/integrations"),
            json!({ "integration_id": ia }),
        )
        .await
        .expect_error(404, "integration_not_found", None);
    // Filters do not reach across either.
    assert_eq!(
        api_b
            .get(&format!("/api/v1/deliveries?integration_id={ia}"))
            .await
            .expect(200)
            .body,
        json!([])
    );
    assert_eq!(
        api_b
            .get(&format!("/api/v1/incidents?monitor_id={ma}"))
            .await
            .expect(200)
            .body,
        json!([])
    );

    // The same over gRPC.
    let mut grpc = MonitorServiceClient::new(ch.clone());
    let e = grpc
        .attach_integration(bearer(
            &b.token,
            AttachIntegrationRequest {
                monitor_id: mb.clone(),
                integration_id: ia.clone(),
            },
        ))
        .await
        .expect_err("a's integration");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = grpc
        .attach_integration(bearer(
            &b.token,
            AttachIntegrationRequest {
                monitor_id: ma.clone(),
                integration_id: ia.clone(),
            },
        ))
        .await
        .expect_err("a's monitor");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = grpc
        .detach_integration(bearer(
            &b.token,
            DetachIntegrationRequest {
                monitor_id: ma.clone(),
                integration_id: ia.clone(),
            },
        ))
        .await
        .expect_err("a's monitor");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");
    let e = grpc
        .list_monitor_integrations(bearer(
            &b.token,
            ListMonitorIntegrationsRequest {
                monitor_id: ma.clone(),
            },
        ))
        .await
        .expect_err("a's monitor");
    assert_eq!(e.code(), Code::NotFound, "{e:?}");

    // a's things are as they were.
    let list = api_a
        .get(&format!("/api/v1/monitors/{ma}/integrations"))
        .await
        .expect(200)
        .body;
    assert_eq!(list[0]["uuid"], ia.as_str());
    assert_eq!(
        api_a
            .get(&format!("/api/v1/monitors/{ma}"))
            .await
            .expect(200)
            .body["name"],
        "a's"
    );
    h.stop().await;
}

lookout_store::backend_tests!(nothing_crosses_projects);
