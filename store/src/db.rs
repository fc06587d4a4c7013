//! The portable query layer: one SQL text (with `$n` placeholders, which both dialects accept)
//! and one list of arguments run on SQLite or PostgreSQL, and rows decoded by column name
//! whatever the backend. sqlx's own `Any` driver was not used: it binds a NULL without its type
//! (PostgreSQL then cannot infer `$1` in `monitor_id = $1`) and decodes SQLite booleans only
//! as integers; here every argument keeps its Rust type and each backend binds it natively.

use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Decode, Postgres, Row as _, Sqlite, Transaction, Type};

use crate::StoreError;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// One bound argument. Every integer is bound as a 64-bit integer (all integer columns are
/// `BIGINT`), and a NULL keeps its type.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(bool),
    Bytes(Vec<u8>),
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(Some(v.to_string()))
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(Some(v))
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Arg {
        Arg::Text(Some(v.clone()))
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Arg {
        Arg::Text(v.map(str::to_string))
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Arg {
        Arg::Text(v.clone())
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::Text(v)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(Some(v))
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Arg {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Arg {
        Arg::Int(Some(i64::from(v)))
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::Int(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(v)
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Arg {
        Arg::Bytes(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Arg {
        Arg::Bytes(v.to_vec())
    }
}
impl From<&Vec<u8>> for Arg {
    fn from(v: &Vec<u8>) -> Arg {
        Arg::Bytes(v.clone())
    }
}

/// A statement and its arguments, in placeholder order.
#[derive(Debug, Clone)]
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: impl Into<String>) -> Sql {
        Sql {
            text: text.into(),
            args: Vec::new(),
        }
    }

    pub fn bind(mut self, v: impl Into<Arg>) -> Sql {
        self.args.push(v.into());
        self
    }
}

/// A column type both backends decode natively.
pub trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}
impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// One result row of either backend, read by column name.
pub enum Row {
    Sqlite(SqliteRow),
    Postgres(PgRow),
}

impl Row {
    pub fn get<T: Column>(&self, column: &str) -> Result<T, StoreError> {
        Ok(match self {
            Row::Sqlite(r) => r.try_get(column)?,
            Row::Postgres(r) => r.try_get(column)?,
        })
    }

    /// An integer column as `u32`, clamped (counters are stored as `BIGINT`).
    pub fn get_u32(&self, column: &str) -> Result<u32, StoreError> {
        let v: i64 = self.get(column)?;
        Ok(u32::try_from(v.max(0)).unwrap_or(u32::MAX))
    }
}

macro_rules! bind_args {
    ($q:expr, $args:expr) => {{
        let mut q = $q;
        for a in $args {
            q = match a {
                Arg::Text(v) => q.bind(v),
                Arg::Int(v) => q.bind(v),
                Arg::Bool(v) => q.bind(v),
                Arg::Bytes(v) => q.bind(v),
            };
        }
        q
    }};
}

/// Runs `$sql` with method `$how` (`execute`, `fetch_all`, `fetch_optional`) on an executor of
/// either backend.
macro_rules! run {
    ($sql:expr, $how:ident, $exec:expr) => {{
        let Sql { text, args } = $sql;
        match $exec {
            Exec::Sqlite(e) => {
                let q = bind_args!(sqlx::query::<Sqlite>(&text), args);
                Out::Sqlite(q.$how(e).await?)
            }
            Exec::Postgres(e) => {
                let q = bind_args!(sqlx::query::<Postgres>(&text), args);
                Out::Postgres(q.$how(e).await?)
            }
        }
    }};
}

enum Exec<S, P> {
    Sqlite(S),
    Postgres(P),
}

enum Out<S, P> {
    Sqlite(S),
    Postgres(P),
}

fn rows_affected(out: Out<sqlx::sqlite::SqliteQueryResult, sqlx::postgres::PgQueryResult>) -> u64 {
    match out {
        Out::Sqlite(r) => r.rows_affected(),
        Out::Postgres(r) => r.rows_affected(),
    }
}

fn all_rows(out: Out<Vec<SqliteRow>, Vec<PgRow>>) -> Vec<Row> {
    match out {
        Out::Sqlite(r) => r.into_iter().map(Row::Sqlite).collect(),
        Out::Postgres(r) => r.into_iter().map(Row::Postgres).collect(),
    }
}

fn optional_row(out: Out<Option<SqliteRow>, Option<PgRow>>) -> Option<Row> {
    match out {
        Out::Sqlite(r) => r.map(Row::Sqlite),
        Out::Postgres(r) => r.map(Row::Postgres),
    }
}

impl Pool {
    pub(crate) fn backend(&self) -> Backend {
        match self {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    fn exec(&self) -> Exec<&SqlitePool, &PgPool> {
        match self {
            Pool::Sqlite(p) => Exec::Sqlite(p),
            Pool::Postgres(p) => Exec::Postgres(p),
        }
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) async fn execute(&self, sql: Sql) -> Result<u64, StoreError> {
        Ok(rows_affected(run!(sql, execute, self.exec())))
    }

    pub(crate) async fn fetch_all(&self, sql: Sql) -> Result<Vec<Row>, StoreError> {
        Ok(all_rows(run!(sql, fetch_all, self.exec())))
    }

    pub(crate) async fn fetch_optional(&self, sql: Sql) -> Result<Option<Row>, StoreError> {
        Ok(optional_row(run!(sql, fetch_optional, self.exec())))
    }

    pub(crate) async fn fetch_one(&self, sql: Sql) -> Result<Row, StoreError> {
        self.fetch_optional(sql)
            .await?
            .ok_or(StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub(crate) async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// A transaction that writes: on SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so what it reads first cannot change before it writes.
    pub(crate) async fn begin_write(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Pool::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Pool::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    pub(crate) async fn close(&self) {
        match self {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}

/// An open transaction; dropped without `commit`, it rolls back.
pub(crate) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Tx {
    fn exec(&mut self) -> Exec<&mut sqlx::SqliteConnection, &mut sqlx::PgConnection> {
        match self {
            Tx::Sqlite(t) => Exec::Sqlite(&mut **t),
            Tx::Postgres(t) => Exec::Postgres(&mut **t),
        }
    }

    pub(crate) async fn execute(&mut self, sql: Sql) -> Result<u64, StoreError> {
        Ok(rows_affected(run!(sql, execute, self.exec())))
    }

    pub(crate) async fn fetch_optional(&mut self, sql: Sql) -> Result<Option<Row>, StoreError> {
        Ok(optional_row(run!(sql, fetch_optional, self.exec())))
    }

    pub(crate) async fn fetch_all(&mut self, sql: Sql) -> Result<Vec<Row>, StoreError> {
        Ok(all_rows(run!(sql, fetch_all, self.exec())))
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}
