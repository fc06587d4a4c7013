//! The detector's rules, on an injected clock.

use super::*;
use lookout_proto::v1::{HttpCheck, monitor::Check};

fn monitor(id: &str, regions: &[&str], interval_secs: u32) -> Monitor {
    Monitor {
        id: id.into(),
        name: id.into(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        interval_secs,
        timeout_ms: 5_000,
        version: 1,
        check: Some(Check::Http(HttpCheck {
            url: "http://127.0.0.1:9/".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn result(id: &str, region: &str, status: CheckStatus) -> CheckResult {
    CheckResult {
        monitor_id: id.into(),
        region: region.into(),
        status: status as i32,
        ..Default::default()
    }
}

fn regions(names: &[&str]) -> HashSet<String> {
    names.iter().map(|r| r.to_string()).collect()
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// (region, message) of each result due at `at`.
fn due(t: &mut Tracker, at: Instant, connected: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<_> = t
        .due(at, &regions(connected), 1_700_000_000_000)
        .into_iter()
        .map(|r| {
            assert_eq!(r.status(), CheckStatus::NoData);
            assert!(r.agent_id.is_empty());
            (r.region, r.error_message)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_region_without_agents_is_reported_after_three_intervals_and_the_timeout() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu", "us"], 30), t0);
    // 3 × 30 s + 5 s timeout.
    assert!(due(&mut t, t0 + secs(94), &["eu"]).is_empty());
    let got = due(&mut t, t0 + secs(95), &["eu"]);
    assert_eq!(
        got,
        [
            (
                "eu".to_string(),
                "no result for 3 intervals (90 s)".to_string()
            ),
            (
                "us".to_string(),
                "no agent connected in region us".to_string()
            ),
        ]
    );
    // Once per transition: nothing more until the reminder (10 intervals = 300 s).
    assert!(due(&mut t, t0 + secs(96), &["eu"]).is_empty());
    assert!(due(&mut t, t0 + secs(394), &["eu"]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(395), &["eu"]).len(), 2);
}

#[test]
fn the_synthetic_result_names_the_monitor_and_its_version() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    let mut m = monitor("m", &["eu"], 10);
    m.version = 7;
    t.track(&m, t0);
    let r = t.due(t0 + secs(60), &regions(&[]), 42).pop().expect("due");
    assert_eq!(
        (
            r.monitor_id.as_str(),
            r.monitor_version,
            r.check_kind.as_str()
        ),
        ("m", 7, "http")
    );
    assert_eq!(r.scheduled_at_ms, 42);
    assert!(uuid::Uuid::parse_str(&r.id).is_ok(), "{}", r.id);
}

#[test]
fn usable_results_keep_a_region_quiet_and_end_a_silence() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 10), t0);
    for s in [10, 20, 30, 40] {
        t.observe(&result("m", "eu", CheckStatus::Down), t0 + secs(s));
        assert!(due(&mut t, t0 + secs(s), &["eu"]).is_empty());
    }
    assert_eq!(due(&mut t, t0 + secs(75), &["eu"]).len(), 1);
    t.observe(&result("m", "eu", CheckStatus::Degraded), t0 + secs(80));
    // A new silence starts from the last result, and is a new transition.
    assert!(due(&mut t, t0 + secs(114), &["eu"]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(115), &["eu"]).len(), 1);
}

#[test]
fn only_missed_results_are_no_data_with_their_reason() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 10), t0);
    for s in [10, 20, 30] {
        let mut r = result("m", "eu", CheckStatus::Missed);
        r.failure_class = FailureClass::Overload as i32;
        r.error_message = "all 4 check slots stayed busy".into();
        t.observe(&r, t0 + secs(s));
    }
    assert_eq!(
        due(&mut t, t0 + secs(35), &["eu"]),
        [(
            "eu".to_string(),
            "only MISSED results for 3 intervals: all 4 check slots stayed busy".to_string()
        )]
    );
}

#[test]
fn a_check_the_agent_cannot_build_is_no_data_with_the_agents_reason() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 10), t0);
    let mut r = result("m", "eu", CheckStatus::Missed);
    r.failure_class = FailureClass::Internal as i32;
    r.error_message = format!("the agent cannot run this check: {}", "x".repeat(5000));
    t.observe(&r, t0 + secs(1));
    let got = due(&mut t, t0 + secs(35), &["eu"]);
    assert_eq!(got.len(), 1);
    assert!(got[0].1.starts_with("the agent cannot run this check: xxx"));
    assert!(got[0].1.len() <= MAX_ERROR_MESSAGE_BYTES, "bounded");
}

#[test]
fn paused_deleted_and_dropped_regions_are_not_watched() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    let mut m = monitor("m", &["eu", "us"], 10);
    t.track(&m, t0);
    m.regions = vec!["eu".into()];
    t.track(&m, t0);
    assert_eq!(due(&mut t, t0 + secs(35), &[]).len(), 1, "us is gone");
    m.paused = true;
    t.track(&m, t0 + secs(36));
    assert!(due(&mut t, t0 + secs(1000), &[]).is_empty());
    t.track(&monitor("n", &["eu"], 10), t0);
    t.forget("n");
    assert!(due(&mut t, t0 + secs(1000), &[]).is_empty());
    // Results of monitors or regions nobody watches change nothing.
    t.observe(&result("zz", "eu", CheckStatus::Up), t0);
}

#[test]
fn a_changed_monitor_gets_fresh_room_and_an_unchanged_one_does_not() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    let mut m = monitor("m", &["eu"], 10);
    t.track(&m, t0);
    // The same version again (a pause that did nothing, a refresh) keeps the clock.
    t.track(&m, t0 + secs(30));
    assert_eq!(due(&mut t, t0 + secs(35), &["eu"]).len(), 1);
    m.version = 2;
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 10), t0);
    t.track(&m, t0 + secs(30));
    assert!(due(&mut t, t0 + secs(64), &["eu"]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(65), &["eu"]).len(), 1);
}

#[test]
fn a_refused_publish_is_reported_again() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 10), t0);
    let first = t.due(t0 + secs(35), &regions(&[]), 0);
    assert_eq!(first.len(), 1);
    t.unreport(&first);
    assert_eq!(due(&mut t, t0 + secs(36), &[]).len(), 1);
}

#[test]
fn short_intervals_are_reminded_at_most_once_a_minute() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 1), t0);
    // 3 × 1 s + the timeout, cut to one interval.
    assert!(due(&mut t, t0 + Duration::from_millis(3_999), &[]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(4), &[]).len(), 1);
    assert!(due(&mut t, t0 + secs(63), &[]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(64), &[]).len(), 1);
}

#[test]
fn cron_monitors_use_the_gap_between_runs() {
    let mut m = monitor("m", &["eu"], 0);
    m.cron = "*/5 * * * *".into();
    assert_eq!(period(&m), Some(secs(300)));
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&m, t0);
    assert!(due(&mut t, t0 + secs(904), &["eu"]).is_empty());
    assert_eq!(
        due(&mut t, t0 + secs(905), &["eu"]),
        [(
            "eu".to_string(),
            "no result for the last 3 scheduled runs".to_string()
        )]
    );
}

#[test]
fn a_clock_started_ahead_waits_for_it() {
    // At start-up, stored monitors are tracked from the end of the reconnect grace.
    let t0 = Instant::now();
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 1), t0 + RECONNECT_GRACE);
    assert!(due(&mut t, t0 + secs(33), &[]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(34), &[]).len(), 1);
    // A result before the grace ends starts the usual clock.
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 1), t0 + RECONNECT_GRACE);
    t.observe(&result("m", "eu", CheckStatus::Up), t0 + secs(2));
    assert_eq!(due(&mut t, t0 + secs(6), &["eu"]).len(), 1);
}

#[test]
fn a_failing_bus_holds_reports_back_until_a_grace_after_its_last_failure() {
    let t0 = Instant::now();
    let mut t = Tracker::default();
    // 3 × 10 s + 5 s timeout: due at t0 + 35 s without a bus failure.
    t.track(&monitor("m", &["eu"], 10), t0);
    t.bus_failed(t0 + secs(20));
    t.bus_failed(t0 + secs(30));
    // Silence counts from 30 s after the last failure: t0 + 60 s, due at t0 + 95 s.
    assert!(due(&mut t, t0 + secs(40), &["eu"]).is_empty());
    assert!(due(&mut t, t0 + secs(94), &["eu"]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(95), &["eu"]).len(), 1);
    // Data after the failures counts as usual.
    let mut t = Tracker::default();
    t.track(&monitor("m", &["eu"], 10), t0);
    t.bus_failed(t0);
    t.observe(&result("m", "eu", CheckStatus::Up), t0 + secs(100));
    assert!(due(&mut t, t0 + secs(134), &["eu"]).is_empty());
    assert_eq!(due(&mut t, t0 + secs(135), &["eu"]).len(), 1);
}
