//! `lookout standalone` (no Kafka needed) with a check whose failure quotes a 1 MB JSON value
//! beside a normal monitor on the same agent: the failure is reported bounded, the normal
//! monitor's results keep flowing (its outage is seen), and the agent session never drops.

use std::time::Duration;

use lookout_tests::eventually;
use lookout_tests::servers::{JsonTarget, Target};
use lookout_tests::standalone::Standalone;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_failure_message_does_not_stall_the_standalone_agent() {
    let big = JsonTarget::start(1_000_000).await;
    let plain = Target::start(200).await;
    let standalone = Standalone::new(
        "t0k",
        &format!(
            "monitors:\n\
             \x20 - id: huge\n    name: Huge\n    regions: [local]\n    interval_secs: 1\n\
             \x20   http:\n      url: {big}\n      assertions:\n\
             \x20       - json_path: {{path: $, comparison: COMPARISON_EQUALS, value: '\"x\"'}}\n\
             \x20 - id: plain\n    name: Plain\n    regions: [local]\n    interval_secs: 1\n\
             \x20   http:\n      url: {plain}\n",
            big = big.url(),
            plain = plain.url(),
        ),
    );
    let proc = standalone.start("standalone", &[]);

    let shown = |what: &'static str| {
        let out = proc.output();
        async move { out.contains(what).then_some(()) }
    };
    eventually(WAIT, "the huge monitor shown DOWN", || {
        shown("Huge [local] is DOWN")
    })
    .await;
    eventually(WAIT, "the plain monitor shown UP", || {
        shown("Plain [local] is UP")
    })
    .await;
    // Several more rounds of the huge failure, then the plain monitor's outage must still show.
    tokio::time::sleep(Duration::from_secs(3)).await;
    plain.set_status(503);
    eventually(WAIT, "the plain monitor's outage shown", || {
        shown("Plain [local] is DOWN")
    })
    .await;

    let out = proc.output();
    let huge_line = out
        .lines()
        .find(|l| l.contains("Huge [local] is DOWN"))
        .expect("the huge failure line");
    assert!(
        huge_line.len() < 1_500,
        "the failure message is bounded: {} bytes",
        huge_line.len()
    );
    assert_eq!(
        out.matches("agent joined").count(),
        1,
        "one session:\n{out}"
    );
    assert!(
        !out.contains("agent left"),
        "the session never dropped:\n{out}"
    );
    assert!(!out.contains("coordinator session lost"), "{out}");
}
