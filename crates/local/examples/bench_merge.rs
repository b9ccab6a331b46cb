//! The SCD2 merge on DuckDB: time and peak memory to merge batches of 10k,
//! 100k and 1M changes into histories of 1M and 10M rows.
//!
//! `make bench-merge` runs it (`BENCH_HISTORIES=1000000 BENCH_BATCHES=10000`
//! to choose sizes). Each history is built by merging one initial batch
//! (half the rows' keys, each inserted then updated, so two versions per
//! key); each measured batch then updates existing keys with 90% of its
//! changes (a prime stride spreads them over the table; a batch larger than
//! the key count changes some keys more than once) and inserts new keys with
//! 10%, all later than the history. Peak memory is the
//! process's resident-set high-water mark (`VmHWM`), reset before each merge.
//! The figures also go to `$BENCH_DIR/bench/merge.json`.

use std::path::Path;
use std::time::Instant;
use tidemark_bench::env_sizes;
use tidemark_core::batch_id::BatchId;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::ports::QueryEngine;
use tidemark_core::scd2::{MergePlan, string_literal};
use tidemark_local::duckdb::DuckDbEngine;

const METADATA: &str = r#"{"name":"orders","primary_key":["id"],"columns":[
    {"name":"id","type":"int64","nullable":false},
    {"name":"customer_id","type":"int64"},
    {"name":"status","type":"string"},
    {"name":"amount","type":"decimal128(12,2)"},
    {"name":"ordered_at","type":"timestamp(us)"},
    {"name":"note","type":"string"}]}"#;

/// Resets the resident-set high-water mark (Linux 4.0+).
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The resident-set high-water mark, in MiB.
fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Writes one validated batch with DuckDB: `rows` is a query over `range`
/// producing the business columns plus `op`, `valid_from`, `change_seq`.
async fn write_batch(engine: &DuckDbEngine, lake: &Path, batch: BatchId, rows: &str) {
    let dir = lake.join(format!("validated/bench/orders/{batch}"));
    std::fs::create_dir_all(&dir).expect("batch folder");
    let file = dir.join("part-0.parquet");
    let sql = format!(
        "COPY (SELECT *, (hash(concat_ws('|', id, customer_id, status, amount, ordered_at, note)) >> 1)::BIGINT AS row_hash, {b} AS batch_id FROM ({rows})) TO {f} (FORMAT parquet)",
        b = string_literal(&batch.to_string()),
        f = string_literal(&file.display().to_string()),
    );
    engine.execute(&sql).await.expect("batch written");
}

/// `count` changes over `range`'s `i`: the key is the expression `key`, the
/// values vary with `i + minute` (so each round of changes differs from the
/// last), and `change_seq` counts from `first_seq`.
fn changes(first_seq: u64, count: u64, key: &str, op: &str, minute: u64) -> String {
    format!(
        "SELECT {key} AS id, ((i + {minute}) % 1000)::BIGINT AS customer_id, ['new','paid','shipped'][1 + ((i + {minute}) % 3)::INTEGER] AS status, \
         (((i + {minute}) % 10000) / 100.0)::DECIMAL(12,2) AS amount, TIMESTAMP '2026-11-01 00:00:00' + to_seconds(i % 86400) AS ordered_at, \
         CASE WHEN i % 7 = 0 THEN 'gift' END AS note, '{op}' AS op, \
         TIMESTAMP '2026-11-01 00:00:00' + to_minutes({minute}) + to_microseconds(i) AS valid_from, \
         lpad(({first_seq} + i)::VARCHAR, 20, '0') AS change_seq FROM range({count}) t(i)"
    )
}

async fn merge(engine: &DuckDbEngine, meta: &TableMetadata, batch: BatchId) -> (f64, f64, u64) {
    let plan = MergePlan {
        row_hash: Default::default(),
        retained_from: None,
        since: None,
        target: Default::default(),
        database: "bench",
        meta,
        batch_id: batch,
        snapshot: None,
    };
    let dialect = engine.dialect();
    reset_peak();
    let start = Instant::now();
    let (_, counts) = plan
        .merge(dialect.as_ref())
        .apply(engine)
        .await
        .expect("merge");
    let seconds = start.elapsed().as_secs_f64();
    let c = counts.expect("DuckDB counts what its merge changed");
    (seconds, peak_mib(), c.inserted + c.updated + c.removed)
}

async fn count(engine: &DuckDbEngine) -> u64 {
    let r = engine
        .execute("SELECT count(*) AS n FROM bench.orders")
        .await
        .expect("count");
    r.int("n").unwrap_or_default() as u64
}

#[tokio::main]
async fn main() {
    let histories = env_sizes("BENCH_HISTORIES", &[1_000_000, 10_000_000]);
    let batches = env_sizes("BENCH_BATCHES", &[10_000, 100_000, 1_000_000]);
    let meta = TableMetadata::from_json("bench", METADATA).expect("metadata");
    let root = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    println!(
        "| history rows | batch changes | merge time (s) | changes/s | peak RSS (MiB) | rows written |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let mut figures = Vec::new();
    for history in histories {
        let dir = tempfile::tempdir_in(&root).expect("bench folder");
        let lake = dir.path();
        let engine = DuckDbEngine::open(&lake.join("warehouse.duckdb"), lake).expect("DuckDB");
        let plan = MergePlan {
            row_hash: Default::default(),
            retained_from: None,
            since: None,
            target: Default::default(),
            database: "bench",
            meta: &meta,
            batch_id: BatchId::FIRST,
            snapshot: None,
        };
        let dialect = engine.dialect();
        for s in plan
            .schema_statements(dialect.as_ref(), &[])
            .expect("create")
        {
            engine.execute(&s.sql).await.expect("DDL");
        }
        let keys = history / 2;
        let initial = format!(
            "{} UNION ALL {}",
            changes(0, keys, "i", "I", 0),
            changes(keys, keys, "i", "U", 60)
        );
        write_batch(&engine, lake, BatchId::FIRST, &initial).await;
        let (seconds, peak, written) = merge(&engine, &meta, BatchId::FIRST).await;
        eprintln!(
            "initial load of {history} changes: {seconds:.1} s, peak {peak:.0} MiB, {written} rows written"
        );
        let mut next_key = keys;
        for (n, size) in batches.iter().enumerate() {
            let batch = BatchId::new(n as u64 + 2);
            let updates = size * 9 / 10;
            let inserts = size - updates;
            // Distinct existing keys, spread over the table (a prime stride).
            let rows = format!(
                "{} UNION ALL {}",
                changes(
                    history + n as u64 * 10_000_000,
                    updates,
                    &format!("(i * 1000003) % {keys}"),
                    "U",
                    120 + n as u64 * 60
                ),
                changes(
                    history + n as u64 * 10_000_000 + updates,
                    inserts,
                    &format!("{next_key} + i"),
                    "I",
                    120 + n as u64 * 60
                ),
            );
            next_key += inserts;
            write_batch(&engine, lake, batch, &rows).await;
            let before = count(&engine).await;
            let (seconds, peak, written) = merge(&engine, &meta, batch).await;
            println!(
                "| {before} | {size} | {seconds:.2} | {:.0} | {peak:.0} | {written} |",
                *size as f64 / seconds
            );
            figures.push(serde_json::json!({
                "history_rows": before,
                "batch_changes": size,
                "seconds": seconds,
                "peak_rss_mib": peak,
                "rows_written": written,
            }));
        }
    }
    let json = serde_json::json!({ "merges": figures });
    tidemark_bench::write_figures(&root.join("bench/merge.json"), &json).expect("merge.json");
}
