//! A rebuild beside the incremental runs it replaces, on the same landed
//! data: the bench's 20-column `shipments` table, a full load and one CDC
//! file a day (`BENCH_ROWS`, default 1,000,000 rows in all: 60% full load,
//! the rest over four days). The local pipeline merges it day by day, as the
//! schedule would, then rebuilds the table from every file in one run. Both
//! histories must be equal (but for `batch_id`).
//!
//! `make bench-rebuild` runs it; the figures go to `target/bench/rebuild.json`.

use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::path::Path;
use std::time::Instant;
use tidemark_asl::ExecutionStatus;
use tidemark_bench::data::{Kind, ROW_GROUP_ROWS, batch, metadata, schema};
use tidemark_core::events::ExecutionInput;
use tidemark_core::ports::QueryEngine;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::LocalBackend;

/// Writes rows `start..start + rows` of `kind` as one landed Parquet file.
fn land(path: &Path, kind: Kind, start: u64, rows: u64) {
    std::fs::create_dir_all(path.parent().unwrap()).expect("landing folder");
    let file = std::fs::File::create(path).expect("landed file");
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema(kind), Some(props)).expect("writer");
    let mut written = 0;
    while written < rows {
        let n = (rows - written).min(ROW_GROUP_ROWS as u64);
        writer
            .write(&batch(kind, start + written, n as usize))
            .expect("rows");
        written += n;
    }
    writer.close().expect("landed file closed");
}

/// Runs one execution; returns its wall time in seconds.
async fn run(options: &LocalOptions, name: &str, input: serde_json::Value) -> f64 {
    let backend = LocalBackend::open(options).expect("backend");
    let started = Instant::now();
    let execution = backend
        .run(name, &ExecutionInput(input), 0.0)
        .await
        .expect("run");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{name}: {:?}",
        execution.events.last()
    );
    seconds
}

/// The history's row count and an order-independent digest of its rows,
/// without `batch_id` (which records which batch first wrote a row).
async fn history(options: &LocalOptions) -> (i64, String) {
    let backend = LocalBackend::open(options).expect("backend");
    let sql = "SELECT count(*) AS n, CAST(sum(hash(t)::HUGEINT) AS VARCHAR) AS digest FROM (SELECT * EXCLUDE (batch_id) FROM bench.shipments) t";
    let r = backend.engine.execute(sql).await.expect("the history");
    let digest = match r.rows.first().and_then(|row| row.get(1)) {
        Some(tidemark_core::ports::SqlValue::Text(t)) => t.clone(),
        other => format!("{other:?}"),
    };
    (r.int("n").unwrap_or_default(), digest)
}

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::var("BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let root = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "target".into());
    let dir = tempfile::tempdir_in(&root).expect("a folder for the bench");
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("metadata")).unwrap();
    std::fs::write(dir.join("metadata/shipments.json"), metadata().to_json()).unwrap();
    std::fs::write(
        dir.join("tidemark.toml"),
        "[source]\ndatabase = \"bench\"\n\n[[tables]]\nname = \"shipments\"\nmode = \"cdc\"\n",
    )
    .unwrap();
    let options = LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        landing: Some(dir.join("landing")),
        ..Default::default()
    };
    let folder = dir.join("landing/public/shipments");
    let full = rows * 6 / 10;
    let per_day = (rows - full) / 4;
    eprintln!(
        "bench-rebuild: {rows} rows: a full load of {full}, then 4 days of {per_day} changes"
    );

    let mut days = Vec::new();
    land(
        &folder.join("LOAD00000001.parquet"),
        Kind::FullLoad,
        0,
        full,
    );
    days.push(run(&options, "day-1", serde_json::json!({})).await);
    for day in 0..4u64 {
        let name = format!("2026110{}-100000000.parquet", day + 2);
        land(&folder.join(name), Kind::Cdc, full + day * per_day, per_day);
        days.push(run(&options, &format!("day-{}", day + 2), serde_json::json!({})).await);
    }
    let daily = history(&options).await;
    let incremental: f64 = days.iter().sum();
    let rebuild = run(
        &options,
        "rebuild",
        serde_json::json!({"mode": "rebuild", "tables": ["shipments"]}),
    )
    .await;
    let rebuilt = history(&options).await;
    assert_eq!(
        rebuilt, daily,
        "the rebuild differs from the day-by-day history"
    );

    println!("| landed rows | history rows | 5 daily runs | of which day 1 | rebuild (one run) |");
    println!("|---:|---:|---:|---:|---:|");
    println!(
        "| {rows} | {} | {incremental:.2} s | {:.2} s | {rebuild:.2} s |",
        daily.0, days[0]
    );
    let figures = serde_json::json!({
        "landed_rows": rows,
        "history_rows": daily.0,
        "daily_seconds": days,
        "incremental_seconds": incremental,
        "rebuild_seconds": rebuild,
    });
    tidemark_bench::write_figures(&root.join("bench/rebuild.json"), &figures)
        .expect("rebuild.json");
}
