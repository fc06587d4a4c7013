//! SIGTERM `lookout standalone` mid-incident and start it again on the same SQLite file: it
//! stops on its own within the bound, the recovery webhook arrives after the restart, and no
//! notification is sent twice or lost.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use lookout_tests::eventually;
use lookout_tests::servers::{Receiver, Target};
use lookout_tests::standalone::{Standalone, shop_with_webhook};

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_incident_then_restart_loses_and_repeats_nothing() {
    let target = Target::start(200).await;
    let receiver = Receiver::start(200).await;
    let standalone = Standalone::new(
        "t0k",
        &shop_with_webhook(&target.url(), &receiver.url(), "${HOOK_SECRET}"),
    );
    let start = |name: &str| standalone.start(name, &[("HOOK_SECRET", "restart-secret")]);

    let first = start("standalone-1");
    eventually(WAIT, "the monitor to be shown UP", || {
        let out = first.output();
        async move { out.contains("Shop [local] is UP").then_some(()) }
    })
    .await;
    target.set_status(503);
    eventually(WAIT, "the incident webhook", || {
        let got = receiver.of_type("incident");
        async move { (!got.is_empty()).then_some(()) }
    })
    .await;

    // Still down: results keep coming while the process is told to stop.
    let asked = Instant::now();
    let log = first.output();
    let status = first.terminate();
    let took = asked.elapsed();
    assert!(
        status.success(),
        "a clean exit after SIGTERM: {status:?}\n{log}"
    );
    assert!(
        took < Duration::from_secs(30),
        "stopped within the bound: {took:?}"
    );
    let log = std::fs::read_to_string(standalone.dir().join("standalone-1.log")).expect("log");
    assert!(
        log.contains("lookout standalone: stopped"),
        "every part finished before the exit: {log}"
    );

    let second = start("standalone-2");
    eventually(WAIT, "the restarted standalone to serve", || {
        let out = second.output();
        async move { out.contains("admin API on").then_some(()) }
    })
    .await;
    target.set_status(200);
    eventually(WAIT, "the recovery webhook after the restart", || {
        let got = receiver.of_type("recovery");
        async move { (!got.is_empty()).then_some(()) }
    })
    .await;
    eventually(
        WAIT,
        "the restarted standalone to show the monitor UP",
        || {
            let out = second.output();
            async move { out.contains("Shop [local] is UP").then_some(()) }
        },
    )
    .await;

    let all = receiver.received();
    let ids: Vec<String> = all.iter().map(|r| r.header("x-lookout-delivery")).collect();
    assert!(
        ids.iter().all(|id| !id.is_empty()),
        "every delivery has an id"
    );
    let distinct: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        distinct.len(),
        ids.len(),
        "no delivery was sent twice: {ids:?}"
    );
    assert_eq!(
        receiver.of_type("incident").len(),
        1,
        "one incident notification"
    );
    assert_eq!(
        receiver.of_type("recovery").len(),
        1,
        "one recovery notification"
    );
    for hook in &all {
        assert!(lookout_tests::signature_valid(
            "restart-secret",
            &hook.header("x-lookout-timestamp"),
            &hook.body,
            &hook.header("x-lookout-signature")
        ));
    }
    let store = lookout_store::Store::open(&standalone.store_url(), standalone.keyring())
        .await
        .expect("open the standalone database");
    assert!(
        store.open_incident("shop").await.expect("query").is_none(),
        "the incident is resolved in the store"
    );
    assert!(
        second.output().contains("RESOLVED Shop (shop)"),
        "the restarted process resolved the incident it did not open"
    );
}
