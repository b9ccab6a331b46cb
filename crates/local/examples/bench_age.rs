//! The same daily batch merged into tables of growing age: does a merge cost
//! what the batch is, or what the table has become?
//!
//! A table of `BENCH_KEYS` keys (default 100,000) has lived `a` days for each
//! `a` in `BENCH_AGES` (default 1, 10, 100): every day changed every key, so
//! its history holds `a` versions per key and its change log `a` batch files
//! (100 days of 100,000 keys: 10M history rows, 10M logged changes). The
//! measured batch, landed the next day, updates 1% of the keys. For each age
//! it prints the merge's wall time and what DuckDB's profiler counted (rows
//! scanned, bytes read), and what the rendered Athena MERGE would read under
//! the partition specs (history partitions, change-log batch partitions).
//!
//! The history is written as daily merges append it: versions in day order,
//! each closed by the next day's. The oldest table is measured twice more:
//! with its history stored in no order (as years of merges can leave it,
//! which defeats the zone maps), and the same after the table's maintenance
//! rewrote it. `make bench-age` runs it; the figures go to
//! `target/bench/age.json`.

use std::path::Path;
use std::time::Instant;
use tidemark_bench::env_sizes;
use tidemark_core::batch_id::BatchId;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::ports::{QueryEngine, QueryResult, SqlValue};
use tidemark_core::scd2::{Athena, MergePlan, Since, string_literal};
use tidemark_local::duckdb::DuckDbEngine;

const METADATA: &str = r#"{"name":"orders","primary_key":["id"],"columns":[
    {"name":"id","type":"int64","nullable":false},
    {"name":"customer_id","type":"int64"},
    {"name":"status","type":"string"},
    {"name":"amount","type":"decimal128(12,2)"},
    {"name":"note","type":"string"}]}"#;

/// Version `day` of key `id` (an SQL expression): the business columns and
/// the change columns, as validation writes them.
fn version(id: &str, day: &str, op: &str) -> String {
    format!(
        "{id} AS id, ({id} % 1000 + {day})::BIGINT AS customer_id, ['new','paid','shipped'][1 + ({id} + {day}) % 3] AS status, \
         ((({id} + {day}) % 10000) / 100.0)::DECIMAL(12,2) AS amount, CASE WHEN {id} % 7 = 0 THEN 'gift' END AS note, \
         {op} AS op, TIMESTAMP '2026-01-01' + to_days({day}::INTEGER) + to_microseconds({id}) AS valid_from, \
         lpad(({day}::BIGINT * 100000000 + {id})::VARCHAR, 20, '0') AS change_seq"
    )
}

const HASH: &str = "(hash(concat_ws('|', id, customer_id, status, amount, note)) >> 1)::BIGINT";

async fn sql(engine: &DuckDbEngine, sql: &str) -> tidemark_core::ports::QueryResult {
    engine
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
}

/// Writes day `day`'s batch: `rows` is a SELECT of the version columns.
async fn write_batch(engine: &DuckDbEngine, lake: &Path, day: u64, rows: &str) {
    let batch = BatchId::new(day);
    let dir = lake.join(format!("validated/bench/orders/{batch}"));
    std::fs::create_dir_all(&dir).expect("batch folder");
    sql(
        engine,
        &format!(
            "COPY (SELECT *, {HASH} AS row_hash, {b} AS batch_id FROM ({rows})) TO {f} (FORMAT parquet)",
            b = string_literal(&batch.to_string()),
            f = string_literal(&dir.join("part-0.parquet").display().to_string()),
        ),
    )
    .await;
}

/// How the history's rows are stored.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    /// As daily merges append them: day after day.
    DayOrder,
    /// In no order, as years of merges, updates and deletes can leave them.
    Shuffled,
    /// Shuffled, then rewritten by the table's maintenance.
    Maintained,
}

impl Layout {
    fn name(self) -> &'static str {
        match self {
            Layout::DayOrder => "day order",
            Layout::Shuffled => "shuffled",
            Layout::Maintained => "shuffled, then maintained",
        }
    }
}

/// A table that lived `age` days: `age` log files and the history they made.
async fn grow(engine: &DuckDbEngine, lake: &Path, keys: u64, age: u64, layout: Layout) {
    for day in 1..=age {
        let op = if day == 1 { "'I'" } else { "'U'" };
        let rows = format!(
            "SELECT {} FROM range({keys}) t(i)",
            version("i", &day.to_string(), op)
        );
        write_batch(engine, lake, day, &rows).await;
    }
    // The history daily merges leave: version `day` of each key, closed by
    // the next day's, appended day after day.
    sql(
        engine,
        &format!(
            "INSERT INTO bench.orders
             SELECT id, customer_id, status, amount, note, valid_from, change_seq,
                    CASE WHEN d = {age} THEN TIMESTAMP '9999-12-31 23:59:59.999999'
                         ELSE TIMESTAMP '2026-01-01' + to_days((d + 1)::INTEGER) + to_microseconds(id) END,
                    d = {age}, FALSE, op, 'b' || lpad(d::VARCHAR, 6, '0'), {HASH}
             FROM (SELECT d, {v} FROM range(1, {age} + 1) days(d), range({keys}) t(i))
             ORDER BY {order}",
            v = version("i", "d", "CASE WHEN d = 1 THEN 'I' ELSE 'U' END"),
            order = match layout {
                Layout::DayOrder => "d, id",
                Layout::Shuffled | Layout::Maintained => "hash(d, id)",
            }
        ),
    )
    .await;
}

/// Midnight of `day` (days after 2026-01-01), in µs since the epoch.
fn day_start(day: u64) -> i64 {
    let start = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    (start + chrono::Days::new(day))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

/// What the rendered Athena MERGE would read: the history's partitions
/// under `month(valid_to)` that its `valid_to >= since` keeps, and the
/// change log's batch partitions it names (partition projection: the
/// others are never listed).
struct AthenaReads {
    partitions: i64,
    partitions_read: i64,
    log_partitions: i64,
    log_partitions_read: i64,
}

async fn athena_reads(
    engine: &DuckDbEngine,
    lake: &Path,
    since: i64,
    plan: &MergePlan<'_>,
) -> AthenaReads {
    let since = chrono::DateTime::from_timestamp_micros(since)
        .unwrap()
        .naive_utc();
    let history = sql(
        engine,
        &format!(
            "SELECT count(DISTINCT date_trunc('month', valid_to)) AS partitions,
                    count(DISTINCT date_trunc('month', valid_to)) FILTER (WHERE valid_to >= TIMESTAMP '{since}') AS read
             FROM bench.orders"
        ),
    )
    .await;
    let folders = std::fs::read_dir(lake.join("validated/bench/orders"))
        .expect("the change log")
        .count();
    let merge = plan
        .merge(&Athena::default())
        .single()
        .expect("Athena runs one MERGE");
    let named = merge
        .split("\"batch_number\" IN (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the Athena MERGE names its batches' partitions");
    AthenaReads {
        partitions: history.int("partitions").unwrap(),
        partitions_read: history.int("read").unwrap(),
        log_partitions: folders as i64,
        log_partitions_read: named.split(',').count() as i64,
    }
}

/// What DuckDB's profiler reports for the merge's statements.
#[derive(Default)]
struct Profile {
    rows_scanned: u64,
    /// From files (the change log's Parquet; the warehouse's blocks are cached).
    bytes_read: u64,
}

impl Profile {
    /// Adds what `EXPLAIN (ANALYZE, FORMAT json)` reported for a statement
    /// (the rows), and what the engine logged it read (the bytes: DuckDB
    /// 1.5.6's profile leaves `total_bytes_read` at 0).
    fn add(&mut self, analyzed: &QueryResult) {
        let Some(SqlValue::Text(text)) = analyzed.rows.first().and_then(|r| r.get(1)) else {
            panic!("EXPLAIN ANALYZE returned no plan: {analyzed:?}");
        };
        let json: serde_json::Value = serde_json::from_str(text).expect("profile JSON");
        let root = json.get(0).unwrap_or(&json);
        let get = |k: &str| root.get(k).and_then(|v| v.as_u64()).unwrap_or(0);
        self.rows_scanned += get("cumulative_rows_scanned");
        self.bytes_read += analyzed.bytes_scanned.unwrap_or_default();
    }
}

#[tokio::main]
async fn main() {
    let keys = env_sizes("BENCH_KEYS", &[100_000])[0];
    let ages = env_sizes("BENCH_AGES", &[1, 10, 100]);
    let meta = TableMetadata::from_json("bench", METADATA).expect("metadata");
    let root = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let batch_keys = keys / 100;
    println!(
        "| table age (days) | history stored | history rows | logged changes | batch | merge (s) | rows scanned | bytes read (MB) | Athena: history partitions | Athena: log partitions |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut figures = Vec::new();
    let oldest = ages.iter().copied().max().unwrap_or(1);
    let cases = ages
        .iter()
        .map(|&age| (age, Layout::DayOrder))
        .chain([(oldest, Layout::Shuffled), (oldest, Layout::Maintained)]);
    for (age, layout) in cases {
        let dir = tempfile::tempdir_in(&root).expect("bench folder");
        let lake = dir.path();
        let engine = DuckDbEngine::open(&lake.join("warehouse.duckdb"), lake).expect("DuckDB");
        let batch = BatchId::new(age + 1);
        let plan = MergePlan {
            row_hash: Default::default(),
            retained_from: None,
            // What the ledger knows: the batch's earliest change is the
            // next day's, and only the batch holds changes from then on.
            since: Some(Since {
                at: day_start(age + 1),
                batches: vec![batch],
            }),
            target: Default::default(),
            database: "bench",
            meta: &meta,
            batch_id: batch,
            snapshot: None,
        };
        let dialect = engine.dialect();
        for s in plan
            .schema_statements(dialect.as_ref(), &[])
            .expect("create")
        {
            sql(&engine, &s.sql).await;
        }
        grow(&engine, lake, keys, age, layout).await;
        if layout == Layout::Maintained {
            for s in plan.maintenance(dialect.as_ref()) {
                sql(&engine, &s.sql).await;
            }
        }
        // 1% of the keys, spread over the table (a prime stride), the next day.
        let rows = format!(
            "SELECT {} FROM range({batch_keys}) t(i)",
            version(
                &format!("((i * 1000003) % {keys})"),
                &(age + 1).to_string(),
                "'U'"
            )
        );
        write_batch(&engine, lake, age + 1, &rows).await;
        sql(&engine, "CHECKPOINT").await;
        let athena = athena_reads(&engine, lake, day_start(age + 1), &plan).await;

        // Each statement of the merge under DuckDB's profiler, in one
        // transaction as the merge step runs them.
        let start = Instant::now();
        sql(&engine, "BEGIN TRANSACTION").await;
        let mut p = Profile::default();
        for step in plan.merge(dialect.as_ref()).all() {
            let analyzed = sql(&engine, &format!("EXPLAIN (ANALYZE, FORMAT json) {step}")).await;
            p.add(&analyzed);
        }
        sql(&engine, "COMMIT").await;
        let seconds = start.elapsed().as_secs_f64();

        let check = sql(
            &engine,
            "SELECT count(*) AS n, count(*) FILTER (WHERE is_current) AS current FROM bench.orders",
        )
        .await;
        let (history, current) = (check.int("n").unwrap(), check.int("current").unwrap());
        assert_eq!(history as u64, age * keys + batch_keys, "history rows");
        assert_eq!(current as u64, keys, "current rows");
        println!(
            "| {age} | {} | {} | {} | {batch_keys} | {seconds:.2} | {} | {:.1} | {} of {} | {} of {} |",
            layout.name(),
            age * keys,
            age * keys,
            p.rows_scanned,
            p.bytes_read as f64 / 1e6,
            athena.partitions_read,
            athena.partitions,
            athena.log_partitions_read,
            athena.log_partitions,
        );
        figures.push(serde_json::json!({
            "age_days": age,
            "history_stored": layout.name(),
            "history_rows": age * keys,
            "logged_changes": age * keys,
            "batch_changes": batch_keys,
            "merge_seconds": seconds,
            "rows_scanned": p.rows_scanned,
            "bytes_read": p.bytes_read,
            "athena_history_partitions": athena.partitions,
            "athena_history_partitions_read": athena.partitions_read,
            "athena_log_partitions": athena.log_partitions,
            "athena_log_partitions_read": athena.log_partitions_read,
        }));
    }
    let json = serde_json::json!({ "keys": keys, "ages": figures });
    tidemark_bench::write_figures(&root.join("bench/age.json"), &json).expect("age.json");
}
