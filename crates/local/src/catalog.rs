//! The file catalog: one JSON document per table under `<lake>/catalog/`,
//! plus the table and column descriptions as DuckDB comments, so analysts see
//! them in `duckdb_columns()` and `DESCRIBE`.

use crate::duckdb::DuckDbEngine;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use tidemark_core::error::{CatalogError, EngineError, Error};
use tidemark_core::ports::{Catalog, CatalogEntry, ObjectStore, QueryEngine};
use tidemark_core::scd2::{quote_ident, string_literal};

pub struct FileCatalog {
    pub store: Arc<dyn ObjectStore>,
    pub engine: DuckDbEngine,
}

#[async_trait]
impl Catalog for FileCatalog {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error> {
        let key = format!("catalog/{}/{}.json", entry.database, entry.table);
        let body = serde_json::to_vec_pretty(entry).unwrap_or_default();
        self.store.put(&key, Bytes::from(body), None).await?;
        let table = format!(
            "{}.{}",
            quote_ident(&entry.database),
            quote_ident(&entry.table)
        );
        let view = format!(
            "{}.{}",
            quote_ident(&entry.database),
            quote_ident(&entry.current_view)
        );
        let mut statements = vec![
            format!(
                "COMMENT ON TABLE {table} IS {}",
                string_literal(&entry.description)
            ),
            format!(
                "COMMENT ON VIEW {view} IS {}",
                string_literal(&format!(
                    "Current, not deleted rows of {}. {}",
                    entry.table, entry.description
                ))
            ),
        ];
        for c in entry.columns.iter().filter(|c| !c.description.is_empty()) {
            statements.push(format!(
                "COMMENT ON COLUMN {table}.{} IS {}",
                quote_ident(&c.name),
                string_literal(&c.description)
            ));
        }
        for sql in statements {
            self.engine
                .execute(&sql)
                .await
                .map_err(|e| failed("publish", &entry.database, &entry.table, e))?;
        }
        Ok(())
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
            .transaction(statements)
            .await
            .map_err(|e| failed("swap", database, live, e).into())
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
