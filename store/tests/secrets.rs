//! Secrets at rest, on SQLite and on PostgreSQL: monitor definitions are sealed in the
//! database, a missing or wrong key stops `Store::open` with a message naming the key id,
//! plaintext rows from before encryption are sealed at open, and rotation re-seals every row.

use lookout_store::testing::{TestDb, keyring, secret_monitor, secret_of};
use lookout_store::{Keyring, Sql, Store, StoreError};
use prost::Message;

const SECRET: &str = "whsec-at-rest-4711";

/// The raw `spec` and `spec_key_id` of one row.
async fn raw(store: &Store, id: &str) -> (Vec<u8>, Option<String>) {
    let rows = store
        .query(Sql::new("SELECT spec, spec_key_id FROM monitors WHERE id = $1").bind(id))
        .await
        .expect("select");
    let row = rows.first().expect("row exists");
    (
        row.get("spec").expect("spec"),
        row.get("spec_key_id").expect("spec_key_id"),
    )
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

/// The current key first, then `old` (in `LOOKOUT_SECRET_KEY` form).
fn with_old(current: &str, old: &str) -> Keyring {
    keyring(&format!("{current},{old}"))
}

async fn specs_are_sealed_with_their_key_id(db: TestDb) {
    let s = &db.store;
    s.insert_monitor(secret_monitor("mon_a", SECRET))
        .await
        .expect("insert");
    let (spec, key_id) = raw(s, "mon_a").await;
    assert_eq!(key_id.as_deref(), Some("test"));
    assert!(!holds(&spec, SECRET), "the secret is stored in clear");
    // The whole definition is sealed, not only the secret fields.
    assert!(!holds(&spec, "127.0.0.1:1"));
    let mut m = s.get_monitor("mon_a").await.expect("get");
    assert_eq!(secret_of(&m), SECRET);
    if let Some(lookout_proto::v1::monitor::Check::Http(h)) = &mut m.check {
        h.auth = Some(lookout_proto::v1::http_check::Auth::BearerToken(
            "whsec-updated".into(),
        ));
    }
    s.update_monitor(m, 1).await.expect("update");
    let (spec, _) = raw(s, "mon_a").await;
    assert!(!holds(&spec, "whsec-updated"));
    assert_eq!(
        secret_of(&s.list_monitors().await.expect("list")[0]),
        "whsec-updated"
    );
}

async fn a_sealed_spec_moved_to_another_row_does_not_open(db: TestDb) {
    let s = &db.store;
    s.insert_monitor(secret_monitor("mon_a", SECRET))
        .await
        .expect("insert a");
    s.insert_monitor(secret_monitor("mon_b", SECRET))
        .await
        .expect("insert b");
    let (spec_a, _) = raw(s, "mon_a").await;
    s.execute(
        Sql::new("UPDATE monitors SET spec = $1 WHERE id = $2")
            .bind(spec_a)
            .bind("mon_b"),
    )
    .await
    .expect("copy a's spec into b");
    let e = s.get_monitor("mon_b").await.expect_err("moved value");
    assert!(matches!(e, StoreError::Unseal { .. }), "{e}");
    assert!(e.to_string().contains("mon_b"), "{e}");
    assert!(s.get_monitor("mon_a").await.is_ok());
}

async fn a_missing_key_fails_at_open_naming_the_key_id(db: TestDb) {
    db.store
        .insert_monitor(secret_monitor("mon_a", SECRET))
        .await
        .expect("insert");
    let other = Keyring::generate("other").expect("key");
    let e = Store::open(&db.url, other)
        .await
        .expect_err("key test missing");
    assert!(
        matches!(&e, StoreError::MissingKey { id } if id == "test"),
        "{e}"
    );
    let text = e.to_string();
    assert!(
        text.contains("\"test\"") && text.contains("LOOKOUT_SECRET_KEY"),
        "{text}"
    );
}

async fn a_wrong_key_under_a_known_id_fails_at_open(db: TestDb) {
    // No monitor yet: the key check alone tells the keys apart.
    let impostor = Keyring::generate("test").expect("key");
    let e = Store::open(&db.url, impostor).await.expect_err("wrong key");
    assert!(
        matches!(&e, StoreError::WrongKey { id } if id == "test"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("is not the key this database was sealed with")
    );
    // The right key still opens it.
    Store::open(&db.url, db.keyring()).await.expect("right key");
}

async fn plaintext_rows_are_sealed_at_open(db: TestDb) {
    let m = secret_monitor("mon_old", SECRET);
    db.store
        .execute(
            Sql::new(
                "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, \
                 updated_at_ms) VALUES ($1, $2, $3, 1, FALSE, 1, 1)",
            )
            .bind(&m.id)
            .bind(&m.name)
            .bind(m.encode_to_vec()),
        )
        .await
        .expect("a row as stored before encryption at rest");
    // Readable as it is, then sealed by the next open.
    assert_eq!(
        db.store.get_monitor("mon_old").await.expect("get").name,
        m.name
    );
    let reopened = Store::open(&db.url, db.keyring()).await.expect("reopen");
    let (spec, key_id) = raw(&reopened, "mon_old").await;
    assert_eq!(key_id.as_deref(), Some("test"));
    assert!(!holds(&spec, SECRET));
    let got = reopened.get_monitor("mon_old").await.expect("get sealed");
    assert_eq!(secret_of(&got), SECRET);
    assert_eq!(reopened.rotate_secrets().await.expect("rotate"), 0);
}

async fn rotation_reseals_so_the_old_key_can_go(db: TestDb) {
    for id in ["mon_a", "mon_b", "mon_c"] {
        db.store
            .insert_monitor(secret_monitor(id, SECRET))
            .await
            .expect("insert");
    }
    let k2 = Keyring::new_key_text("k2").expect("k2");
    let both = Store::open(&db.url, with_old(&k2, &db.key))
        .await
        .expect("k2 current, test still configured");
    // Old rows open under the old key before the rotation.
    assert_eq!(both.list_monitors().await.expect("list").len(), 3);
    assert_eq!(both.rotate_secrets().await.expect("rotate"), 3);
    assert_eq!(both.rotate_secrets().await.expect("again"), 0, "idempotent");
    assert_eq!(raw(&both, "mon_b").await.1.as_deref(), Some("k2"));

    let only_k2 = Store::open(&db.url, keyring(&k2))
        .await
        .expect("old key removed");
    let all = only_k2.list_monitors().await.expect("list");
    assert_eq!(all.len(), 3);
    assert!(all.iter().all(|m| secret_of(m) == SECRET));
    // And the old key alone no longer opens the database.
    let e = Store::open(&db.url, db.keyring())
        .await
        .expect_err("k2 missing");
    assert!(
        matches!(&e, StoreError::MissingKey { id } if id == "k2"),
        "{e}"
    );
}

lookout_store::backend_tests!(
    specs_are_sealed_with_their_key_id,
    a_sealed_spec_moved_to_another_row_does_not_open,
    a_missing_key_fails_at_open_naming_the_key_id,
    a_wrong_key_under_a_known_id_fails_at_open,
    plaintext_rows_are_sealed_at_open,
    rotation_reseals_so_the_old_key_can_go,
);
