//! The PostgreSQL source: changes per second from the replication slot to
//! landed Parquet files, and the end-to-end time of a pipeline run over them.
//!
//! `make bench-pg` runs it (`BENCH_CHANGES=1000000`, the default). It needs
//! `make pg`'s server (or `TIDEMARK_PG_URL`). One table of six columns; after
//! the full load (10,000 rows), half the changes are inserts and half updates,
//! in transactions of 10,000 rows. Measured: the replicator alone draining the
//! slot (decoding with wal2json, writing the CDC files, confirming), then the
//! rest of the pipeline (validate, merge into history on DuckDB, publish).

use std::path::Path;
use std::time::Instant;
use tidemark_asl::ExecutionStatus;
use tidemark_core::events::{ExecutionInput, StartReplicationEvent};
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::LocalBackend;

#[path = "common/pg.rs"]
mod pg;

const CONFIG: &str = r#"
[source]
database = "bench"
schema = "public"

[[tables]]
name = "orders"
mode = "cdc"

[local]
lake = "lake"
"#;

fn dir_mib(dir: &Path) -> f64 {
    let mut total = 0u64;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                total += e.metadata().map(|m| m.len()).unwrap_or_default();
            }
        }
    }
    total as f64 / (1 << 20) as f64
}

#[tokio::main]
async fn main() {
    let changes: u64 = std::env::var("BENCH_CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let bench_db = pg::BenchDb::create("bench_pg").await;
    let url = bench_db.url.clone();
    let db = pg::connect(&url).await;
    db.batch_execute(
        "CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, status text NOT NULL,
                              amount numeric(12,2), placed_at timestamptz, note text);
         INSERT INTO orders SELECT g, g % 997, 'placed', g * 0.01, now(), 'first'
           FROM generate_series(1, 10000) g;",
    )
    .await
    .expect("schema");
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).expect("config");
    let options = LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        source: Some(url.clone()),
        ..Default::default()
    };
    let backend = LocalBackend::open(&options).expect("backend");
    let run = backend
        .run("load", &ExecutionInput::default(), 0.0)
        .await
        .expect("run");
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    drop(backend);

    let started = Instant::now();
    let per_txn = 10_000u64;
    let inserts = changes / 2;
    let mut done = 0;
    while done < inserts {
        let n = per_txn.min(inserts - done);
        let (a, b) = (10_001 + done, 10_000 + done + n);
        db.batch_execute(&format!(
            "INSERT INTO orders SELECT g, g % 997, 'placed', g * 0.01, now(), 'bench' FROM generate_series({a}, {b}) g"
        ))
        .await
        .expect("insert");
        done += n;
    }
    let updates = changes - inserts;
    let mut done = 0;
    while done < updates {
        let n = per_txn.min(updates - done);
        let (a, b) = (1 + done, done + n);
        db.batch_execute(&format!(
            "UPDATE orders SET status = 'shipped', amount = amount + 1 WHERE id BETWEEN {a} AND {b}"
        ))
        .await
        .expect("update");
        done += n;
    }
    let workload = started.elapsed().as_secs_f64();

    let backend = LocalBackend::open(&options).expect("backend");
    let started = Instant::now();
    let status = backend
        .ports
        .replication
        .start(
            &StartReplicationEvent::default(),
            &[("orders".into(), tidemark_core::config::TableMode::Cdc)],
        )
        .await
        .expect("replicate");
    let replicate = started.elapsed().as_secs_f64();
    let landed = dir_mib(&dir.join("lake/landing"));
    let started = Instant::now();
    let run = backend
        .run("changes", &ExecutionInput::default(), 0.0)
        .await
        .expect("run");
    let pipeline = started.elapsed().as_secs_f64();
    assert_eq!(run.status, ExecutionStatus::Succeeded);
    drop(backend);
    drop(db);
    bench_db.drop().await;

    println!("| PostgreSQL source, {changes} changes | figure |");
    println!("|---|---|");
    println!("| workload (SQL, {per_txn} rows per transaction) | {workload:.1} s |");
    println!(
        "| slot → Parquet (decode, write, confirm) | {replicate:.1} s, {:.0} changes/s, {landed:.1} MiB landed |",
        changes as f64 / replicate
    );
    println!("| replicator message | {} |", status.message);
    println!("| pipeline after it (validate, merge, publish) | {pipeline:.1} s |");
    println!(
        "| end to end, slot to history | {:.1} s |",
        replicate + pipeline
    );
}
