//! A database made before projects existed (migrations 0001-0004, with monitors in it) is
//! upgraded on open: every existing monitor belongs to the `default` project, which counts
//! them, on SQLite and on PostgreSQL.

use std::path::Path;

use lookout_store::Store;
use lookout_store::projects::DEFAULT_PROJECT_ID;
use lookout_store::testing::postgres_url;
use sqlx::migrate::Migrator;

/// Migrations of `backend` up to and including 0004, copied into a temporary directory.
async fn before_projects(backend: &str) -> (tempfile::TempDir, Migrator) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(backend);
    for entry in std::fs::read_dir(&src).expect("migrations") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.as_bytes().first().is_some_and(u8::is_ascii_digit) && name < "0005" {
            std::fs::copy(&path, dir.path().join(name)).expect("copy migration");
        }
    }
    let migrator = Migrator::new(dir.path()).await.expect("migrator");
    (dir, migrator)
}

// The old schema cannot be written through `Store` (opening it applies every migration), so
// this test writes its rows with sqlx directly.
const OLD_MONITOR: &str = "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, \
    updated_at_ms) VALUES ($1, $1, $2, 1, FALSE, 1, 1)";

async fn upgraded_monitors_belong_to_the_default_project(store: Store) {
    let default = store
        .get_project(DEFAULT_PROJECT_ID)
        .await
        .expect("default");
    assert_eq!(default.name, "default");
    assert_eq!(default.monitor_count, 2);
    assert_eq!(default.quotas.max_monitors, 100_000);
    let ids: Vec<String> = store
        .list_monitors_in_project(DEFAULT_PROJECT_ID, None, 10)
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["mon_a", "mon_b"]);
    store
        .delete_monitor_in_project(DEFAULT_PROJECT_ID, "mon_a")
        .await
        .expect("delete");
    let after = store
        .get_project(DEFAULT_PROJECT_ID)
        .await
        .expect("default");
    assert_eq!(after.monitor_count, 1);
}

fn spec(id: &str) -> Vec<u8> {
    prost::Message::encode_to_vec(&lookout_proto::Monitor {
        id: id.into(),
        name: id.into(),
        interval_secs: 30,
        ..Default::default()
    })
}

#[tokio::test]
async fn sqlite_database_from_before_projects_is_upgraded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    let (_migrations, old) = before_projects("sqlite").await;
    {
        let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().expect("url");
        let pool = sqlx::SqlitePool::connect_with(opts.create_if_missing(true))
            .await
            .expect("old database");
        old.run(&pool).await.expect("old migrations");
        for id in ["mon_a", "mon_b"] {
            sqlx::query(OLD_MONITOR)
                .bind(id)
                .bind(spec(id))
                .execute(&pool)
                .await
                .expect("old monitor");
        }
        pool.close().await;
    }
    let store = Store::open(&url, lookout_store::testing::random_keyring())
        .await
        .expect("upgrade");
    upgraded_monitors_belong_to_the_default_project(store).await;
}

#[tokio::test]
async fn postgres_database_from_before_projects_is_upgraded() {
    let url = postgres_url().await;
    let (_migrations, old) = before_projects("postgres").await;
    {
        let pool = sqlx::PgPool::connect(&url).await.expect("old database");
        old.run(&pool).await.expect("old migrations");
        for id in ["mon_a", "mon_b"] {
            sqlx::query(OLD_MONITOR)
                .bind(id)
                .bind(spec(id))
                .execute(&pool)
                .await
                .expect("old monitor");
        }
        pool.close().await;
    }
    let store = Store::open(&url, lookout_store::testing::random_keyring())
        .await
        .expect("upgrade");
    upgraded_monitors_belong_to_the_default_project(store).await;
}
