//! Erasure on the local pipeline, over a copy of the demo: `forget` removes
//! a key from history, `__previous`, the change log and quarantined copies;
//! the erasure log holds only keyed hashes and survives; a rebuild or a
//! reprocess does not bring the key back; a forget killed midway completes
//! when repeated; bad input changes nothing.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidemark_asl::{Execution, ExecutionStatus};
use tidemark_core::error::StoreError;
use tidemark_core::events::ExecutionInput;
use tidemark_core::ports::{
    Condition, ObjectInfo, ObjectStore, PartWriter, QueryEngine, SqlValue, async_trait,
};
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::{LocalBackend, run_catching_up};
use tidemark_tests::{DEMO_TABLES, demo_copy, dump_table};

struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new(extra_config: &str) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        demo_copy(dir.path(), |config| {
            format!(
                "{}\n{extra_config}\n",
                config.replace("on_invalid = \"fail\"", "on_invalid = \"continue\"")
            )
        });
        Demo { dir }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn options(&self) -> LocalOptions {
        LocalOptions {
            config_path: self.dir.path().join("tidemark.toml"),
            lake: Some(self.lake()),
            ..Default::default()
        }
    }

    /// Every replay day, as the schedule would run them.
    async fn daily(&self) -> LocalBackend {
        let (backend, runs) =
            run_catching_up(&self.options(), "daily", &ExecutionInput(json!({})), 0.0)
                .await
                .unwrap();
        for run in &runs {
            assert_succeeded(run);
        }
        backend
    }

    async fn run(&self, name: &str, input: Value) -> (LocalBackend, Execution) {
        let backend = LocalBackend::open(&self.options()).unwrap();
        let execution = backend
            .run(name, &ExecutionInput(input), 0.0)
            .await
            .unwrap();
        (backend, execution)
    }

    /// Forgets `keys` of `table` in an execution `name` that must succeed;
    /// returns the backend and the erasure log's entry.
    async fn forget(&self, name: &str, table: &str, keys: Value) -> (LocalBackend, Value) {
        let (backend, run) = self.run(name, forget(table, keys)).await;
        assert_succeeded(&run);
        let entry = self.read_json(&format!("erasures/demo/{table}/{name}.json"));
        (backend, entry)
    }

    /// A daily run over the landing area as it stands (landed by "DMS": the
    /// replay would deliver its files again) validates no file, and the
    /// subject is found nowhere after it.
    async fn daily_validates_nothing_new(&self, subject: &Subject) {
        let options = LocalOptions {
            landing: Some(self.lake().join("landing")),
            ..self.options()
        };
        let backend = LocalBackend::open(&options).unwrap();
        let daily = backend
            .run("daily-after", &ExecutionInput(json!({})), 0.0)
            .await
            .unwrap();
        assert_succeeded(&daily);
        assert_eq!(
            self.read_json("runs/daily-after/demo/customers.json")["files_landed"],
            0
        );
        let left = found(&backend, &self.lake(), subject, &[]).await;
        assert!(left.is_empty(), "{left:#?}");
    }

    fn read_json(&self, key: &str) -> Value {
        let path = self.lake().join(key);
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

/// Fails with the execution's last event unless it succeeded.
fn assert_succeeded(run: &Execution) {
    assert_eq!(
        run.status,
        ExecutionStatus::Succeeded,
        "{}: {:?}",
        run.name,
        run.events.last()
    );
}

fn forget(table: &str, keys: Value) -> Value {
    json!({"mode": "forget", "tables": [table], "keys": keys, "requested_by": "DPO ticket 118"})
}

async fn int(backend: &LocalBackend, sql: &str) -> i64 {
    let r = backend
        .engine
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    match r.rows.first().and_then(|r| r.first()) {
        Some(SqlValue::Int(n)) => *n,
        other => panic!("{sql}: {other:?}"),
    }
}

/// The table's history but `key`'s rows, every column but `batch_id`
/// (which records the batch that first wrote a row: a rebuild renumbers it).
async fn others(backend: &LocalBackend, table: &str, column: &str, key: i64) -> Vec<Vec<SqlValue>> {
    let sql = format!(
        "SELECT COLUMNS(* EXCLUDE (batch_id))::VARCHAR FROM demo.{table} WHERE \"{column}\" <> {key} ORDER BY ALL"
    );
    backend
        .engine
        .execute(&sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
}

async fn text(backend: &LocalBackend, sql: &str) -> String {
    let r = backend
        .engine
        .execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    match r.rows.first().and_then(|r| r.first()) {
        Some(SqlValue::Text(t)) => t.clone(),
        other => panic!("{sql}: {other:?}"),
    }
}

/// Every file under `dir` (but `skip`), relative paths.
fn files(dir: &Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let relative = path.strip_prefix(dir).unwrap().to_path_buf();
            if skip.iter().any(|s| relative.starts_with(s)) {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

/// A data subject: a key of a table, and a value only their rows hold.
struct Subject {
    table: &'static str,
    column: &'static str,
    key: i64,
    /// Searched for in files that are not Parquet.
    value: Option<String>,
}

/// The customer whose id `query` selects, with their email (a value only
/// their rows hold).
async fn customer(backend: &LocalBackend, query: &str) -> Subject {
    let key = int(backend, query).await;
    let email = text(
        backend,
        &format!("SELECT email FROM demo.customers WHERE customer_id = {key} LIMIT 1"),
    )
    .await;
    Subject {
        table: "customers",
        column: "customer_id",
        key,
        value: Some(email),
    }
}

/// Where `subject` is still found in the lake (but `skip`): the table's
/// history tables and views by query, its Parquet files by query, and every
/// other file by its bytes. (Other tables may refer to the key:
/// orders.customer_id.)
async fn found(
    backend: &LocalBackend,
    lake: &Path,
    subject: &Subject,
    skip: &[&str],
) -> Vec<String> {
    let Subject {
        table,
        column,
        key,
        value,
    } = subject;
    let mut found = Vec::new();
    let tables = backend
        .engine
        .execute(&format!(
            "SELECT table_schema || '.' || table_name FROM information_schema.columns WHERE column_name = '{column}' AND table_schema = 'demo' AND table_name LIKE '{table}%'"
        ))
        .await
        .unwrap();
    for row in tables.rows {
        let SqlValue::Text(name) = &row[0] else {
            continue;
        };
        let n = int(
            backend,
            &format!("SELECT count(*) FROM {name} WHERE \"{column}\" = {key}"),
        )
        .await;
        if n > 0 {
            found.push(format!("{name}: {n} row(s)"));
        }
    }
    for path in files(lake, skip) {
        let name = path.display().to_string();
        let of_table =
            name.contains(&format!("/{table}/")) || name.contains(&format!("/{table}.g"));
        if name.ends_with(".parquet") && of_table {
            let schema = backend
                .engine
                .execute(&format!(
                    "SELECT name FROM parquet_schema('{name}') WHERE name = '{column}'"
                ))
                .await
                .unwrap();
            if schema.rows.is_empty() {
                continue;
            }
            let n = int(
                backend,
                &format!("SELECT count(*) FROM read_parquet('{name}') WHERE CAST(\"{column}\" AS VARCHAR) = '{key}'"),
            )
            .await;
            if n > 0 {
                found.push(format!("{name}: {n} row(s)"));
            }
        } else if !name.ends_with(".parquet") && !name.contains("warehouse.duckdb") {
            let bytes = std::fs::read(&path).unwrap();
            if let Some(value) = value
                && bytes.windows(value.len()).any(|w| w == value.as_bytes())
            {
                found.push(format!("{name}: {value:?}"));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn forget_removes_a_key_everywhere_and_no_rebuild_or_reprocess_brings_it_back() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    // The customer with the most versions.
    let subject = customer(&backend, "SELECT customer_id FROM demo.customers GROUP BY customer_id ORDER BY count(*) DESC, customer_id LIMIT 1").await;
    let key = subject.key;
    let before = others(&backend, "customers", "customer_id", key).await;
    assert!(
        !found(&backend, &demo.lake(), &subject, &["landing"])
            .await
            .is_empty()
    );
    // A rebuild first, so that a replaced history (`customers__previous`) holds the key too.
    drop(backend);
    let (backend, rebuild) = demo
        .run(
            "rebuild-1",
            json!({"mode": "rebuild", "tables": ["customers"]}),
        )
        .await;
    assert_succeeded(&rebuild);
    assert!(
        int(
            &backend,
            &format!("SELECT count(*) FROM demo.customers__previous WHERE customer_id = {key}")
        )
        .await
            > 0
    );
    drop(backend);

    // The key is given as text with a leading zero: it is the integer key.
    let (backend, entry) = demo
        .forget("forget-1", "customers", json!([format!("0{key}")]))
        .await;
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "the key is still found: {left:#?}");
    // Every other row is as it was.
    let after = others(&backend, "customers", "customer_id", key).await;
    assert_eq!(after, before, "only the key's rows are gone");

    // The erasure log: who, when, what was removed; hashes, never the key.
    assert_eq!(entry["requested_by"], "DPO ticket 118");
    assert_eq!(entry["key_columns"], json!(["customer_id"]));
    assert!(entry["completed_at"].is_string(), "{entry:#}");
    let hash = entry["key_hashes"][0].as_str().unwrap();
    assert_eq!(hash.len(), 64);
    assert!(!entry.to_string().contains(&format!("\"{key}\"")));
    let removed = &entry["removed"];
    assert!(removed["customers"].as_u64().unwrap() > 0, "{entry:#}");
    assert!(
        removed["customers__previous"].as_u64().unwrap() > 0,
        "{entry:#}"
    );
    assert!(removed["change_log"].as_u64().unwrap() > 0, "{entry:#}");
    // The run's record and alert say what was removed, and the alert does not show the key.
    let record = demo.read_json("runs/forget-1/demo/customers.json");
    assert_eq!(record["erasure"]["keys"], 1);
    let alert = demo.read_json("alerts/forget-1.json");
    assert_eq!(
        alert["tables"][0]["record"]["erasure"]["keys"], 1,
        "{alert:#}"
    );
    assert_eq!(alert["input"]["keys"], "(1 key(s), not shown)", "{alert:#}");
    drop(backend);

    // Repeating the erasure is safe and finds nothing more.
    let (backend, entry) = demo.forget("forget-2", "customers", json!([key])).await;
    assert_eq!(
        entry["removed"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum::<u64>(),
        0
    );
    drop(backend);

    // A rebuild reads every landed file again (the key is still in them:
    // DMS's record) and leaves the key out.
    let (backend, rebuild) = demo
        .run(
            "rebuild-2",
            json!({"mode": "rebuild", "tables": ["customers"]}),
        )
        .await;
    assert_succeeded(&rebuild);
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "a rebuild brought the key back: {left:#?}");
    assert_eq!(
        others(&backend, "customers", "customer_id", key).await,
        after,
        "the rebuilt history equals the history after the erasure"
    );
    let report = demo.read_json(&format!(
        "reports/demo/customers/{}.json",
        demo.read_json("state/demo/customers/ledger.json")["batches"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()["id"]
            .as_str()
            .unwrap()
    ));
    assert!(report["rows_forgotten"].as_u64().unwrap() > 0, "{report:#}");
    // The erasure log survives a rebuild.
    assert!(
        demo.lake()
            .join("erasures/demo/customers/forget-1.json")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_row_of_a_quarantined_file_stays_forgotten_when_the_file_is_reprocessed() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    // The demo's malformed orders file is quarantined with findings on its rows.
    let reports = files(&demo.lake().join("reports/demo/orders"), &[]);
    let (report_path, report) = reports
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.clone(),
                serde_json::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap(),
            )
        })
        .find(|(_, r)| {
            r["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["accepted"] == false)
        })
        .expect("a quarantined orders file");
    let file = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["accepted"] == false)
        .unwrap();
    let finding = file["findings"]["sample"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["row"].is_u64())
        .unwrap();
    let row = finding["row"].as_u64().unwrap();
    let quarantined = files(&demo.lake().join("quarantine/demo/orders"), &[])
        .pop()
        .unwrap();
    let order = int(
        &backend,
        &format!(
            "SELECT order_id FROM (SELECT order_id, row_number() OVER () AS n FROM read_parquet('{}')) WHERE n = {row}",
            quarantined.display()
        ),
    )
    .await;
    let subject = Subject {
        table: "orders",
        column: "order_id",
        key: order,
        value: None,
    };
    drop(backend);

    let (backend, entry) = demo.forget("forget-order", "orders", json!([order])).await;
    assert!(
        entry["removed"]["quarantine"].as_u64().unwrap() > 0,
        "{entry:#}"
    );
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "the key is still found: {left:#?}");
    // The report's finding on that row no longer shows its value.
    let scrubbed: Value =
        serde_json::from_str(&std::fs::read_to_string(&report_path).unwrap()).unwrap();
    let finding = scrubbed["files"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["findings"]["sample"].as_array().unwrap())
        .find(|f| f["row"] == row)
        .unwrap()
        .clone();
    assert!(finding["value"].is_null(), "{finding:#}");
    drop(backend);

    // After the fix, the file is reprocessed from the landing area (where the
    // row still is) and merged without it.
    let path = demo.dir.path().join("metadata/orders.json");
    let mut meta: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for c in meta["columns"].as_array_mut().unwrap() {
        if c["name"] == "status" {
            c["nullable"] = json!(true);
        }
    }
    std::fs::write(&path, meta.to_string()).unwrap();
    let (backend, reprocess) = demo
        .run("reprocess", json!({"mode": "reprocess", "tables": ["orders"], "from": "2026-11-01", "to": "2026-11-04"}))
        .await;
    assert_succeeded(&reprocess);
    let record = demo.read_json("runs/reprocess/demo/orders.json");
    assert!(record["files_accepted"].as_u64().unwrap() > 0, "{record:#}");
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(
        left.is_empty(),
        "a reprocess brought the key back: {left:#?}"
    );
}

/// The lake, failing every write under `prefix`.
struct Killing {
    inner: Arc<dyn ObjectStore>,
    prefix: &'static str,
}

#[async_trait]
impl ObjectStore for Killing {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<(bytes::Bytes, String), StoreError> {
        self.inner.get(key).await
    }
    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        self.inner.put_parts(key).await
    }
    async fn put(
        &self,
        key: &str,
        bytes: bytes::Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError> {
        if key.starts_with(self.prefix) {
            return Err(StoreError::Io {
                key: key.to_string(),
                message: "killed".into(),
            });
        }
        self.inner.put(key, bytes, condition).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.inner.delete(key, etag).await
    }
    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forget_killed_midway_loses_nothing_and_completes_when_repeated() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    let subject = customer(&backend, "SELECT min(customer_id) FROM demo.customers").await;
    let key = subject.key;
    let before = others(&backend, "customers", "customer_id", key).await;
    drop(backend);

    // Killed while rewriting the change log: the history is already erased.
    let mut backend = LocalBackend::open(&demo.options()).unwrap();
    backend.ports.lake = Arc::new(Killing {
        inner: backend.ports.lake.clone(),
        prefix: "validated/",
    });
    let run = backend
        .run(
            "forget-killed",
            &ExecutionInput(forget("customers", json!([key]))),
            0.0,
        )
        .await
        .unwrap();
    assert!(
        matches!(run.status, ExecutionStatus::Failed { .. }),
        "{:?}",
        run.status
    );
    let entry = demo.read_json("erasures/demo/customers/forget-killed.json");
    assert!(entry["completed_at"].is_null());
    assert_eq!(entry["done"], json!(["history"]));
    assert!(
        !found(&backend, &demo.lake(), &subject, &["landing"])
            .await
            .is_empty()
    );
    assert_eq!(
        others(&backend, "customers", "customer_id", key).await,
        before,
        "nothing else was lost"
    );
    drop(backend);

    // Repeated: it completes, and the rest of the history is as it was.
    let (backend, _) = demo.forget("forget-again", "customers", json!([key])).await;
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "{left:#?}");
    assert_eq!(
        others(&backend, "customers", "customer_id", key).await,
        before
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_rewrite_landed_the_landed_files_lose_the_rows_and_are_not_validated_again() {
    let demo = Demo::new("[erasure]\nrewrite_landed = true");
    let backend = demo.daily().await;
    let subject = customer(&backend, "SELECT max(customer_id) FROM demo.customers").await;
    let key = subject.key;
    drop(backend);
    let (backend, entry) = demo.forget("forget-1", "customers", json!([key])).await;
    assert!(
        entry["removed"]["landed"].as_u64().unwrap() > 0,
        "{entry:#}"
    );
    let left = found(&backend, &demo.lake(), &subject, &[]).await;
    assert!(left.is_empty(), "{left:#?}");
    drop(backend);
    // The rewritten files are the files the ledger consumed: nothing new to
    // validate.
    demo.daily_validates_nothing_new(&subject).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_forget_input_is_refused_and_nothing_changes() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    let history = dump_table(&backend.engine, "demo", "customers", DEMO_TABLES[0].1).await;
    drop(backend);
    let cases = [
        (
            json!({"mode": "forget", "tables": ["clients"], "keys": [1], "requested_by": "dpo"}),
            "\"clients\" is not a configured table",
        ),
        (
            forget("customers", json!(["abc"])),
            "key 1: column customer_id holds int64 values; the value given is not one",
        ),
        (forget("customers", json!([])), "\"keys\" is empty"),
        (
            forget("customers", json!([{"customer": 1}])),
            "\"customer\" is not a primary-key column of customers",
        ),
        (
            json!({"mode": "forget", "tables": ["customers"], "keys": [1]}),
            "needs \"requested_by\"",
        ),
    ];
    for (n, (input, expected)) in cases.into_iter().enumerate() {
        let name = format!("bad-{n}");
        let (backend, run) = demo.run(&name, input.clone()).await;
        assert!(
            matches!(&run.status, ExecutionStatus::Failed { .. }),
            "{input}: {:?}",
            run.status
        );
        let alert = demo.read_json(&format!("alerts/{name}.json"));
        let failed = &alert["tables"][0];
        assert_eq!(
            failed["error"], "Tidemark.InvalidInput",
            "{input}: {alert:#}"
        );
        let message = failed["message"].as_str().unwrap();
        assert!(
            message.contains(expected),
            "{input}: {message} does not say {expected:?}"
        );
        assert!(
            !alert.to_string().contains("abc"),
            "the alert does not show the keys: {alert:#}"
        );
        assert_eq!(
            dump_table(&backend.engine, "demo", "customers", DEMO_TABLES[0].1).await,
            history
        );
    }
    assert!(!demo.lake().join("erasures").exists());
    assert!(!demo.lake().join("secrets").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_forgets_and_says_what_it_removed() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    let key = int(&backend, "SELECT min(customer_id) FROM demo.customers").await;
    drop(backend);
    let forget = |key: &str| {
        std::process::Command::new(tidemark_tests::tidemark_binary())
            .args([
                "forget",
                "--table",
                "customers",
                "--key",
                key,
                "--requested-by",
                "DPO ticket 9",
            ])
            .arg("--config")
            .arg(demo.dir.path().join("tidemark.toml"))
            .arg("--lake")
            .arg(demo.lake())
            .output()
            .unwrap()
    };
    let out = forget(&key.to_string());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("customers: forgot 1 key(s): "),
        "{stdout}"
    );
    assert!(
        stdout.contains("erasures/demo/customers/forget-"),
        "{stdout}"
    );
    let out = forget("not-a-number");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("column customer_id holds int64 values"),
        "{stderr}"
    );
}

/// On Lambda an invocation ends: a forget near the end of one hands back
/// between files, and the state machine calls merge-history again, which
/// goes on from the entry's cursor. Here every invocation is at its end
/// (the deadline has passed), so each rewrites one file.
#[tokio::test(flavor = "multi_thread")]
async fn a_forget_out_of_time_hands_back_between_files_and_completes_in_later_invocations() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    let subject = customer(&backend, "SELECT min(customer_id) FROM demo.customers").await;
    let before = others(&backend, "customers", "customer_id", subject.key).await;
    let files = files(&demo.lake().join("validated/demo/customers"), &[]).len();
    assert!(files > 2, "{files}");
    drop(backend);

    let backend = LocalBackend::open(&demo.options()).unwrap();
    backend.ports.deadline.set_epoch_ms(1);
    let run = backend
        .run(
            "forget-sliced",
            &ExecutionInput(forget("customers", json!([subject.key]))),
            0.0,
        )
        .await
        .unwrap();
    assert_succeeded(&run);
    let invocations = run
        .events
        .iter()
        .filter(|e| e.state == "MergeHistory" && e.kind == "Entered")
        .count();
    assert!(
        invocations > files,
        "{invocations} invocations for {files} files"
    );
    let entry = demo.read_json("erasures/demo/customers/forget-sliced.json");
    assert!(
        entry["completed_at"].is_string() && entry.get("cursor").is_none(),
        "{entry:#}"
    );
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "{left:#?}");
    assert_eq!(
        others(&backend, "customers", "customer_id", subject.key).await,
        before
    );
}

/// The statements before one, and the one: whether it fails.
type Kill = fn(&[String], &str) -> bool;

/// The engine, recording each statement and failing those `kill` picks, as
/// a Lambda killed at that point would.
struct Recording {
    inner: Arc<dyn QueryEngine>,
    kill: Kill,
    statements: std::sync::Mutex<Vec<String>>,
}

impl Recording {
    fn install(backend: &mut LocalBackend, kill: Kill) -> Arc<Recording> {
        let engine = Arc::new(Recording {
            inner: backend.ports.engine.clone(),
            kill,
            statements: Default::default(),
        });
        backend.ports.engine = engine.clone();
        engine
    }
}

fn never(_: &[String], _: &str) -> bool {
    false
}

#[async_trait]
impl QueryEngine for Recording {
    fn dialect(&self) -> Arc<dyn tidemark_core::scd2::Dialect> {
        self.inner.dialect()
    }
    async fn execute(
        &self,
        sql: &str,
    ) -> Result<tidemark_core::ports::QueryResult, tidemark_core::error::EngineError> {
        self.record(sql)?;
        self.inner.execute(sql).await
    }
    /// Killed at any of its statements, the transaction changes nothing.
    async fn transaction(
        &self,
        statements: &[String],
    ) -> Result<Vec<tidemark_core::ports::QueryResult>, tidemark_core::error::EngineError> {
        for sql in statements {
            self.record(sql)?;
        }
        self.inner.transaction(statements).await
    }
}

impl Recording {
    /// Records `sql`; an error when `kill` picks it.
    fn record(&self, sql: &str) -> Result<(), tidemark_core::error::EngineError> {
        let mut statements = self.statements.lock().unwrap();
        let killed = (self.kill)(&statements, sql);
        statements.push(sql.to_string());
        if killed {
            return Err(tidemark_core::error::EngineError::Query {
                statement: sql.to_string(),
                message: "killed".into(),
            });
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forget_killed_after_its_delete_still_rewrites_the_history_when_repeated() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    let subject = customer(&backend, "SELECT min(customer_id) FROM demo.customers").await;
    let key = subject.key;
    drop(backend);

    let run = |name: &'static str, kill: Kill| {
        let options = demo.options();
        async move {
            let mut backend = LocalBackend::open(&options).unwrap();
            let engine = Recording::install(&mut backend, kill);
            let run = backend
                .run(
                    name,
                    &ExecutionInput(forget("customers", json!([key]))),
                    0.0,
                )
                .await
                .unwrap();
            let statements = engine.statements.lock().unwrap().clone();
            (backend, run, statements)
        }
    };
    let (backend, killed, _) = run("forget-killed", |before, _| {
        before.iter().any(|s| s.starts_with("DELETE"))
    })
    .await;
    let ExecutionStatus::Failed { cause, .. } = &killed.status else {
        panic!("{:?}", killed.status)
    };
    // The failure reaching the alert does not quote the statements, which
    // name the key.
    assert!(
        !cause.contains(&format!("customer_id\" = {key}"))
            && !cause.contains(&format!("customer_id = {key}")),
        "{cause}"
    );
    let entry = demo.read_json("erasures/demo/customers/forget-killed.json");
    assert!(
        entry["removed"]["customers"].as_u64().unwrap() > 0,
        "{entry:#}"
    );
    assert_eq!(entry["done"], json!([]));
    drop(backend);

    // Repeated: the rows are gone already, yet the table is rewritten, so
    // they do not stay in its storage.
    let (_backend, again, statements) = run("forget-again", never).await;
    assert_succeeded(&again);
    assert!(
        statements
            .iter()
            .any(|s| s.starts_with("CREATE OR REPLACE TABLE \"demo\".\"customers\"")),
        "{statements:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_quarantined_again_after_a_forget_is_copied_without_the_forgotten_rows() {
    let demo = Demo::new("");
    let backend = demo.daily().await;
    let quarantine = demo.lake().join("quarantine/demo/orders");
    let first = files(&quarantine, &[]).pop().unwrap();
    let order = int(
        &backend,
        &format!(
            "SELECT min(order_id) FROM read_parquet('{}')",
            first.display()
        ),
    )
    .await;
    drop(backend);
    let (backend, _) = demo.forget("forget-order", "orders", json!([order])).await;
    drop(backend);

    // Reprocessed without a fix, the file is quarantined again: a new copy,
    // made after the forget, from the landed file that still holds the row.
    let (backend, reprocess) = demo
        .run("reprocess", json!({"mode": "reprocess", "tables": ["orders"], "from": "2026-11-01", "to": "2026-11-04"}))
        .await;
    assert_succeeded(&reprocess);
    let copies = files(&quarantine, &[]);
    assert!(copies.len() > 1, "{copies:#?}");
    let subject = Subject {
        table: "orders",
        column: "order_id",
        key: order,
        value: None,
    };
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "the key is still found: {left:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_validated_while_a_forget_ran_is_merged_without_the_forgotten_rows() {
    // The erasure, made on a copy of the demo.
    let first = Demo::new("");
    let backend = first.daily().await;
    let subject = customer(&backend, "SELECT min(customer_id) FROM demo.customers").await;
    drop(backend);
    let (backend, _) = first
        .forget("forget-overlapping", "customers", json!([subject.key]))
        .await;
    drop(backend);

    // Another lake validates its first batch, and its merge fails: the batch
    // is validated, not merged. The erasure lands in its log after the
    // validation, as one that overlapped it would.
    let demo = Demo::new("");
    let mut backend = LocalBackend::open(&demo.options()).unwrap();
    Recording::install(&mut backend, |_, sql| sql.starts_with("INSERT INTO"));
    let run = backend
        .run("day-1", &ExecutionInput(json!({})), 0.0)
        .await
        .unwrap();
    assert!(
        matches!(run.status, ExecutionStatus::Failed { .. }),
        "{:?}",
        run.status
    );
    drop(backend);
    for key in [
        "secrets/erasure-key",
        "erasures/demo/customers/forget-overlapping.json",
    ] {
        let to = demo.lake().join(key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(first.lake().join(key), to).unwrap();
    }

    // The next runs merge that batch without the key.
    let backend = demo.daily().await;
    let left = found(&backend, &demo.lake(), &subject, &["landing"]).await;
    assert!(left.is_empty(), "the key is still found: {left:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_landed_rewrite_killed_before_the_ledger_knew_it_is_not_validated_again() {
    let demo = Demo::new("[erasure]\nrewrite_landed = true");
    let backend = demo.daily().await;
    let subject = customer(&backend, "SELECT max(customer_id) FROM demo.customers").await;
    drop(backend);

    // Killed after a landed file was rewritten, before the ledger was told.
    let mut backend = LocalBackend::open(&demo.options()).unwrap();
    backend.ports.lake = Arc::new(Killing {
        inner: backend.ports.lake.clone(),
        prefix: "state/demo/customers/ledger",
    });
    let run = backend
        .run(
            "forget-killed",
            &ExecutionInput(forget("customers", json!([subject.key]))),
            0.0,
        )
        .await
        .unwrap();
    assert!(
        matches!(run.status, ExecutionStatus::Failed { .. }),
        "{:?}",
        run.status
    );
    assert!(
        demo.read_json("erasures/demo/customers/forget-killed.json")["rewriting"].is_array(),
        "the kill came between the rewrite and the ledger"
    );
    drop(backend);

    let (backend, _) = demo
        .forget("forget-again", "customers", json!([subject.key]))
        .await;
    assert!(demo.read_json("erasures/demo/customers/forget-killed.json")["rewriting"].is_null());
    drop(backend);
    demo.daily_validates_nothing_new(&subject).await;
}
