//! Table-driven tests of the incident engine's monitor settings.

use super::*;
use crate::v1::{
    CertificateExpiry, EscalationLevel, FlappingPolicy, HttpCheck, MaintenanceWindow,
    ReminderPolicy, TcpCheck,
};
use crate::validate::ValidMonitor;

fn monitor(regions: &[&str]) -> Monitor {
    Monitor {
        id: "mon_a".into(),
        name: "api".into(),
        regions: regions.iter().map(|r| r.to_string()).collect(),
        interval_secs: 30,
        check: Some(Check::Http(HttpCheck {
            url: "https://example.org".into(),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn level(after_failures: u32, after_secs: u32, ids: &[&str]) -> EscalationLevel {
    EscalationLevel {
        after_failures,
        after_secs,
        integration_ids: ids.iter().map(|s| s.to_string()).collect(),
    }
}

fn recurring(cron: &str, minutes: u32, tz: &str) -> MaintenanceWindow {
    MaintenanceWindow {
        cron: cron.into(),
        duration_minutes: minutes,
        time_zone: tz.into(),
        ..Default::default()
    }
}

fn one_off(start_ms: i64, end_ms: i64) -> MaintenanceWindow {
    MaintenanceWindow {
        start_ms,
        end_ms,
        ..Default::default()
    }
}

fn valid(m: Monitor) -> Result<Monitor, FieldError> {
    ValidMonitor::try_from(m).map(ValidMonitor::into_spec)
}

/// Mode, regions, `region_quorum` given, the count kept or the refusal.
type QuorumCase = (
    QuorumMode,
    &'static [&'static str],
    u32,
    Result<u32, &'static str>,
);

#[test]
fn quorum_modes_fill_the_count_they_mean() {
    let cases: &[QuorumCase] = &[
        (QuorumMode::Unspecified, &["a", "b", "c"], 0, Ok(1)),
        (QuorumMode::Count, &["a", "b", "c"], 2, Ok(2)),
        (QuorumMode::Majority, &["a"], 0, Ok(1)),
        (QuorumMode::Majority, &["a", "b"], 0, Ok(2)),
        (QuorumMode::Majority, &["a", "b", "c"], 0, Ok(2)),
        (QuorumMode::Majority, &["a", "b", "c", "d"], 0, Ok(3)),
        (QuorumMode::All, &["a", "b", "c"], 0, Ok(3)),
        // Validating a stored monitor again keeps it.
        (QuorumMode::All, &["a", "b", "c"], 3, Ok(3)),
        (
            QuorumMode::Majority,
            &["a", "b", "c"],
            1,
            Err(
                "region_quorum: 1 conflicts with quorum_mode QUORUM_MODE_MAJORITY (2 of the 3 regions); leave it unset",
            ),
        ),
    ];
    for (mode, regions, count, want) in cases {
        let m = Monitor {
            quorum_mode: *mode as i32,
            region_quorum: *count,
            ..monitor(regions)
        };
        let got = valid(m).map(|m| m.region_quorum).map_err(|e| e.to_string());
        assert_eq!(
            got,
            want.map_err(str::to_string),
            "{mode:?} {regions:?} {count}"
        );
    }
    let m = Monitor {
        quorum_mode: 9,
        ..monitor(&["a"])
    };
    assert_eq!(
        valid(m).expect_err("unknown").to_string(),
        "quorum_mode: 9 is not a known quorum mode (0..=3)"
    );
}

#[test]
fn defaults_are_filled() {
    let m = Monitor {
        reminders: Some(ReminderPolicy {
            every_minutes: 15,
            max: 0,
        }),
        certificate_expiry: Some(CertificateExpiry::default()),
        flapping: Some(FlappingPolicy {
            changes: 5,
            window_secs: 0,
        }),
        maintenance: vec![recurring(" 0 2 * * 0 ", 60, "")],
        parent_monitor_id: " mon_db ".into(),
        ..monitor(&["eu"])
    };
    let m = valid(m).expect("valid");
    assert_eq!(m.reminders.map(|r| r.max), Some(DEFAULT_MAX_REMINDERS));
    assert_eq!(
        m.certificate_expiry.map(|c| c.days),
        Some(DEFAULT_CERT_DAYS)
    );
    assert_eq!(
        m.flapping.map(|f| f.window_secs),
        Some(DEFAULT_FLAP_WINDOW_SECS)
    );
    assert_eq!(m.maintenance[0].time_zone, "UTC");
    assert_eq!(m.maintenance[0].cron, "0 2 * * 0");
    assert_eq!(m.parent_monitor_id, "mon_db");
    // Validation is idempotent: what was stored validates to itself.
    assert_eq!(valid(m.clone()).expect("again"), m);
}

#[test]
fn refusals_name_the_field_and_the_reason() {
    let base = || monitor(&["eu"]);
    let cases: Vec<(Monitor, &str)> = vec![
        (
            Monitor {
                escalation: vec![level(0, 0, &["int_a"])],
                ..base()
            },
            "escalation[0]: needs after_failures or after_secs: when the level is reached",
        ),
        (
            Monitor {
                escalation: vec![level(3, 0, &[])],
                ..base()
            },
            "escalation[0].integration_ids: must name at least one integration",
        ),
        (
            Monitor {
                escalation: vec![level(3, 0, &["int_a", "int_a"])],
                ..base()
            },
            "escalation[0].integration_ids[1]: \"int_a\" is listed twice",
        ),
        (
            Monitor {
                escalation: vec![level(10_001, 0, &["int_a"])],
                ..base()
            },
            "escalation[0].after_failures: 10001 is invalid, must be 0..=10000",
        ),
        (
            Monitor {
                escalation: vec![level(0, 604_801, &["int_a"])],
                ..base()
            },
            "escalation[0].after_secs: 604801 is invalid, must be 0..=604800",
        ),
        (
            Monitor {
                escalation: vec![level(5, 0, &["int_a"]), level(5, 0, &["int_b"])],
                ..base()
            },
            "escalation[1].after_failures: 5 must be more than the previous level's 5",
        ),
        (
            Monitor {
                escalation: vec![level(0, 600, &["int_a"]), level(0, 300, &["int_b"])],
                ..base()
            },
            "escalation[1].after_secs: 300 must be more than the previous level's 600",
        ),
        (
            Monitor {
                escalation: (0..9).map(|i| level(i + 1, 0, &["int_a"])).collect(),
                ..base()
            },
            "escalation: has 9 entries, at most 8",
        ),
        (
            Monitor {
                reminders: Some(ReminderPolicy {
                    every_minutes: 10_081,
                    max: 1,
                }),
                ..base()
            },
            "reminders.every_minutes: 10081 is invalid, must be 0..=10080 (0: no reminders)",
        ),
        (
            Monitor {
                reminders: Some(ReminderPolicy {
                    every_minutes: 5,
                    max: 1_001,
                }),
                ..base()
            },
            "reminders.max: 1001 is invalid, must be 1..=1000",
        ),
        (
            Monitor {
                maintenance: vec![MaintenanceWindow {
                    start_ms: 1,
                    end_ms: 2,
                    cron: "* * * * *".into(),
                    ..Default::default()
                }],
                ..base()
            },
            "maintenance[0]: set either start_ms/end_ms (one-off) or cron/duration_minutes (recurring), not both",
        ),
        (
            Monitor {
                maintenance: vec![MaintenanceWindow::default()],
                ..base()
            },
            "maintenance[0]: needs start_ms and end_ms (one-off) or cron and duration_minutes (recurring)",
        ),
        (
            Monitor {
                maintenance: vec![one_off(2_000, 1_000)],
                ..base()
            },
            "maintenance[0].end_ms: 1000 must be after start_ms 2000",
        ),
        (
            Monitor {
                maintenance: vec![one_off(1, 1 + MAX_ONE_OFF_WINDOW_MS + 1)],
                ..base()
            },
            "maintenance[0].end_ms: the window is longer than 366 days",
        ),
        (
            Monitor {
                maintenance: vec![MaintenanceWindow {
                    time_zone: "UTC".into(),
                    ..one_off(1_000, 2_000)
                }],
                ..base()
            },
            "maintenance[0].time_zone: applies to recurring windows only (start_ms and end_ms are UTC instants)",
        ),
        (
            Monitor {
                maintenance: vec![recurring("", 30, "UTC")],
                ..base()
            },
            "maintenance[0].cron: a recurring window needs a cron expression for its start",
        ),
        (
            Monitor {
                maintenance: vec![recurring("0 2 * *", 30, "UTC")],
                ..base()
            },
            "maintenance[0].cron: \"0 2 * *\" is not a valid 5-field cron expression",
        ),
        (
            Monitor {
                maintenance: vec![recurring("0 2 30 2 *", 30, "UTC")],
                ..base()
            },
            "maintenance[0].cron: \"0 2 30 2 *\" never matches a date",
        ),
        (
            Monitor {
                maintenance: vec![recurring("0 2 * * *", 0, "UTC")],
                ..base()
            },
            "maintenance[0].duration_minutes: 0 is invalid, must be 1..=10080",
        ),
        (
            Monitor {
                maintenance: vec![recurring("0 2 * * *", 30, "Mars/Olympus")],
                ..base()
            },
            "maintenance[0].time_zone: \"Mars/Olympus\" is not an IANA time zone (such as Europe/Berlin or UTC)",
        ),
        (
            Monitor {
                parent_monitor_id: "mon_a".into(),
                ..base()
            },
            "parent_monitor_id: a monitor cannot depend on itself",
        ),
        (
            Monitor {
                parent_monitor_id: "x".repeat(65),
                ..base()
            },
            "parent_monitor_id: is 65 bytes, at most 64",
        ),
        (
            Monitor {
                certificate_expiry: Some(CertificateExpiry {
                    days: 366,
                    enabled: None,
                }),
                ..base()
            },
            "certificate_expiry.days: 366 is invalid, must be 1..=365",
        ),
        (
            Monitor {
                certificate_expiry: Some(CertificateExpiry {
                    days: 0,
                    enabled: Some(true),
                }),
                check: Some(Check::Tcp(TcpCheck {
                    address: "example.org:80".into(),
                    ..Default::default()
                })),
                ..base()
            },
            "certificate_expiry: only https and tls monitors have a certificate",
        ),
        (
            Monitor {
                flapping: Some(FlappingPolicy {
                    changes: 1,
                    window_secs: 600,
                }),
                ..base()
            },
            "flapping.changes: 1 is invalid, must be 2..=100 (0: off)",
        ),
        (
            Monitor {
                flapping: Some(FlappingPolicy {
                    changes: 4,
                    window_secs: 59,
                }),
                ..base()
            },
            "flapping.window_secs: 59 is invalid, must be 60..=86400",
        ),
    ];
    for (m, want) in cases {
        let got = valid(m).expect_err(want).to_string();
        assert!(got.starts_with(want), "got {got:?}, want {want:?}");
    }
}

#[test]
fn quorum_count_of_each_mode() {
    let cases = [
        (QuorumMode::Count, 0, 3, 1),
        (QuorumMode::Count, 5, 3, 3),
        (QuorumMode::Majority, 0, 5, 3),
        (QuorumMode::Majority, 0, 6, 4),
        (QuorumMode::All, 0, 0, 1),
        (QuorumMode::All, 0, 16, 16),
    ];
    for (mode, count, regions, want) in cases {
        assert_eq!(
            quorum_count(mode, count, regions),
            want,
            "{mode:?} {regions}"
        );
    }
}

#[test]
fn only_https_and_tls_monitors_have_certificates() {
    let http = |url: &str| Monitor {
        check: Some(Check::Http(HttpCheck {
            url: url.into(),
            ..Default::default()
        })),
        ..monitor(&["eu"])
    };
    assert!(has_certificate(&http("https://a.b")));
    assert!(has_certificate(&http("HTTPS://a.b")));
    assert!(!has_certificate(&http("http://a.b")));
    assert!(has_certificate(&Monitor {
        check: Some(Check::Tls(Default::default())),
        ..monitor(&["eu"])
    }));
}
