//! A monitor needs a schedule: a refusal without one says that either field will do.

use lookout_proto::Monitor;
use lookout_proto::v1::{TcpCheck, monitor::Check};
use lookout_proto::validate::monitor;

#[test]
fn a_missing_schedule_names_both_fields() {
    for cron in ["", "   "] {
        let m = Monitor {
            name: "m".into(),
            regions: vec!["eu".into()],
            cron: cron.into(),
            check: Some(Check::Tcp(TcpCheck {
                address: "example.org:443".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let e = monitor(m, &["eu".to_string()]).expect_err("no schedule");
        assert_eq!(e.field, "interval_secs", "{cron:?}");
        assert!(
            e.reason.starts_with("one of interval_secs (1..=")
                && e.reason.ends_with("or cron is required"),
            "{cron:?}: {}",
            e.reason
        );
    }
}
