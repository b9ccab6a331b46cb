//! Reruns on the local pipeline, over a copy of the demo: the run plan's
//! rules, `reprocess` after a fix, `rebuild` (equal to day-by-day history,
//! safe to kill at any point), overlapping runs and the bounded loops.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tidemark_asl::{Execution, ExecutionStatus};
use tidemark_core::events::ExecutionInput;
use tidemark_core::lease::Lease;
use tidemark_core::ports::QueryEngine;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::{LocalBackend, run_catching_up};
use tidemark_tests::{DEMO_TABLES, KilledSwap, demo_copy, dump_table, states_of};

/// The demo (config, metadata, replay) copied into a folder of its own, so
/// a test can edit its metadata; `on_invalid` is the orders table's policy.
struct Demo {
    dir: tempfile::TempDir,
}

impl Demo {
    fn new(on_invalid: &str) -> Demo {
        let dir = tempfile::tempdir().unwrap();
        demo_copy(dir.path(), |config| {
            config.replace(
                "on_invalid = \"fail\"",
                &format!("on_invalid = \"{on_invalid}\""),
            )
        });
        Demo { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn lake(&self) -> PathBuf {
        self.path().join("lake")
    }

    fn options(&self) -> LocalOptions {
        LocalOptions {
            config_path: self.path().join("tidemark.toml"),
            lake: Some(self.lake()),
            ..Default::default()
        }
    }

    /// Day by day through the replay (as the schedule would), then once with `input`.
    async fn run(&self, name: &str, input: Value) -> (LocalBackend, Vec<Execution>) {
        run_catching_up(&self.options(), name, &ExecutionInput(input), 0.0)
            .await
            .unwrap()
    }

    /// Makes the orders' status nullable: the fix for the demo's malformed file.
    fn fix_orders_metadata(&self) {
        let path = self.path().join("metadata/orders.json");
        let mut meta: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for c in meta["columns"].as_array_mut().unwrap() {
            if c["name"] == "status" {
                c["nullable"] = json!(true);
            }
        }
        std::fs::write(&path, meta.to_string()).unwrap();
    }

    fn read(&self, key: &str) -> String {
        let path = self.lake().join(key);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    fn ledger(&self, table: &str) -> Value {
        serde_json::from_str(&self.read(&format!("state/demo/{table}/ledger.json"))).unwrap()
    }

    fn alert(&self, execution: &str) -> Value {
        serde_json::from_str(&self.read(&format!("alerts/{execution}.json"))).unwrap()
    }
}

/// Every table's history, every column but `batch_id` (which records which
/// batch first wrote a row, so it differs between a rebuild and daily runs).
async fn history(backend: &LocalBackend) -> String {
    let mut out = String::new();
    for (table, order) in DEMO_TABLES {
        let dump = dump_table(&backend.engine, "demo", table, order).await;
        let header: Vec<&str> = dump.lines().nth(1).unwrap().split(" | ").collect();
        let batch = header.iter().position(|c| *c == "batch_id").unwrap();
        for line in dump.lines() {
            let cells: Vec<&str> = line.split(" | ").collect();
            let kept: Vec<&str> = cells
                .iter()
                .enumerate()
                .filter(|(i, _)| cells.len() != header.len() || *i != batch)
                .map(|(_, c)| *c)
                .collect();
            out.push_str(&kept.join(" | "));
            out.push('\n');
        }
    }
    out
}

fn status(execution: &Execution) -> &ExecutionStatus {
    &execution.status
}

fn failed_tables(alert: &Value) -> Vec<(String, String, String)> {
    alert["tables"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["status"] == "failed")
        .map(|t| {
            (
                t["table"].as_str().unwrap().to_string(),
                t["error"].as_str().unwrap_or_default().to_string(),
                t["message"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_fails_the_execution_before_anything_is_read_and_the_alert_says_why() {
    let cases = [
        (json!({"tabels": ["orders"]}), "unknown field \"tabels\""),
        (
            json!({"mode": "rebuilt", "tables": "*"}),
            "did you mean \"rebuild\"?",
        ),
        (
            json!({"tables": ["ordres"]}),
            "\"ordres\" is not a configured table (did you mean \"orders\"?); the tables are customers, orders, products",
        ),
        (json!({"mode": "rebuild"}), "name the tables"),
        (
            json!({"mode": "reprocess", "tables": ["orders"]}),
            "needs \"from\" and \"to\"",
        ),
        (
            json!({"mode": "reprocess", "from": "2026-11-04", "to": "2026-11-02"}),
            "is after \"to\"",
        ),
        (
            json!({"mode": "reprocess", "from": "2026-11-04", "to": "2999-01-01"}),
            "is in the future",
        ),
        (
            json!({"from": "2026-11-01", "to": "2026-11-02"}),
            "apply to mode reprocess only",
        ),
    ];
    let demo = Demo::new("fail");
    for (i, (input, expected)) in cases.into_iter().enumerate() {
        let backend = LocalBackend::open(&demo.options()).unwrap();
        let name = format!("bad-{i}");
        let execution = backend
            .run(&name, &ExecutionInput(input.clone()), 0.0)
            .await
            .unwrap();
        assert!(
            matches!(status(&execution), ExecutionStatus::Failed { error, .. } if error == "Tidemark.TablesFailed"),
            "{input}: {:?}",
            execution.status
        );
        let alert = demo.alert(&name);
        let failed = failed_tables(&alert);
        assert_eq!(failed.len(), 1, "{alert:#}");
        assert_eq!(failed[0].0, "(pipeline)");
        assert_eq!(failed[0].1, "Tidemark.InvalidInput", "{input}");
        assert!(failed[0].2.contains(expected), "{input}: {}", failed[0].2);
        assert_eq!(alert["input"], input);
        assert!(
            alert["rerun"]
                .as_str()
                .unwrap()
                .ends_with("(with the execution input corrected as the error says)"),
            "{alert:#}"
        );
        // Nothing was read, replicated, validated or merged.
        assert!(!demo.lake().join("landing/public").exists(), "{input}");
        assert!(!demo.lake().join("state").exists(), "{input}");
        assert!(!demo.lake().join("validated").exists(), "{input}");
        let tables = backend
            .engine
            .execute(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'demo'",
            )
            .await
            .unwrap();
        assert_eq!(tables.int("n"), Some(0), "{input}");
    }
}

/// The demo's last day lands an orders file with a null status.
const BAD_DAY: &str = "2026-11-04";
const BAD_FILE: &str = "20261104-110000000.parquet";

/// How many history rows of orders have a version from `day`.
async fn orders_changed_on(backend: &LocalBackend, day: &str) -> i64 {
    backend
        .engine
        .execute(&format!(
            "SELECT count(*) AS n FROM demo.orders WHERE CAST(valid_from AS DATE) = DATE '{day}'"
        ))
        .await
        .unwrap()
        .int("n")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reprocess_after_a_metadata_fix_merges_the_quarantined_file_once() {
    for policy in ["continue", "fail"] {
        let demo = Demo::new(policy);
        let (backend, runs) = demo.run("daily", json!({})).await;
        assert_eq!(runs.len(), 4);
        assert_eq!(orders_changed_on(&backend, BAD_DAY).await, 0, "{policy}");
        let quarantined = format!("quarantine/demo/orders/b000004/{BAD_FILE}");
        let original = std::fs::read(demo.lake().join(&quarantined)).unwrap();
        let before = history(&backend).await;
        drop(backend);

        // A reprocess of other days finds nothing to do.
        let other_days = json!({"mode": "reprocess", "tables": ["orders"], "from": "2026-11-01", "to": "2026-11-03"});
        let (backend, runs) = demo.run("elsewhere", other_days).await;
        assert_eq!(runs.len(), 1);
        assert_eq!(history(&backend).await, before, "{policy}");
        drop(backend);

        demo.fix_orders_metadata();
        let reprocess =
            json!({"mode": "reprocess", "tables": ["orders"], "from": BAD_DAY, "to": BAD_DAY});
        let (backend, runs) = demo.run("reprocess", reprocess.clone()).await;
        assert_eq!(
            *status(&runs[0]),
            ExecutionStatus::Succeeded,
            "{policy}: {:?}",
            runs[0].events.last()
        );
        let merged = orders_changed_on(&backend, BAD_DAY).await;
        assert!(merged > 0, "{policy}");
        let after = history(&backend).await;
        assert_ne!(after, before);
        let ledger = demo.ledger("orders");
        let last = ledger["batches"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["mode"], "reprocess", "{ledger:#}");
        assert_eq!(last["run_id"], "reprocess");
        assert_eq!(last["status"], "merged");
        assert_eq!(last["files"][0]["key"], format!("public/orders/{BAD_FILE}"));
        // The quarantined copy stays where it was, byte for byte.
        assert_eq!(
            std::fs::read(demo.lake().join(&quarantined)).unwrap(),
            original
        );
        drop(backend);

        // Again: nothing new to validate, nothing merged twice.
        let batches = ledger["batches"].as_array().unwrap().len();
        let (backend, runs) = demo.run("reprocess-again", reprocess).await;
        assert_eq!(*status(&runs[0]), ExecutionStatus::Succeeded);
        assert_eq!(history(&backend).await, after, "{policy}");
        assert_eq!(
            demo.ledger("orders")["batches"].as_array().unwrap().len(),
            batches
        );
        // And the daily run after it merges nothing of that file again either.
        drop(backend);
        let (backend, _) = demo.run("daily-after", json!({})).await;
        assert_eq!(history(&backend).await, after, "{policy}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_equals_the_day_by_day_history_and_swaps_it_in_whole() {
    let demo = Demo::new("fail");
    let (backend, _) = demo.run("daily", json!({})).await;
    let daily = history(&backend).await;
    drop(backend);

    let (backend, runs) = demo
        .run(
            "rebuild",
            json!({"mode": "rebuild", "tables": ["customers", "orders"]}),
        )
        .await;
    // Orders' malformed file is quarantined as in a daily run (on_invalid = "fail"):
    // the rebuild of orders fails and its history is left as it was.
    let alert = demo.alert("rebuild");
    let failed = failed_tables(&alert);
    assert_eq!(failed.len(), 1, "{alert:#}");
    assert_eq!(
        (failed[0].0.as_str(), failed[0].1.as_str()),
        ("orders", "Tidemark.Validation")
    );
    assert!(matches!(status(&runs[0]), ExecutionStatus::Failed { .. }));
    assert_eq!(history(&backend).await, daily);
    assert_eq!(demo.ledger("customers")["generation"], 1);
    assert_eq!(demo.ledger("orders")["generation"], 0);
    // The replaced customers history is kept, the way back.
    let previous = backend
        .engine
        .execute("SELECT count(*) AS n FROM demo.customers__previous")
        .await
        .unwrap();
    assert_eq!(previous.int("n"), Some(7));
    drop(backend);

    // After the fix, orders rebuilds too: still the day-by-day history, plus day 4.
    demo.fix_orders_metadata();
    let (backend, runs) = demo
        .run(
            "rebuild-orders",
            json!({"mode": "rebuild", "tables": ["orders"]}),
        )
        .await;
    assert_eq!(
        *status(&runs[0]),
        ExecutionStatus::Succeeded,
        "{:?}",
        runs[0].events.last()
    );
    let rebuilt = history(&backend).await;
    drop(backend);
    let (backend, _) = demo
        .run(
            "reprocess",
            json!({"mode": "reprocess", "tables": ["orders"], "from": BAD_DAY, "to": BAD_DAY}),
        )
        .await;
    assert_eq!(
        history(&backend).await,
        rebuilt,
        "reprocess after a rebuild merges nothing twice"
    );
    drop(backend);

    // The same day-by-day runs on a fresh lake, fixed metadata from the start.
    let fresh = Demo::new("fail");
    fresh.fix_orders_metadata();
    let (backend, _) = fresh.run("daily", json!({})).await;
    assert_eq!(rebuilt, history(&backend).await);
}

/// `history` with each 32-hex-digit `row_hash` (the last column) written
/// as the `bigint` of the same text: its first 16 digits.
fn as_bigint_row_hashes(history: &str) -> String {
    history
        .lines()
        .map(|line| match line.rsplit_once(" | ") {
            Some((rest, hash)) if hash.len() == 32 => {
                let high = u64::from_str_radix(&hash[..16], 16).expect("hex digits") as i64;
                format!("{rest} | {high}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// `history` with each `row_hash` (the last column) replaced by the order
/// in which it first appears: two histories whose rows share hashes
/// exactly where each other's do look the same, whatever the format.
fn with_row_hashes_numbered(history: &str) -> String {
    let mut seen: Vec<&str> = Vec::new();
    history
        .lines()
        .map(|line| match line.rsplit_once(" | ") {
            Some((rest, hash)) if hash != "row_hash" => {
                let n = seen.iter().position(|h| *h == hash).unwrap_or_else(|| {
                    seen.push(hash);
                    seen.len() - 1
                });
                format!("{rest} | #{n}\n")
            }
            _ => format!("{line}\n"),
        })
        .collect()
}

/// Runs the demo's days with customers' ledger begun by an earlier version:
/// one batch of generation 0, whose row-hash format is `format`, or not
/// recorded.
async fn legacy_customers(format: Option<&str>) -> (Demo, String) {
    let legacy = Demo::new("fail");
    let state = legacy.lake().join("state/demo/customers");
    std::fs::create_dir_all(&state).unwrap();
    let recorded = format.map_or(String::new(), |f| format!(r#","row_hash":"{f}""#));
    std::fs::write(
        state.join("ledger.json"),
        format!(
            r#"{{"batches":[{{"id":"b000001","status":"abandoned","run_id":"earlier","metadata_version":1,"files":[],"ops":{{"I":0,"U":0,"D":0,"L":0}},"max_valid_from":null,"validated_at":"2026-10-31T00:00:00Z"{recorded}}}]}}"#
        ),
    )
    .unwrap();
    let (backend, _) = legacy.run("daily", json!({})).await;
    let history = history(&backend).await;
    let types = backend
        .engine
        .execute(
            "SELECT table_name, data_type FROM information_schema.columns \
             WHERE table_schema = 'demo' AND column_name = 'row_hash' ORDER BY table_name",
        )
        .await
        .unwrap();
    let types: Vec<String> = types.rows.iter().map(|r| format!("{r:?}")).collect();
    assert_eq!(types.len(), 3, "{types:?}");
    let text = format.is_none();
    assert_eq!(types[0].contains("VARCHAR"), text, "{types:?}");
    assert!(types[1..].iter().all(|t| t.contains("BIGINT")), "{types:?}");
    let ledger = legacy.ledger("customers");
    let merged: Vec<&Value> = ledger["batches"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "merged")
        .collect();
    assert!(!merged.is_empty());
    let kept = format.unwrap_or("hex");
    assert!(merged.iter().all(|b| b["row_hash"] == kept), "{merged:?}");
    (legacy, history)
}

/// A table whose history began with an earlier row-hash format (`hex`
/// digits, or the `bigint` of the same text) keeps it, run after run, with
/// the versions a new table gets; a rebuild moves it to the newest
/// (`typed`), and its history is then a new table's.
#[tokio::test(flavor = "multi_thread")]
async fn a_history_with_an_earlier_row_hash_format_keeps_it_until_a_rebuild() {
    let (legacy, hex) = legacy_customers(None).await;
    let (_, bigint) = legacy_customers(Some("bigint")).await;
    assert_ne!(hex, bigint);
    assert_eq!(as_bigint_row_hashes(&hex), bigint);

    let fresh = Demo::new("fail");
    let (backend, _) = fresh.run("daily", json!({})).await;
    let typed = history(&backend).await;
    drop(backend);
    assert_ne!(bigint, typed);
    assert_eq!(
        with_row_hashes_numbered(&hex),
        with_row_hashes_numbered(&typed)
    );

    let (backend, _) = legacy
        .run(
            "rebuild",
            json!({"mode": "rebuild", "tables": ["customers"]}),
        )
        .await;
    let ledger = legacy.ledger("customers");
    assert_eq!(ledger["generation"], 1);
    let last = &ledger["batches"][ledger["batches"].as_array().unwrap().len() - 1];
    assert_eq!(last["row_hash"], "typed", "{last}");
    assert_eq!(history(&backend).await, typed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_of_a_snapshot_table_whose_extracts_were_overwritten_is_refused() {
    let demo = Demo::new("fail");
    let (backend, _) = demo.run("daily", json!({})).await;
    let daily = history(&backend).await;
    drop(backend);
    let (backend, runs) = demo
        .run(
            "rebuild",
            json!({"mode": "rebuild", "tables": ["products"]}),
        )
        .await;
    assert!(matches!(status(&runs[0]), ExecutionStatus::Failed { .. }));
    let failed = failed_tables(&demo.alert("rebuild"));
    assert_eq!(failed[0].1, "Tidemark.InvalidInput");
    assert!(
        failed[0].2.contains(
            "no longer in the landing area as they were (e.g. public/products/LOAD00000001.parquet"
        ),
        "{}",
        failed[0].2
    );
    assert_eq!(history(&backend).await, daily);
    assert_eq!(demo.ledger("products")["generation"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_killed_before_during_or_after_its_swap_loses_nothing_and_completes_on_rerun() {
    let demo = Demo::new("continue");
    let (backend, _) = demo.run("daily", json!({})).await;
    let daily = history(&backend).await;
    drop(backend);
    let rebuild = json!({"mode": "rebuild", "tables": ["customers"]});

    // Killed during the merge: the staged table is half built, nothing is swapped.
    let backend = LocalBackend::open(&demo.options()).unwrap();
    backend
        .engine
        .execute("CREATE TABLE demo.customers__rebuild AS SELECT * FROM demo.customers LIMIT 2")
        .await
        .unwrap();
    assert_eq!(history(&backend).await, daily);
    drop(backend);

    // Killed between the ledger's commit and the swap (every retry of it too):
    // the old history stays readable and the swap stays recorded.
    let mut backend = LocalBackend::open(&demo.options()).unwrap();
    backend.ports.catalog = Arc::new(KilledSwap(backend.ports.catalog.clone()));
    let execution = backend
        .run("rebuild-killed", &ExecutionInput(rebuild.clone()), 0.0)
        .await
        .unwrap();
    assert!(matches!(status(&execution), ExecutionStatus::Failed { .. }));
    assert_eq!(
        history(&backend).await,
        daily,
        "the old history is read until the swap"
    );
    let ledger = demo.ledger("customers");
    assert_eq!(ledger["generation"], 1);
    assert_eq!(
        ledger["swap"]["staged_table"], "customers__rebuild",
        "{ledger:#}"
    );
    drop(backend);

    // The next run of any kind completes the swap first.
    let (backend, runs) = demo.run("daily-after-kill", json!({})).await;
    assert_eq!(
        *status(&runs[0]),
        ExecutionStatus::Succeeded,
        "{:?}",
        runs[0].events.last()
    );
    assert!(demo.ledger("customers").get("swap").is_none());
    let swapped = history(&backend).await;
    assert_eq!(swapped, daily);
    drop(backend);

    // Killed after its last merge, before the ledger's commit: every batch of
    // the new generation is merged into the staged table, nothing is live yet.
    let mut backend = LocalBackend::open(&demo.options()).unwrap();
    backend.ports.catalog = Arc::new(KilledSwap(backend.ports.catalog.clone()));
    backend
        .run("rebuild-2", &ExecutionInput(rebuild.clone()), 0.0)
        .await
        .unwrap();
    drop(backend);
    let mut ledger = demo.ledger("customers");
    assert_eq!(ledger["generation"], 2);
    ledger["generation"] = json!(1);
    ledger.as_object_mut().unwrap().remove("swap");
    std::fs::write(
        demo.lake().join("state/demo/customers/ledger.json"),
        ledger.to_string(),
    )
    .unwrap();
    // Its rerun has nothing left to validate or merge, and swaps.
    let (backend, runs) = demo.run("rebuild-2-again", rebuild.clone()).await;
    assert_eq!(
        *status(&runs[0]),
        ExecutionStatus::Succeeded,
        "{:?}",
        runs[0].events.last()
    );
    assert_eq!(history(&backend).await, daily);
    assert_eq!(demo.ledger("customers")["generation"], 2);
    drop(backend);

    // Rerun after the swap: the same history again.
    let (backend, runs) = demo.run("rebuild-again", rebuild).await;
    assert_eq!(
        *status(&runs[0]),
        ExecutionStatus::Succeeded,
        "{:?}",
        runs[0].events.last()
    );
    assert_eq!(history(&backend).await, daily);
    assert_eq!(demo.ledger("customers")["generation"], 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scheduled_run_skips_a_table_another_run_holds_and_a_manual_one_fails_naming_it() {
    let demo = Demo::new("continue");
    let (backend, _) = demo.run("daily", json!({})).await;
    let before = history(&backend).await;
    drop(backend);
    // Another execution holds customers; something new landed for it.
    let backend = LocalBackend::open(&demo.options()).unwrap();
    let lease = Lease::acquire(
        backend.ports.lake.as_ref(),
        "state/demo/customers/lease.json",
        "customers",
        "rebuild-elsewhere",
        3600,
    )
    .await
    .unwrap();
    let landed = demo.lake().join("landing/public/customers");
    std::fs::copy(
        landed.join("20261104-070000000.parquet"),
        landed.join("20261105-070000000.parquet"),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", landed.display()));

    let scheduled = backend
        .run("scheduled", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert_eq!(
        *status(&scheduled),
        ExecutionStatus::Succeeded,
        "{:?}",
        scheduled.events.last()
    );
    assert!(
        !demo.lake().join("alerts/scheduled.json").exists(),
        "a skip does not alert"
    );
    let record: Value =
        serde_json::from_str(&demo.read("runs/scheduled/demo/customers.json")).unwrap();
    assert_eq!(record["status"], "skipped");
    assert!(
        record["message"]
            .as_str()
            .unwrap()
            .contains("locked by run rebuild-elsewhere"),
        "{record:#}"
    );
    assert_eq!(history(&backend).await, before);
    // It gave the table up at once: one call of merge-history, no wait.
    assert_eq!(
        states_of(&scheduled, "customers"),
        [
            "ValidateLanded",
            "AnythingToMerge",
            "StartMerge",
            "MergeHistory",
            "LeaseHeld",
            "TableSkipped"
        ]
    );

    let manual = backend
        .run(
            "manual",
            &ExecutionInput(json!({"tables": ["customers"], "mode": "incremental"})),
            0.0,
        )
        .await
        .unwrap();
    assert!(matches!(status(&manual), ExecutionStatus::Failed { .. }));
    // A manual run waited for the holder three times (60, 120, 240 s, here
    // at no time), then failed.
    let waits: Vec<Value> = manual
        .events
        .iter()
        .filter(|e| e.kind == "Entered" && e.state == "WaitForLease")
        .map(|e| serde_json::from_str(e.detail.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(
        waits
            .iter()
            .map(|w| w["merge"]["Payload"]["lease_wait_seconds"]
                .as_u64()
                .unwrap())
            .collect::<Vec<_>>(),
        [60, 120, 240]
    );
    let failed = failed_tables(&demo.alert("manual"));
    assert_eq!(failed[0].1, "Tidemark.Concurrency");
    assert!(
        failed[0]
            .2
            .contains("locked by run rebuild-elsewhere until"),
        "{}",
        failed[0].2
    );

    // Once the holder is done, the next scheduled run picks the work up.
    lease.release(backend.ports.lake.as_ref()).await.unwrap();
    let next = backend
        .run("next", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert_eq!(*status(&next), ExecutionStatus::Succeeded);
    let merged: Value = serde_json::from_str(&demo.read("runs/next/demo/customers.json")).unwrap();
    assert_eq!(merged["status"], "succeeded");
    // The skipped run validated the file; this one merged that batch.
    let batch = merged["batches"][0].as_str().unwrap().to_string();
    let ledger = demo.ledger("customers");
    let recorded = ledger["batches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == batch.as_str())
        .unwrap();
    assert_eq!(recorded["run_id"], "scheduled", "{ledger:#}");
    assert_eq!(recorded["status"], "merged");
    assert_eq!(
        recorded["files"][0]["key"],
        "public/customers/20261105-070000000.parquet"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merge_loop_is_bounded_and_its_timeout_names_the_step_and_the_table() {
    let demo = Demo::new("continue");
    let config = std::fs::read_to_string(demo.path().join("tidemark.toml")).unwrap();
    std::fs::write(
        demo.path().join("tidemark.toml"),
        format!("{config}\n[pipeline]\nmax_merge_invocations = 1\n"),
    )
    .unwrap();
    let day = |d: &str| LocalOptions {
        replay_through: Some(d.parse().unwrap()),
        ..demo.options()
    };
    let run = async |d: &str, name: &str, input: Value| {
        let backend = LocalBackend::open(&day(d)).unwrap();
        let execution = backend
            .run(name, &ExecutionInput(input), 0.0)
            .await
            .unwrap();
        (backend, execution)
    };
    let (_, first) = run("2026-11-01", "day-1", json!({})).await;
    assert_eq!(*status(&first), ExecutionStatus::Succeeded);
    // Day 2 validates a batch of customers, but another run holds the table.
    let (backend, _) = run("2026-11-02", "day-2", json!({"mode": "incremental"})).await;
    let lake = backend.ports.lake.clone();
    drop(backend);
    let lease = Lease::acquire(
        lake.as_ref(),
        "state/demo/customers/lease.json",
        "customers",
        "other",
        3600,
    )
    .await
    .unwrap();
    let (_, _) = run("2026-11-03", "day-3", json!({"mode": "incremental"})).await;
    lease.release(lake.as_ref()).await.unwrap();
    // Day 3 left a batch validated and not merged: day 4 has two to merge,
    // which takes two calls of merge-history, one more than allowed.
    let (_, fourth) = run("2026-11-04", "day-4", json!({})).await;
    assert!(matches!(status(&fourth), ExecutionStatus::Failed { .. }));
    let failed = failed_tables(&demo.alert("day-4"));
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (table, error, message) = &failed[0];
    assert_eq!(
        (table.as_str(), error.as_str()),
        ("customers", "Tidemark.Timeout"),
        "{message}"
    );
    assert!(
        message.starts_with("merge-history of customers: gave up after")
            && message
                .contains("1 attempt(s), the bound set by [pipeline] max_merge_invocations = 1"),
        "{message}"
    );
}

/// Step Functions refuses a state over 256 KiB, and so does the local
/// interpreter: 500 tables of 200 columns each go through the production
/// state machine, because the state carries names and versions, never a
/// metadata document.
#[tokio::test(flavor = "multi_thread")]
async fn five_hundred_tables_of_two_hundred_columns_fit_in_the_execution_state() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("metadata")).unwrap();
    std::fs::create_dir_all(dir.join("landing")).unwrap();
    let mut config = String::from("[source]\ndatabase = \"wide\"\n");
    let columns: Vec<Value> = (0..200)
        .map(|i| json!({"name": format!("column_with_a_long_name_{i:03}"), "type": "string"}))
        .collect();
    for t in 0..500 {
        let name = format!("table_with_a_long_name_{t:03}");
        config.push_str(&format!(
            "\n[[tables]]\nname = \"{name}\"\nmode = \"cdc\"\n"
        ));
        let mut cols = vec![json!({"name": "id", "type": "int64", "nullable": false})];
        cols.extend(columns.iter().cloned());
        let meta = json!({"name": name, "primary_key": ["id"], "columns": cols});
        std::fs::write(dir.join(format!("metadata/{name}.json")), meta.to_string()).unwrap();
    }
    std::fs::write(dir.join("tidemark.toml"), config).unwrap();
    let backend = LocalBackend::open(&LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        landing: Some(dir.join("landing")),
        ..Default::default()
    })
    .unwrap();
    let execution = backend
        .run("wide", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert_eq!(
        execution.status,
        ExecutionStatus::Succeeded,
        "{:?}",
        execution.events.last()
    );
    let largest = execution
        .events
        .iter()
        .filter_map(|e| e.detail.as_ref().map(|d| (d.len(), &e.state, &e.kind)))
        .max()
        .unwrap();
    // The largest state is the Map's input with every table's work (a few
    // hundred bytes each): well under the quota, where one metadata document
    // per table (about 12 KB each here) would have been 6 MB.
    assert!(largest.0 < 256 * 1024, "{largest:?}");
    assert!(
        largest.0 > 50 * 1024,
        "the test should be near the scale it claims: {largest:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_the_replication_cannot_take_is_refused_before_anything_changes() {
    let demo = Demo::new("continue");
    let (backend, _) = demo.run("daily", json!({})).await;
    let daily = history(&backend).await;
    let execution = backend
        .run(
            "reload",
            &ExecutionInput(json!({"mode": "reload", "tables": ["orders"]})),
            0.0,
        )
        .await
        .unwrap();
    assert!(matches!(status(&execution), ExecutionStatus::Failed { .. }));
    let failed = failed_tables(&demo.alert("reload"));
    assert_eq!(failed[0].0, "(pipeline)");
    assert_eq!(failed[0].1, "Tidemark.InvalidInput");
    assert!(
        failed[0]
            .2
            .contains("cannot take a fresh full load of orders"),
        "{}",
        failed[0].2
    );
    assert_eq!(history(&backend).await, daily);
    assert_eq!(demo.ledger("orders")["generation"], 0);
}

/// A replication that is never ready (a reload that never lands).
struct NeverReady;

#[tidemark_core::ports::async_trait]
impl tidemark_core::ports::Replication for NeverReady {
    async fn start(
        &self,
        _event: &tidemark_core::events::StartReplicationEvent,
        _tables: &[(String, tidemark_core::config::TableMode)],
    ) -> Result<tidemark_core::events::ReplicationStatus, tidemark_core::error::ReplicationError>
    {
        Ok(tidemark_core::events::ReplicationStatus {
            state: "reloading".into(),
            ready: false,
            wait_seconds: 5,
            cdc_latency_seconds: None,
            lag_bytes: None,
            tables_in_error: Vec::new(),
            message: "a reload is running".into(),
        })
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_wait_for_the_replication_is_bounded_and_its_timeout_says_how_long() {
    let demo = Demo::new("continue");
    let config = std::fs::read_to_string(demo.path().join("tidemark.toml")).unwrap();
    std::fs::write(
        demo.path().join("tidemark.toml"),
        format!("{config}\n[pipeline]\nreplication_wait_seconds = 10\n"),
    )
    .unwrap();
    let mut backend = LocalBackend::open(&demo.options()).unwrap();
    backend.ports.replication = Arc::new(NeverReady);
    let execution = backend
        .run("waiting", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    assert!(matches!(status(&execution), ExecutionStatus::Failed { .. }));
    let waits = execution
        .events
        .iter()
        .filter(|e| e.state == "WaitForReplication" && e.kind == "Entered")
        .count();
    assert_eq!(waits, 3, "waited 0, 5 and 10 s, then gave up");
    let failed = failed_tables(&demo.alert("waiting"));
    assert_eq!(failed.len(), 1, "{failed:?}");
    let (table, error, message) = &failed[0];
    assert_eq!(
        (table.as_str(), error.as_str()),
        ("(pipeline)", "Tidemark.Timeout")
    );
    assert!(
        message.starts_with("start-replication (waiting for the replication to be ready): gave up after 15 s and 3 attempt(s)")
            && message.contains("replication_wait_seconds = 10"),
        "{message}"
    );
    assert!(!demo.lake().join("state").exists(), "no table ran");
}
