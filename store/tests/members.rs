//! Project members and the SSH restart cooldown in the store, on SQLite and on PostgreSQL:
//! addresses unique per project case-insensitively, codes sealed and forgotten once verified,
//! the notifier's mailing queue, and one restart per server within the cooldown even when two
//! deliveries race.

use lookout_store::members::RestartClaim;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::TestDb;
use lookout_store::{Sql, Store, StoreError, now_ms};

const P: &str = DEFAULT_PROJECT_ID;

async fn code_in_clear(s: &Store, code: &str) -> bool {
    let rows = s
        .query(Sql::new("SELECT code_sealed AS v FROM project_members"))
        .await
        .expect("read");
    rows.iter().any(|r| {
        r.get::<Option<Vec<u8>>>("v")
            .expect("bytes")
            .is_some_and(|v| v.windows(code.len()).any(|w| w == code.as_bytes()))
    })
}

async fn members_verify_with_their_code(db: TestDb) {
    let s = db.store;
    let expires = now_ms() + 60_000;
    let m = s
        .insert_member(P, "mem_1", "Alice@Example.com", "Alice", "480213", expires)
        .await
        .expect("insert");
    assert_eq!(m.verified_at_ms, None);
    assert!(!code_in_clear(&s, "480213").await, "the code is sealed");
    let again = s
        .insert_member(P, "mem_2", "alice@example.COM", "", "111111", expires)
        .await;
    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert!(
        s.is_unverified_member(P, "ALICE@example.com")
            .await
            .expect("q")
    );
    assert!(
        !s.is_unverified_member(P, "bob@example.com")
            .await
            .expect("q")
    );
    assert!(
        !s.is_unverified_member("prj_other", "alice@example.com")
            .await
            .expect("q"),
        "another project's member is not this one's"
    );

    // The notifier's queue: due now, once.
    let due = s.due_member_codes(now_ms(), 10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].code, "480213");
    s.member_code_failed("mem_1", "connection refused", Some(now_ms() + 3_600_000))
        .await
        .expect("failed");
    assert!(
        s.due_member_codes(now_ms(), 10)
            .await
            .expect("due")
            .is_empty()
    );
    let m = s
        .member_by_email(P, "alice@example.com")
        .await
        .expect("q")
        .expect("there");
    assert_eq!(m.code_error, "connection refused");
    s.member_code_sent("mem_1").await.expect("sent");
    let m = s
        .member_by_email(P, "alice@example.com")
        .await
        .expect("q")
        .expect("there");
    assert!(m.code_sent_at_ms.is_some() && m.code_error.is_empty());

    assert_eq!(s.member_code_missed("mem_1").await.expect("miss"), 1);
    assert_eq!(
        s.member_code("mem_1").await.expect("code").as_deref(),
        Some("480213")
    );
    let renewed = s
        .renew_member_code(P, "mem_1", "Alice A.", "999000", expires)
        .await
        .expect("renew");
    assert_eq!(
        (renewed.code_attempts, renewed.name.as_str()),
        (0, "Alice A.")
    );
    assert_eq!(
        s.due_member_codes(now_ms(), 10).await.expect("due").len(),
        1
    );

    let v = s.verify_member("mem_1").await.expect("verify");
    assert!(v.verified_at_ms.is_some());
    assert_eq!(
        s.member_code("mem_1").await.expect("code"),
        None,
        "forgotten"
    );
    assert!(
        !s.is_unverified_member(P, "alice@example.com")
            .await
            .expect("q")
    );
    assert!(
        s.due_member_codes(now_ms(), 10)
            .await
            .expect("due")
            .is_empty()
    );
    assert!(matches!(
        s.renew_member_code(P, "mem_1", "", "1", expires).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(s.list_members(P).await.expect("list").len(), 1);
    assert_eq!(s.count_members(P).await.expect("count"), 1);
    s.delete_member(P, "ALICE@example.com")
        .await
        .expect("delete");
    assert!(matches!(
        s.delete_member(P, "alice@example.com").await,
        Err(StoreError::NotFound)
    ));
}

async fn one_restart_per_server_within_the_cooldown(db: TestDb) {
    let s = db.store;
    let now = now_ms();
    let cooldown = 1_800_000;
    let claim = |server: &'static str, at: i64, delivery: &'static str| {
        let s = s.clone();
        async move {
            s.claim_ssh_restart(server, at, cooldown, "int_1", delivery)
                .await
                .expect("claim")
        }
    };
    // Two deliveries racing for one server: exactly one restarts it.
    let (a, b) = tokio::join!(claim("db1:22", now, "dlv_a"), claim("db1:22", now, "dlv_b"));
    let granted = [&a, &b]
        .iter()
        .filter(|c| ***c == RestartClaim::Granted)
        .count();
    assert_eq!(granted, 1, "{a:?} {b:?}");
    let later = claim("db1:22", now + 60_000, "dlv_c").await;
    match later {
        RestartClaim::Cooling { at_ms, delivery_id } => {
            assert_eq!(at_ms, now);
            assert!(delivery_id == "dlv_a" || delivery_id == "dlv_b");
        }
        RestartClaim::Granted => panic!("restarted again within the cooldown"),
    }
    // Another server, or the same one after the cooldown, restarts.
    assert_eq!(claim("db2:22", now, "dlv_d").await, RestartClaim::Granted);
    assert_eq!(
        claim("db1:22", now + cooldown, "dlv_e").await,
        RestartClaim::Granted
    );
}

lookout_store::backend_tests!(
    members_verify_with_their_code,
    one_restart_per_server_within_the_cooldown
);
