//! Real CDC from PostgreSQL, proven against the source itself: a random
//! workload of inserts, updates, deletes, re-inserts and multi-statement
//! transactions over several days, the pipeline run after each day, and for
//! every instant captured during the workload the history's
//! `valid_from <= t < valid_to` view equals the source as it was at `t`.
//! Then the same with the replicator crashing between writing a chunk's files
//! and confirming the slot. Needs `make pg` (CI runs it).

use std::path::Path;
use tidemark_asl::ExecutionStatus;
use tidemark_core::events::ExecutionInput;
use tidemark_core::ports::{QueryEngine, SqlValue};
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::LocalBackend;
use tidemark_tests::pg::TestDb;
use tokio_postgres::Client;

const CONFIG: &str = r#"
[source]
database = "shop"
schema = "public"

[[tables]]
name = "accounts"
mode = "cdc"

[[tables]]
name = "tags"
mode = "cdc"

[local]
lake = "lake"
"#;

const SCHEMA: &str = "
    CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2),
                           active boolean, seen timestamptz);
    CREATE TABLE tags (k text, n int, v text, PRIMARY KEY (k, n));
    INSERT INTO accounts VALUES (1, 'ann', 10.00, true, now()), (2, 'bob', NULL, false, NULL);
    INSERT INTO tags VALUES ('a', 1, 'first');";

/// Each table's rows as the source shows them, as text, in key order; and
/// the same view of a history table.
const TABLES: [(&str, &str, &str, &str); 2] = [
    (
        "accounts",
        "id::text, owner, balance::text, active::text, to_char(seen AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
        "id::VARCHAR, owner, balance::VARCHAR, active::VARCHAR, strftime(seen, '%Y-%m-%d %H:%M:%S.%f')",
        "id",
    ),
    ("tags", "k, n::text, v", "k, n::VARCHAR, v", "k, n"),
];

type Rows = Vec<Vec<Option<String>>>;

/// The source at one instant: (`yyyy-MM-dd HH:mm:ss.ffffff` UTC, each table's rows).
struct Instant {
    at: String,
    tables: Vec<Rows>,
}

/// xorshift64*: a seeded, dependency-free stream of numbers.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

async fn capture(client: &Client) -> Instant {
    let at: String = client
        .query_one(
            "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let mut tables = Vec::new();
    for (table, source, _, key) in TABLES {
        let rows = client
            .query(&format!("SELECT {source} FROM {table} ORDER BY {key}"), &[])
            .await
            .unwrap();
        let mut rows: Rows = rows
            .iter()
            .map(|r| {
                (0..r.len())
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect()
            })
            .collect();
        rows.sort();
        tables.push(rows);
    }
    Instant { at, tables }
}

/// One random statement.
fn statement(rng: &mut Rng) -> String {
    const OWNERS: [&str; 5] = ["ann", "bob", "O'Brien", "zoë", "chen"];
    let id = 1 + rng.below(25);
    let owner = OWNERS[rng.below(5) as usize].replace('\'', "''");
    let balance = match rng.below(5) {
        0 => "NULL".to_string(),
        _ => format!("{}.{:02}", rng.below(100_000), rng.below(100)),
    };
    let active = ["true", "false", "NULL"][rng.below(3) as usize];
    let seen = ["now()", "NULL", "now() - interval '3 days'"][rng.below(3) as usize];
    let (k, n) = (["a", "b", "c"][rng.below(3) as usize], 1 + rng.below(4));
    match rng.below(9) {
        0 | 1 => format!(
            "INSERT INTO accounts VALUES ({id}, '{owner}', {balance}, {active}, {seen})
             ON CONFLICT (id) DO UPDATE SET owner = EXCLUDED.owner, balance = EXCLUDED.balance"
        ),
        2 | 3 => format!(
            "UPDATE accounts SET balance = {balance}, active = {active}, seen = {seen} WHERE id = {id}"
        ),
        4 => format!("DELETE FROM accounts WHERE id = {id}"),
        5 => format!("UPDATE accounts SET owner = owner WHERE id = {id}"),
        6 => format!(
            "INSERT INTO tags VALUES ('{k}', {n}, 'v{}') ON CONFLICT (k, n) DO UPDATE SET v = EXCLUDED.v",
            rng.below(1000)
        ),
        7 => format!("DELETE FROM tags WHERE k = '{k}' AND n = {n}"),
        _ => format!("UPDATE tags SET v = NULL WHERE k = '{k}'"),
    }
}

/// One day of random transactions (1-4 statements each); the source after each.
async fn day(client: &Client, rng: &mut Rng, transactions: usize) -> Vec<Instant> {
    let mut instants = Vec::new();
    for _ in 0..transactions {
        let statements: Vec<String> = (0..1 + rng.below(4)).map(|_| statement(rng)).collect();
        client
            .batch_execute(&format!("BEGIN; {}; COMMIT;", statements.join("; ")))
            .await
            .unwrap();
        instants.push(capture(client).await);
    }
    instants
}

fn options(dir: &Path, url: &str) -> LocalOptions {
    LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        source: Some(url.to_string()),
        ..Default::default()
    }
}

async fn run(dir: &Path, url: &str, name: &str) {
    let backend = LocalBackend::open(&options(dir, url)).unwrap();
    let execution = backend
        .run(name, &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert_eq!(execution.status, ExecutionStatus::Succeeded, "{name}");
}

/// Every captured instant's source equals history's view at that instant.
async fn assert_as_of(dir: &Path, url: &str, instants: &[Instant]) {
    let backend = LocalBackend::open(&options(dir, url)).unwrap();
    for instant in instants {
        for (i, (table, _, history, key)) in TABLES.iter().enumerate() {
            let sql = format!(
                "SELECT {history} FROM shop.{table}
                  WHERE valid_from <= TIMESTAMP '{at}' AND valid_to > TIMESTAMP '{at}' AND NOT is_deleted
                  ORDER BY {key}",
                at = instant.at
            );
            let result = backend.engine.execute(&sql).await.unwrap();
            let mut rows: Rows = result
                .rows
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            SqlValue::Null => None,
                            SqlValue::Text(t) => Some(t.clone()),
                            other => Some(format!("{other:?}")),
                        })
                        .collect()
                })
                .collect();
            rows.sort();
            assert_eq!(
                rows, instant.tables[i],
                "{table} as of {}: history (left) differs from the source (right)",
                instant.at
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn history_as_of_any_instant_equals_the_source_then() {
    let db = TestDb::create("pgwork").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();

    let mut instants = Vec::new();
    run(dir, &db.url, "load").await;
    instants.push(capture(&client).await);
    let mut rng = Rng(0x0005_EED0_F7DE);
    for d in 1..=4 {
        instants.extend(day(&client, &mut rng, 40).await);
        run(dir, &db.url, &format!("day-{d}")).await;
        assert_as_of(dir, &db.url, &instants).await;
    }
    drop(client);
    db.drop_all().await;
}

fn run_binary(
    dir: &Path,
    url: &str,
    name: &str,
    crash_at: Option<u32>,
) -> std::process::ExitStatus {
    let mut command = std::process::Command::new(tidemark_tests::tidemark_binary());
    command
        .args(["run", "--time-scale", "0", "--name", name, "--source", url])
        .arg("--config")
        .arg(dir.join("tidemark.toml"))
        .arg("--lake")
        .arg(dir.join("lake"))
        .env("TIDEMARK_PG_CHUNK_CHANGES", "25")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Some(n) = crash_at {
        command.env("TIDEMARK_PG_CRASH_BEFORE_CONFIRM", n.to_string());
    }
    command.status().unwrap()
}

/// Rows in the landed CDC files of `table`, and how many distinct changes they hold.
fn landed_changes(dir: &Path, table: &str) -> (usize, usize) {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let folder = dir.join("lake/landing/public").join(table);
    let mut all = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("LOAD")
        {
            continue;
        }
        let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let seq = arrow::array::AsArray::as_string::<i32>(batch.column_by_name("scn").unwrap());
            all.extend(seq.iter().map(|s| s.unwrap().to_string()));
        }
    }
    let total = all.len();
    all.sort();
    all.dedup();
    (total, all.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crash_between_writing_and_confirming_loses_and_duplicates_nothing() {
    let db = TestDb::create("pgkill").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("tidemark.toml"), CONFIG).unwrap();

    let mut instants = Vec::new();
    assert!(run_binary(dir, &db.url, "load", None).success());
    instants.push(capture(&client).await);
    let mut rng = Rng(0xC0FFEE);
    instants.extend(day(&client, &mut rng, 60).await);

    // The replicator dies after landing its third chunk, before confirming it.
    let status = run_binary(dir, &db.url, "crash", Some(3));
    assert!(
        !status.success(),
        "the crash hook aborts the run: {status:?}"
    );
    let pending: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_logical_slot_peek_changes((SELECT slot_name FROM pg_replication_slots WHERE database = current_database()), NULL, NULL)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        pending > 0,
        "the unconfirmed chunk and the rest are still in the slot"
    );

    // The restart replays the unconfirmed chunk; the merge absorbs the repeat.
    assert!(run_binary(dir, &db.url, "restart", None).success());
    let (total, distinct) = landed_changes(dir, "accounts");
    let (tags_total, tags_distinct) = landed_changes(dir, "tags");
    assert!(
        total + tags_total > distinct + tags_distinct,
        "the crashed chunk was landed twice ({total}+{tags_total} rows, {distinct}+{tags_distinct} distinct)"
    );
    instants.extend(day(&client, &mut rng, 20).await);
    assert!(run_binary(dir, &db.url, "next-day", None).success());
    assert_as_of(dir, &db.url, &instants).await;
    drop(client);
    db.drop_all().await;
}

/// Whether a run record under `runs` has changes validated and no outcome yet.
fn validated_not_merged(runs: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(runs) else {
        return false;
    };
    entries.flatten().any(|run| {
        ["accounts", "tags"].iter().any(|t| {
            std::fs::read(run.path().join("shop").join(format!("{t}.json")))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|r| {
                    r.get("status").is_none()
                        && r["batches"].as_array().is_some_and(|b| !b.is_empty())
                })
        })
    })
}

/// A child process killed when dropped, so a failed test leaves no loop running.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tidemark run --follow` on `dir`, its lines into `out`.
fn follow(dir: &Path, url: &str, out: &Path) -> Child {
    Child(
        std::process::Command::new(tidemark_tests::tidemark_binary())
            .args(["run", "--follow", "--every", "1s", "--time-scale", "0"])
            .args(["--source", url])
            .arg("--config")
            .arg(dir.join("tidemark.toml"))
            .arg("--lake")
            .arg(dir.join("lake"))
            .env("TIDEMARK_PG_CHUNK_CHANGES", "25")
            // Each table waits a second between validation and merge: the
            // watcher below kills the loop in that window.
            .env("TIDEMARK_TEST_DELAY", "merge-history:1000")
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// The cycle lines `--follow` printed so far.
fn cycles(out: &Path) -> Vec<String> {
    std::fs::read_to_string(out)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" follow-"))
        .map(str::to_string)
        .collect()
}

/// Waits until `ready` holds of the lines, for at most two minutes.
async fn wait_for_cycles(out: &Path, what: &str, ready: impl Fn(&[String]) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ready(&cycles(out)) {
        assert!(
            std::time::Instant::now() < deadline,
            "--follow never printed {what}: {:?}",
            cycles(out)
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_follow_loop_killed_mid_cycle_and_restarted_loses_and_duplicates_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let db = TestDb::create("pgfollow").await;
    let client = db.client().await;
    client.batch_execute(SCHEMA).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // A short lease: the cycles after the kill skip the tables it left
    // held, until it expires.
    std::fs::write(
        dir.join("tidemark.toml"),
        format!("{CONFIG}\n[pipeline]\nlease_seconds = 3\n"),
    )
    .unwrap();
    let out = dir.join("follow.out");
    let mut child = follow(dir, &db.url, &out);
    wait_for_cycles(&out, "its first cycle (the full load)", |c| {
        c.iter().any(|l| l.contains("failed 0"))
    })
    .await;
    let mut instants = vec![capture(&client).await];

    // A writer beside the loop; a watcher kills it (SIGKILL) the moment a
    // cycle has validated changes and not merged them: its run record says
    // what was validated, and no status yet.
    let killed = Arc::new(AtomicBool::new(false));
    let watcher = {
        let killed = killed.clone();
        let runs = dir.join("lake/runs");
        let pid = child.0.id().to_string();
        std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while std::time::Instant::now() < deadline {
                if validated_not_merged(&runs) {
                    let status = std::process::Command::new("kill")
                        .args(["-KILL", &pid])
                        .status()
                        .unwrap();
                    killed.store(status.success(), Ordering::SeqCst);
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        })
    };
    let mut rng = Rng(0xF0110);
    while !watcher.is_finished() {
        instants.extend(day(&client, &mut rng, 5).await);
    }
    watcher.join().unwrap();
    assert!(
        killed.load(Ordering::SeqCst),
        "no cycle was seen between validation and merge: {:?}",
        std::fs::read_to_string(&out).unwrap_or_default()
    );
    let status = child.0.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "{status:?}"
    );

    // Restarted, with the writer going on; then the writer stops and the
    // loop catches up: two whole cycles after it, none skipping or failing.
    let killed_cycles = cycles(&out).len();
    let out = dir.join("follow-again.out");
    let mut child = follow(dir, &db.url, &out);
    instants.extend(day(&client, &mut rng, 40).await);
    instants.push(capture(&client).await);
    let written = cycles(&out).len();
    wait_for_cycles(&out, "a clean cycle after the writer stopped", |c| {
        c.len() >= written + 2 && c.last().is_some_and(|l| l.contains("skipped 0, failed 0"))
    })
    .await;
    // Ctrl-C: the loop finishes its cycle and stops cleanly.
    let pid = child.0.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    let status = child.0.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(killed_cycles >= 1);
    assert_as_of(dir, &db.url, &instants).await;
    drop(client);
    db.drop_all().await;
}
