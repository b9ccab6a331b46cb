//! The merge on the AWS adapters: S3, Athena, Glue and SNS on the emulator
//! (Athena's Iceberg tables kept in DuckDB by `tools/emulator/tidemark_emulator.py`),
//! driven by the production state machine in process. The demo's four days
//! give the golden history, the same as on DuckDB; and a merge killed between
//! its MERGE and the ledger update, then rerun, leaves that history identical.

mod support;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::json;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use support::Emulator;
use support::demo::{DemoLake, days, golden_history};
use tidemark_asl::{Execution, ExecutionStatus, Interpreter, StateMachine};
use tidemark_core::error::{EngineError, StoreError};
use tidemark_core::ports::{
    Condition, ObjectInfo, ObjectStore, PartWriter, Ports, QueryEngine, QueryResult,
};
use tidemark_core::scd2::Dialect;
use tidemark_local::pipeline::{StepInvoker, local_definition};

/// A merge-history invocation of one table dying right after its MERGE (or
/// a first load's INSERT) succeeded: from then on it writes nothing of that
/// table's state (no ledger update, no lease release), as if its process
/// had been killed.
struct Kill {
    table: String,
    armed: AtomicBool,
    dead: AtomicBool,
}

impl Kill {
    fn state_prefix(&self) -> String {
        format!("state/demo/{}/", self.table)
    }
    fn check(&self, key: &str) -> Result<(), StoreError> {
        if self.dead.load(Ordering::SeqCst) && key.starts_with(&self.state_prefix()) {
            return Err(StoreError::Io {
                key: key.to_string(),
                message: "killed after the MERGE".into(),
            });
        }
        Ok(())
    }
}

struct KillingEngine {
    inner: Arc<dyn QueryEngine>,
    kill: Arc<Kill>,
}

#[async_trait]
impl QueryEngine for KillingEngine {
    fn dialect(&self) -> Arc<dyn Dialect> {
        self.inner.dialect()
    }
    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        let result = self.inner.execute(sql).await?;
        // The MERGE, or a first load's INSERT.
        let writes =
            ["MERGE", "INSERT"].map(|verb| format!("{verb} INTO \"demo\".\"{}\"", self.kill.table));
        if writes.iter().any(|w| sql.starts_with(w))
            && self.kill.armed.swap(false, Ordering::SeqCst)
        {
            self.kill.dead.store(true, Ordering::SeqCst);
        }
        Ok(result)
    }
    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        self.inner.transaction(statements).await
    }
}

struct KilledStore {
    inner: Arc<dyn ObjectStore>,
    kill: Arc<Kill>,
}

#[async_trait]
impl ObjectStore for KilledStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.inner.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<(Bytes, String), StoreError> {
        self.inner.get(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.inner.get_range(key, range).await
    }
    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        self.kill.check(key)?;
        self.inner.put_parts(key).await
    }
    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError> {
        self.kill.check(key)?;
        self.inner.put(key, bytes, condition).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.kill.check(to)?;
        self.inner.copy(from, to).await
    }
    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.kill.check(key)?;
        self.inner.delete(key, etag).await
    }
    fn uri(&self, key: &str) -> String {
        self.inner.uri(key)
    }
}

async fn run(ports: &Ports, name: &str) -> Execution {
    let machine = StateMachine::from_json(&local_definition()).unwrap();
    Interpreter::new(Arc::new(StepInvoker {
        ports: ports.clone(),
    }))
    .with_time_scale(0.0)
    .execute(&machine, name, json!({}))
    .await
}

fn assert_status(e: &Execution, failed_with: Option<&str>) {
    match (&e.status, failed_with) {
        (ExecutionStatus::Succeeded, None) => {}
        (ExecutionStatus::Failed { error, .. }, Some(expected)) if error == expected => {}
        (status, _) => {
            let failures: Vec<_> = e
                .events
                .iter()
                .filter(|h| h.kind.contains("Failed"))
                .collect();
            panic!("{}: {status:?}\n{failures:#?}", e.name)
        }
    }
}

/// The demo's days, one run each; day 4's malformed orders file fails that
/// table, after its alert.
async fn run_the_days(lake: &DemoLake, ports: &Ports) {
    for (i, day) in days().iter().enumerate() {
        lake.land(day).await;
        let e = run(ports, &format!("day-{}", i + 1)).await;
        assert_status(&e, (i == 3).then_some("Tidemark.TablesFailed"));
    }
}

async fn batch_status(store: &dyn ObjectStore, table: &str, batch: &str) -> String {
    let (bytes, _) = store
        .get(&format!("state/demo/{table}/ledger.json"))
        .await
        .unwrap();
    let ledger: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    ledger["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == batch)
        .unwrap_or_else(|| panic!("{table} has no batch {batch}: {ledger}"))["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merge_killed_between_merge_and_ledger_update_reruns_to_the_golden_history() {
    let emulator = Emulator::start("s3,glue,athena,sns,sqs");
    let lease_seconds = 2;
    let lake = DemoLake::deploy(
        &emulator,
        &format!("[pipeline]\nlease_seconds = {lease_seconds}\n"),
    )
    .await;
    let healthy = lake.ports().await;
    let kill = Arc::new(Kill {
        table: "customers".into(),
        armed: AtomicBool::new(false),
        dead: AtomicBool::new(false),
    });
    let mut ports = healthy.clone();
    ports.engine = Arc::new(KillingEngine {
        inner: healthy.engine.clone(),
        kill: kill.clone(),
    });
    ports.lake = Arc::new(KilledStore {
        inner: healthy.lake.clone(),
        kill: kill.clone(),
    });

    for (i, day) in days().iter().enumerate() {
        lake.land(day).await;
        let name = format!("day-{}", i + 1);
        if i <= 1 {
            // Day 1 inserts customers' first load, day 2 merges its updates:
            // kill each merge after its statement, before the ledger says so.
            let batch = format!("b00000{}", i + 1);
            kill.armed.store(true, Ordering::SeqCst);
            let killed = run(&ports, &name).await;
            assert!(kill.dead.load(Ordering::SeqCst), "the kill never fired");
            assert_status(&killed, Some("Tidemark.TablesFailed"));
            assert_eq!(
                batch_status(healthy.lake.as_ref(), "customers", &batch).await,
                "validated",
                "the ledger was not updated"
            );
            let after_kill = lake.history().await;

            // The dead invocation kept its lease: the rerun takes it over once it expires.
            assert!(
                healthy
                    .lake
                    .get("state/demo/customers/lease.json")
                    .await
                    .is_ok(),
                "a killed merge releases nothing"
            );
            kill.dead.store(false, Ordering::SeqCst);
            tokio::time::sleep(std::time::Duration::from_millis(lease_seconds * 1000 + 500)).await;
            let rerun = run(&ports, &format!("{name}-rerun")).await;
            assert_status(&rerun, None);
            assert_eq!(
                batch_status(healthy.lake.as_ref(), "customers", &batch).await,
                "merged"
            );
            assert_eq!(
                lake.history().await,
                after_kill,
                "the statement had already reached history: merging it again changes nothing"
            );
            continue;
        }
        let e = run(&ports, &name).await;
        // Day 4 lands the malformed orders file: that table fails, after its alert.
        assert_status(&e, (i == 3).then_some("Tidemark.TablesFailed"));
    }
    assert_eq!(lake.history().await, golden_history());

    // How the table's files stand, which brings maintenance forward when it
    // calls for it: read from Iceberg's `$files` (on the emulator a row
    // group is a data file of unknown size, so none counts as small: DuckDB's
    // count_if over unknowns is NULL where Trino's is 0).
    let layout = healthy.engine.dialect().file_layout("demo", "customers");
    let layout = healthy.engine.execute(&layout.sql).await.unwrap();
    assert!(layout.int("data_files").unwrap() >= 1, "{layout:?}");
    assert_eq!(
        layout.int("small_files").unwrap_or_default(),
        0,
        "{layout:?}"
    );
    assert_eq!(layout.float("deleted_share"), Some(0.0), "{layout:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_change_log_from_before_it_was_partitioned_is_defined_again_and_merges_the_same() {
    let emulator = Emulator::start("s3,glue,athena,sns,sqs");
    let lake = DemoLake::deploy(&emulator, "").await;
    let ports = lake.ports().await;
    // The customers' log as earlier versions created it: no partitions.
    ports
        .engine
        .execute(
            "CREATE EXTERNAL TABLE IF NOT EXISTS `demo`.`customers_changes` (\n  `customer_id` bigint,\n  `name` string\n)\nSTORED AS PARQUET\nLOCATION 's3://tm-lake/validated/demo/customers/'",
        )
        .await
        .unwrap();
    run_the_days(&lake, &ports).await;
    assert_eq!(lake.history().await, golden_history());
    let partition = ports
        .engine
        .execute(
            "SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = 'demo' AND table_name = 'customers_changes' AND column_name = 'batch_number'",
        )
        .await
        .unwrap();
    assert_eq!(partition.int("n"), Some(1));
    // The log reads each batch from its own folder.
    let per_batch = ports
        .engine
        .execute(
            "SELECT count(DISTINCT batch_id) AS n FROM demo.customers_changes WHERE batch_number = 2 AND batch_id = 'b000002'",
        )
        .await
        .unwrap();
    assert_eq!(per_batch.int("n"), Some(1));
}

/// `history`'s section of `table` (as [`DemoLake::table_history`] writes
/// it) without its `batch_id` column, and its `row_hash` column apart.
fn section(history: &str, table: &str) -> (String, Vec<String>) {
    let section = history
        .split("\n\n")
        .find(|s| s.starts_with(&format!("# demo.{table}\n")))
        .unwrap_or_else(|| panic!("no {table} in {history}"));
    let mut lines = section.lines();
    let title = lines.next().unwrap();
    let header: Vec<&str> = lines.next().unwrap().split(" | ").collect();
    let batch = header.iter().position(|c| *c == "batch_id").unwrap();
    let hash = header.iter().position(|c| *c == "row_hash").unwrap();
    let (mut out, mut hashes) = (format!("{title}\n"), Vec::new());
    for line in std::iter::once(header.join(" | ").as_str()).chain(lines) {
        let mut cells: Vec<&str> = line.split(" | ").collect();
        hashes.push(cells[hash].to_string());
        cells[hash] = "";
        cells.remove(batch);
        out.push_str(&cells.join(" | "));
        out.push('\n');
    }
    (out, hashes)
}

/// Asserts that `history`'s `table` is `golden`'s but for batch ids and how
/// `row_hash` is written: each row's hash may differ from the golden one,
/// but two rows share one exactly where they do in the golden history.
fn same_history_but_hashes(history: &str, golden: &str, table: &str) {
    let (rows, hashes) = section(history, table);
    let (golden_rows, golden_hashes) = section(golden, table);
    assert_eq!(rows, golden_rows);
    let pairs: std::collections::BTreeSet<_> = hashes.iter().zip(&golden_hashes).collect();
    let ours: std::collections::BTreeSet<_> = pairs.iter().map(|p| p.0).collect();
    let theirs: std::collections::BTreeSet<_> = pairs.iter().map(|p| p.1).collect();
    assert_eq!(pairs.len(), ours.len(), "{pairs:?}");
    assert_eq!(pairs.len(), theirs.len(), "{pairs:?}");
}

/// A table whose history began before `row_hash` was a `bigint` keeps its
/// hex digits on Athena: its change log and Iceberg table declare a string,
/// and its versions are the golden ones.
#[tokio::test(flavor = "multi_thread")]
async fn a_history_with_hex_row_hashes_merges_on_athena_as_before() {
    let emulator = Emulator::start("s3,glue,athena,sns,sqs");
    let lake = DemoLake::deploy(&emulator, "").await;
    let ports = lake.ports().await;
    // customers' ledger as an earlier version began it: a batch of
    // generation 0 that records no row_hash format.
    let legacy = r#"{"batches":[{"id":"b000001","status":"abandoned","run_id":"earlier","metadata_version":1,"files":[],"ops":{"I":0,"U":0,"D":0,"L":0},"max_valid_from":null,"validated_at":"2026-10-31T00:00:00Z"}]}"#;
    ports
        .lake
        .put(
            "state/demo/customers/ledger.json",
            Bytes::from(legacy),
            None,
        )
        .await
        .unwrap();
    run_the_days(&lake, &ports).await;
    let types = ports
        .engine
        .execute(
            "SELECT table_name, data_type FROM information_schema.columns WHERE table_schema = 'demo' AND column_name = 'row_hash' ORDER BY table_name",
        )
        .await
        .unwrap();
    let types: Vec<String> = types
        .rows
        .iter()
        .map(|r| format!("{r:?}").to_lowercase())
        .collect();
    for t in &types {
        let text = t.contains("varchar") || t.contains("string");
        assert_eq!(text, t.contains("customers"), "{types:?}");
    }
    assert!(
        types.iter().filter(|t| t.contains("customers")).count() >= 2,
        "{types:?}"
    );
    let history = lake.history().await;
    assert!(history.contains("customers"), "{history}");
    assert_ne!(history, golden_history());
    same_history_but_hashes(&history, &golden_history(), "customers");
    let hashes = section(&history, "customers").1;
    assert!(
        hashes[1..].iter().all(|h| h.len() == 32),
        "hex digits: {hashes:?}"
    );
    assert_eq!(
        section(&history, "orders"),
        section(&golden_history(), "orders")
    );
}
