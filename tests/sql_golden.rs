//! The SQL a run executes, pinned per dialect for the demo's tables
//! (`UPDATE_GOLDEN=1` rewrites the files; review the diff).

use tidemark_core::metadata::TableMetadata;
use tidemark_core::scd2::{Athena, Dialect, DuckDb, MergePlan, SnapshotParams};
use tidemark_tests::{assert_golden, workspace};

fn render(table: &str, dialect: &dyn Dialect, snapshot: Option<SnapshotParams>) -> String {
    let path = workspace().join(format!("examples/demo/metadata/{table}.json"));
    let meta = TableMetadata::from_json("demo", &std::fs::read_to_string(path).unwrap()).unwrap();
    let plan = MergePlan {
        database: "demo",
        meta: &meta,
        batch_id: "b000002",
        snapshot,
    };
    let mut statements = plan.create_statements(dialect);
    statements.extend(plan.delete_guard(dialect));
    statements.push(plan.merge(dialect));
    statements.push(plan.current_view());
    statements
        .iter()
        .map(|s| format!("{s};\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn merge_sql_is_pinned_for_both_dialects() {
    let duckdb = DuckDb {
        lake_root: "/lake".into(),
    };
    let athena = Athena {
        lake_uri: "s3://tidemark-lake".into(),
    };
    // 2026-11-03 05:00:00 UTC, the demo's second products extract.
    let snapshot = Some(SnapshotParams {
        extract_time: 1_793_682_000_000_000,
        max_delete_fraction: 0.5,
    });
    for (table, snapshot) in [("orders", None), ("products", snapshot)] {
        for dialect in [&duckdb as &dyn Dialect, &athena] {
            let golden =
                workspace().join(format!("tests/golden/sql/{table}.{}.sql", dialect.name()));
            assert_golden(&golden, &render(table, dialect, snapshot));
        }
    }
}
