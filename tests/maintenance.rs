//! Table maintenance on the local pipeline, over a copy of the demo: it runs
//! every `[maintenance] every_days`, counted from a table's first merge,
//! under the table's lease, leaves the history as it was, and when it fails
//! the table's data is still merged and the alert says so.

use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use tidemark_asl::ExecutionStatus;
use tidemark_core::error::EngineError;
use tidemark_core::events::ExecutionInput;
use tidemark_core::ports::{QueryEngine, QueryResult};
use tidemark_core::scd2::Dialect;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::{LocalBackend, run_catching_up};
use tidemark_tests::{DEMO_TABLES, demo_copy, dump_table};

/// The demo in a folder of its own, with `maintenance` as its
/// `[maintenance]` section.
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new(maintenance: &str) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        demo_copy(dir.path(), |config| {
            format!("{config}\n[maintenance]\n{maintenance}\n")
        });
        Demo { dir }
    }

    fn lake(&self) -> PathBuf {
        self.dir.path().join("lake")
    }

    fn options(&self, through: &str) -> LocalOptions {
        LocalOptions {
            config_path: self.dir.path().join("tidemark.toml"),
            lake: Some(self.lake()),
            replay_through: Some(through.parse().unwrap()),
            ..Default::default()
        }
    }

    async fn run_through(&self, day: &str) -> LocalBackend {
        run_catching_up(&self.options(day), "daily", &ExecutionInput::default(), 0.0)
            .await
            .unwrap()
            .0
    }

    /// One run through `day` with the local engine as `wrap` makes it;
    /// every table's data must succeed.
    async fn run_wrapped(
        &self,
        name: &str,
        day: &str,
        wrap: impl FnOnce(Arc<dyn QueryEngine>) -> Arc<dyn QueryEngine>,
    ) -> LocalBackend {
        let mut backend = LocalBackend::open(&self.options(day)).unwrap();
        backend.ports.engine = wrap(backend.ports.engine.clone());
        let run = backend
            .run(name, &ExecutionInput::default(), 0.0)
            .await
            .unwrap();
        assert!(
            matches!(run.status, ExecutionStatus::Succeeded),
            "{:?}",
            run.status
        );
        backend
    }

    fn json(&self, key: &str) -> Value {
        let path = self.lake().join(key);
        serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap()
    }

    fn ledger(&self, table: &str) -> Value {
        self.json(&format!("state/demo/{table}/ledger.json"))
    }

    /// Makes the table's merges and its last maintenance, where it had one,
    /// long past as far as its ledger can tell.
    fn age(&self, table: &str) {
        let age = |time: Option<&mut Value>| {
            if let Some(time) = time.filter(|t| t.is_string()) {
                *time = Value::String("2026-01-01T00:00:00+00:00".into());
            }
        };
        let mut ledger = self.ledger(table);
        for batch in ledger["batches"].as_array_mut().unwrap() {
            age(batch.get_mut("merged_at"));
        }
        age(ledger.get_mut("maintained_at"));
        let path = self.lake().join(format!("state/demo/{table}/ledger.json"));
        std::fs::write(path, ledger.to_string()).unwrap();
    }

    fn maintenance(&self, execution: &str, table: &str) -> Value {
        self.json(&format!("runs/{execution}/demo/{table}.json"))["maintenance"].clone()
    }
}

async fn histories(backend: &LocalBackend) -> String {
    let mut out = String::new();
    for (table, order) in DEMO_TABLES {
        out.push_str(&dump_table(&backend.engine, "demo", table, order).await);
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn maintenance_runs_every_n_days_from_the_first_merge_and_changes_no_history() {
    let demo = Demo::new("every_days = 7");
    let unmaintained = Demo::new("every_days = 0");
    drop(demo.run_through("2026-11-01").await);
    for (table, _) in DEMO_TABLES {
        assert!(demo.ledger(table).get("maintained_at").is_none(), "{table}");
        assert_eq!(
            demo.maintenance("daily-2026-11-01", table),
            Value::Null,
            "a table its first merge just wrote is not due"
        );
    }
    // A week after the customers' first merge.
    demo.age("customers");
    drop(demo.run_through("2026-11-02").await);
    assert_eq!(
        demo.maintenance("daily-2026-11-02", "customers")["status"],
        "done"
    );
    assert_eq!(
        demo.maintenance("daily-2026-11-02", "orders"),
        Value::Null,
        "not due"
    );

    // A week after the customers' maintenance.
    demo.age("customers");
    let backend = demo.run_through("2026-11-03").await;
    assert_eq!(
        demo.maintenance("daily-2026-11-03", "customers")["status"],
        "done"
    );
    assert_eq!(demo.maintenance("daily-2026-11-03", "orders"), Value::Null);
    // The history is stored in `valid_to` order, so a merge skips the row
    // groups of versions that ended before its batch.
    let stored = backend
        .engine
        .execute("SELECT valid_to::VARCHAR AS v FROM demo.customers ORDER BY rowid")
        .await
        .unwrap();
    let order: Vec<String> = stored.rows.iter().map(|r| format!("{:?}", r[0])).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);

    let reference = unmaintained.run_through("2026-11-03").await;
    assert_eq!(histories(&backend).await, histories(&reference).await);
    assert!(
        unmaintained
            .ledger("customers")
            .get("maintained_at")
            .is_none()
    );
}

/// The local engine, except that the maintenance rewrite fails.
struct FailingMaintenance(Arc<dyn QueryEngine>);

#[tidemark_core::ports::async_trait]
impl QueryEngine for FailingMaintenance {
    fn dialect(&self) -> Arc<dyn Dialect> {
        self.0.dialect()
    }
    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        if sql.starts_with("CREATE OR REPLACE TABLE") {
            return Err(EngineError::Query {
                statement: sql.to_string(),
                message: "IO Error: disk full".into(),
            });
        }
        self.0.execute(sql).await
    }
    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        self.0.transaction(statements).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_maintenance_alerts_but_the_data_is_merged_and_the_next_run_tries_again() {
    let demo = Demo::new("every_days = 7");
    drop(demo.run_through("2026-11-01").await);
    demo.age("customers");
    let backend = demo
        .run_wrapped("failing", "2026-11-02", |engine| {
            Arc::new(FailingMaintenance(engine))
        })
        .await;
    let rows = backend
        .engine
        .execute("SELECT count(*) AS n FROM demo.customers")
        .await
        .unwrap();
    assert!(rows.int("n").unwrap() > 0, "the data is merged");
    let failed = demo.maintenance("failing", "customers");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["message"].as_str().unwrap().contains("disk full"),
        "{failed}"
    );
    assert!(demo.ledger("customers").get("maintained_at").is_none());
    // The alert goes out although every table succeeded, and says so.
    let alert = demo.json("alerts/failing.json");
    assert_eq!(alert["failed"], false);
    let text = serde_json::to_string(&alert).unwrap();
    assert!(text.contains("disk full"), "{text}");
    drop(backend);

    demo.run_wrapped("again", "2026-11-02", |engine| engine)
        .await;
    assert_eq!(demo.maintenance("again", "customers")["status"], "done");
    assert!(demo.ledger("customers")["maintained_at"].is_string());
}

/// The local engine, except that right after the customers' MERGE another
/// run takes the customers' lease (as a run starting at that moment would).
struct TakenAfterTheMerge {
    engine: Arc<dyn QueryEngine>,
    lease: PathBuf,
}

#[tidemark_core::ports::async_trait]
impl QueryEngine for TakenAfterTheMerge {
    fn dialect(&self) -> Arc<dyn Dialect> {
        self.engine.dialect()
    }
    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        self.engine.execute(sql).await
    }
    /// The merge, staged.
    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        let result = self.engine.transaction(statements).await;
        if statements
            .iter()
            .any(|s| s.starts_with("INSERT INTO \"demo\".\"customers\""))
        {
            let held = r#"{"owner":"another-run","expires_at":"2099-01-01T00:00:00Z"}"#;
            std::fs::write(&self.lease, held).unwrap();
        }
        result
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_lost_after_the_merge_costs_only_the_maintenance() {
    let demo = Demo::new("every_days = 7");
    drop(demo.run_through("2026-11-01").await);
    for table in ["customers", "orders"] {
        demo.age(table);
    }
    let lease = demo.lake().join("state/demo/customers/lease.json");
    demo.run_wrapped("taken", "2026-11-02", |engine| {
        Arc::new(TakenAfterTheMerge { engine, lease })
    })
    .await;
    // Merged and published, not skipped: the lease lost to another run
    // costs only the maintenance.
    let record = demo.json("runs/taken/demo/customers.json");
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert_eq!(demo.maintenance("taken", "customers"), Value::Null);
    assert!(demo.ledger("customers").get("maintained_at").is_none());
    assert_eq!(demo.maintenance("taken", "orders")["status"], "done");
}

/// `retain_closed_years`: maintenance deletes the closed versions that ended
/// before the cutoff, keeps the current ones however old, and touches no
/// other row.
#[tokio::test(flavor = "multi_thread")]
async fn maintenance_expires_the_closed_versions_older_than_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    demo_copy(dir.path(), |config| {
        config.replacen(
            "name = \"customers\"",
            "name = \"customers\"\nretain_closed_years = 1",
            1,
        )
    });
    let demo = Demo { dir };
    let kept_all = Demo::new("");
    let backend = demo.run_through("2026-11-01").await;
    // A key the source changed long ago: a version closed in 2021, and the
    // version after it, still current.
    for (from, to, current) in [
        ("2020-01-01", "2021-01-01", false),
        ("2021-01-01", "9999-12-31 23:59:59.999999", true),
    ] {
        backend
            .engine
            .execute(&format!(
                "INSERT INTO demo.customers SELECT * REPLACE (999 AS customer_id, \
                 TIMESTAMP '{from}' AS valid_from, TIMESTAMP '{to}' AS valid_to, \
                 {current} AS is_current, FALSE AS is_deleted) \
                 FROM demo.customers LIMIT 1"
            ))
            .await
            .unwrap();
    }
    drop(backend);
    demo.age("customers");
    let backend = demo.run_through("2026-11-02").await;
    assert_eq!(
        demo.maintenance("daily-2026-11-02", "customers")["status"],
        "done"
    );
    let old = backend
        .engine
        .execute(
            "SELECT valid_from::VARCHAR AS f, is_current FROM demo.customers WHERE customer_id = 999",
        )
        .await
        .unwrap();
    assert_eq!(
        old.rows,
        vec![vec![
            tidemark_core::ports::SqlValue::Text("2021-01-01 00:00:00".into()),
            tidemark_core::ports::SqlValue::Bool(true)
        ]],
        "only the current version of the old key is kept"
    );
    backend
        .engine
        .execute("DELETE FROM demo.customers WHERE customer_id = 999")
        .await
        .unwrap();
    let retained = histories(&backend).await;
    drop(backend);
    assert_eq!(
        retained,
        histories(&kept_all.run_through("2026-11-02").await).await,
        "the demo's own versions are younger than a year: all kept"
    );
}

/// `small_files` and `delete_file_ratio` bring a table's maintenance
/// forward when its files call for it; the layout is read after merges only.
#[tokio::test(flavor = "multi_thread")]
async fn maintenance_runs_early_when_the_tables_files_call_for_it() {
    // The demo's tables are small row groups (DuckDB's files), far fewer
    // than a thousand.
    let small = Demo::new("every_days = 30\nsmall_files = 1\ndelete_file_ratio = 0");
    let few = Demo::new("every_days = 30\nsmall_files = 1000\ndelete_file_ratio = 0");
    for demo in [&small, &few] {
        drop(demo.run_through("2026-11-01").await);
    }
    drop(small.run_through("2026-11-02").await);
    drop(few.run_through("2026-11-02").await);
    assert_eq!(
        small.maintenance("daily-2026-11-02", "customers")["status"],
        "done"
    );
    assert_eq!(
        few.maintenance("daily-2026-11-02", "customers"),
        Value::Null
    );

    // Rows deleted but still stored: their share calls for a rewrite, which
    // leaves none behind.
    let deleted = Demo::new("every_days = 30\nsmall_files = 0\ndelete_file_ratio = 0.1");
    let backend = deleted.run_through("2026-11-01").await;
    let layout_sql = backend
        .engine
        .dialect()
        .file_layout("demo", "customers")
        .sql;
    let share = |backend: LocalBackend| {
        let sql = layout_sql.clone();
        async move {
            backend
                .engine
                .execute(&sql)
                .await
                .unwrap()
                .float("deleted_share")
                .unwrap()
        }
    };
    backend
        .engine
        .execute("DELETE FROM demo.customers WHERE customer_id % 2 = 0")
        .await
        .unwrap();
    assert!(share(backend).await >= 0.1);
    let backend = deleted.run_through("2026-11-02").await;
    assert_eq!(
        deleted.maintenance("daily-2026-11-02", "customers")["status"],
        "done"
    );
    assert_eq!(share(backend).await, 0.0);
}

/// A merge leaves its rows in row groups of their own, as a merge on Athena
/// leaves files of its own: compacting them is maintenance's, not every
/// checkpoint's (DuckDB's would rewrite the unfilled row groups each run).
#[tokio::test(flavor = "multi_thread")]
async fn merges_leave_compaction_to_maintenance() {
    let never = Demo::new("every_days = 0\nsmall_files = 0\ndelete_file_ratio = 0");
    let early = Demo::new("every_days = 0\nsmall_files = 3\ndelete_file_ratio = 0");
    // The customers' row groups once the runs have closed the warehouse.
    async fn row_groups(demo: &Demo) -> i64 {
        let backend = LocalBackend::open(&demo.options("2026-11-01")).unwrap();
        let sql = backend
            .engine
            .dialect()
            .file_layout("demo", "customers")
            .sql;
        backend
            .engine
            .execute(&sql)
            .await
            .unwrap()
            .int("data_files")
            .unwrap()
    }
    drop(never.run_through("2026-11-01").await);
    let first = row_groups(&never).await;
    drop(never.run_through("2026-11-04").await);
    let later = row_groups(&never).await;
    assert!(
        later >= first + 3,
        "three more merges, {first} row groups then {later}"
    );

    drop(early.run_through("2026-11-04").await);
    let maintained = (2..=4)
        .filter(|day| {
            early.maintenance(&format!("daily-2026-11-0{day}"), "customers")["status"] == "done"
        })
        .count();
    assert_eq!(
        maintained, 1,
        "maintained once, when three small row groups called for it"
    );
    assert!(row_groups(&early).await < later);
}
