//! The query engine on an embedded DuckDB: the warehouse file stands in for
//! Athena and the Glue tables.

use async_trait::async_trait;
use duckdb::types::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tidemark_core::error::EngineError;
use tidemark_core::ports::{QueryEngine, QueryResult, SqlValue};
use tidemark_core::scd2::{Dialect, DuckDb};

/// One connection to `<lake>/warehouse.duckdb`; statements run one at a time.
#[derive(Clone)]
pub struct DuckDbEngine {
    conn: Arc<Mutex<duckdb::Connection>>,
    dialect: Arc<DuckDb>,
    path: PathBuf,
    profile: Arc<Profile>,
}

/// What the last statement read and how long it took, for the run's cost
/// estimates: the bytes from DuckDB's log of file-system reads, the time
/// from its profile (a JSON file it rewrites after each statement).
struct Profile(PathBuf);

impl Profile {
    fn new() -> Profile {
        static OPENED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = OPENED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Profile(std::env::temp_dir().join(format!(
            "tidemark-duckdb-profile-{}-{n}.json",
            std::process::id()
        )))
    }

    fn enable(&self, conn: &duckdb::Connection) -> Result<(), duckdb::Error> {
        let path = self.0.display().to_string().replace('\'', "''");
        conn.execute_batch(&format!(
            "PRAGMA enable_profiling = 'json'; PRAGMA profiling_output = '{path}'; \
             CALL enable_logging('FileSystem');"
        ))
    }

    /// Bytes read from files (the lake's and the warehouse's) and the
    /// statement's time, since [`Profile::clear`].
    fn read(&self, conn: &duckdb::Connection) -> (Option<u64>, Option<u64>) {
        // The profile first: the query of the log rewrites it.
        let ms = std::fs::read(&self.0)
            .ok()
            .and_then(|text| serde_json::from_slice::<serde_json::Value>(&text).ok())
            .and_then(|json| json.pointer("/latency").and_then(|v| v.as_f64()))
            .map(|s| (s * 1000.0).round() as u64);
        // Matched in the log's text: DuckDB writes a path's quotes into it
        // unescaped, and parsing such a message fails, which in a
        // transaction would abort it. The log without its contexts joined
        // in: a third of the time, asked after every statement.
        let bytes = conn
            .query_row(
                r#"SELECT CAST(coalesce(sum(TRY_CAST(regexp_extract(message, '"op":"READ","bytes":"?([0-9]+)', 1) AS UBIGINT)), 0) AS UBIGINT) FROM duckdb_logs(denormalized_table = false) WHERE type = 'FileSystem'"#,
                [],
                |row| row.get::<_, u64>(0),
            )
            .ok();
        (bytes, ms)
    }

    fn clear(&self, conn: &duckdb::Connection) {
        // The log first: that statement writes a profile too.
        let _ = conn.execute_batch("CALL truncate_duckdb_logs()");
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl DuckDbEngine {
    /// Opens (or creates) the warehouse; `lake_root` is where validated files live.
    ///
    /// Opening runs under an exclusive lock on `<path>.open-lock`: DuckDB
    /// writes a new file's header after creating it, so a second process
    /// opening the same path in between would find "not a valid DuckDB
    /// database file". Under the lock it finds either no file or a whole one
    /// (then DuckDB's own lock on the file tells it the warehouse is in use).
    pub fn open(path: &Path, lake_root: &Path) -> Result<DuckDbEngine, EngineError> {
        let failed = |message: String| EngineError::Query {
            statement: format!("open {}", path.display()),
            message,
        };
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".open-lock");
        let lock_path = PathBuf::from(lock_path);
        let lock_failed = |e: std::io::Error| failed(format!("{}: {e}", lock_path.display()));
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(lock_failed)?;
        lock.lock().map_err(lock_failed)?;
        let conn =
            duckdb::Connection::open(path).map_err(|e| failed(newer_format_hint(path, e)))?;
        drop(lock);
        // Compaction is maintenance's (docs/merge.md, "Maintenance"), as it
        // is on Athena: without this, every checkpoint (each run's close)
        // merges the table's unfilled row groups into one, rewriting and
        // recompressing up to 122,880 rows of every column, which took longer
        // than the day's MERGE itself.
        // A statement without ORDER BY may return or store rows in any order
        // (history has none; maintenance's rewrite orders its rows): a first
        // load's INSERT then writes from both threads at once, not in the
        // file's order (2M rows: 3.3 s → 1.9 s).
        // Strings are still compressed by FSST or a dictionary of FSST
        // strings; plain dictionaries, which every appended segment was
        // analysed for, are left out: inserting 200,000 versions takes a
        // third less time, for a warehouse 1% (CDC) to 10% (2M-key
        // snapshots) larger.
        conn.execute_batch(
            "SET max_vacuum_tasks = 0; SET preserve_insertion_order = false; \
             SET disabled_compression_methods = 'dictionary'",
        )
        .map_err(|e| failed(e.to_string()))?;
        let profile = Profile::new();
        profile.enable(&conn).map_err(|e| failed(e.to_string()))?;
        Ok(DuckDbEngine {
            conn: Arc::new(Mutex::new(conn)),
            dialect: Arc::new(DuckDb {
                lake_root: lake_root.display().to_string(),
            }),
            path: path.to_path_buf(),
            profile: Arc::new(profile),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `statement` with what it read and how long it took.
    fn profiled(
        conn: &duckdb::Connection,
        profile: &Profile,
        statement: &str,
    ) -> Result<QueryResult, EngineError> {
        profile.clear(conn);
        let mut result = DuckDbEngine::run(conn, statement).map_err(|e| EngineError::Query {
            statement: statement.to_string(),
            message: e.to_string(),
        })?;
        (result.bytes_scanned, result.engine_ms) = profile.read(conn);
        Ok(result)
    }

    fn run(conn: &duckdb::Connection, sql: &str) -> Result<QueryResult, duckdb::Error> {
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query([])?;
        let mut out = QueryResult::default();
        while let Some(row) = rows.next()? {
            if out.columns.is_empty() {
                out.columns = row.as_ref().column_names();
            }
            let mut values = Vec::with_capacity(out.columns.len());
            for i in 0..out.columns.len() {
                values.push(convert(row.get::<_, Value>(i)?));
            }
            out.rows.push(values);
        }
        Ok(out)
    }
}

/// DuckDB's error, and for a warehouse written by DuckDB 2.0 (what tidemark
/// linked before 2026-12-06) what converts it for the DuckDB linked now.
fn newer_format_hint(path: &Path, e: duckdb::Error) -> String {
    let message = e.to_string();
    if !message.contains("created with a newer version of DuckDB") {
        return message;
    }
    format!(
        "{message}\n{} was written by a newer DuckDB than this build links (1.5.6): before \
         2026-12-06 tidemark linked DuckDB 2.0. Convert it once, keeping the original beside it: \
         python3 tools/duckdb/convert_warehouse.py {} (needs DuckDB 2's Python package: \
         pip install duckdb==2.0.1)",
        path.display(),
        path.display()
    )
}

fn convert(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Boolean(b) => SqlValue::Bool(b),
        Value::TinyInt(i) => SqlValue::Int(i.into()),
        Value::SmallInt(i) => SqlValue::Int(i.into()),
        Value::Int(i) => SqlValue::Int(i.into()),
        Value::BigInt(i) => SqlValue::Int(i),
        Value::UTinyInt(i) => SqlValue::Int(i.into()),
        Value::USmallInt(i) => SqlValue::Int(i.into()),
        Value::UInt(i) => SqlValue::Int(i.into()),
        Value::UBigInt(i) => i64::try_from(i)
            .map(SqlValue::Int)
            .unwrap_or(SqlValue::Text(i.to_string())),
        Value::HugeInt(i) => i64::try_from(i)
            .map(SqlValue::Int)
            .unwrap_or(SqlValue::Text(i.to_string())),
        Value::Float(f) => SqlValue::Float(f.into()),
        Value::Double(f) => SqlValue::Float(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Decimal(d) => SqlValue::Text(d.to_string()),
        Value::Timestamp(unit, t) => {
            let micros = match unit {
                duckdb::types::TimeUnit::Second => t.saturating_mul(1_000_000),
                duckdb::types::TimeUnit::Millisecond => t.saturating_mul(1_000),
                duckdb::types::TimeUnit::Microsecond => t,
                duckdb::types::TimeUnit::Nanosecond => t / 1_000,
            };
            match chrono::DateTime::from_timestamp_micros(micros) {
                Some(ts) => {
                    SqlValue::Text(ts.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f").to_string())
                }
                None => SqlValue::Text(micros.to_string()),
            }
        }
        Value::Date32(days) => match chrono::NaiveDate::from_num_days_from_ce_opt(days + 719_163) {
            Some(d) => SqlValue::Text(d.to_string()),
            None => SqlValue::Text(days.to_string()),
        },
        other => SqlValue::Text(format!("{other:?}")),
    }
}

impl DuckDbEngine {
    /// Runs `work` on the connection, on a blocking thread: statements run
    /// one at a time.
    async fn with_connection<T: Send + 'static>(
        &self,
        work: impl FnOnce(&duckdb::Connection) -> Result<T, EngineError> + Send + 'static,
    ) -> Result<T, EngineError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let conn = conn.lock().map_err(|_| {
                EngineError::Transient("the DuckDB connection was poisoned by a panic".into())
            })?;
            work(&conn)
        })
        .await
        .map_err(|e| EngineError::Transient(format!("DuckDB task failed: {e}")))?
    }
}

#[async_trait]
impl QueryEngine for DuckDbEngine {
    fn dialect(&self) -> Arc<dyn Dialect> {
        self.dialect.clone()
    }

    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        let statement = sql.to_string();
        let profile = self.profile.clone();
        self.with_connection(move |conn| {
            tracing::debug!(sql = %statement, "duckdb");
            DuckDbEngine::profiled(conn, &profile, &statement)
        })
        .await
    }

    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        let statements = statements.to_vec();
        let profile = self.profile.clone();
        self.with_connection(move |conn| {
            let failed = |statement: &str, e: duckdb::Error| EngineError::Query {
                statement: statement.to_string(),
                message: e.to_string(),
            };
            conn.execute_batch("BEGIN TRANSACTION")
                .map_err(|e| failed("BEGIN TRANSACTION", e))?;
            let mut results = Vec::with_capacity(statements.len());
            for statement in &statements {
                tracing::debug!(sql = %statement, "duckdb (transaction)");
                match DuckDbEngine::profiled(conn, &profile, statement) {
                    Ok(result) => results.push(result),
                    Err(e) => {
                        let _ = conn.execute_batch("ROLLBACK");
                        return Err(e);
                    }
                }
            }
            conn.execute_batch("COMMIT")
                .map_err(|e| failed("COMMIT", e))?;
            Ok(results)
        })
        .await
    }
}
