//! Schema evolution through the whole pipeline: a new nullable column is
//! added to the history table and earlier versions read NULL; a breaking
//! change fails the table with `Tidemark.SchemaDrift` and changes nothing.

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use std::path::Path;
use std::sync::Arc;
use tidemark_asl::ExecutionStatus;
use tidemark_core::ports::QueryEngine;
use tidemark_core::validate::write_parquet;
use tidemark_local::LocalOptions;
use tidemark_local::pipeline::LocalBackend;
use tidemark_tests::run_and_dump;

const CONFIG: &str = r#"
[source]
database = "shop"
schema = "public"

[[tables]]
name = "items"
mode = "cdc"

[local]
metadata_dir = "metadata"
replay_dir = "replay"
lake = "lake"
"#;

fn write_metadata(dir: &Path, columns: &str) {
    std::fs::write(
        dir.join("metadata/items.json"),
        format!(r#"{{"name":"items","primary_key":["id"],"columns":[{columns}]}}"#),
    )
    .unwrap();
}

const V1: &str = r#"{"name":"id","type":"int64","nullable":false},{"name":"name","type":"string"}"#;
const V2: &str = r#"{"name":"id","type":"int64","nullable":false},{"name":"name","type":"string"},{"name":"price","type":"float64"}"#;
const V3_RETYPED: &str = r#"{"name":"id","type":"int64","nullable":false},{"name":"name","type":"int64"},{"name":"price","type":"float64"}"#;

/// One landed row: (op, time, scn, id, name, price).
type Row<'a> = (&'a str, &'a str, &'a str, i64, &'a str, Option<f64>);

/// One CDC file of `items`, in the DMS layout.
fn land(dir: &Path, file: &str, rows: &[Row]) {
    let with_price = rows.iter().any(|r| r.5.is_some());
    let text = |f: &dyn Fn(&Row) -> String| -> ArrayRef {
        Arc::new(StringArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let mut fields = vec![
        Field::new("op", DataType::Utf8, false),
        Field::new("extraction_timestamp", DataType::Utf8, false),
        Field::new("scn", DataType::Utf8, false),
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        text(&|r| r.0.to_string()),
        text(&|r| r.1.to_string()),
        text(&|r| r.2.to_string()),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.3))),
        text(&|r| r.4.to_string()),
    ];
    if with_price {
        fields.push(Field::new("price", DataType::Float64, true));
        columns.push(Arc::new(Float64Array::from(
            rows.iter().map(|r| r.5).collect::<Vec<_>>(),
        )));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).unwrap();
    let folder = dir.join("landing/public/items");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(file), write_parquet(&schema, &[batch]).unwrap()).unwrap();
}

/// A project folder: `tidemark.toml` and an empty `metadata/`.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("metadata")).unwrap();
    std::fs::write(dir.path().join("tidemark.toml"), CONFIG).unwrap();
    dir
}

fn open(dir: &Path) -> LocalBackend {
    LocalBackend::open(&LocalOptions {
        config_path: dir.join("tidemark.toml"),
        lake: Some(dir.join("lake")),
        landing: Some(dir.join("landing")),
        ..Default::default()
    })
    .unwrap()
}

async fn run(dir: &Path, name: &str) -> (ExecutionStatus, String) {
    run_and_dump(
        &open(dir),
        name,
        "shop",
        "items",
        "id, valid_from, change_seq",
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn an_added_column_evolves_history_and_a_retyped_one_fails_it_unchanged() {
    let dir = project();
    let dir = dir.path();

    write_metadata(dir, V1);
    land(
        dir,
        "20261101-100000000.parquet",
        &[
            ("I", "2026-11-01 10:00:00.000000", "1", 1, "pen", None),
            ("I", "2026-11-01 10:00:00.000000", "2", 2, "ink", None),
        ],
    );
    let (status, _) = run(dir, "day-1").await;
    assert_eq!(status, ExecutionStatus::Succeeded);

    // Day 2: the source gained a nullable column.
    write_metadata(dir, V2);
    land(
        dir,
        "20261102-100000000.parquet",
        &[("U", "2026-11-02 10:00:00.000000", "3", 1, "pen", Some(1.5))],
    );
    let (status, history) = run(dir, "day-2").await;
    assert_eq!(status, ExecutionStatus::Succeeded, "{history}");
    // The added column comes last in the table, after the control columns.
    let header: Vec<&str> = history.lines().nth(1).unwrap().split(" | ").collect();
    let at = |name: &str| header.iter().position(|c| *c == name).expect(name);
    let rows: Vec<Vec<&str>> = history
        .lines()
        .skip(2)
        .map(|l| {
            let cells: Vec<&str> = l.split(" | ").collect();
            ["id", "name", "price", "valid_from"]
                .map(|c| cells[at(c)])
                .to_vec()
        })
        .collect();
    assert_eq!(
        rows,
        [
            vec!["1", "pen", "NULL", "2026-11-01 10:00:00"],
            vec!["1", "pen", "1.5", "2026-11-02 10:00:00"],
            vec!["2", "ink", "NULL", "2026-11-01 10:00:00"],
        ],
        "earlier versions read NULL in the new column:\n{history}"
    );

    // Day 3: `name` changed type. The table fails, and history is as it was.
    write_metadata(dir, V3_RETYPED);
    land(
        dir,
        "20261103-100000000.parquet",
        &[("U", "2026-11-03 10:00:00.000000", "4", 2, "7", Some(2.0))],
    );
    let (status, after) = run(dir, "day-3").await;
    assert!(
        matches!(&status, ExecutionStatus::Failed { error, .. } if error == "Tidemark.TablesFailed"),
        "{status:?}"
    );
    assert_eq!(after, history, "a breaking change must not touch history");
    let alert: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("lake/alerts/day-3.json")).unwrap())
            .unwrap();
    let text = alert.to_string();
    assert!(text.contains("Tidemark.SchemaDrift"), "{alert:#}");
    assert!(
        text.contains("name"),
        "the alert names the column: {alert:#}"
    );
}

/// Day `n`'s CDC file: item `n` inserted.
fn land_day(dir: &Path, n: i64, price: Option<f64>) {
    let (time, scn) = (format!("2026-11-0{n} 10:00:00.000000"), n.to_string());
    let file = format!("2026110{n}-100000000.parquet");
    land(dir, &file, &[("I", &time, &scn, n, "pen", price)]);
}

/// The statements each run's publish-catalog ran for `items`, from its usage record.
fn published_statements(dir: &Path, run: &str) -> Vec<String> {
    let folder = dir.join(format!("lake/usage/{run}/shop/items"));
    let (mut statements, mut records) = (Vec::new(), 0);
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("publish-catalog-") {
            records += 1;
            let usage: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            statements.extend(
                // Left out when there are none.
                usage["statements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|s| s["statement"].as_str().unwrap().to_string()),
            );
        }
    }
    assert_eq!(records, 1, "{run}: one publish-catalog");
    statements
}

#[tokio::test(flavor = "multi_thread")]
async fn the_current_view_is_created_again_only_when_it_would_change_or_is_gone() {
    let dir = project();
    let dir = dir.path();
    // The merge before it brought the table's columns to the metadata, so
    // publish-catalog lists them no more: the view's statement is its only one.
    let creates = |run: &str| {
        let statements = published_statements(dir, run);
        assert!(
            statements.iter().all(|s| s == "CREATE OR REPLACE VIEW"),
            "{run}: {statements:?}"
        );
        statements.len()
    };
    let current = |backend: LocalBackend| async move {
        backend
            .engine
            .execute("SELECT * FROM shop.items_current ORDER BY id")
            .await
            .unwrap()
    };

    write_metadata(dir, V1);
    for (n, expected) in [(1, 1), (2, 0)] {
        land_day(dir, n, None);
        let (status, history) = run(dir, &format!("day-{n}")).await;
        assert_eq!(status, ExecutionStatus::Succeeded, "{history}");
        assert_eq!(creates(&format!("day-{n}")), expected, "day {n}");
    }
    assert_eq!(current(open(dir)).await.rows.len(), 2);

    // Someone dropped the view: the next publish creates it again.
    open(dir)
        .engine
        .execute("DROP VIEW shop.items_current")
        .await
        .unwrap();
    land_day(dir, 3, None);
    assert_eq!(run(dir, "day-3").await.0, ExecutionStatus::Succeeded);
    assert_eq!(creates("day-3"), 1);
    assert_eq!(current(open(dir)).await.rows.len(), 3);

    // A new column changes the view's statement: created again, with it.
    write_metadata(dir, V2);
    land_day(dir, 4, Some(2.5));
    assert_eq!(run(dir, "day-4").await.0, ExecutionStatus::Succeeded);
    assert_eq!(creates("day-4"), 1);
    let view = current(open(dir)).await;
    assert_eq!(view.rows.len(), 4);
    assert!(
        view.columns.iter().any(|c| c == "price"),
        "{:?}",
        view.columns
    );
}
