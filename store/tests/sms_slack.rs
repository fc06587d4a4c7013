//! SMS verification and Slack app state in the store, on SQLite and on PostgreSQL: the plan
//! flag, the send rate limit per number across projects, codes replaced, counted and used
//! once; OAuth states single-use and expiring; incident messages remembered once.

use lookout_store::projects::{DEFAULT_PROJECT_ID, Quotas};
use lookout_store::slack::SlackMessageRow;
use lookout_store::sms::{SendSlot, SmsSendLimits, SmsVerificationRow};
use lookout_store::testing::TestDb;

const QUOTAS: Quotas = Quotas {
    max_monitors: 10,
    min_interval_secs: 1,
    max_regions_per_monitor: 4,
};

const LIMITS: SmsSendLimits = SmsSendLimits {
    window_ms: 3_600_000,
    max_per_window: 3,
    min_gap_ms: 30_000,
};

async fn the_plan_flag_is_off_until_set(db: TestDb) {
    let s = db.store;
    let p = s.create_project("prj_a", "a", QUOTAS).await.expect("a");
    assert!(!p.paid_plan);
    assert!(
        !s.get_project(DEFAULT_PROJECT_ID)
            .await
            .expect("default")
            .paid_plan
    );
    assert!(
        s.set_project_plan("prj_a", true)
            .await
            .expect("set")
            .paid_plan
    );
    assert!(s.get_project("prj_a").await.expect("a").paid_plan);
    assert!(
        !s.set_project_plan("prj_a", false)
            .await
            .expect("unset")
            .paid_plan
    );
    assert!(s.set_project_plan("prj_nope", true).await.is_err());
}

async fn sends_are_limited_per_number(db: TestDb) {
    let s = db.store;
    let n = "+1234567890";
    let t0 = 1_000_000_000;
    assert_eq!(
        s.take_sms_send_slot("prj_a", n, t0, LIMITS)
            .await
            .expect("1"),
        SendSlot::Granted
    );
    // Within the gap: refused, for another project too (the limit protects the number).
    assert_eq!(
        s.take_sms_send_slot("prj_b", n, t0 + 10_000, LIMITS)
            .await
            .expect("gap"),
        SendSlot::Limited {
            retry_after_ms: 20_000
        }
    );
    // Another number is not affected.
    assert_eq!(
        s.take_sms_send_slot("prj_a", "+1999999999", t0 + 10_000, LIMITS)
            .await
            .expect("other"),
        SendSlot::Granted
    );
    for k in 1..3 {
        assert_eq!(
            s.take_sms_send_slot("prj_a", n, t0 + k * 60_000, LIMITS)
                .await
                .expect("more"),
            SendSlot::Granted
        );
    }
    // Three in the hour: the next is possible when the first leaves the window.
    assert_eq!(
        s.take_sms_send_slot("prj_a", n, t0 + 600_000, LIMITS)
            .await
            .expect("window"),
        SendSlot::Limited {
            retry_after_ms: 3_000_000
        }
    );
    assert_eq!(
        s.take_sms_send_slot("prj_a", n, t0 + 3_600_001, LIMITS)
            .await
            .expect("after"),
        SendSlot::Granted
    );
}

fn code(hash: &[u8], now: i64) -> SmsVerificationRow {
    SmsVerificationRow {
        project_id: "prj_a".into(),
        phone_number: "+1234567890".into(),
        code_salt: vec![1; 16],
        code_hash: hash.to_vec(),
        attempts: 0,
        expires_at_ms: now + 600_000,
        created_at_ms: now,
    }
}

async fn codes_are_replaced_counted_and_used_once(db: TestDb) {
    let s = db.store;
    let first = code(b"hash-one", 1_000);
    s.put_sms_verification(&first).await.expect("put");
    let got = s
        .sms_verification("prj_a", "+1234567890")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(got, first);
    assert!(
        s.sms_verification("prj_b", "+1234567890")
            .await
            .expect("b")
            .is_none()
    );
    assert!(s.count_sms_attempt(&got).await.expect("count"));
    // Counting against a stale read does not count twice.
    assert!(!s.count_sms_attempt(&got).await.expect("stale"));
    let got = s
        .sms_verification("prj_a", "+1234567890")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(got.attempts, 1);
    // A new code replaces it and its attempts.
    let second = code(b"hash-two", 2_000);
    s.put_sms_verification(&second).await.expect("replace");
    let got = s
        .sms_verification("prj_a", "+1234567890")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        (got.code_hash.as_slice(), got.attempts),
        (&b"hash-two"[..], 0)
    );
    // The old code cannot be consumed; the new one once.
    assert!(!s.delete_sms_verification(&first).await.expect("old"));
    assert!(s.delete_sms_verification(&second).await.expect("use"));
    assert!(!s.delete_sms_verification(&second).await.expect("twice"));
    // Expired codes go when another is stored.
    s.put_sms_verification(&code(b"h", 3_000))
        .await
        .expect("put");
    let mut later = code(b"h2", 700_000);
    later.phone_number = "+1999999999".into();
    s.put_sms_verification(&later).await.expect("put");
    assert!(
        s.sms_verification("prj_a", "+1234567890")
            .await
            .expect("read")
            .is_none()
    );
}

async fn oauth_states_are_single_use_and_expire(db: TestDb) {
    let s = db.store;
    let a = [1u8; 32];
    let b = [2u8; 32];
    assert!(
        s.insert_slack_oauth_state(&a, "prj_a", 1_000, 601_000, 2)
            .await
            .expect("a")
    );
    assert!(
        s.insert_slack_oauth_state(&b, "prj_a", 1_000, 2_000, 2)
            .await
            .expect("b")
    );
    // At most two pending per project.
    assert!(
        !s.insert_slack_oauth_state(&[3; 32], "prj_a", 1_500, 601_500, 2)
            .await
            .expect("c")
    );
    assert!(
        s.insert_slack_oauth_state(&[4; 32], "prj_b", 1_500, 601_500, 2)
            .await
            .expect("d")
    );
    assert_eq!(
        s.take_slack_oauth_state(&a, 5_000).await.expect("take"),
        Some("prj_a".to_string())
    );
    assert_eq!(
        s.take_slack_oauth_state(&a, 5_000).await.expect("again"),
        None
    );
    // Expired: gone, and no project.
    assert_eq!(
        s.take_slack_oauth_state(&b, 5_000).await.expect("expired"),
        None
    );
    assert_eq!(
        s.take_slack_oauth_state(&[9; 32], 5_000)
            .await
            .expect("unknown"),
        None
    );
}

async fn incident_messages_are_remembered_once(db: TestDb) {
    let s = db.store;
    let m = SlackMessageRow {
        incident_id: "inc_1".into(),
        integration_id: "int_1".into(),
        channel_id: "C1".into(),
        ts: "1700000000.000100".into(),
    };
    s.remember_slack_message(&m, 1_000).await.expect("remember");
    let later = SlackMessageRow {
        ts: "1700000001.000200".into(),
        ..m.clone()
    };
    s.remember_slack_message(&later, 2_000)
        .await
        .expect("again");
    assert_eq!(
        s.slack_message("inc_1", "int_1").await.expect("read"),
        Some(m.clone())
    );
    assert_eq!(s.slack_message("inc_1", "int_2").await.expect("read"), None);
    assert_eq!(
        s.slack_message_at("C1", "1700000000.000100")
            .await
            .expect("at"),
        Some(m)
    );
    assert_eq!(
        s.slack_message_at("C2", "1700000000.000100")
            .await
            .expect("at"),
        None
    );
    assert_eq!(s.prune_slack_messages(1_000).await.expect("prune none"), 0);
    assert_eq!(s.prune_slack_messages(1_001).await.expect("prune"), 1);
    assert_eq!(s.slack_message("inc_1", "int_1").await.expect("read"), None);
}

lookout_store::backend_tests!(
    the_plan_flag_is_off_until_set,
    sends_are_limited_per_number,
    codes_are_replaced_counted_and_used_once,
    oauth_states_are_single_use_and_expire,
    incident_messages_are_remembered_once
);
