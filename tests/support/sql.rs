//! The SQL a run executes for the demo's tables, per dialect: pinned in
//! golden files (`sql_golden.rs`) and parsed with Athena's grammars
//! (`athena_sql.rs`).

use super::workspace;
use tidemark_core::batch_id::BatchId;
use tidemark_core::erasure::resolve_keys;
use tidemark_core::metadata::{RowHashFormat, TableMetadata};
use tidemark_core::scd2::{
    CHANGE_LOG_CONTROL_COLUMNS, CHANGE_LOG_PARTITION, Dialect, ExistingColumn, MergePlan, Since,
    SnapshotParams, Statement,
};
use tidemark_core::steps::{forget_statements, forget_tables_query};

fn demo_metadata(table: &str) -> TableMetadata {
    let path = workspace().join(format!("examples/demo/metadata/{table}.json"));
    let text = std::fs::read_to_string(&path).expect("the demo metadata");
    TableMetadata::from_json(&path.display().to_string(), &text).expect("valid demo metadata")
}

/// The columns the history table (and the change log's table) have when
/// an earlier metadata version, without `column`, created them.
fn created_without(plan: &MergePlan, d: &dyn Dialect, column: &str) -> Vec<ExistingColumn> {
    let table = &plan.meta.name;
    let history = plan
        .history_columns(d)
        .into_iter()
        .map(|c| (table.clone(), c.name, c.engine_type));
    let log = d
        .change_log_table(plan.meta, 0)
        .into_iter()
        .flat_map(|log| {
            plan.meta
                .columns
                .iter()
                .map(|c| c.name.clone())
                .chain(CHANGE_LOG_CONTROL_COLUMNS.map(String::from))
                .chain([CHANGE_LOG_PARTITION.to_string()])
                .map(move |name| (log.clone(), name, String::new()))
        });
    history
        .chain(log)
        .filter(|(_, name, _)| name != column)
        .map(|(table, name, data_type)| ExistingColumn {
            table,
            name,
            data_type,
        })
        .collect()
}

/// Named statement lists: each demo table's first run (merging batch
/// `b000002`; products is a snapshot table, extracted 2026-11-03 05:00 UTC),
/// customers has a retention (`retain_closed_years = 7`), customers' first
/// batch into an empty history, the schema
/// change when `orders` gains its nullable `note` column, an Athena change
/// log from before it was partitioned (defined again), and a `forget` of
/// two customers (the dialects render it alike).
pub fn demo_sql(d: &dyn Dialect) -> Vec<(String, Vec<Statement>)> {
    let snapshot = SnapshotParams {
        extract_time: 1_793_682_000_000_000,
        max_delete_fraction: 0.5,
        // One full-load file, as a table's extract usually lands.
        distinct_keys: true,
        diff: false,
    };
    let mut out = Vec::new();
    for (table, snapshot) in [
        ("customers", None),
        ("orders", None),
        ("products", Some(snapshot)),
    ] {
        let meta = demo_metadata(table);
        let plan = MergePlan {
            row_hash: Default::default(),
            // The batch's earliest change, 2026-11-02 00:00 UTC, reaches back to batch 1.
            since: Some(Since {
                at: 1_793_577_600_000_000,
                batches: vec![BatchId::FIRST, BatchId::new(2)],
            }),
            // customers keeps closed versions 7 years: from 2019-11-02 00:00 UTC.
            retained_from: (table == "customers").then_some(1_572_652_800_000_000),
            target: Default::default(),
            database: "demo",
            meta: &meta,
            batch_id: BatchId::new(2),
            snapshot,
        };
        out.push((table.to_string(), plan.first_run_statements(d)));
        // The usual day: the batch reaches back to no other, so keys that
        // get one change after their current version are joined to it,
        // and only the others go through the windows.
        if table != "customers" {
            let in_order = MergePlan {
                since: Some(Since {
                    at: 1_793_577_600_000_000,
                    batches: vec![BatchId::new(2)],
                }),
                ..plan
            };
            out.push((
                format!("{table}.in_order"),
                in_order
                    .merge(d)
                    .all()
                    .into_iter()
                    .map(Statement::sql)
                    .collect(),
            ));
        }
        // A generation validated before `bigint` row hashes: text, which a
        // snapshot's diff compares by the dialect's digest, where it has one.
        if snapshot.is_some() {
            let hex = MergePlan {
                row_hash: RowHashFormat::Hex,
                ..plan
            };
            out.push((format!("{table}.hex"), hex.first_run_statements(d)));
            // The usual day from validation's diff, once the current rows
            // add up to the extract it was found against (DuckDB: Athena
            // reads no diff).
            let diffed = MergePlan {
                snapshot: snapshot.map(|s| SnapshotParams { diff: true, ..s }),
                since: Some(Since {
                    at: 1_793_577_600_000_000,
                    batches: vec![BatchId::new(2)],
                }),
                ..plan
            };
            let statements = std::iter::once(diffed.current_digest())
                .chain(diffed.merge(d).all())
                .map(Statement::sql)
                .collect();
            if d.snapshot_diff("demo", &meta, 0, BatchId::new(2)).is_some() {
                out.push((format!("{table}.diff"), statements));
                // A late extract (the ledger cannot tell that nothing
                // reaches back): the staged merge reads the diff.
                let late = MergePlan {
                    since: None,
                    ..diffed
                };
                out.push((
                    format!("{table}.diff_late"),
                    late.merge(d)
                        .all()
                        .into_iter()
                        .map(Statement::sql)
                        .collect(),
                ));
            }
        }
    }
    // customers' first batch, into its empty history: inserted, not merged
    // (with the timeline's windows when a key repeats, as it is when none
    // does: `_distinct`).
    let meta = demo_metadata("customers");
    let first = MergePlan {
        row_hash: Default::default(),
        since: Some(Since {
            at: 1_793_491_200_000_000,
            batches: vec![BatchId::FIRST],
        }),
        retained_from: Some(1_572_652_800_000_000),
        target: Default::default(),
        database: "demo",
        meta: &meta,
        batch_id: BatchId::FIRST,
        snapshot: None,
    };
    let insert = first.first_load(d, 0).expect("batch 1 is the only one");
    out.push((
        "customers.first_load".to_string(),
        [first.repeated_keys(d), insert]
            .map(Statement::sql)
            .to_vec(),
    ));
    out.push((
        "customers.first_load_distinct".to_string(),
        [first.repeated_keys(d), first.first_load_distinct(d)]
            .map(Statement::sql)
            .to_vec(),
    ));
    let meta = demo_metadata("orders");
    let plan = MergePlan {
        row_hash: Default::default(),
        retained_from: None,
        since: None,
        target: Default::default(),
        database: "demo",
        meta: &meta,
        batch_id: BatchId::new(2),
        snapshot: None,
    };
    let added = plan
        .schema_statements(d, &created_without(&plan, d, "note"))
        .expect("a new nullable column is additive");
    out.push(("orders.add_note".to_string(), added));
    if d.change_log_table(&meta, 0).is_some() {
        let unpartitioned = plan
            .schema_statements(d, &created_without(&plan, d, CHANGE_LOG_PARTITION))
            .expect("the history is unchanged");
        out.push(("orders.add_log_partition".to_string(), unpartitioned));
    }
    out.push(("customers.forget".to_string(), forget_sql()));
    out
}

/// A `forget` of customers 42 and 7 (given as text): which history tables
/// exist, then the count and the delete of the keys' rows in one of them.
pub fn forget_sql() -> Vec<Statement> {
    let meta = demo_metadata("customers");
    let keys = resolve_keys(&meta, &[serde_json::json!(42), serde_json::json!("7")])
        .expect("integer keys");
    let names = ["customers", "customers__previous", "customers__rebuild"].map(String::from);
    std::iter::once(forget_tables_query("demo", &names))
        .chain(forget_statements("demo", "customers", &meta, &keys))
        .map(Statement::sql)
        .collect()
}
