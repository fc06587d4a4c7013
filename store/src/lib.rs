//! The store shared by the coordinator (configuration: monitors) and the notifier (incident
//! state, outbox, consumed offsets), on SQLite (the embedded default) or PostgreSQL (several
//! coordinator and notifier processes on one database). Every query is one SQL text valid on
//! both (`$n` placeholders, no dialect-only functions); the schemas differ only where the
//! dialects must (`migrations/sqlite`, `migrations/postgres`). Monitor definitions, which carry
//! every secret, are sealed at rest under the keyring given to `Store::open` (`seal`, `keys`).

pub mod db;
pub mod integrations;
mod keys;
pub mod leader;
mod legacy;
pub mod members;
pub mod monitors;
pub mod notifier;
pub mod projects;
pub mod seal;
pub mod slack;
pub mod sms;
pub mod testing;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use db::{Backend, Row, Sql};
use db::{Pool, Tx};
pub use seal::{KeyError, Keyring, SealError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("invalid store url {url:?}: {source}")]
    Url {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("store url {url:?}: use sqlite://path.db, sqlite::memory: or postgres://user@host/db")]
    Scheme { url: String },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored monitor {id} does not decode: {source}")]
    Decode {
        id: String,
        #[source]
        source: prost::DecodeError,
    },
    #[error("stored monitor {id} does not open: {source}")]
    Unseal {
        id: String,
        #[source]
        source: SealError,
    },
    #[error("sealing: {0}")]
    Seal(#[from] SealError),
    #[error(
        "the configured secret key {id:?} is not the key this database was sealed with \
         (its key check does not open): configure the original key {id:?} in \
         LOOKOUT_SECRET_KEY or secret_key_file"
    )]
    WrongKey { id: String },
    #[error(
        "stored secrets are sealed with key id {id:?}, which is not configured: add that key \
         (after the current one) to LOOKOUT_SECRET_KEY or secret_key_file"
    )]
    MissingKey { id: String },
    #[error("not found")]
    NotFound,
    #[error("version conflict: the row changed since it was read")]
    Conflict,
    /// The project already holds its `max_monitors`.
    #[error("quota max_monitors is {max}")]
    MonitorQuota { max: u32 },
    /// The project already holds [`projects::MAX_TOKENS_PER_PROJECT`] tokens.
    #[error("at most {max} tokens per project")]
    TokenQuota { max: u32 },
    /// A project that still holds monitors cannot be deleted.
    #[error("the project holds {monitors} monitors")]
    NotEmpty { monitors: u32 },
    /// An integration still attached to monitors cannot be deleted.
    #[error("still attached to monitors {}", monitors.join(", "))]
    InUse { monitors: Vec<String> },
    /// A write only the leader may make, by the leader of an `epoch` that has ended.
    #[error("leadership epoch {epoch} has ended: another replica leads")]
    Fenced { epoch: u64 },
}

/// A handle to the database and the keys its secrets are sealed with; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    keyring: Arc<Keyring>,
    /// The PostgreSQL URL, for connections outside the pool (the leader lock's).
    pg_url: Option<PgUrl>,
}

/// A database URL that never prints its password.
#[derive(Clone)]
struct PgUrl(String);

impl std::fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_url(&self.0))
    }
}

impl Store {
    /// Opens the database at `url` and applies pending migrations: `sqlite://path.db` (created
    /// if missing), `sqlite::memory:`, or `postgres://user:password@host:port/db` (the
    /// database must exist). Then checks `keyring` against the database (a wrong or missing
    /// key is `WrongKey` / `MissingKey`) and seals rows stored before encryption at rest.
    pub async fn open(url: &str, keyring: Keyring) -> Result<Store, StoreError> {
        let bad_url = |source| StoreError::Url {
            url: redact_url(url),
            source,
        };
        let postgres = backend_of(url)? == Backend::Postgres;
        let pool = if postgres {
            let opts = PgConnectOptions::from_str(url).map_err(bad_url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Pool::Postgres(pool)
        } else {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(bad_url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                // Sealing a row stored before encryption at rest rewrites it; zeroing freed
                // content keeps the old plaintext from lingering in free pages of the file.
                .pragma("secure_delete", "on");
            // An in-memory database exists once per connection: keep exactly one.
            let max = if url.contains(":memory:") { 1 } else { 8 };
            let pool = SqlitePoolOptions::new()
                .max_connections(max)
                .connect_with(opts)
                .await?;
            migrate_sqlite(&pool).await?;
            Pool::Sqlite(pool)
        };
        let store = Store {
            pool,
            keyring: Arc::new(keyring),
            pg_url: postgres.then(|| PgUrl(url.to_string())),
        };
        store.verify_keys().await?;
        store.migrate_webhooks_to_integrations().await?;
        Ok(store)
    }

    /// The database this store runs on.
    pub fn backend(&self) -> Backend {
        self.pool.backend()
    }

    /// Runs one statement and returns how many rows it changed: for tests and maintenance
    /// commands that need SQL the store has no method for.
    pub async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        self.pool.execute(sql).await
    }

    /// Runs one query and returns its rows (see [`Store::execute`]).
    pub async fn query(&self, sql: Sql) -> Result<Vec<Row>, StoreError> {
        self.pool.fetch_all(sql).await
    }

    /// Closes every connection; later calls fail.
    pub async fn close(&self) {
        self.pool.close().await
    }

    pub(crate) fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        self.pool.begin().await
    }

    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        self.pool.begin_write().await
    }
}

/// The backend a store URL names, or `Scheme` for a URL that is neither SQLite nor PostgreSQL
/// (checked before anything else is set up for it, such as a key).
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(StoreError::Scheme {
            url: redact_url(url),
        })
    }
}

/// `url` with any password replaced by `***`, for error messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Applies pending migrations. The coordinator and the notifier may start at the same moment
/// on one database file; SQLite has no migration lock, so the loser of that race (its
/// migration fails because the winner's tables now exist) simply tries again and finds the
/// migrations applied. (On PostgreSQL, sqlx holds an advisory lock while it migrates.)
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), StoreError> {
    let migrator = sqlx::migrate!("./migrations/sqlite");
    let mut attempt = 0;
    loop {
        match migrator.run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 10 => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Milliseconds since the Unix epoch, the only time format the store uses.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
