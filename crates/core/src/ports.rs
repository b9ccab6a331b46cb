//! The ports: what the domain needs from the outside world. Each has an AWS
//! adapter (`tidemark-aws`) and a local one (`tidemark-local`), chosen at run time.

use crate::alert::Alert;
use crate::config::PipelineConfig;
use crate::error::{EngineError, Error, StoreError};
use crate::events::{ReplicationStatus, RunRequest};
use crate::metadata::TableMetadata;
use crate::scd2::Dialect;
use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// An object in a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Changes whenever the object is rewritten (S3's ETag).
    pub etag: String,
}

/// A precondition on a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Create only: fail if the key exists (`If-None-Match: *`).
    Absent,
    /// Replace only this version (`If-Match: <etag>`).
    Matches(String),
}

/// S3, or a folder.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Every object under `prefix`, at any depth, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError>;
    /// The object's bytes and ETag.
    async fn get(&self, key: &str) -> Result<(Bytes, String), StoreError>;
    /// Writes the object, unconditionally or under `condition`; returns the new ETag.
    async fn put(
        &self,
        key: &str,
        bytes: Bytes,
        condition: Option<Condition>,
    ) -> Result<String, StoreError>;
    /// Server-side copy within this store.
    async fn copy(&self, from: &str, to: &str) -> Result<(), StoreError>;
    /// Removes the object if it is still at `etag` (used for leases only).
    async fn delete(&self, key: &str, etag: &str) -> Result<(), StoreError>;
    /// How a person (or the engine) addresses the key: a path or an `s3://` URI.
    fn uri(&self, key: &str) -> String;
}

/// One value in a query result.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
}

impl SqlValue {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            SqlValue::Int(i) => Some(*i),
            SqlValue::Float(f) => Some(*f as i64),
            SqlValue::Text(t) => t.parse().ok(),
            _ => None,
        }
    }
}

/// Rows returned by a statement, and what it cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<SqlValue>>,
    pub bytes_scanned: Option<u64>,
}

impl QueryResult {
    /// How many rows have `value` in `column` (e.g. a MERGE's `merge_action`).
    pub fn count_where(&self, column: &str, value: &str) -> u64 {
        let Some(i) = self.columns.iter().position(|c| c == column) else {
            return 0;
        };
        self.rows
            .iter()
            .filter(|r| matches!(r.get(i), Some(SqlValue::Text(t)) if t == value))
            .count() as u64
    }

    /// The first row's value of `column`, as an integer.
    pub fn int(&self, column: &str) -> Option<i64> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows.first()?.get(i)?.as_i64()
    }
}

/// Athena, or DuckDB.
#[async_trait]
pub trait QueryEngine: Send + Sync {
    /// The SQL dialect statements for this engine are rendered in.
    fn dialect(&self) -> Arc<dyn Dialect>;
    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError>;
}

/// A column as the catalog describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub column_type: String,
    pub description: String,
}

/// A published history table and its `_current` view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CatalogEntry {
    pub database: String,
    pub table: String,
    pub current_view: String,
    pub description: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<CatalogColumn>,
    pub metadata_version: u32,
}

/// Glue, or a file catalog.
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error>;
}

/// SNS, or the console/file/webhook notifier.
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers the alert; returns where it went, for the run's output.
    async fn send(&self, alert: &Alert) -> Result<Vec<String>, Error>;
}

/// DMS, or a local replicator.
#[async_trait]
pub trait Replication: Send + Sync {
    async fn start(&self, request: &RunRequest) -> Result<ReplicationStatus, Error>;
}

/// Where the current schema of a source table comes from.
#[async_trait]
pub trait MetadataSource: Send + Sync {
    async fn read(&self, table: &str) -> Result<TableMetadata, Error>;
}

/// Everything a pipeline step needs, built once per process.
#[derive(Clone)]
pub struct Ports {
    pub config: Arc<PipelineConfig>,
    /// Where DMS lands files (`<schema>/<table>/...`); never written by the pipeline.
    pub landing: Arc<dyn ObjectStore>,
    /// The lake: validated, quarantine, reports, state, runs, metadata versions.
    pub lake: Arc<dyn ObjectStore>,
    pub engine: Arc<dyn QueryEngine>,
    pub catalog: Arc<dyn Catalog>,
    pub notifier: Arc<dyn Notifier>,
    pub replication: Arc<dyn Replication>,
    pub metadata: Arc<dyn MetadataSource>,
}
