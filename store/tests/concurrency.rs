//! Several writers on one database, each with its own connections (as several notifier pods
//! have): outbox leases are never handed out twice and an offset moves for one of two racing
//! consumers only. On PostgreSQL this is what its READ COMMITTED isolation has to get right.

use std::collections::HashSet;

use lookout_store::Store;
use lookout_store::notifier::{NotifierBatch, OffsetAdvance, OutboxRow};
use lookout_store::testing::{TestDb, pending_delivery};

fn row(i: usize) -> OutboxRow {
    // One monitor each, so ordering per destination holds no row back.
    pending_delivery(&format!("dlv_{i:04}"), &format!("mon_{i:04}"), 10)
}

async fn concurrent_claims_never_lease_a_row_twice(db: TestDb) {
    const ROWS: usize = 400;
    let batch = NotifierBatch {
        outbox: (0..ROWS).map(row).collect(),
        ..Default::default()
    };
    db.store
        .apply_notifier_batch("g", "t", &batch, 1)
        .await
        .expect("apply");
    // Four dispatchers, each with its own pool, claim small pages until nothing is left.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = Store::open(&db.url, db.keyring())
            .await
            .expect("second pool");
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let claimed = store
                    .claim_due_outbox(100, 1_000_000, 7)
                    .await
                    .expect("claim");
                if claimed.is_empty() {
                    return mine;
                }
                mine.extend(claimed.into_iter().map(|r| r.id));
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer"));
    }
    let distinct: HashSet<_> = all.iter().collect();
    assert_eq!(distinct.len(), ROWS, "every row claimed");
    assert_eq!(all.len(), ROWS, "no row claimed twice");
}

async fn racing_offset_advances_let_exactly_one_through(db: TestDb) {
    let first = NotifierBatch {
        offsets: vec![OffsetAdvance {
            partition: 0,
            from: None,
            to: 10,
        }],
        ..Default::default()
    };
    db.store
        .apply_notifier_batch("g", "t", &first, 1)
        .await
        .expect("first advance");
    for round in 0..20i64 {
        let from = 10 + round;
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let store = Store::open(&db.url, db.keyring()).await.expect("own pool");
            tasks.push(tokio::spawn(async move {
                let batch = NotifierBatch {
                    offsets: vec![OffsetAdvance {
                        partition: 0,
                        from: Some(from),
                        to: from + 1,
                    }],
                    ..Default::default()
                };
                store
                    .apply_notifier_batch("g", "t", &batch, 2)
                    .await
                    .is_ok()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.expect("advancer"));
        }
        assert_eq!(won, 1, "round {round}: exactly one consumer advances");
    }
    assert_eq!(
        db.store.notifier_offsets("g", "t").await.expect("offsets"),
        [(0, 30)]
    );
}

lookout_store::backend_tests!(
    concurrent_claims_never_lease_a_row_twice,
    racing_offset_advances_let_exactly_one_through,
);
