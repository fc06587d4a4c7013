//! Opening a store: URLs of both backends, and a URL Lookout cannot use refused in words.

use lookout_store::testing::{TestDb, postgres_url, random_key};
use lookout_store::{Backend, Keyring, Store, StoreError};

fn keyring() -> Keyring {
    Keyring::generate("k1").expect("random key")
}

#[tokio::test]
async fn sqlite_and_postgres_urls_open_their_backend() {
    assert_eq!(TestDb::sqlite().await.store.backend(), Backend::Sqlite);
    let url = postgres_url().await;
    let key = random_key();
    let keyring = || lookout_store::testing::keyring(&key);
    let store = Store::open(&url, keyring()).await.expect("open postgres");
    assert_eq!(store.backend(), Backend::Postgres);
    // Opening an up-to-date database again applies nothing and succeeds.
    store.close().await;
    Store::open(&url, keyring())
        .await
        .expect("open postgres again");
}

#[tokio::test]
async fn unknown_schemes_are_refused_without_the_password() {
    let e = Store::open("mysql://lookout:hunter2@db/lookout", keyring())
        .await
        .expect_err("not a store url");
    assert!(matches!(e, StoreError::Scheme { .. }), "{e}");
    let text = e.to_string();
    assert!(text.contains("sqlite://path.db"), "{text}");
    assert!(text.contains("mysql://lookout:***@db/lookout"), "{text}");
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn an_unreachable_postgres_names_the_database_error() {
    // Port 1 on loopback refuses at once.
    let e = Store::open("postgres://lookout:hunter2@127.0.0.1:1/lookout", keyring())
        .await
        .expect_err("nothing listens on port 1");
    assert!(matches!(e, StoreError::Db(_)), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}
