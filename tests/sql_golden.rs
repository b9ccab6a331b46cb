//! The SQL a run executes, pinned per dialect for the demo's tables
//! (`UPDATE_GOLDEN=1` rewrites the files; review the diff), and one MERGE
//! per table and batch.

use tidemark_core::scd2::{Athena, Dialect, DuckDb};
use tidemark_tests::sql::demo_sql;
use tidemark_tests::{assert_golden, workspace};

#[test]
fn merge_sql_is_pinned_for_both_dialects() {
    let duckdb = DuckDb {
        lake_root: "/lake".into(),
    };
    let athena = Athena {
        lake_uri: "s3://tidemark-lake".into(),
        ..Default::default()
    };
    for dialect in [&duckdb as &dyn Dialect, &athena] {
        for (name, statements) in demo_sql(dialect) {
            // One merge changes history per table and batch: one statement,
            // or on DuckDB, where the merge is staged, its DELETE, UPDATE and
            // INSERT, or merged from a snapshot's diff, its delete versions'
            // INSERT, UPDATE and INSERT (maintenance's expiry of old versions
            // is not the batch's).
            let writes = statements
                .iter()
                .filter(|s| {
                    let first = s.sql.split_whitespace().next().unwrap_or_default();
                    let expiry = first == "DELETE" && s.sql.contains("WHERE \"valid_to\" <");
                    ["MERGE", "INSERT", "UPDATE", "DELETE"].contains(&first) && !expiry
                })
                .count();
            let staged = name.ends_with(".diff")
                || statements
                    .iter()
                    .any(|s| s.sql.starts_with("CREATE TEMPORARY TABLE \"merge_source\""));
            let expected = match (name.contains("add_"), staged) {
                (true, _) => 0,
                (false, true) => 3,
                (false, false) => 1,
            };
            assert_eq!(writes, expected, "{name} on {}", dialect.name());
            let text: String = statements
                .iter()
                .map(|s| format!("{};\n\n", s.sql))
                .collect();
            let golden =
                workspace().join(format!("tests/golden/sql/{name}.{}.sql", dialect.name()));
            assert_golden(&golden, &format!("{}\n", text.trim_end()));
        }
    }
}
