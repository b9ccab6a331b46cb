//! Snapshot tables without full reloads, on the local pipeline over a copy of
//! the demo: an extract holding the rows of the last one costs no MERGE; a
//! changed one merges only the keys that changed or went missing, read from
//! what validation found (its snapshot diff), or joined where that diff
//! cannot stand for the join (a merge killed after its commit, an
//! unreadable file).

use bytes::Bytes;
use serde_json::{Value, json};
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use tidemark_asl::ExecutionStatus;
use tidemark_core::error::StoreError;
use tidemark_core::events::ExecutionInput;
use tidemark_core::ports::{
    Condition, ObjectInfo, ObjectStore, PartWriter, QueryEngine, async_trait,
};
use tidemark_local::LocalOptions;
use tidemark_local::duckdb::DuckDbEngine;
use tidemark_local::pipeline::{LocalBackend, run_catching_up};
use tidemark_tests::{demo_copy, dump_table};

/// Writes the products extract of `day`: the rows of the demo's 2026-11-03
/// extract as `select` (over `e`) gives them, extracted at 06:00 that day.
async fn land_products(engine: &DuckDbEngine, replay: &Path, day: &str, select: &str) {
    let from = replay.join("2026-11-03/public/products/LOAD00000001.parquet");
    let to = replay.join(format!("{day}/public/products"));
    std::fs::create_dir_all(&to).unwrap();
    engine
        .execute(&format!(
            "COPY (SELECT * REPLACE ('{day} 06:00:00.000000' AS extraction_timestamp) FROM ({select}) s) TO '{}' (FORMAT parquet)",
            to.join("LOAD00000001.parquet").display()
        ).replace("FROM e", &format!("FROM read_parquet('{}') e", from.display())))
        .await
        .unwrap();
}

/// A copy of the demo with a products extract landed for each
/// `(day, select)` ([`land_products`]).
async fn demo_with_products(extracts: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    demo_copy(dir.path(), |config| config);
    let replay = dir.path().join("replay");
    let scratch = DuckDbEngine::open(&dir.path().join("scratch.duckdb"), dir.path()).unwrap();
    for (day, select) in extracts {
        land_products(&scratch, &replay, day, select).await;
    }
    dir
}

/// Runs the demo copy in `dir` through day `through`: the products'
/// history, and the name of the last execution.
async fn run_through(dir: &Path, through: &str) -> (String, String) {
    let options = LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        replay_through: Some(through.parse().unwrap()),
        ..Default::default()
    };
    let (backend, executions) = run_catching_up(&options, "daily", &ExecutionInput(json!({})), 0.0)
        .await
        .unwrap();
    let order = "product_id, valid_from, change_seq";
    let products = dump_table(&backend.engine, "demo", "products", order).await;
    (products, executions.last().unwrap().name.clone())
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Files under `dir`, at any depth (none if it does not exist).
fn files_under(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .map(|e| e.unwrap().path())
            .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
            .sum()
    })
}

fn run_records(lake: &Path) -> Vec<Value> {
    let mut records: Vec<(String, Value)> = std::fs::read_dir(lake.join("runs"))
        .unwrap()
        .filter_map(|run| {
            let path = run.unwrap().path().join("demo/products.json");
            let text = std::fs::read_to_string(&path).ok()?;
            Some((
                path.display().to_string(),
                serde_json::from_str(&text).unwrap(),
            ))
        })
        .collect();
    records.sort_by(|a, b| a.0.cmp(&b.0));
    records.into_iter().map(|(_, r)| r).collect()
}

/// The products' earliest usage record of a step (`prefix`: its file names').
fn first_usage(lake: &Path, prefix: &str) -> Value {
    let mut records: Vec<std::path::PathBuf> = std::fs::read_dir(lake.join("usage"))
        .unwrap()
        .flat_map(|run| std::fs::read_dir(run.unwrap().path().join("demo/products")).ok())
        .flatten()
        .map(|f| f.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .collect();
    // File names end in the time they were written.
    records.sort_by_key(|p| p.file_name().unwrap().to_owned());
    serde_json::from_str(&std::fs::read_to_string(&records[0]).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_extract_costs_no_merge_and_a_changed_one_merges_only_its_changes() {
    let dir = demo_with_products(&[
        // Day 5: the same products, written in another order (another file).
        ("2026-11-05", "SELECT * FROM e ORDER BY product_id DESC"),
        // Day 6: the first product gone, the last one's price up by 1.
        ("2026-11-06", REPRICED_ONE_GONE),
    ])
    .await;
    let lake = dir.path().join("lake");
    let products = async |through: &str| run_through(dir.path(), through).await.0;
    let through_day_4 = products("2026-11-04").await;
    // The first load is one full-load file, whose keys validation found
    // once each: it is inserted without the engine counting repeated keys
    // first (and without a delete guard: nothing is current yet), so the
    // INSERT alone reads the batch.
    let first_merge = first_usage(&lake, "merge-history-");
    let reading: Vec<&Value> = first_merge["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["bytes_scanned"].as_u64() > Some(0))
        .map(|s| &s["statement"])
        .collect();
    assert_eq!(reading, [&json!("INSERT INTO")], "{first_merge:#}");
    let through_day_5 = products("2026-11-05").await;
    assert_eq!(
        through_day_5, through_day_4,
        "the same extract again changed history"
    );
    let ledger: Value = serde_json::from_str(
        &std::fs::read_to_string(lake.join("state/demo/products/ledger.json")).unwrap(),
    )
    .unwrap();
    let batches = ledger["batches"].as_array().unwrap();
    let (day_3, day_5) = (&batches[batches.len() - 2], &batches[batches.len() - 1]);
    assert_eq!(day_5["status"], "merged");
    assert_eq!(day_5["rows"], day_3["rows"], "equal rows, equal digests");
    assert_eq!(
        day_5["distinct_keys"], true,
        "one full-load file, whose keys validation checked"
    );
    let records = run_records(&lake);
    let unchanged: Vec<&Value> = records
        .iter()
        .filter(|r| r.get("unchanged").is_some())
        .collect();
    assert_eq!(unchanged.len(), 1, "{records:#?}");
    assert_eq!(unchanged[0]["unchanged"], json!([day_5["id"]]));
    assert_eq!(unchanged[0]["versions_inserted"], 0);

    let through_day_6 = products("2026-11-06").await;
    let records = run_records(&lake);
    let day_6 = records.last().unwrap();
    assert!(day_6.get("unchanged").is_none(), "{day_6:#}");
    // Validation compared the extract with day 5's (one product changed,
    // one gone) and the merge read that instead of joining the extract
    // with the current rows, then removed it.
    let ledger = read_json(&lake.join("state/demo/products/ledger.json"));
    let batch_6 = ledger["batches"].as_array().unwrap().last().unwrap();
    let diff = &batch_6["snapshot_diff"];
    assert_eq!(
        (&diff["base"], &diff["changed"], &diff["gone"]),
        (&day_5["id"], &json!(1), &json!(1)),
        "{batch_6:#}"
    );
    assert_eq!(day_6["diffed"], json!([batch_6["id"]]), "{day_6:#}");
    assert_eq!(files_under(&lake.join("diffs")), 0);
    // One new version of the repriced product and one delete of the missing
    // one, each closing the version before it; no other key was touched.
    assert_eq!(
        (&day_6["versions_inserted"], &day_6["versions_updated"]),
        (&json!(2), &json!(2)),
        "{day_6:#}"
    );
    let new_rows: Vec<&str> = through_day_6
        .lines()
        .filter(|l| l.split(" | ").nth(4) == Some("2026-11-06 06:00:00"))
        .collect();
    assert_eq!(new_rows.len(), 2, "{through_day_6}");
    assert!(
        new_rows.iter().any(|l| l.contains("| D |")),
        "{through_day_6}"
    );
}

/// The delete guard, which on DuckDB counts the staged deletes inside the
/// merge's transaction: an extract that lacks too many keys fails the
/// table with `Tidemark.Validation` and the counts, and changes nothing;
/// with `max_delete_fraction` raised, the rerun deletes them.
#[tokio::test(flavor = "multi_thread")]
async fn an_extract_that_deletes_too_much_fails_its_table_until_the_fraction_allows_it() {
    // Day 5: one product of three.
    let dir = demo_with_products(&[(
        "2026-11-05",
        "SELECT * FROM e WHERE product_id = (SELECT min(product_id) FROM e)",
    )])
    .await;
    let (config, lake) = (dir.path().join("tidemark.toml"), dir.path().join("lake"));
    let run = async |through: &str| {
        let (products, name) = run_through(dir.path(), through).await;
        let alert = std::fs::read_to_string(lake.join(format!("alerts/{name}.json")))
            .map(|text| serde_json::from_str::<Value>(&text).unwrap());
        (products, alert.ok())
    };
    let (through_day_4, _) = run("2026-11-04").await;

    let (refused, alert) = run("2026-11-05").await;
    assert_eq!(refused, through_day_4, "a refused extract changed history");
    let alert = alert.expect("a failed table is alerted");
    // (Orders fails too, from the demo's malformed file of day 4.)
    let products = alert["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["table"] == "products")
        .unwrap();
    assert_eq!(
        (&products["status"], &products["error"]),
        (&json!("failed"), &json!("Tidemark.Validation")),
        "{alert:#}"
    );
    let message = products["message"].as_str().unwrap();
    assert!(
        message.contains("would delete 2 of 3 current rows, more than max_delete_fraction = 0.5"),
        "{message}"
    );

    let toml = std::fs::read_to_string(&config).unwrap();
    let raised = toml.replace("max_delete_fraction = 0.5", "max_delete_fraction = 0.75");
    assert_ne!(raised, toml);
    std::fs::write(&config, raised).unwrap();
    let (allowed, _) = run("2026-11-05").await;
    let deleted: Vec<&str> = allowed
        .lines()
        .filter(|l| l.contains("2026-11-05 06:00:00") && l.contains("| D |"))
        .collect();
    assert_eq!(deleted.len(), 2, "{allowed}");
}

/// The products' extract of a day that reprices the last product and lacks
/// the first ([`land_products`]).
const REPRICED_ONE_GONE: &str = "SELECT * REPLACE (CASE WHEN product_id = (SELECT max(product_id) FROM e) THEN price + 1 ELSE price END AS price) FROM e WHERE product_id > (SELECT min(product_id) FROM e)";

/// The demo copy in `dir`, replayed through day `through` when given.
fn open_backend(dir: &Path, through: Option<&str>) -> LocalBackend {
    LocalBackend::open(&LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        replay_through: through.map(|day| day.parse().unwrap()),
        ..Default::default()
    })
    .unwrap()
}

/// The lake store with a fault.
struct Faulty(Arc<dyn ObjectStore>, Fault);

enum Fault {
    /// Saving the products' ledger with a batch of the run `killed` merged
    /// fails: a merge killed after its transaction committed and before the
    /// ledger recorded it.
    KilledAfterCommit,
    /// A snapshot diff's changed rows are written as bytes no engine reads.
    UnreadableDiff,
}

#[async_trait]
impl ObjectStore for Faulty {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.0.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<(Bytes, String), StoreError> {
        self.0.get(key).await
    }
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        self.0.get_range(key, range).await
    }
    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        self.0.put_parts(key).await
    }
    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError> {
        if matches!(self.1, Fault::UnreadableDiff) && key.ends_with("/changed.parquet") {
            return self
                .0
                .put(key, Bytes::from_static(b"not parquet"), condition)
                .await;
        }
        let merged_diff = matches!(self.1, Fault::KilledAfterCommit)
            && key.ends_with("products/ledger.json")
            && serde_json::from_slice::<Value>(&bytes).is_ok_and(|ledger| {
                ledger["batches"].as_array().is_some_and(|batches| {
                    batches.iter().any(|b| {
                        b["run_id"] == "killed"
                            && b["status"] == "merged"
                            && b.get("snapshot_diff").is_some()
                    })
                })
            });
        if merged_diff {
            return Err(StoreError::Io {
                key: key.to_string(),
                message: "killed after the merge committed".into(),
            });
        }
        self.0.put(key, bytes, condition).await
    }
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError> {
        self.0.copy(from, to).await
    }
    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError> {
        self.0.delete(key, etag).await
    }
    fn uri(&self, key: &str) -> String {
        self.0.uri(key)
    }
}

/// A merge from a snapshot diff killed after its transaction committed, and
/// before the ledger recorded it: the batch is still to merge, its diff still
/// there, but the current rows are no longer those the diff was found
/// against. The rerun sees that, joins the extract with the current rows as
/// without a diff, and changes nothing; no version is written twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_diff_merge_killed_after_its_commit_is_merged_again_by_the_join_and_changes_nothing() {
    killed_after_commit(false).await;
}

/// A diff left by a killed merge is removed by an erasure of its table.
#[tokio::test(flavor = "multi_thread")]
async fn an_erasure_removes_the_snapshot_diffs_of_its_table() {
    killed_after_commit(true).await;
}

async fn killed_after_commit(forget_first: bool) {
    let dir = demo_with_products(&[("2026-11-05", REPRICED_ONE_GONE)]).await;
    let lake = dir.path().join("lake");
    run_through(dir.path(), "2026-11-04").await;

    let mut backend = open_backend(dir.path(), Some("2026-11-05"));
    backend.ports.lake = Arc::new(Faulty(backend.ports.lake.clone(), Fault::KilledAfterCommit));
    backend
        .run("killed", &ExecutionInput(json!({})), 0.0)
        .await
        .unwrap();
    let order = "product_id, valid_from, change_seq";
    let committed = dump_table(&backend.engine, "demo", "products", order).await;
    drop(backend);
    let ledger = read_json(&lake.join("state/demo/products/ledger.json"));
    let batch = ledger["batches"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(batch["status"], "validated", "{batch:#}");
    assert_eq!(batch["snapshot_diff"]["changed"], 1, "{batch:#}");
    assert_eq!(
        files_under(&lake.join("diffs")),
        2,
        "the diff is left for the rerun"
    );
    let day_5 = |history: &str| {
        history
            .lines()
            .filter(|l| l.split(" | ").nth(4) == Some("2026-11-05 06:00:00"))
            .count()
    };
    assert_eq!(
        day_5(&committed),
        2,
        "the killed merge committed:\n{committed}"
    );

    if forget_first {
        // A diff holds rows: an erasure removes every diff of its table.
        let backend = open_backend(dir.path(), None);
        let forget =
            json!({"mode": "forget", "tables": ["products"], "keys": [4], "requested_by": "test"});
        let run = backend
            .run("forget", &ExecutionInput(forget), 0.0)
            .await
            .unwrap();
        assert_eq!(
            run.status,
            ExecutionStatus::Succeeded,
            "{:?}",
            run.events.last()
        );
        assert_eq!(files_under(&lake.join("diffs")), 0);
        return;
    }
    let (rerun, _) = run_through(dir.path(), "2026-11-05").await;
    assert_eq!(rerun, committed, "the rerun changed history");
    let ledger = read_json(&lake.join("state/demo/products/ledger.json"));
    let merged = ledger["batches"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        (&merged["id"], &merged["status"]),
        (&batch["id"], &json!("merged"))
    );
    // Run once more without replaying a day: the execution is named `daily`.
    let record = read_json(&lake.join("runs/daily/demo/products.json"));
    assert_eq!(record["status"], "succeeded", "{record:#}");
    assert!(record.get("diffed").is_none(), "{record:#}");
    assert_eq!(files_under(&lake.join("diffs")), 0);
}

/// A snapshot diff the engine cannot read fails nothing: the merge joins the
/// whole extract instead, as without a diff, and the history is the same.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreadable_snapshot_diff_is_merged_by_the_join() {
    let mut histories = Vec::new();
    for fault in [None, Some(Fault::UnreadableDiff)] {
        let dir = demo_with_products(&[("2026-11-05", REPRICED_ONE_GONE)]).await;
        let lake = dir.path().join("lake");
        run_through(dir.path(), "2026-11-04").await;
        let mut backend = open_backend(dir.path(), Some("2026-11-05"));
        let faulty = fault.is_some();
        if let Some(fault) = fault {
            backend.ports.lake = Arc::new(Faulty(backend.ports.lake.clone(), fault));
        }
        backend
            .run("day-5", &ExecutionInput(json!({})), 0.0)
            .await
            .unwrap();
        let order = "product_id, valid_from, change_seq";
        histories.push(dump_table(&backend.engine, "demo", "products", order).await);
        let record = read_json(&lake.join("runs/day-5/demo/products.json"));
        assert_eq!(record["status"], "succeeded", "{record:#}");
        assert_eq!(record.get("diffed").is_some(), !faulty, "{record:#}");
    }
    assert_eq!(histories[0], histories[1]);
}
