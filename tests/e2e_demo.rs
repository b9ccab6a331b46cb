//! The demo, end to end: the production state machine run locally over the
//! bundled replay, one daily execution per day, then once more.

use std::path::Path;
use tidemark_asl::ExecutionStatus;
use tidemark_core::events::ExecutionInput;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::run_catching_up;
use tidemark_tests::{DEMO_TABLES, assert_golden, dump_table, workspace};

async fn history(engine: &tidemark_local::duckdb::DuckDbEngine) -> String {
    let mut out = String::new();
    for (table, order) in DEMO_TABLES {
        out.push_str(&dump_table(engine, "demo", table, order).await);
        out.push('\n');
    }
    out
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_day_by_day_matches_the_golden_history_and_a_rerun_changes_nothing() {
    let lake = tempfile::tempdir().unwrap();
    let options = LocalOptions {
        config_path: workspace().join("examples/demo/tidemark.toml"),
        lake: Some(lake.path().to_path_buf()),
        ..Default::default()
    };
    let (backend, executions) = run_catching_up(&options, "demo", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    let names: Vec<&str> = executions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "demo-2026-11-01",
            "demo-2026-11-02",
            "demo-2026-11-03",
            "demo-2026-11-04"
        ]
    );
    for e in &executions[..3] {
        assert_eq!(
            e.status,
            ExecutionStatus::Succeeded,
            "{}: {:?}",
            e.name,
            e.events.last()
        );
    }
    assert!(
        matches!(&executions[3].status, ExecutionStatus::Failed { error, .. } if error == "Tidemark.TablesFailed"),
        "{:?}",
        executions[3].status
    );

    let lake = backend.lake.clone();
    let before = history(&backend.engine).await;
    assert_golden(&workspace().join("tests/golden/demo_history.txt"), &before);

    // The malformed file: quarantined with a report naming file, row, column and rule;
    // the landed original untouched; the alert written; the other tables merged.
    let bad = "20261104-110000000.parquet";
    let quarantined = std::fs::read(lake.join("quarantine/demo/orders/b000004").join(bad)).unwrap();
    let original = std::fs::read(
        workspace()
            .join("examples/demo/replay/2026-11-04/public/orders")
            .join(bad),
    )
    .unwrap();
    assert_eq!(quarantined, original);
    assert_eq!(
        std::fs::read(lake.join("landing/public/orders").join(bad)).unwrap(),
        original
    );
    let report = read(&lake.join("reports/demo/orders/b000004.md"));
    assert!(
        report.contains(bad) && report.contains("| 2 | status | null | not_null |"),
        "{report}"
    );
    let alert: serde_json::Value =
        serde_json::from_str(&read(&lake.join("alerts/demo-2026-11-04.json"))).unwrap();
    assert_eq!(alert["failed"], true);
    let failed: Vec<&serde_json::Value> = alert["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{alert:#}");
    assert_eq!(failed[0]["table"], "orders");
    assert_eq!(failed[0]["error"], "Tidemark.Validation");
    assert!(
        failed[0]["message"]
            .as_str()
            .unwrap()
            .contains("row 2 column status: [not_null]"),
        "{alert:#}"
    );
    assert!(
        alert["rerun"]
            .as_str()
            .unwrap()
            .ends_with("--tables orders"),
        "{alert:#}"
    );
    let customers: serde_json::Value = serde_json::from_str(&read(
        &lake.join("runs/demo-2026-11-04/demo/customers.json"),
    ))
    .unwrap();
    assert_eq!(customers["status"], "succeeded");
    assert_eq!(customers["versions_inserted"], 1);

    // Run again on the same lake: no new day, nothing changes, orders still fails
    // (its rejected batch is checked again under the same id).
    let ledgers = |lake: &Path| {
        let orders: serde_json::Value =
            serde_json::from_str(&read(&lake.join("state/demo/orders/ledger.json"))).unwrap();
        (
            read(&lake.join("state/demo/customers/ledger.json")),
            read(&lake.join("state/demo/products/ledger.json")),
            orders["batches"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| (b["id"].clone(), b["status"].clone()))
                .collect::<Vec<_>>(),
        )
    };
    let ledgers_before = ledgers(&lake);
    drop(backend);
    let (backend, again) = run_catching_up(&options, "again", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(matches!(&again[0].status, ExecutionStatus::Failed { .. }));
    assert_eq!(history(&backend.engine).await, before);
    assert_eq!(ledgers(&lake), ledgers_before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_landing_folder_in_the_dms_layout_runs_in_one_execution() {
    // The landing area as DMS leaves it after three days: each key's newest file.
    let landing = tempfile::tempdir().unwrap();
    for day in ["2026-11-01", "2026-11-02", "2026-11-03"] {
        let from = workspace().join("examples/demo/replay").join(day);
        for table in ["customers", "orders", "products"] {
            let Ok(files) = std::fs::read_dir(from.join("public").join(table)) else {
                continue;
            };
            let to = landing.path().join("public").join(table);
            std::fs::create_dir_all(&to).unwrap();
            for f in files {
                let f = f.unwrap();
                std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
            }
        }
    }
    let lake = tempfile::tempdir().unwrap();
    let options = LocalOptions {
        config_path: workspace().join("examples/demo/tidemark.toml"),
        lake: Some(lake.path().to_path_buf()),
        landing: Some(landing.path().to_path_buf()),
        ..Default::default()
    };
    let (backend, executions) = run_catching_up(&options, "once", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0].status,
        ExecutionStatus::Succeeded,
        "{:?}",
        executions[0].events.last()
    );
    let current = dump_table(&backend.engine, "demo", "orders_current", "order_id").await;
    let ids: Vec<&str> = current
        .lines()
        .skip(2)
        .map(|l| l.split(" | ").next().unwrap())
        .collect();
    assert_eq!(ids, ["100", "101", "103"], "{current}");
    // One batch took all three days of orders at once; the history is the same as day by day.
    let orders = dump_table(
        &backend.engine,
        "demo",
        "orders",
        "order_id, valid_from, change_seq",
    )
    .await;
    let golden =
        std::fs::read_to_string(workspace().join("tests/golden/demo_history.txt")).unwrap();
    let strip = |t: &str| {
        t.lines()
            .map(|l| l.rsplitn(3, " | ").nth(2).unwrap_or(l).to_string())
            .collect::<Vec<_>>()
    };
    let golden_orders = golden
        .split("\n\n")
        .find(|s| s.starts_with("# demo.orders"))
        .unwrap();
    assert_eq!(
        strip(&orders)[1..],
        strip(golden_orders)[1..],
        "batch_id aside, history must not depend on how changes were batched"
    );
}

/// An engine that, like Athena near the end of a Lambda invocation, hands
/// every MERGE back while it runs on: the statement executes once, the first
/// answer is `StillRunning`, and `resume` returns its result. The first MERGE
/// handed back turns out to have failed (a commit conflict) when resumed.
struct HandsBackMerges {
    inner: std::sync::Arc<dyn tidemark_core::ports::QueryEngine>,
    finished:
        std::sync::Mutex<std::collections::HashMap<String, tidemark_core::ports::QueryResult>>,
    merges_started: std::sync::atomic::AtomicUsize,
}

impl HandsBackMerges {
    /// Keeps a merge's `result` for [`Self::resume`]: still running.
    fn hand_back(
        &self,
        result: tidemark_core::ports::QueryResult,
    ) -> tidemark_core::error::EngineError {
        let n = self
            .merges_started
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let query_id = format!("q-{n}");
        self.finished
            .lock()
            .unwrap()
            .insert(query_id.clone(), result);
        tidemark_core::error::EngineError::StillRunning { query_id }
    }
}

#[tidemark_core::ports::async_trait]
impl tidemark_core::ports::QueryEngine for HandsBackMerges {
    fn dialect(&self) -> std::sync::Arc<dyn tidemark_core::scd2::Dialect> {
        self.inner.dialect()
    }
    async fn execute(
        &self,
        sql: &str,
    ) -> Result<tidemark_core::ports::QueryResult, tidemark_core::error::EngineError> {
        let result = self.inner.execute(sql).await?;
        if !sql.trim_start().starts_with("MERGE") {
            return Ok(result);
        }
        Err(self.hand_back(result))
    }
    /// DuckDB's merge, staged: handed back as a MERGE would be.
    async fn transaction(
        &self,
        statements: &[String],
    ) -> Result<Vec<tidemark_core::ports::QueryResult>, tidemark_core::error::EngineError> {
        let results = self.inner.transaction(statements).await?;
        Err(self.hand_back(results.into_iter().last().unwrap_or_default()))
    }
    async fn resume(
        &self,
        query_id: &str,
    ) -> Result<tidemark_core::ports::QueryResult, tidemark_core::error::EngineError> {
        let finished = self.finished.lock().unwrap().remove(query_id);
        if query_id == "q-0" {
            return Err(tidemark_core::error::EngineError::Transient(
                "ICEBERG_COMMIT_ERROR".into(),
            ));
        }
        finished.ok_or_else(|| tidemark_core::error::EngineError::Query {
            statement: String::new(),
            message: format!("{query_id} was resumed twice or never started"),
        })
    }
}

#[tokio::test]
async fn merges_handed_back_mid_query_resume_in_the_next_invocation_and_match_the_golden() {
    let lake = tempfile::tempdir().unwrap();
    let config_path = workspace().join("examples/demo/tidemark.toml");
    let days =
        tidemark_local::replay::replay_days(&workspace().join("examples/demo/replay")).unwrap();
    let mut merges = 0;
    let mut last = None;
    for day in days {
        drop(last.take());
        let mut backend = tidemark_local::LocalBackend::open(&LocalOptions {
            config_path: config_path.clone(),
            lake: Some(lake.path().to_path_buf()),
            replay_through: Some(day),
            ..Default::default()
        })
        .unwrap();
        let engine = std::sync::Arc::new(HandsBackMerges {
            inner: backend.ports.engine.clone(),
            finished: Default::default(),
            merges_started: Default::default(),
        });
        backend.ports.engine = engine.clone();
        backend
            .run(&format!("demo-{day}"), &ExecutionInput::default(), 0.0)
            .await
            .unwrap();
        let started = engine
            .merges_started
            .load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            engine.finished.lock().unwrap().is_empty(),
            "{day}: every handed-back MERGE was resumed"
        );
        merges += started;
        last = Some(backend);
    }
    assert!(
        merges >= 8,
        "every batch's MERGE went through a hand-back ({merges})"
    );
    let backend = last.unwrap();
    assert_eq!(
        history(&backend.engine).await,
        read(&workspace().join("tests/golden/demo_history.txt")),
        "handing back and resuming changes nothing in history"
    );
}
