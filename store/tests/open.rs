//! Opening a store: a URL of a database Lookout cannot use yet is refused in words.

use lookout_store::{Store, StoreError};

#[tokio::test]
async fn postgres_urls_are_refused_clearly() {
    for url in [
        "postgres://lookout:hunter2@db/lookout",
        "postgresql://db/lookout",
    ] {
        let e = Store::open(url).await.expect_err("not supported yet");
        assert!(matches!(e, StoreError::Unsupported), "{url}: {e}");
        assert_eq!(
            e.to_string(),
            "PostgreSQL is not supported yet; use sqlite://path.db"
        );
    }
}
