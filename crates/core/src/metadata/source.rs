//! Metadata documents kept in an object store (`<table>.json` under a prefix):
//! the metadata store `extract-metadata` reads when the source's own catalog
//! is not where the schema comes from (on AWS: a prefix of S3).

use super::TableMetadata;
use crate::error::{ErrorKind, SourceError, StoreError};
use crate::ports::{MetadataSource, ObjectStore};
use async_trait::async_trait;
use std::sync::Arc;

pub struct StoreMetadataSource {
    pub store: Arc<dyn ObjectStore>,
}

#[async_trait]
impl MetadataSource for StoreMetadataSource {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError> {
        let key = format!("{table}.json");
        let uri = self.store.uri(&key);
        let bytes = match self.store.get(&key).await {
            Ok((bytes, _)) => bytes,
            Err(StoreError::NotFound { .. }) => {
                return Err(SourceError::NotFound {
                    table: table.to_string(),
                    message: format!("{uri} does not exist"),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| SourceError::Unreadable {
            message: format!("{uri} is not UTF-8"),
            kind: ErrorKind::InvalidInput,
        })?;
        Ok(TableMetadata::from_json(&uri, text)?)
    }
}

/// A catalog's metadata with what the catalog cannot say laid over it: an
/// override document `<table>.json` in `overrides` (when there is one) may
/// set the table's description and, per column it names, any column key but
/// `name` and `type` (a description, an `enum`, a `pattern`, `sensitive`, …).
/// The types and the key stay the catalog's, so drift is still seen.
pub struct OverriddenMetadataSource {
    pub base: Arc<dyn MetadataSource>,
    pub overrides: Arc<dyn ObjectStore>,
}

#[async_trait]
impl MetadataSource for OverriddenMetadataSource {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError> {
        self.overlay(table, self.base.read(table).await?).await
    }

    async fn read_with_storage(
        &self,
        table: &str,
    ) -> Result<(TableMetadata, Option<String>), SourceError> {
        let (meta, storage) = self.base.read_with_storage(table).await?;
        Ok((self.overlay(table, meta).await?, storage))
    }

    async fn ddl_log(&self, after: i64) -> Result<Option<crate::ports::DdlLog>, SourceError> {
        self.base.ddl_log(after).await
    }
}

impl OverriddenMetadataSource {
    /// `meta` with `<table>.json`'s overrides laid over it, if there is one.
    async fn overlay(
        &self,
        table: &str,
        meta: TableMetadata,
    ) -> Result<TableMetadata, SourceError> {
        let key = format!("{table}.json");
        let uri = self.overrides.uri(&key);
        let bytes = match self.overrides.get(&key).await {
            Ok((bytes, _)) => bytes,
            Err(StoreError::NotFound { .. }) => return Ok(meta),
            Err(e) => return Err(e.into()),
        };
        let invalid = |message: String| SourceError::Unreadable {
            message: format!("override {uri}: {message}"),
            kind: ErrorKind::InvalidInput,
        };
        let overlay: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        let merged = apply_overrides(&meta, &overlay).map_err(invalid)?;
        Ok(TableMetadata::from_json(&uri, &merged.to_string())?)
    }
}

/// `meta` as JSON with `overlay`'s keys laid over it.
fn apply_overrides(
    meta: &TableMetadata,
    overlay: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut merged: serde_json::Value =
        serde_json::from_str(&meta.to_json()).map_err(|e| e.to_string())?;
    let overlay = overlay.as_object().ok_or("not a JSON object")?;
    for (key, value) in overlay {
        match key.as_str() {
            "columns" => {
                let columns = value.as_array().ok_or("\"columns\" is not a list")?;
                for (i, column) in columns.iter().enumerate() {
                    let column = column
                        .as_object()
                        .ok_or_else(|| format!("columns[{i}] is not an object"))?;
                    let name = column
                        .get("name")
                        .and_then(|n| n.as_str())
                        .ok_or_else(|| format!("columns[{i}] has no \"name\""))?;
                    let target = merged["columns"]
                        .as_array_mut()
                        .and_then(|cs| cs.iter_mut().find(|c| c["name"] == name))
                        .and_then(|c| c.as_object_mut())
                        .ok_or_else(|| {
                            format!("column {name:?} is not in the source's table {}", meta.name)
                        })?;
                    for (k, v) in column {
                        match k.as_str() {
                            "name" => {}
                            "type" => {
                                return Err(format!(
                                    "column {name:?}: \"type\" comes from the source's catalog and cannot be overridden"
                                ));
                            }
                            _ => {
                                target.insert(k.clone(), v.clone());
                            }
                        }
                    }
                }
            }
            "name" | "primary_key" => {
                return Err(format!(
                    "{key:?} comes from the source's catalog and cannot be overridden"
                ));
            }
            _ => {
                merged[key] = value.clone();
            }
        }
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> TableMetadata {
        TableMetadata::from_json(
            "catalog",
            r#"{"name":"items","primary_key":["id"],"columns":[
                {"name":"id","type":"int64","nullable":false},
                {"name":"status","type":"string","nullable":true}]}"#,
        )
        .unwrap()
    }

    #[test]
    fn overrides_add_what_a_catalog_cannot_say() {
        let overlay = serde_json::json!({
            "description": "Items on sale",
            "columns": [{"name": "status", "description": "lifecycle", "enum": ["new", "sold"]}]
        });
        let merged = apply_overrides(&catalog(), &overlay).unwrap();
        let meta = TableMetadata::from_json("merged", &merged.to_string()).unwrap();
        assert_eq!(meta.description, "Items on sale");
        let status = meta.column("status").unwrap();
        assert_eq!(status.description, "lifecycle");
        assert_eq!(
            status.column_type,
            catalog().column("status").unwrap().column_type
        );
        assert!(meta.to_json().contains("\"sold\""), "{}", meta.to_json());
    }

    #[test]
    fn overrides_never_change_types_keys_or_invent_columns() {
        for (overlay, expected) in [
            (
                serde_json::json!({"columns": [{"name": "status", "type": "int32"}]}),
                "\"type\" comes from the source's catalog",
            ),
            (
                serde_json::json!({"primary_key": ["status"]}),
                "\"primary_key\" comes from the source's catalog",
            ),
            (
                serde_json::json!({"columns": [{"name": "colour", "description": "x"}]}),
                "column \"colour\" is not in the source's table items",
            ),
            (serde_json::json!([1]), "not a JSON object"),
        ] {
            let e = apply_overrides(&catalog(), &overlay).unwrap_err();
            assert!(e.contains(expected), "{e}");
        }
    }
}
