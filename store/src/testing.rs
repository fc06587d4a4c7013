//! Databases for tests: a fresh SQLite file, or a fresh PostgreSQL database on the server
//! named by `LOOKOUT_TEST_POSTGRES` (a `postgres://` URL; `.ci/run` starts a throwaway cluster
//! and sets it). Tests that use a store run on both; without the variable the PostgreSQL half
//! fails rather than skips, so a CI run cannot pass without it.

use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;

use crate::{Keyring, Store, StoreError};

/// The variable that names the PostgreSQL server tests create their databases on.
pub const POSTGRES_ENV: &str = "LOOKOUT_TEST_POSTGRES";

/// One test's database; a SQLite file lives as long as this value.
pub struct TestDb {
    pub store: Store,
    /// The URL the store was opened with, to hand to a coordinator or notifier process.
    pub url: String,
    /// The random secret key the store was opened with (`id:base64`), for
    /// `LOOKOUT_SECRET_KEY` of a process on `url`.
    pub key: String,
    _dir: Option<tempfile::TempDir>,
}

/// A new random key for a test database, in `LOOKOUT_SECRET_KEY` form.
pub fn random_key() -> String {
    Keyring::new_key_text("test").expect("random key")
}

/// A keyring of one new random key (id `test`), for a store no other process opens.
pub fn random_keyring() -> Keyring {
    keyring(&random_key())
}

/// The keyring of a key in `LOOKOUT_SECRET_KEY` form.
pub fn keyring(key: &str) -> Keyring {
    Keyring::parse(key, "test key").expect("test key parses")
}

impl TestDb {
    /// A new SQLite database file in a temporary directory.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("lookout.db").display());
        let key = random_key();
        let store = Store::open(&url, keyring(&key))
            .await
            .expect("open SQLite store");
        TestDb {
            store,
            url,
            key,
            _dir: Some(dir),
        }
    }

    /// A new, empty PostgreSQL database (see [`postgres_url`]).
    pub async fn postgres() -> TestDb {
        let url = postgres_url().await;
        let key = random_key();
        let store = Store::open(&url, keyring(&key))
            .await
            .expect("open PostgreSQL store");
        TestDb {
            store,
            url,
            key,
            _dir: None,
        }
    }

    /// The keyring the store was opened with, to open the same database again.
    pub fn keyring(&self) -> Keyring {
        keyring(&self.key)
    }

    /// The database of `backend`'s kind: `"sqlite"` or `"postgres"`.
    pub async fn of(backend: &str) -> TestDb {
        match backend {
            "sqlite" => TestDb::sqlite().await,
            "postgres" => TestDb::postgres().await,
            other => panic!("unknown test backend {other:?}"),
        }
    }
}

/// Creates a database with a unique name on the `LOOKOUT_TEST_POSTGRES` server and returns its
/// URL. Panics when the variable is missing: PostgreSQL tests never skip.
pub async fn postgres_url() -> String {
    let base = std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_ENV} is not set: PostgreSQL tests need a server (bash .ci/run starts one)"
        )
    });
    let name = format!("lookout_test_{}", uuid_like());
    create_database(&base, &name)
        .await
        .unwrap_or_else(|e| panic!("create database {name} on {base}: {e}"));
    let opts =
        PgConnectOptions::from_str(&base).expect("LOOKOUT_TEST_POSTGRES is a postgres:// URL");
    opts.database(&name).to_url_lossy().to_string()
}

async fn create_database(base: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = PgConnectOptions::from_str(base)?.connect().await?;
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await?;
    Ok(())
}

/// A name part unique across the processes of one test run.
fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{}_{}_{}",
        std::process::id(),
        nanos,
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Inserts monitors with `ids` into `project_id` many rows per statement, in one
/// transaction, and counts them: how tests fill a project with 100,000 monitors in seconds.
/// Each holds only its id, its name (the id) and a 60 s interval.
pub async fn insert_monitors_in_bulk(
    store: &Store,
    project_id: &str,
    ids: &[String],
) -> Result<(), StoreError> {
    use prost::Message;
    // 8 arguments a row stays under SQLite's 32,766 and PostgreSQL's 65,535 per statement.
    const ROWS: usize = 1_000;
    let now = crate::now_ms();
    let mut tx = store.begin().await?;
    for chunk in ids.chunks(ROWS) {
        let values: Vec<String> = (0..chunk.len())
            .map(|i| {
                let n = i * 8;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5,
                    n + 6,
                    n + 7,
                    n + 8
                )
            })
            .collect();
        let mut sql = crate::Sql::new(format!(
            "INSERT INTO monitors (id, name, spec, version, paused, created_at_ms, \
             updated_at_ms, project_id) VALUES {}",
            values.join(", ")
        ));
        for id in chunk {
            let m = lookout_proto::Monitor {
                id: id.clone(),
                name: id.clone(),
                interval_secs: 60,
                version: 1,
                created_at_ms: now,
                updated_at_ms: now,
                ..Default::default()
            };
            sql = sql
                .bind(id)
                .bind(id)
                .bind(m.encode_to_vec())
                .bind(1i64)
                .bind(false)
                .bind(now)
                .bind(now)
                .bind(project_id);
        }
        tx.execute(sql).await?;
    }
    let counted =
        crate::Sql::new("UPDATE projects SET monitor_count = monitor_count + $1 WHERE id = $2")
            .bind(i64::try_from(ids.len()).unwrap_or(i64::MAX))
            .bind(project_id);
    tx.execute(counted).await?;
    tx.commit().await
}

/// Runs each listed `async fn name(db: TestDb)` once per backend, as tests
/// `sqlite::name` and `postgres::name`, on a two-thread runtime.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestDb::sqlite().await).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::testing::TestDb::postgres().await).await
                }
            )*
        }
    };
}

/// An HTTP monitor `id` in region `eu` every 30 s whose bearer token is `secret`: the store
/// tests' fixture.
pub fn secret_monitor(id: &str, secret: &str) -> lookout_proto::Monitor {
    use lookout_proto::v1::{HttpCheck, http_check::Auth, monitor::Check};
    lookout_proto::Monitor {
        id: id.into(),
        name: format!("name {id}"),
        regions: vec!["eu".into()],
        interval_secs: 30,
        check: Some(Check::Http(HttpCheck {
            url: "http://127.0.0.1:1/health".into(),
            auth: Some(Auth::BearerToken(secret.into())),
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// The bearer token of a [`secret_monitor`] (empty for any other monitor).
pub fn secret_of(m: &lookout_proto::Monitor) -> &str {
    use lookout_proto::v1::{http_check::Auth, monitor::Check};
    match &m.check {
        Some(Check::Http(h)) => match &h.auth {
            Some(Auth::BearerToken(t)) => t,
            _ => "",
        },
        _ => "",
    }
}

/// A pending no-data delivery `id` of `monitor_id` (project `prj_default`, integration
/// `int_test`), created and due at `at_ms`: the store tests' fixture (change the fields a
/// test is about).
pub fn pending_delivery(id: &str, monitor_id: &str, at_ms: i64) -> crate::notifier::OutboxRow {
    use crate::notifier::{OutboxRow, OutboxState};
    OutboxRow {
        id: id.into(),
        project_id: crate::projects::DEFAULT_PROJECT_ID.into(),
        incident_id: None,
        monitor_id: Some(monitor_id.into()),
        integration_id: "int_test".into(),
        event: lookout_proto::v1::EventKind::NoData,
        channel: "webhook".into(),
        payload: Vec::new(),
        attempts: 0,
        next_attempt_at_ms: at_ms,
        state: OutboxState::Pending,
        last_error: None,
        created_at_ms: at_ms,
    }
}

/// Stores `i` as the notifier would have written it (every column; `monitor_name`,
/// `pending_action` and `acknowledged_note` come from other tables and are ignored): how API tests get incidents
/// without running the incident engine.
pub async fn insert_incident(
    store: &Store,
    i: &crate::notifier::IncidentDetail,
) -> Result<(), StoreError> {
    let sql = crate::Sql::new(
        "INSERT INTO incidents (id, monitor_id, status, opened_at_ms, resolved_at_ms, cause, \
         regions, updated_at_ms, severity, level, escalated_at_ms, acknowledged_at_ms, \
         acknowledged_by, reminders_sent, resolved_reason, caused_by_incident_id, silenced) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(&i.id)
    .bind(&i.monitor_id)
    .bind(i.status.as_str())
    .bind(i.opened_at_ms)
    .bind(i.resolved_at_ms)
    .bind(&i.cause)
    .bind(i.regions.join(","))
    .bind(i.opened_at_ms)
    .bind(&i.severity)
    .bind(i.level)
    .bind(i.escalated_at_ms)
    .bind(i.acknowledged_at_ms)
    .bind(&i.acknowledged_by)
    .bind(i.reminders_sent)
    .bind(&i.resolved_reason)
    .bind(&i.caused_by_incident_id)
    .bind(i.silenced);
    store.execute(sql).await?;
    Ok(())
}

/// An open, critical incident `id` of `monitor_id` opened at `opened_at_ms` in region `eu`,
/// level 1, nothing acknowledged: the API tests' fixture (change the fields a test is about).
pub fn open_incident(
    id: &str,
    monitor_id: &str,
    opened_at_ms: i64,
) -> crate::notifier::IncidentDetail {
    crate::notifier::IncidentDetail {
        id: id.into(),
        monitor_id: monitor_id.into(),
        monitor_name: monitor_id.into(),
        status: crate::notifier::IncidentStatus::Open,
        severity: "critical".into(),
        opened_at_ms,
        acknowledged_at_ms: None,
        acknowledged_by: String::new(),
        level: 1,
        escalated_at_ms: None,
        resolved_at_ms: None,
        resolved_reason: String::new(),
        cause: "connection refused".into(),
        regions: vec!["eu".into()],
        caused_by_incident_id: None,
        silenced: false,
        reminders_sent: 0,
        pending_action: None,
        acknowledged_note: String::new(),
    }
}
