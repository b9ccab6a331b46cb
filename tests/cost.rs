//! What a run costs, end to end on the local pipeline: every table's run
//! record carries its usage priced with the `[cost]` table (labelled as a
//! local estimate), the transitions are the execution history's, the run's
//! total and its most expensive tables are saved, and each table's figures
//! are written as CloudWatch Embedded Metric Format documents.

use std::collections::BTreeMap;
use tidemark_asl::Execution;
use tidemark_core::cost::{Cost, RunCost};
use tidemark_core::events::{ExecutionInput, TableStatus};
use tidemark_core::run_record::RunRecord;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::run_catching_up;
use tidemark_tests::{DEMO_TABLES, workspace};

/// The states each table's Map iteration entered, from the execution's history.
fn entered_by_table(execution: &Execution) -> BTreeMap<String, u64> {
    let mut by_table = BTreeMap::new();
    for event in execution.events.iter().filter(|e| e.kind == "Entered") {
        let input: serde_json::Value =
            serde_json::from_str(event.detail.as_deref().unwrap()).unwrap();
        if let Some(table) = input.pointer("/work/table").and_then(|t| t.as_str()) {
            *by_table.entry(table.to_string()).or_default() += 1;
        }
    }
    by_table
}

fn record(lake: &std::path::Path, run: &str, table: &str) -> RunRecord {
    let path = lake.join(format!("runs/{run}/demo/{table}.json"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_table_of_every_run_records_what_it_cost() {
    let dir = tempfile::tempdir().unwrap();
    let options = LocalOptions {
        config_path: workspace().join("examples/demo/tidemark.toml"),
        lake: Some(dir.path().to_path_buf()),
        ..Default::default()
    };
    let (backend, executions) = run_catching_up(&options, "cost", &ExecutionInput::default(), 0.0)
        .await
        .unwrap();
    let lake = backend.lake.clone();
    let prices = backend.ports.config.cost.clone();

    for execution in &executions {
        let entered = entered_by_table(execution);
        let mut tables = Vec::new();
        for (table, _) in DEMO_TABLES {
            let r = record(&lake, &execution.name, table);
            let cost: Cost = r
                .cost
                .clone()
                .unwrap_or_else(|| panic!("{}: {table} has no cost", execution.name));
            assert!(cost.estimate, "a local run's figures are estimates");
            assert_eq!(
                Some(&cost.state_transitions),
                entered.get(table),
                "{}: {table}'s transitions are its Map iteration's states",
                execution.name
            );
            let steps: Vec<&str> = cost.lambda.iter().map(|l| l.step.as_str()).collect();
            assert!(steps.contains(&"validate-landed"), "{steps:?}");
            assert!(
                cost.lambda
                    .iter()
                    .all(|l| l.invocations > 0 && l.gb_seconds > 0.0)
            );
            assert!(cost.s3.reads > 0 && cost.s3.writes > 0, "{:?}", cost.s3);
            assert_eq!(cost.prices, "eu-west-2 prices of 2026-12-04");
            if r.idle {
                // Nothing had landed: validation finished the table.
                assert_eq!(steps, ["validate-landed"]);
            } else if r.status == Some(TableStatus::Succeeded) {
                assert!(steps.contains(&"merge-history") && steps.contains(&"publish-catalog"));
            }
            if r.versions_inserted + r.versions_updated + r.versions_removed > 0 {
                // Every merge reads the batch's validated Parquet files: a
                // first load's INSERT, or the statement that stages a merge's
                // versions (its INSERT reads them from memory).
                let of = |kind: &str| -> Vec<_> {
                    let all = cost.statements.iter();
                    all.filter(|s| s.usage.statement == kind).collect()
                };
                let (staged, inserts) = (of("CREATE TEMPORARY TABLE"), of("INSERT INTO"));
                let reads = if staged.is_empty() { inserts } else { staged };
                assert!(!reads.is_empty(), "{}: {table}", execution.name);
                assert!(
                    reads.iter().all(|s| s.usage.bytes_scanned > Some(0)),
                    "{reads:#?}"
                );
                assert!(cost.athena_bytes_billed >= cost.athena_bytes_scanned);
            }
            // The total is the sum of its parts, each priced from the table.
            let usd = cost.usd;
            assert!(
                (usd.total - (usd.athena + usd.lambda + usd.step_functions + usd.s3)).abs() < 1e-12
            );
            let transitions_usd = cost.state_transitions as f64 / 1000.0
                * prices.step_functions_usd_per_thousand_transitions;
            assert!((usd.step_functions - transitions_usd).abs() < 1e-12);
            tables.push((table.to_string(), cost));
        }

        // The run's total: its tables' and its own steps'; the top three, dearest first.
        let run: RunCost = serde_json::from_slice(
            &std::fs::read(lake.join(format!("runs/{}/demo.cost.json", execution.name))).unwrap(),
        )
        .unwrap();
        let of_tables: f64 = tables.iter().map(|(_, c)| c.usd.total).sum();
        assert!(run.total_usd > of_tables, "{run:?}");
        assert!(run.estimate);
        let mut dearest = tables.clone();
        dearest.sort_by(|a, b| b.1.usd.total.total_cmp(&a.1.usd.total));
        let expected: Vec<&str> = dearest.iter().take(3).map(|(t, _)| t.as_str()).collect();
        let top: Vec<&str> = run.top.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(top, expected);
    }

    // The failed table of the last day is priced too (its validation ran).
    let last = executions.last().unwrap();
    let orders = record(&lake, &last.name, "orders");
    assert_eq!(orders.status, Some(TableStatus::Failed));
    assert!(orders.cost.is_some());

    // One EMF document per table and run, the figures the records hold.
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(lake.join("metrics")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        documents.extend(
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
    }
    assert_eq!(documents.len(), executions.len() * (DEMO_TABLES.len() + 1));
    let orders_doc = documents
        .iter()
        .rev()
        .find(|d| d["Table"] == "orders")
        .unwrap();
    assert_eq!(
        orders_doc["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Tidemark"
    );
    assert_eq!(
        orders_doc["CostUsd"].as_f64(),
        Some(orders.cost.unwrap().usd.total)
    );
    // The freshness alarm's metric: orders failed on the last day, customers merged.
    assert_eq!(orders_doc["Merged"], 0);
    let customers_doc = documents
        .iter()
        .rev()
        .find(|d| d["Table"] == "customers")
        .unwrap();
    assert_eq!(customers_doc["Merged"], 1);
}
