//! Commit-to-query latency of a frequent schedule: a writer commits a steady
//! stream of changes to PostgreSQL while `tidemark run --follow` runs beside
//! it, and a probe times, for sampled changes, how long after their commit
//! they are in history (and so in `<table>_current`, which the same merge
//! publishes), with their commit time as `valid_from`.
//!
//! `make bench-freshness` runs it; needs `make pg`'s server (or
//! `TIDEMARK_PG_URL`). Defaults (the workload): 10 tables, 200
//! changes a second for 600 s, a cycle every 30 s (`BENCH_TABLES`,
//! `BENCH_RATE`, `BENCH_SECONDS`, `BENCH_EVERY`; `BENCH_CADENCE=frequent`
//! runs the loop as the frequent schedule, reading metadata hourly). Changes are 50 % updates,
//! 20 % inserts, 15 % deletes and 15 % re-inserts of deleted keys, 20 to a
//! transaction. At the end the loop catches up, and history as of every
//! instant the writer captured must equal the source then. Prints a table
//! and writes `target/bench/freshness.json`.

use duckdb::{AccessMode, Config, Connection};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio_postgres::Client;

#[path = "common/pg.rs"]
mod pg;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: a seeded stream of numbers.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

/// A sampled change: visible once history has (`id`, `v`).
struct Sample {
    table: usize,
    id: i64,
    v: i64,
    committed: Instant,
    /// The commit's time at the source, µs since the epoch.
    commit_us: i64,
    seen: Option<Duration>,
    valid_from_ok: bool,
}

/// Every table's rows at one instant, as text, for the as-of check.
struct Snapshot {
    at: String,
    tables: Vec<Vec<(i64, i64, String)>>,
}

async fn snapshot(db: &Client, tables: usize) -> Snapshot {
    let at: String = db
        .query_one(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut rows = Vec::with_capacity(tables);
    for t in 0..tables {
        rows.push(
            db.query(&format!("SELECT id, v, note FROM t{t} ORDER BY id"), &[])
                .await
                .unwrap()
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect(),
        );
    }
    Snapshot { at, tables: rows }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU seconds (user + system) and peak RSS (MiB) of a process, from /proc.
fn usage(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split(' ').collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<f64>().ok())
        .sum();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let hwm_kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_default();
    (ticks / 100.0, hwm_kb / 1024.0)
}

/// Marks the samples history now holds; `false` while the warehouse is busy.
fn probe(warehouse: &Path, samples: &mut [Sample], started: Instant) -> bool {
    let config = Config::default()
        .access_mode(AccessMode::ReadOnly)
        .expect("read-only");
    let Ok(conn) = Connection::open_with_flags(warehouse, config) else {
        return false;
    };
    let now = started.elapsed();
    let mut by_table: BTreeMap<usize, Vec<&mut Sample>> = BTreeMap::new();
    for s in samples.iter_mut().filter(|s| s.seen.is_none()) {
        by_table.entry(s.table).or_default().push(s);
    }
    for (table, pending) in by_table {
        let values: Vec<String> = pending
            .iter()
            .map(|s| format!("({}, {})", s.id, s.v))
            .collect();
        let sql = format!(
            "SELECT h.id, h.v, epoch_us(h.valid_from) FROM bench.t{table} h JOIN (VALUES {}) p(id, v) ON h.id = p.id AND h.v = p.v WHERE NOT h.is_deleted",
            values.join(", ")
        );
        let Ok(mut statement) = conn.prepare(&sql) else {
            continue; // the table is not there yet
        };
        let found: Vec<(i64, i64, i64)> = statement
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map(|rows| rows.flatten().collect())
            .unwrap_or_default();
        for s in pending {
            if let Some((_, _, valid_from)) =
                found.iter().find(|(id, v, _)| *id == s.id && *v == s.v)
            {
                s.seen = Some(now.saturating_sub(s.committed.duration_since(started)));
                s.valid_from_ok = (valid_from - s.commit_us).abs() < 1_000_000;
                if !s.valid_from_ok {
                    eprintln!(
                        "t{table} id {} v {}: valid_from {valid_from} µs, commit {} µs",
                        s.id, s.v, s.commit_us
                    );
                }
            }
        }
    }
    true
}

fn tidemark_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("tidemark")
}

#[tokio::main]
async fn main() {
    let tables: usize = env("BENCH_TABLES", 10);
    let rate: u64 = env("BENCH_RATE", 200);
    let seconds: u64 = env("BENCH_SECONDS", 600);
    let every: String = env("BENCH_EVERY", "30s".to_string());
    let cadence: String = env("BENCH_CADENCE", String::new());
    let sample_every: u64 = env("BENCH_SAMPLE", 20);

    let bench_db = pg::BenchDb::create("bench_fresh").await;
    let url = bench_db.url.clone();
    let db = pg::connect(&url).await;
    let mut config = String::from(
        "[source]\ndatabase = \"bench\"\nschema = \"public\"\n\n[local]\nlake = \"lake\"\n",
    );
    for t in 0..tables {
        db.batch_execute(&format!(
            "CREATE TABLE t{t} (id bigint PRIMARY KEY, v bigint NOT NULL, note text NOT NULL);
             INSERT INTO t{t} SELECT g, g, 'load' FROM generate_series(1, 1000) g;"
        ))
        .await
        .expect("schema");
        config.push_str(&format!("\n[[tables]]\nname = \"t{t}\"\nmode = \"cdc\"\n"));
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), &config).expect("config");
    let out = dir.join("follow.out");
    let mut follow = std::process::Command::new(tidemark_binary());
    follow.args(["run", "--follow", "--every", &every, "--source", &url]);
    if !cadence.is_empty() {
        follow.args(["--cadence", &cadence]);
    }
    let mut follow = follow
        .arg("--config")
        .arg(dir.join("tidemark.toml"))
        .arg("--lake")
        .arg(dir.join("lake"))
        .env("TIDEMARK_LOG", "error")
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start tidemark run --follow (cargo build --workspace first)");
    let cycles = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" follow-"))
            .count()
    };
    while cycles() == 0 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("full load merged; writing {rate} changes/s to {tables} tables for {seconds} s");

    let warehouse = dir.join("lake/warehouse.duckdb");
    let slot_sql = "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)), 0)::bigint FROM pg_replication_slots WHERE database = current_database()";
    let mut rng = Rng(0xF2E5_11E5);
    let mut live: Vec<Vec<i64>> = (0..tables).map(|_| (1..=1000).collect()).collect();
    let mut deleted: Vec<Vec<i64>> = vec![Vec::new(); tables];
    let mut next_id = vec![1001i64; tables];
    let mut value = 1_000_000i64;
    let mut samples: Vec<Sample> = Vec::new();
    let mut instants = vec![snapshot(&db, tables).await];
    let mut slot_lag: Vec<i64> = Vec::new();
    let per_txn = 20u64;
    let txn_interval = Duration::from_secs_f64(per_txn as f64 / rate as f64);
    let started = Instant::now();
    let mut last_probe = Instant::now();
    let mut last_instant = Instant::now();
    let mut last_lag = Instant::now();
    let mut changes = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let tick = Instant::now();
        let mut statements = Vec::with_capacity(per_txn as usize);
        let mut sampled = Vec::new();
        for _ in 0..per_txn {
            let t = rng.below(tables as u64) as usize;
            value += 1;
            changes += 1;
            let roll = rng.below(100);
            let (sql, kept) = if roll < 15 && live[t].len() > 100 {
                let at = rng.below(live[t].len() as u64) as usize;
                let id = live[t].swap_remove(at);
                deleted[t].push(id);
                (format!("DELETE FROM t{t} WHERE id = {id}"), None)
            } else if roll < 30 && !deleted[t].is_empty() {
                let at = rng.below(deleted[t].len() as u64) as usize;
                let id = deleted[t].swap_remove(at);
                live[t].push(id);
                (
                    format!("INSERT INTO t{t} VALUES ({id}, {value}, 'again')"),
                    Some(id),
                )
            } else if roll < 50 {
                let id = next_id[t];
                next_id[t] += 1;
                live[t].push(id);
                (
                    format!("INSERT INTO t{t} VALUES ({id}, {value}, 'new')"),
                    Some(id),
                )
            } else {
                let id = live[t][rng.below(live[t].len() as u64) as usize];
                (
                    format!("UPDATE t{t} SET v = {value}, note = 'changed' WHERE id = {id}"),
                    Some(id),
                )
            };
            statements.push(sql);
            if let Some(id) = kept
                && changes.is_multiple_of(sample_every)
            {
                sampled.push((t, id, value));
            }
        }
        // The source's clock as the last statement before COMMIT: the
        // commit's time (what valid_from records) within milliseconds.
        let answers = db
            .simple_query(&format!(
                "BEGIN; {}; SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint; COMMIT;",
                statements.join("; ")
            ))
            .await
            .expect("write");
        let committed = Instant::now();
        let commit_us: i64 = answers
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0)?.parse().ok(),
                _ => None,
            })
            .expect("the clock");
        for (table, id, v) in sampled {
            samples.push(Sample {
                table,
                id,
                v,
                committed,
                commit_us,
                seen: None,
                valid_from_ok: false,
            });
        }
        if last_lag.elapsed() >= Duration::from_secs(5) {
            slot_lag.push(db.query_one(slot_sql, &[]).await.unwrap().get(0));
            last_lag = Instant::now();
        }
        if last_instant.elapsed() >= Duration::from_secs(30) {
            instants.push(snapshot(&db, tables).await);
            last_instant = Instant::now();
        }
        if last_probe.elapsed() >= Duration::from_millis(500) {
            probe(&warehouse, &mut samples, started);
            last_probe = Instant::now();
        }
        if let Some(rest) = txn_interval.checked_sub(tick.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
    let wrote = started.elapsed().as_secs_f64();
    instants.push(snapshot(&db, tables).await);
    eprintln!("writer stopped; waiting for the loop to catch up");
    let deadline = Instant::now() + Duration::from_secs(600);
    while samples.iter().any(|s| s.seen.is_none()) && Instant::now() < deadline {
        probe(&warehouse, &mut samples, started);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (cpu_s, rss_mib) = usage(follow.id());
    std::process::Command::new("kill")
        .args(["-INT", &follow.id().to_string()])
        .status()
        .unwrap();
    let stopped = follow.wait().expect("follow exits");

    // History as of every captured instant equals the source then.
    let config = Config::default().access_mode(AccessMode::ReadOnly).unwrap();
    let conn = Connection::open_with_flags(&warehouse, config).expect("warehouse");
    let mut mismatches = 0;
    for instant in &instants {
        for (t, source) in instant.tables.iter().enumerate() {
            let sql = format!(
                "SELECT id, v, note FROM bench.t{t} WHERE valid_from <= TIMESTAMP '{at}' AND valid_to > TIMESTAMP '{at}' AND NOT is_deleted ORDER BY id",
                at = instant.at
            );
            let history: Vec<(i64, i64, String)> = conn
                .prepare(&sql)
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .flatten()
                .collect();
            if &history != source {
                mismatches += 1;
                eprintln!("t{t} as of {}: history differs from the source", instant.at);
            }
        }
    }
    drop(conn);
    bench_db.drop().await;

    let mut latencies: Vec<f64> = samples
        .iter()
        .filter_map(|s| s.seen.map(|d| d.as_secs_f64()))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let unseen = samples.iter().filter(|s| s.seen.is_none()).count();
    let wrong_valid_from = samples
        .iter()
        .filter(|s| s.seen.is_some() && !s.valid_from_ok)
        .count();
    let (p50, p95, max) = (
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.95),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    let cycle_s = every
        .trim_end_matches(|c: char| c.is_alphabetic())
        .parse::<f64>()
        .unwrap_or(30.0)
        * if every.ends_with('m') { 60.0 } else { 1.0 };
    let max_lag = slot_lag.iter().copied().max().unwrap_or(0);
    let final_lag = slot_lag.last().copied().unwrap_or(0);

    // Each cycle's line ends with how long it took: "(1.4 s)".
    let mut took: Vec<f64> = std::fs::read_to_string(&out)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" follow-"))
        .filter_map(|l| l.rsplit_once('(')?.1.strip_suffix(" s)")?.parse().ok())
        .collect();
    took.sort_by(f64::total_cmp);
    let cycle_p50 = took.get(took.len() / 2).copied().unwrap_or_default();
    let cadence_arg = if cadence.is_empty() {
        String::new()
    } else {
        format!(" --cadence {cadence}")
    };
    println!(
        "| freshness: {tables} tables, {rate} changes/s for {seconds} s, --every {every}{cadence_arg} | figure |"
    );
    println!("|---|---|");
    println!(
        "| changes written | {changes} in {wrote:.0} s ({:.0}/s) |",
        changes as f64 / wrote
    );
    println!(
        "| cycles: count / median time | {} / {cycle_p50:.1} s |",
        cycles()
    );
    println!(
        "| sampled changes | {} ({unseen} never seen) |",
        samples.len()
    );
    println!("| commit → history: p50 / p95 / max | {p50:.1} s / {p95:.1} s / {max:.1} s |");
    println!(
        "| p95 against 2 × the interval ({:.0} s) | {} |",
        2.0 * cycle_s,
        if p95 <= 2.0 * cycle_s {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "| valid_from = commit time (±1 s) | {} of {} |",
        latencies.len() - wrong_valid_from,
        latencies.len()
    );
    println!(
        "| history as of {} instants = the source | {} |",
        instants.len(),
        if mismatches == 0 {
            "yes".to_string()
        } else {
            format!("NO: {mismatches} differ")
        }
    );
    println!("| follow loop: CPU / peak RSS | {cpu_s:.0} s / {rss_mib:.0} MiB |");
    println!(
        "| slot lag: max / last (sampled every 5 s) | {:.1} / {:.1} MiB |",
        max_lag as f64 / 1048576.0,
        final_lag as f64 / 1048576.0
    );
    println!(
        "| stopped with Ctrl-C | {} |",
        if stopped.success() {
            "cleanly"
        } else {
            "NOT cleanly"
        }
    );

    let json = serde_json::json!({
        "workload": {"tables": tables, "changes_per_second": rate, "seconds": seconds, "every": every, "cadence": cadence, "changes": changes},
        "cycles": cycles(),
        "cycle_p50_s": cycle_p50,
        "samples": samples.len(),
        "unseen": unseen,
        "latency_s": {"p50": p50, "p95": p95, "max": max},
        "goal_p95_s": 2.0 * cycle_s,
        "valid_from_wrong": wrong_valid_from,
        "as_of_instants": instants.len(),
        "as_of_mismatches": mismatches,
        "follow": {"cpu_s": cpu_s, "peak_rss_mib": rss_mib},
        "slot_lag_bytes": {"max": max_lag, "last": final_lag},
    });
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bench_dir = std::env::var("BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| target.join("target"))
        .join("bench");
    tidemark_bench::write_figures(&bench_dir.join("freshness.json"), &json).unwrap();
    if mismatches > 0 || unseen > 0 || wrong_valid_from > 0 || !stopped.success() {
        std::process::exit(1);
    }
}
