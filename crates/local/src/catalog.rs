//! The file catalog: one JSON document per table under `<lake>/catalog/`,
//! plus the table and column descriptions as DuckDB comments, so analysts see
//! them in `duckdb_columns()` and `DESCRIBE`.

use crate::duckdb::DuckDbEngine;
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Arc;
use tidemark_core::error::{CatalogError, EngineError, Error, StoreError};
use tidemark_core::ports::{Catalog, CatalogEntry, ObjectStore, QueryEngine, SqlValue};
use tidemark_core::scd2::{quote_ident, string_literal};

pub struct FileCatalog {
    pub store: Arc<dyn ObjectStore>,
    pub engine: DuckDbEngine,
}

#[async_trait]
impl Catalog for FileCatalog {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error> {
        let key = key(entry);
        let body = serde_json::to_vec_pretty(entry).unwrap_or_default();
        self.store.put(&key, Bytes::from(body), None).await?;
        // What each comment should say: the table's, the view's, and each
        // described column's.
        let mut wanted = vec![
            (object(entry, "TABLE", None), entry.description.clone()),
            (
                object(entry, "VIEW", None),
                format!(
                    "Current, not deleted rows of {}. {}",
                    entry.table, entry.description
                ),
            ),
        ];
        for c in entry.columns.iter().filter(|c| !c.description.is_empty()) {
            wanted.push((
                object(entry, "COLUMN", Some(&c.name)),
                c.description.clone(),
            ));
        }
        // Only the comments that differ, in one transaction: the daily
        // publish of an unchanged table writes nothing.
        let held = self
            .comments(entry)
            .await
            .map_err(|e| failed("publish", &entry.database, &entry.table, e))?;
        let statements: Vec<String> = wanted
            .into_iter()
            .filter(|(object, comment)| held.get(object) != Some(comment))
            .map(|(object, comment)| format!("COMMENT ON {object} IS {}", string_literal(&comment)))
            .collect();
        if !statements.is_empty() {
            self.engine
                .transaction(&statements)
                .await
                .map_err(|e| failed("publish", &entry.database, &entry.table, e))?;
        }
        Ok(())
    }

    /// The digest in the table's document, while DuckDB still has the view.
    async fn view_digest(&self, entry: &CatalogEntry) -> Result<Option<String>, Error> {
        let held: CatalogEntry = match self.store.get(&key(entry)).await {
            Ok((body, _)) => match serde_json::from_slice(&body) {
                Ok(held) => held,
                // Not a document this catalog wrote: publish replaces it.
                Err(_) => return Ok(None),
            },
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if held.view_digest.is_empty() || !self.exists(&entry.database, &entry.current_view).await?
        {
            return Ok(None);
        }
        Ok(Some(held.view_digest))
    }

    fn swaps_history(&self) -> bool {
        true
    }

    /// One DuckDB transaction: readers see the old table or the new one.
    async fn swap_history(
        &self,
        database: &str,
        live: &str,
        staged: &str,
        previous: &str,
    ) -> Result<(), Error> {
        if !self.exists(database, staged).await? {
            return Ok(());
        }
        let name = |t: &str| format!("{}.{}", quote_ident(database), quote_ident(t));
        let mut statements = vec![format!("DROP TABLE IF EXISTS {}", name(previous))];
        if self.exists(database, live).await? {
            statements.push(format!(
                "ALTER TABLE {} RENAME TO {}",
                name(live),
                quote_ident(previous)
            ));
        }
        statements.push(format!(
            "ALTER TABLE {} RENAME TO {}",
            name(staged),
            quote_ident(live)
        ));
        self.engine
            .transaction(&statements)
            .await
            .map(drop)
            .map_err(|e| failed("swap", database, live, e).into())
    }
}

/// Where the table's document is.
fn key(entry: &CatalogEntry) -> String {
    format!("catalog/{}/{}.json", entry.database, entry.table)
}

/// What `COMMENT ON` names: `TABLE "db"."t"`, `VIEW "db"."v"`,
/// `COLUMN "db"."t"."c"`.
fn object(entry: &CatalogEntry, kind: &str, column: Option<&str>) -> String {
    let name = |t: &str| format!("{}.{}", quote_ident(&entry.database), quote_ident(t));
    match (kind, column) {
        ("VIEW", _) => format!("VIEW {}", name(&entry.current_view)),
        (_, Some(column)) => format!("COLUMN {}.{}", name(&entry.table), quote_ident(column)),
        _ => format!("TABLE {}", name(&entry.table)),
    }
}

/// A DuckDB statement of the catalog failed: as the engine's error said.
fn failed(operation: &'static str, database: &str, table: &str, e: EngineError) -> CatalogError {
    CatalogError {
        operation,
        table: format!("{database}.{table}"),
        kind: e.kind(),
        message: e.to_string(),
    }
}

impl FileCatalog {
    /// The comments DuckDB holds for the entry's table, view and columns,
    /// keyed by [`object`].
    async fn comments(&self, entry: &CatalogEntry) -> Result<HashMap<String, String>, EngineError> {
        let (database, table, view) = (
            string_literal(&entry.database),
            string_literal(&entry.table),
            string_literal(&entry.current_view),
        );
        let found = self
            .engine
            .execute(&format!(
                "SELECT 'TABLE' AS kind, NULL AS column_name, comment FROM duckdb_tables() WHERE schema_name = {database} AND table_name = {table}\n\
                 UNION ALL SELECT 'VIEW', NULL, comment FROM duckdb_views() WHERE schema_name = {database} AND view_name = {view}\n\
                 UNION ALL SELECT 'COLUMN', column_name, comment FROM duckdb_columns() WHERE schema_name = {database} AND table_name = {table}"
            ))
            .await?;
        Ok(found
            .rows
            .into_iter()
            .filter_map(|row| match <[SqlValue; 3]>::try_from(row).ok()? {
                [SqlValue::Text(kind), column, SqlValue::Text(comment)] => {
                    let column = match &column {
                        SqlValue::Text(c) => Some(c.as_str()),
                        _ => None,
                    };
                    Some((object(entry, &kind, column), comment))
                }
                _ => None,
            })
            .collect())
    }

    async fn exists(&self, database: &str, table: &str) -> Result<bool, Error> {
        let found = self
            .engine
            .execute(&format!(
                "SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = {} AND table_name = {}",
                string_literal(database),
                string_literal(table)
            ))
            .await
            .map_err(|e| failed("lookup", database, table, e))?;
        Ok(found.int("n").unwrap_or_default() > 0)
    }
}
