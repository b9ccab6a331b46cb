//! The file catalog: one JSON document per table under `<lake>/catalog/`,
//! plus the table and column descriptions as DuckDB comments, so analysts see
//! them in `duckdb_columns()` and `DESCRIBE`.

use crate::duckdb::DuckDbEngine;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;
use tidemark_core::error::Error;
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
                .map_err(|e| Error::Catalog(e.to_string()))?;
        }
        Ok(())
    }
}
