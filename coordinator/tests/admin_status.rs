//! Each region's status in `GetMonitor` and `ListMonitors`, read from the notifier's state in
//! the store; a status sent in is never taken.

mod common;

use common::{Harness, http_monitor};
use lookout_proto::v1::{
    GetMonitorRequest, ListMonitorsRequest, Monitor, RegionStatus, UpdateMonitorRequest,
};
use lookout_store::notifier::{NotifierBatch, RegionStateRow};

fn state(monitor: &str, region: &str, status: &str, failures: u32, down: bool) -> RegionStateRow {
    RegionStateRow {
        monitor_id: monitor.into(),
        region: region.into(),
        down,
        consecutive_failures: failures,
        consecutive_successes: 0,
        last_status: status.into(),
        newest_scheduled_at_ms: 1,
        newest_result_ids: vec!["r1".into()],
        ..Default::default()
    }
}

fn summary(m: &Monitor) -> Vec<(String, String, u32, bool, i64)> {
    m.region_status
        .iter()
        .map(|s| {
            (
                s.region.clone(),
                s.status.clone(),
                s.consecutive_failures,
                s.down,
                s.changed_at_ms,
            )
        })
        .collect()
}

fn row(
    region: &str,
    status: &str,
    failures: u32,
    down: bool,
    at: i64,
) -> (String, String, u32, bool, i64) {
    (region.into(), status.into(), failures, down, at)
}

#[tokio::test]
async fn get_and_list_show_each_regions_status_from_the_store() {
    let h = Harness::start().await;
    let mut admin = h.admin().await;
    let mut claimed = http_monitor("api", &["us", "eu"]);
    claimed.region_status = vec![RegionStatus {
        region: "eu".into(),
        status: "UP".into(),
        ..Default::default()
    }];
    let api = admin.create(claimed).await.expect("create");
    let web = admin
        .create(http_monitor("web", &["eu"]))
        .await
        .expect("create");

    let req = admin.req(GetMonitorRequest { id: api.id.clone() });
    let got = admin
        .client
        .get_monitor(req)
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        summary(&got),
        [
            row("eu", "PENDING", 0, false, 0),
            row("us", "PENDING", 0, false, 0)
        ],
        "nothing applied yet, whatever the create claimed"
    );

    // What a notifier would write: eu is down, us has no data, web is up; a row of a region
    // the monitor no longer runs in is not shown.
    let batch = NotifierBatch {
        states: vec![
            state(&api.id, "eu", "DOWN", 4, true),
            state(&api.id, "us", "NO_DATA", 0, false),
            state(&api.id, "ap", "UP", 0, false),
            state(&web.id, "eu", "UP", 0, false),
        ],
        ..Default::default()
    };
    h.store
        .apply_notifier_batch("g", "t", &batch, 1_700_000_000_000)
        .await
        .expect("notifier state");

    let want_api = [
        row("eu", "DOWN", 4, true, 1_700_000_000_000),
        row("us", "NO_DATA", 0, false, 1_700_000_000_000),
    ];
    let req = admin.req(GetMonitorRequest { id: api.id.clone() });
    let got = admin
        .client
        .get_monitor(req)
        .await
        .expect("get")
        .into_inner();
    assert_eq!(summary(&got), want_api);

    let req = admin.req(ListMonitorsRequest::default());
    let list = admin
        .client
        .list_monitors(req)
        .await
        .expect("list")
        .into_inner();
    let by_id = |id: &str| list.monitors.iter().find(|m| m.id == id).expect("listed");
    assert_eq!(summary(by_id(&api.id)), want_api);
    assert_eq!(
        summary(by_id(&web.id)),
        [row("eu", "UP", 0, false, 1_700_000_000_000)]
    );

    // A monitor read back and sent again, status and all, is accepted; the claim is dropped.
    let mut sent = got.clone();
    sent.name = "api v2".into();
    for s in &mut sent.region_status {
        s.status = "UP".into();
    }
    let req = admin.req(UpdateMonitorRequest {
        monitor: Some(sent),
    });
    admin.client.update_monitor(req).await.expect("update");
    assert!(
        h.store
            .get_monitor(&api.id)
            .await
            .expect("stored")
            .region_status
            .is_empty(),
        "a status is never stored with the monitor"
    );
    let req = admin.req(GetMonitorRequest { id: api.id.clone() });
    let got = admin
        .client
        .get_monitor(req)
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        (got.name.as_str(), summary(&got)),
        ("api v2", want_api.to_vec())
    );
    h.stop().await;
}
