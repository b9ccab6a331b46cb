//! Every statement the Athena rendering produces is parsed by the grammar
//! Athena runs it with (`tools/python/athena_sql.py check`): Trino's own
//! grammar for SQL, Athena's Hive DDL for external tables and schema changes.
//! Identifiers are validated against the metadata and always quoted.

use serde_json::json;
use tidemark_core::batch_id::BatchId;
use tidemark_core::metadata::TableMetadata;
use tidemark_core::scd2::{Athena, DuckDb, Grammar, MergePlan, SnapshotParams, Statement};
use tidemark_tests::run_python;
use tidemark_tests::sql::demo_sql;

fn athena() -> Athena {
    Athena {
        lake_uri: "s3://tidemark-lake".into(),
        ..Default::default()
    }
}

fn snapshot() -> SnapshotParams {
    SnapshotParams {
        extract_time: 1_793_682_000_000_000,
        max_delete_fraction: 0.5,
        distinct_keys: false,
        diff: false,
    }
}

/// Statements to check, named for the failure message.
fn check(statements: &[(String, Statement)]) -> Vec<String> {
    let input: Vec<serde_json::Value> = statements
        .iter()
        .map(|(name, s)| {
            json!({
                "name": name,
                "grammar": match s.grammar {
                    Grammar::Sql => "sql",
                    Grammar::HiveDdl => "hive",
                    Grammar::AthenaMaintenance => "athena-maintenance",
                },
                "sql": s.sql,
            })
        })
        .collect();
    let failures = run_python("athena_sql.py", &["check"], &json!(input));
    failures
        .as_array()
        .expect("a list of failures")
        .iter()
        .map(|f| format!("{}: {}", f["name"], f["error"]))
        .collect()
}

#[test]
fn every_athena_statement_parses_with_the_grammar_athena_runs_it_with() {
    let statements: Vec<(String, Statement)> = demo_sql(&athena())
        .into_iter()
        .flat_map(|(name, statements)| {
            statements
                .into_iter()
                .enumerate()
                .map(move |(i, s)| (format!("{name} #{i}"), s))
        })
        .collect();
    let hive = |needle: &str| {
        statements
            .iter()
            .any(|(_, s)| s.grammar == Grammar::HiveDdl && s.sql.contains(needle))
    };
    assert!(hive("CREATE EXTERNAL TABLE") && hive("ADD COLUMNS"));
    let maintenance: Vec<&str> = statements
        .iter()
        .filter(|(_, s)| s.grammar == Grammar::AthenaMaintenance)
        .map(|(_, s)| s.sql.split(' ').next().unwrap())
        .collect();
    assert!(maintenance.contains(&"OPTIMIZE") && maintenance.contains(&"VACUUM"));
    let failures = check(&statements);
    assert!(failures.is_empty(), "{failures:#?}");
}

/// The `forget` statements, transpiled from Athena's dialect to DuckDB's by
/// sqlglot, find and delete exactly the rows the DuckDB rendering does.
#[tokio::test]
async fn the_forget_statements_transpiled_to_duckdb_forget_the_same_rows() {
    use tidemark_core::ports::QueryEngine;
    let statements: Vec<String> = tidemark_tests::sql::forget_sql()
        .into_iter()
        .map(|s| s.sql)
        .collect();
    let transpiled: Vec<String> = serde_json::from_value(run_python(
        "athena_sql.py",
        &["transpile"],
        &json!(statements),
    ))
    .expect("a list of statements");
    let dir = tempfile::tempdir().unwrap();
    let engine =
        tidemark_local::duckdb::DuckDbEngine::open(&dir.path().join("w.duckdb"), dir.path())
            .unwrap();
    let mut outcomes = Vec::new();
    for sql in [&statements, &transpiled] {
        for setup in [
            "CREATE SCHEMA IF NOT EXISTS demo",
            "CREATE OR REPLACE TABLE demo.customers AS SELECT i::BIGINT AS customer_id, 'c' || i AS name FROM range(1, 50) t(i), range(2)",
        ] {
            engine.execute(setup).await.unwrap();
        }
        let exists = engine.execute(&sql[0]).await.unwrap().rows;
        let counted = engine.execute(&sql[1]).await.unwrap().int("row_count");
        engine.execute(&sql[2]).await.unwrap();
        let left = engine
            .execute("SELECT count(*) AS n, count(*) FILTER (WHERE customer_id IN (7, 42)) AS k FROM demo.customers")
            .await
            .unwrap();
        outcomes.push((exists, counted, left.int("n"), left.int("k")));
    }
    assert_eq!(outcomes[0], outcomes[1], "{transpiled:#?}");
    assert_eq!(outcomes[0].1, Some(4));
    assert_eq!((outcomes[0].2, outcomes[0].3), (Some(94), Some(0)));
}

/// The check itself: Trino's grammar rejects a MERGE with a missing `THEN`
/// (which sqlglot accepts), and Hive DDL that sqlglot only keeps as an
/// unparsed `Command` is rejected.
#[test]
fn the_grammar_check_rejects_malformed_statements() {
    let bad = [
        (
            "merge without THEN",
            Statement {
                grammar: Grammar::Sql,
                sql: "MERGE INTO \"d\".\"t\" AS t USING \"d\".\"s\" AS s ON t.\"id\" = s.\"id\" WHEN MATCHED DELETE".into(),
            },
        ),
        (
            "Hive column syntax in Trino",
            Statement {
                grammar: Grammar::Sql,
                sql: "ALTER TABLE `d`.`t` ADD COLUMNS (`x` string)".into(),
            },
        ),
        (
            "STORED AS without a format",
            Statement {
                grammar: Grammar::HiveDdl,
                sql: "CREATE EXTERNAL TABLE `d`.`t` (`x` string) STORED AS LOCATION 's3://b/'"
                    .into(),
            },
        ),
        (
            "VACUUM with a double-quoted table, which Athena refuses",
            Statement {
                grammar: Grammar::AthenaMaintenance,
                sql: "VACUUM \"d\".\"t\"".into(),
            },
        ),
        (
            "OPTIMIZE without its action",
            Statement {
                grammar: Grammar::AthenaMaintenance,
                sql: "OPTIMIZE \"d\".\"t\"".into(),
            },
        ),
        (
            "ADD COLUMNS with an unbalanced parenthesis",
            Statement {
                grammar: Grammar::HiveDdl,
                sql: "ALTER TABLE `d`.`t` ADD COLUMNS `x` string)".into(),
            },
        ),
    ];
    let named: Vec<(String, Statement)> = bad
        .iter()
        .map(|(n, s)| (n.to_string(), s.clone()))
        .collect();
    let failures = check(&named);
    assert_eq!(failures.len(), bad.len(), "{failures:#?}");
}

/// Names that are valid identifiers but reserved words everywhere, and a
/// lake location with quotes in it (a batch id is a number: it has none).
fn hostile_metadata() -> TableMetadata {
    TableMetadata::from_json(
        "hostile.json",
        r#"{"name":"select","primary_key":["from","order"],"columns":[
            {"name":"from","type":"int64","nullable":false},
            {"name":"order","type":"string","nullable":false},
            {"name":"group","type":"decimal128(10,2)"},
            {"name":"table","type":"timestamp(us)"},
            {"name":"_where","type":"bool"}]}"#,
    )
    .unwrap()
}

#[test]
fn hostile_names_are_rejected_or_quoted_in_both_dialects() {
    for bad in [
        r#"x"; DROP TABLE t; --"#,
        "x' OR '1'='1",
        "x`y",
        "Upper",
        "white space",
        "1starts_with_digit",
        "",
    ] {
        let text = serde_json::json!({
            "name": "t", "primary_key": ["id"],
            "columns": [{"name": "id", "type": "int64", "nullable": false}, {"name": bad, "type": "string"}]
        });
        let err = TableMetadata::from_json("hostile.json", &text.to_string())
            .expect_err(&format!("{bad:?} must be rejected as a column name"));
        assert!(
            err.to_string().contains("hostile.json")
                && err.to_string().contains("not a valid identifier"),
            "{err}"
        );
        let table = serde_json::json!({
            "name": bad, "primary_key": ["id"], "columns": [{"name": "id", "type": "int64", "nullable": false}]
        });
        let err = TableMetadata::from_json("hostile.json", &table.to_string())
            .expect_err(&format!("{bad:?} must be rejected as a table name"));
        assert!(err.to_string().contains("not a valid identifier"), "{err}");
    }

    let meta = hostile_metadata();
    let athena = Athena {
        lake_uri: "s3://lake-with-'quote".into(),
        ..Default::default()
    };
    let plan = MergePlan {
        row_hash: Default::default(),
        retained_from: None,
        since: None,
        target: Default::default(),
        database: "union",
        meta: &meta,
        batch_id: BatchId::FIRST,
        snapshot: Some(snapshot()),
    };
    let statements: Vec<(String, Statement)> = plan
        .first_run_statements(&athena)
        .into_iter()
        .enumerate()
        .map(|(i, s)| (format!("hostile #{i}"), s))
        .collect();
    for (_, s) in &statements {
        if s.sql.contains("lake-with-") {
            assert!(s.sql.contains("lake-with-''quote"), "unescaped: {}", s.sql);
        }
    }
    let failures = check(&statements);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn hostile_names_merge_on_duckdb() {
    use tidemark_core::ports::QueryEngine;
    let meta = hostile_metadata();
    let dir = tempfile::Builder::new()
        .prefix("lake 'quoted\" ")
        .tempdir()
        .unwrap();
    let engine =
        tidemark_local::duckdb::DuckDbEngine::open(&dir.path().join("w.duckdb"), dir.path())
            .unwrap();
    let dialect = DuckDb {
        lake_root: dir.path().display().to_string(),
    };
    let batch = BatchId::FIRST;
    let batch_dir = dir.path().join(format!("validated/union/select/{batch}"));
    std::fs::create_dir_all(&batch_dir).unwrap();
    let file = batch_dir.join("part-0.parquet");
    engine
        .execute(&format!(
            "COPY (SELECT 1::BIGINT AS \"from\", 'x' AS \"order\", 1.5::DECIMAL(10,2) AS \"group\", \
             TIMESTAMP '2026-11-01 10:00:00' AS \"table\", true AS \"_where\", 'I' AS op, \
             TIMESTAMP '2026-11-01 10:00:00' AS valid_from, '1' AS change_seq, 7::BIGINT AS row_hash, \
             {batch} AS batch_id) TO {file} (FORMAT parquet)",
            batch = tidemark_core::scd2::string_literal(&batch.to_string()),
            file = tidemark_core::scd2::string_literal(&file.display().to_string()),
        ))
        .await
        .unwrap();
    let plan = MergePlan {
        row_hash: Default::default(),
        retained_from: None,
        since: None,
        target: Default::default(),
        database: "union",
        meta: &meta,
        batch_id: batch,
        snapshot: None,
    };
    for s in plan.schema_statements(&dialect, &[]).unwrap() {
        engine.execute(&s.sql).await.unwrap();
    }
    let (results, counts) = plan.merge(&dialect).apply(&engine).await.unwrap();
    assert_eq!(counts.map(|c| c.inserted), Some(1), "{results:?}");
    engine.execute(&plan.current_view()).await.unwrap();
    let rows = engine
        .execute("SELECT \"order\", \"group\"::VARCHAR FROM \"union\".\"select_current\"")
        .await
        .unwrap();
    assert_eq!(rows.rows.len(), 1, "{rows:?}");
}
