//! The file catalog's descriptions as DuckDB comments: published once, kept
//! when nothing changed (a daily publish writes nothing), and updated when a
//! description changes.

use std::path::Path;
use std::sync::Arc;
use tidemark_core::ports::{Catalog, CatalogColumn, CatalogEntry, QueryEngine, SqlValue};
use tidemark_local::catalog::FileCatalog;
use tidemark_local::duckdb::DuckDbEngine;
use tidemark_local::fs_store::FsStore;

fn entry(name_description: &str) -> CatalogEntry {
    let column = |name: &str, description: &str| CatalogColumn {
        name: name.into(),
        column_type: "string".into(),
        description: description.into(),
    };
    CatalogEntry {
        database: "shop".into(),
        table: "items".into(),
        current_view: "items_current".into(),
        description: "What the shop sells.".into(),
        primary_key: vec!["id".into()],
        columns: vec![
            column("id", "Key."),
            column("name", name_description),
            column("note", ""),
        ],
        metadata_version: 1,
        view_digest: String::new(),
    }
}

async fn comments(engine: &DuckDbEngine) -> Vec<Vec<SqlValue>> {
    engine
        .execute(
            "SELECT 'table', table_name, comment FROM duckdb_tables() WHERE schema_name = 'shop'
             UNION ALL SELECT 'view', view_name, comment FROM duckdb_views() WHERE schema_name = 'shop'
             UNION ALL SELECT 'column', column_name, comment FROM duckdb_columns() WHERE schema_name = 'shop' AND table_name = 'items'
             ORDER BY 1, 2",
        )
        .await
        .unwrap()
        .rows
}

/// Bytes in the write-ahead log: what was written since the last checkpoint.
fn wal(warehouse: &Path) -> u64 {
    std::fs::metadata(warehouse.with_extension("duckdb.wal")).map_or(0, |m| m.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn comments_are_written_when_they_change_and_only_then() {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("warehouse.duckdb");
    let engine = DuckDbEngine::open(&warehouse, dir.path()).unwrap();
    engine
        .execute(
            "CREATE SCHEMA shop; CREATE TABLE shop.items (id INTEGER, name VARCHAR, note VARCHAR);
             CREATE VIEW shop.items_current AS SELECT * FROM shop.items",
        )
        .await
        .unwrap();
    let catalog = FileCatalog {
        store: Arc::new(FsStore::new(dir.path().join("lake")).unwrap()),
        engine: engine.clone(),
    };
    let text = |s: &str| SqlValue::Text(s.into());
    let row = |kind: &str, name: &str, comment: Option<&str>| {
        vec![text(kind), text(name), comment.map_or(SqlValue::Null, text)]
    };

    catalog.publish(&entry("What it is called.")).await.unwrap();
    let view = "Current, not deleted rows of items. What the shop sells.";
    assert_eq!(
        comments(&engine).await,
        vec![
            row("column", "id", Some("Key.")),
            row("column", "name", Some("What it is called.")),
            row("column", "note", None),
            row("table", "items", Some("What the shop sells.")),
            row("view", "items_current", Some(view)),
        ]
    );

    engine.execute("CHECKPOINT").await.unwrap();
    assert_eq!(wal(&warehouse), 0);
    catalog.publish(&entry("What it is called.")).await.unwrap();
    assert_eq!(
        wal(&warehouse),
        0,
        "an unchanged publish wrote to the warehouse"
    );

    catalog
        .publish(&entry("Its name on the shelf."))
        .await
        .unwrap();
    assert!(wal(&warehouse) > 0);
    assert_eq!(
        comments(&engine).await[1],
        row("column", "name", Some("Its name on the shelf."))
    );
}
