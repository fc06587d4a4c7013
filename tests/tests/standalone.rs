//! `lookout standalone`: one process on SQLite and the in-process bus checks a local target,
//! prints the incident when it goes down and records it in the database, then resolves it.

use std::time::Duration;

use lookout_tests::eventually;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::standalone::{Standalone, shop_with_webhook};

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_detects_and_records_an_incident() {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let standalone = Standalone::new(
        "t0k",
        &shop_with_webhook(&target.url(), &receiver.url(), "${HOOK_SECRET}"),
    );
    let proc = standalone.start("standalone", &[("HOOK_SECRET", "standalone-secret")]);

    eventually(WAIT, "the monitor to be shown UP", || {
        let out = proc.output();
        async move { out.contains("Shop [local] is UP").then_some(()) }
    })
    .await;

    target.set_status(503);
    eventually(WAIT, "the incident to be printed", || {
        let out = proc.output();
        async move {
            out.contains("INCIDENT Shop (shop) down in local")
                .then_some(())
        }
    })
    .await;
    let store_url = standalone.store_url();
    let store = lookout_store::Store::open(&store_url, standalone.keyring())
        .await
        .expect("open the standalone database");
    let open = store
        .open_incident("shop")
        .await
        .expect("query")
        .expect("an open incident is stored");
    assert_eq!(open.monitor_id, "shop");
    let hook = eventually(WAIT, "the incident webhook", || {
        let got = receiver.of_type("incident");
        async move { got.into_iter().next() }
    })
    .await;
    assert!(lookout_tests::signature_valid(
        "standalone-secret",
        &hook.header("x-lookout-timestamp"),
        &hook.body,
        &hook.header("x-lookout-signature")
    ));

    target.set_status(200);
    eventually(WAIT, "the incident to be resolved", || {
        let out = proc.output();
        async move { out.contains("RESOLVED Shop (shop)").then_some(()) }
    })
    .await;
    assert!(
        store.open_incident("shop").await.expect("query").is_none(),
        "the incident is resolved in the store"
    );
}
