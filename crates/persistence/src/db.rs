//! One connection type for both back ends, its pool, migrations and write transactions.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::connection::{
    AnsiTransactionManager, LoadConnection, SimpleConnection, TransactionManager,
};
use diesel::deserialize::FromSqlRow;
use diesel::query_builder::{Query, QueryFragment, QueryId};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use parking_lot::MutexGuard;

use crate::error::StoreError;

/// A connection to whichever back end the URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgresql,
    Sqlite,
}

impl Backend {
    /// The back end is chosen by URL scheme; anything that is not PostgreSQL is a SQLite
    /// path (optionally `sqlite://`-prefixed).
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgresql
        } else {
            Backend::Sqlite
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgresql => "postgresql",
            Backend::Sqlite => "sqlite",
        }
    }

    /// The back end of a connection.
    pub fn of(conn: &DbConnection) -> Backend {
        match conn {
            DbConnection::Postgresql(_) => Backend::Postgresql,
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Whether the back end groups rows by hashing them (PostgreSQL's hash aggregate), so
    /// that grouping many rows with few keys costs little more than reading them. SQLite
    /// groups by sorting every row first: a statement whose rows are many and whose keys
    /// are few reads them ungrouped there, and Rust adds them up.
    pub fn groups_by_hash(self) -> bool {
        self == Backend::Postgresql
    }
}

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");

fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

/// Opens one connection of the URL's back end. PostgreSQL connections do not compile
/// statements ([`NO_JIT`]). SQLite connections get WAL, foreign keys,
/// a busy timeout (writers queue instead of failing), NORMAL sync (safe under WAL), a
/// memory map of the file, and temporary files (statement journals) in memory.
pub fn establish(url: &str) -> Result<DbConnection, diesel::ConnectionError> {
    match Backend::of_url(url) {
        Backend::Postgresql => {
            let mut conn = PgConnection::establish(url)?;
            conn.batch_execute(NO_JIT)
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Postgresql(conn))
        }
        Backend::Sqlite => {
            let mut conn = SqliteConnection::establish(sqlite_path(url))?;
            conn.batch_execute(
                "PRAGMA busy_timeout = 15000; PRAGMA journal_mode = WAL; \
                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                 PRAGMA temp_store = MEMORY;",
            )
            .and_then(|()| conn.batch_execute(MAP_THE_FILE))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// PostgreSQL compiles a statement whose estimated cost passes `jit_above_cost` to machine
/// code before running it. Report statements reach that cost on estimates alone (a
/// correlated subquery's cost counted once a row), and compiling then takes longer than
/// running: the reviews report's statement on the national database ran in 0.2 s and
/// spent 0.9 s more compiling (docs/decisions.md). No statement of ours runs long enough
/// to win it back.
const NO_JIT: &str = "SET jit = off";

/// SQLite maps the database file into memory (1 GiB of it), so that the pooled
/// connections share the operating system's page cache (docs/decisions.md).
const MAP_THE_FILE: &str = "PRAGMA mmap_size = 1073741824";

/// Runs `read` with this connection's map of the SQLite file taken down (nothing changes
/// on PostgreSQL), for a large text read once and sent: read through the map, its pages
/// would count in the process's resident set for as long as the connection lives, once
/// for each connection that read it. Taking the map down also gives back the pages the
/// connection had mapped before; the next statement maps the file again as it needs it.
/// (SQLite leaves the map as it is while a page of it is in use.)
pub fn unmapped<T, E: From<StoreError>>(
    conn: &mut DbConnection,
    read: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E> {
    if !matches!(conn, DbConnection::Sqlite(_)) {
        return read(conn);
    }
    let map = |conn: &mut DbConnection, pragma: &str| {
        conn.batch_execute(pragma)
            .map_err(|e| E::from(StoreError::from(e)))
    };
    map(conn, "PRAGMA mmap_size = 0")?;
    let result = read(conn);
    map(conn, MAP_THE_FILE)?;
    result
}

/// r2d2 manager that establishes the back end the URL names, so a connection failure is
/// reported as that back end's own error.
#[derive(Debug, Clone)]
pub struct Manager {
    url: String,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<DbConnection, diesel::ConnectionError> {
        let mut conn = establish(&self.url)?;
        if let DbConnection::Sqlite(_) = conn {
            // The pool's writers checkpoint after they let go of the write lock
            // (`write_transaction`), not while holding it as SQLite's automatic checkpoint does.
            conn.batch_execute("PRAGMA wal_autocheckpoint = 0")
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), diesel::ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

pub type Pool = r2d2::Pool<Manager>;
pub type PooledConnection = r2d2::PooledConnection<Manager>;

/// Builds the pool. SQLite files get their folder created first.
pub fn pool(url: &str, max_size: u32) -> Result<Pool, StoreError> {
    if Backend::of_url(url) == Backend::Sqlite {
        let path = std::path::Path::new(sqlite_path(url));
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
    }
    r2d2::Pool::builder()
        .max_size(max_size)
        .connection_timeout(Duration::from_secs(10))
        // A PostgreSQL connection is tried before each use, since the server may have
        // restarted or dropped it; a SQLite connection is a file open in this process
        // and cannot go away (trying it was 5% of a small request's time).
        .test_on_check_out(Backend::of_url(url) == Backend::Postgresql)
        .build(Manager {
            url: url.to_string(),
        })
        .map_err(StoreError::from)
}

/// Runs every pending migration of the connection's back end; returns how many ran.
pub fn run_migrations(conn: &mut DbConnection) -> Result<usize, StoreError> {
    let migrations = match conn {
        DbConnection::Postgresql(_) => POSTGRES_MIGRATIONS,
        DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
    };
    let ran = conn
        .run_pending_migrations(migrations)
        .map(|done| done.len())
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    // Fresh statistics after a schema change on PostgreSQL, which can rewrite tables and
    // drop what the planner knew, but only for a database that holds data: tables
    // analysed while empty are taken to stay empty (measured: a nation's week on a fresh
    // database fell from 30 s to 122 s). SQLite is left alone: its statistics never
    // refresh by themselves.
    if ran > 0 {
        if let DbConnection::Postgresql(_) = conn {
            use diesel::{QueryDsl, RunQueryDsl};
            let holds_data: i64 = crate::schema::providers::table.count().get_result(conn)?;
            if holds_data > 0 {
                crate::execute_sql!(conn, "ANALYZE", [])?;
            }
        }
    }
    Ok(ran)
}

/// Refreshes PostgreSQL's statistics of `table` after a bulk load (a no-op on SQLite, for
/// the reason above).
pub fn analyze_after_bulk_load(conn: &mut DbConnection, table: &str) -> Result<(), StoreError> {
    use diesel::RunQueryDsl;
    if let DbConnection::Postgresql(_) = conn {
        crate::execute_sql!(conn, &format!("ANALYZE {table}"), [])?;
    }
    Ok(())
}

/// Applies only the first `count` migrations (for tests that build a database as an
/// earlier release left it, then upgrade it with [`run_migrations`]).
pub fn run_first_migrations(conn: &mut DbConnection, count: usize) -> Result<(), StoreError> {
    for _ in 0..count {
        let migrations = match conn {
            DbConnection::Postgresql(_) => POSTGRES_MIGRATIONS,
            DbConnection::Sqlite(_) => SQLITE_MIGRATIONS,
        };
        conn.run_next_migration(migrations)
            .map_err(|e| StoreError::Migration(e.to_string()))?;
    }
    Ok(())
}

static SQLITE_WRITER: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// When this process last checkpointed a SQLite WAL; held while one is running.
static SQLITE_CHECKPOINT: Mutex<Option<Instant>> = Mutex::new(None);

/// How often a writer copies the WAL back into the database file: the WAL grows by at most
/// what is written in this time, and the file is synced at most this often.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// Copies the WAL's committed pages into the database file if the last checkpoint is
/// [`CHECKPOINT_INTERVAL`] old and no other writer of this process is running one.
///
/// SQLite's automatic checkpoint runs inside the commit that fills the WAL, so under its
/// write lock: every other writer waited for the copy and the file's sync. A passive
/// checkpoint run after the commit lets the next writer in meanwhile (16 clients stored
/// about 40 % more register lines a second). A failure is logged, not returned: the write it follows is
/// committed, and the next writer tries again.
fn checkpoint_if_due(conn: &mut DbConnection) {
    let mut last = match SQLITE_CHECKPOINT.try_lock() {
        Ok(last) => last,
        Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
        Err(std::sync::TryLockError::WouldBlock) => return,
    };
    if last.is_some_and(|at| at.elapsed() < CHECKPOINT_INTERVAL) {
        return;
    }
    if let Err(error) = conn.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
        log::warn!("WAL checkpoint failed (the next writer retries): {error}");
    }
    *last = Some(Instant::now());
}

/// Runs `work`'s reads in one snapshot: a deferred transaction on SQLite (WAL readers see
/// the database as of their first read), a read-only repeatable-read one on PostgreSQL.
/// For reports that read several tables and must see them as of one moment.
pub fn read_snapshot<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    conn.transaction(|conn| {
        if let DbConnection::Postgresql(pg) = conn {
            pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        work(conn)
    })
}

/// Within a transaction on PostgreSQL: its statements run in their backend alone, without
/// parallel workers, until it ends. For reads that are already run side by side, one
/// connection a core (budget monitoring's shards): workers then only compete with the
/// other shards for the same cores. A year of claims, in-process on the national
/// database: 927–943 ms with workers, 847–891 without.
pub fn no_parallel_workers(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    match conn {
        DbConnection::Postgresql(pg) => {
            pg.batch_execute("SET LOCAL max_parallel_workers_per_gather = 0")
        }
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Runs `work` in a write transaction, committed if it returns `Ok`.
///
/// On SQLite the transaction begins IMMEDIATE: it takes the write lock up front, so two
/// writers queue on the busy timeout instead of deadlocking when both started as readers.
/// PostgreSQL writers serialise on the rows they lock.
pub fn write_transaction<T, E, F>(conn: &mut DbConnection, work: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConnection) -> Result<T, E>,
    E: From<diesel::result::Error>,
{
    type Manager = <DbConnection as Connection>::TransactionManager;
    // SQLite has one writer at a time. Writers of this process queue here and are woken
    // as soon as the lock is free, instead of polling in SQLite's busy handler with
    // growing sleeps (which made the slowest writers wait seconds under load). The lock is
    // handed to the writer that has waited longest, so none waits behind a run of later
    // arrivals. The busy timeout still covers writers in other processes.
    let writer = match conn {
        DbConnection::Sqlite(_) => Some(SQLITE_WRITER.lock()),
        DbConnection::Postgresql(_) => None,
    };
    let result = (|| {
        match conn {
            DbConnection::Sqlite(inner) => {
                AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?
            }
            DbConnection::Postgresql(_) => Manager::begin_transaction(conn)?,
        }
        match work(conn) {
            Ok(value) => {
                Manager::commit_transaction(conn)?;
                Ok(value)
            }
            Err(error) => {
                if let Err(rollback) = Manager::rollback_transaction(conn) {
                    log::error!("rollback failed after an aborted write: {rollback}");
                }
                Err(error)
            }
        }
    })();
    if let Some(lock) = writer {
        MutexGuard::unlock_fair(lock);
        if result.is_ok() {
            checkpoint_if_due(conn);
        }
    }
    result
}

/// Multi-row `INSERT … VALUES (…), (…)` of `rows` into `table`.
///
/// diesel's multi-backend connection cannot batch inserts (SQLite has no DEFAULT keyword
/// in VALUES), so the same statement is built for each concrete connection. It runs on
/// the caller's connection, inside the caller's transaction.
///
/// The rows' type must carry `#[diesel(treat_none_as_default_value = false)]` if it has
/// optional fields: otherwise diesel, for the same reason, inserts the rows into SQLite
/// one statement at a time (`registers::tests::sqlite_inserts_a_registers_lines_in_batches`).
#[macro_export]
macro_rules! insert_rows {
    ($conn:expr, $table:expr, $rows:expr) => {
        match $conn {
            $crate::DbConnection::Postgresql(c) => {
                diesel::insert_into($table).values($rows).execute(c)
            }
            $crate::DbConnection::Sqlite(c) => diesel::insert_into($table).values($rows).execute(c),
        }
    };
}

/// Writes many rows of one table: one binary COPY on PostgreSQL (it neither parses nor
/// plans a statement of thousands of parameters, and the client encodes the rows into one
/// reused buffer), multi-row INSERTs of `$chunk` rows on SQLite ([`insert_rows!`]'s rule
/// on optional fields holds for both). `$rows` is a `&Vec` of `Insertable` rows.
#[macro_export]
macro_rules! copy_rows {
    ($conn:expr, $table:expr, $rows:expr, $chunk:expr) => {{
        let rows = $rows;
        match $conn {
            $crate::DbConnection::Postgresql(c) => diesel::copy_from($table)
                .from_insertable(rows)
                .execute(c)
                .map(|_| ()),
            $crate::DbConnection::Sqlite(c) => rows.chunks($chunk).try_for_each(|chunk| {
                diesel::insert_into($table)
                    .values(chunk)
                    .execute(c)
                    .map(|_| ())
            }),
        }
    }};
}

/// `?` placeholders numbered `$1, $2, …` for PostgreSQL (the statements hold no `?` in
/// literals).
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The rows of `query` decoded by column position into `T` (a `Queryable` whose fields
/// follow the SQL types `ST` in order). `QueryableByName` looks every column up by name in
/// every row, a measurable share of a report of thousands of rows.
pub fn load_by_position<C, Q, ST, T>(conn: &mut C, query: Q) -> diesel::QueryResult<Vec<T>>
where
    C: LoadConnection,
    Q: Query + QueryFragment<C::Backend> + QueryId,
    C::Backend: diesel::expression::QueryMetadata<Q::SqlType>,
    T: FromSqlRow<ST, C::Backend>,
{
    let mut rows = Vec::new();
    each_by_position::<_, _, ST, _, diesel::result::Error>(conn, query, &mut |row| {
        rows.push(row);
        Ok(())
    })?;
    Ok(rows)
}

/// Hands each row of `query`, decoded as [`load_by_position`] does, to `each` as it is
/// stepped, so that what is done with the rows overlaps the reading of the next.
pub fn each_by_position<C, Q, ST, T, E>(
    conn: &mut C,
    query: Q,
    each: &mut dyn FnMut(T) -> Result<(), E>,
) -> Result<(), E>
where
    C: LoadConnection,
    Q: Query + QueryFragment<C::Backend> + QueryId,
    C::Backend: diesel::expression::QueryMetadata<Q::SqlType>,
    T: FromSqlRow<ST, C::Backend>,
    E: From<diesel::result::Error>,
{
    for row in conn.load(query)? {
        let row = row?;
        each(T::build_from_row(&row).map_err(diesel::result::Error::DeserializationError)?)?;
    }
    Ok(())
}

/// A statement kept prepared on its connection, for small statements run often, whose
/// planning costs more than their running (a person's timeline on the benchmark's
/// national database: 440 µs in-process, each of its four statements planned twice; 86
/// µs kept and planned once). Diesel prepares raw SQL afresh each time, since its text
/// could be anything; a [`load_kept_sql!`] text is fixed and its binds are values.
pub struct Kept<Q>(pub Q);

impl<Q> QueryId for Kept<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for Kept<Q> {
    type SqlType = Q::SqlType;
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for Kept<Q> {}

impl<DB: diesel::backend::Backend, Q: QueryFragment<DB>> QueryFragment<DB> for Kept<Q> {
    fn walk_ast<'b>(
        &'b self,
        out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> diesel::QueryResult<()> {
        self.0.walk_ast(out)
    }

    // Cached by its text, which `load_kept_sql!` takes only as a `&'static str`.
    fn is_safe_to_cache_prepared(&self, _: &DB) -> diesel::QueryResult<bool> {
        Ok(true)
    }
}

/// SQL types whose values SQLite stores as text (dates too, as `YYYY-MM-DD`), so a value
/// of one bound as `CAST(? AS TEXT)` compares as the bare `?` would.
pub trait StoredAsText {}
impl StoredAsText for diesel::sql_types::Text {}
impl StoredAsText for diesel::sql_types::Date {}

/// Holds a [`load_kept_sql!`] bind to a type stored as text.
pub const fn stored_as_text<T: StoredAsText>() {}

/// Each `?` of a SQLite text (none in a literal, as for [`numbered`]) written
/// `CAST(? AS TEXT)`. SQLite built with STAT4 marks a statement to be planned again, at
/// its next step, whenever a value is bound that it compares with an indexed column,
/// even when it is kept prepared; it does not look through a `CAST`, so the statement is
/// planned once, without the values (which is right only where they cannot change the
/// plan: a person's rows by the person's index).
pub fn unprobed(sql: &str) -> String {
    sql.replace('?', "CAST(? AS TEXT)")
}

/// Runs `$run` on either back end with `$query`: one SQL text with `?` placeholders
/// (numbered for PostgreSQL; on SQLite passed through `sqlite_text`, as is unless given)
/// and its binds, and `$c`, the back end's own connection.
#[macro_export]
macro_rules! on_sql_query {
    ($conn:expr, $sql:expr, [$($bind:tt)*], |$c:ident, $query:ident| $run:expr) => {
        $crate::on_sql_query!($conn, $sql, sqlite_text: std::convert::identity, [$($bind)*], |$c, $query| $run)
    };
    ($conn:expr, $sql:expr, sqlite_text: $sqlite_text:expr, [$(($ty:ty, $val:expr)),* $(,)?], |$c:ident, $query:ident| $run:expr) => {{
        let sql: &str = $sql;
        match $conn {
            $crate::DbConnection::Sqlite($c) => {
                let $query = diesel::sql_query($sqlite_text(sql))$(.bind::<$ty, _>($val))*;
                $run
            }
            $crate::DbConnection::Postgresql($c) => {
                let $query = diesel::sql_query($crate::db::numbered(sql))$(.bind::<$ty, _>($val))*;
                $run
            }
        }
    }};
}

/// Loads rows whose columns have the SQL types `$st` (a tuple) from one SQL text with `?`
/// placeholders on either back end, decoded by position ([`load_by_position`]).
#[macro_export]
macro_rules! load_sql_by_position {
    ($conn:expr, $sql:expr, $st:ty, [$($bind:tt)*]) => {
        $crate::on_sql_query!($conn, $sql, [$($bind)*], |c, query| {
            $crate::db::load_by_position::<_, _, $st, _>(c, query)
        })
    };
}

/// Hands each row, as [`load_sql_by_position!`] loads them, to `$each`
/// ([`each_by_position`]).
#[macro_export]
macro_rules! each_sql_by_position {
    ($conn:expr, $sql:expr, $st:ty, [$($bind:tt)*], $each:expr) => {
        $crate::on_sql_query!($conn, $sql, [$($bind)*], |c, query| {
            $crate::db::each_by_position::<_, _, $st, _, _>(c, query, $each)
        })
    };
}

/// Loads `$row`s from one SQL text with `?` placeholders on either back end.
#[macro_export]
macro_rules! load_sql {
    ($conn:expr, $sql:expr, $row:ty, [$($bind:tt)*]) => {
        $crate::on_sql_query!($conn, $sql, [$($bind)*], |c, query| query.load::<$row>(c))
    };
}

/// Loads `$row`s, whose columns have the SQL types `$st`, by position
/// ([`load_by_position`]) from a statement kept prepared on the connection and planned
/// once ([`Kept`], [`unprobed`]): for a `&'static str` whose binds are all text or dates
/// and whose plan the values cannot change.
#[macro_export]
macro_rules! load_kept_sql {
    ($conn:expr, $sql:expr, $st:ty, $row:ty, [$(($ty:ty, $val:expr)),* $(,)?]) => {{
        let sql: &'static str = $sql;
        $($crate::db::stored_as_text::<$ty>();)*
        $crate::on_sql_query!($conn, sql, sqlite_text: $crate::db::unprobed, [$(($ty, $val)),*], |c, query| {
            $crate::db::load_by_position::<_, _, $st, $row>(c, $crate::db::Kept(query))
        })
    }};
}

/// Executes one SQL text with `?` placeholders on either back end.
#[macro_export]
macro_rules! execute_sql {
    ($conn:expr, $sql:expr, [$($bind:tt)*]) => {
        $crate::on_sql_query!($conn, $sql, [$($bind)*], |c, query| query.execute(c))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_writers_checkpoint_the_wal_after_their_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let pool = pool(path.to_str().unwrap(), 2).unwrap();
        let mut conn = pool.get().unwrap();
        conn.batch_execute("CREATE TABLE blobs (b BLOB NOT NULL)")
            .unwrap();
        for _ in 0..10 {
            write_transaction(&mut conn, |c| {
                c.batch_execute("INSERT INTO blobs VALUES (zeroblob(1048576))")
            })
            .unwrap();
            std::thread::sleep(CHECKPOINT_INTERVAL + Duration::from_millis(20));
        }
        // 10 MiB were written. Checkpointed after each write, the WAL is reused from its
        // start and holds about one (two if another test's writer had the checkpoint at
        // that moment); SQLite's own checkpoint would let it reach 4 MiB first, and no
        // checkpoint at all, 10.
        let wal = std::fs::metadata(dir.path().join("wal.db-wal"))
            .unwrap()
            .len();
        assert!(wal < 3 * 1024 * 1024, "WAL of {wal} bytes");
    }

    /// The PostgreSQL server the tests may use, when `DAYOPS_TEST_POSTGRES_URL` names one.
    fn postgres_test_url() -> Option<String> {
        std::env::var("DAYOPS_TEST_POSTGRES_URL").ok()
    }

    /// A PostgreSQL setting as the connection has it now.
    fn setting(conn: &mut DbConnection, name: &str) -> diesel::QueryResult<String> {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Setting {
            #[diesel(sql_type = diesel::sql_types::Text)]
            value: String,
        }
        diesel::sql_query("SELECT current_setting($1) AS value")
            .bind::<diesel::sql_types::Text, _>(name)
            .get_result::<Setting>(conn)
            .map(|s| s.value)
    }

    /// On PostgreSQL: every connection we open, pooled or not, compiles no statement.
    #[test]
    fn postgres_connections_compile_no_statement() {
        let Some(url) = postgres_test_url() else {
            return;
        };
        let pool = pool(&url, 1).unwrap();
        for conn in [&mut establish(&url).unwrap(), &mut *pool.get().unwrap()] {
            assert_eq!(setting(conn, "jit").unwrap(), "off");
        }
    }

    /// On PostgreSQL: a snapshot's statements run without parallel workers when asked,
    /// and the connection has them again once it ends.
    #[test]
    fn parallel_workers_are_left_out_for_one_transaction() {
        let Some(url) = postgres_test_url() else {
            return;
        };
        const WORKERS: &str = "max_parallel_workers_per_gather";
        let mut conn = establish(&url).unwrap();
        // Whatever the server's own setting, this connection starts with workers.
        conn.batch_execute("SET max_parallel_workers_per_gather = 2")
            .unwrap();
        let within = read_snapshot(&mut conn, |conn| {
            no_parallel_workers(conn)?;
            setting(conn, WORKERS)
        })
        .unwrap();
        assert_eq!(within, "0");
        assert_eq!(setting(&mut conn, WORKERS).unwrap(), "2");
    }

    #[test]
    fn placeholders_are_numbered_for_postgres() {
        assert_eq!(
            numbered("a = ? AND (? = '' OR b = ?)"),
            "a = $1 AND ($2 = '' OR b = $3)"
        );
    }

    #[test]
    fn backend_is_chosen_by_scheme() {
        assert_eq!(
            Backend::of_url("postgres://localhost/x"),
            Backend::Postgresql
        );
        assert_eq!(
            Backend::of_url("postgresql://localhost/x"),
            Backend::Postgresql
        );
        assert_eq!(Backend::of_url("./data/dayops.db"), Backend::Sqlite);
        assert_eq!(Backend::of_url("sqlite://data/dayops.db"), Backend::Sqlite);
        assert_eq!(sqlite_path("sqlite://data/dayops.db"), "data/dayops.db");
    }
}
