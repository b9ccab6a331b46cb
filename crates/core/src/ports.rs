//! The ports: what the domain needs from the outside world. Each has an AWS
//! adapter (`tidemark-aws`) and a local one (`tidemark-local`), chosen at run time.

use crate::alert::Alert;
use crate::config::{PipelineConfig, TableMode};
use crate::error::{EngineError, Error, ReplicationError, SourceError, StoreError};
use crate::events::{ReplicationStatus, StartReplicationEvent};
use crate::metadata::TableMetadata;
use crate::scd2::Dialect;
pub use async_trait::async_trait;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Bytes `range` of the object (S3: `GetObject` with a `Range` header), so
    /// large files are read a part at a time. The default reads the whole
    /// object: adapters override it.
    async fn get_range(&self, key: &str, range: Range<u64>) -> Result<Bytes, StoreError> {
        let (bytes, _) = self.get(key).await?;
        let (start, end) = (range.start as usize, range.end as usize);
        if start > end || end > bytes.len() {
            return Err(StoreError::Io {
                key: key.to_string(),
                message: format!("range {start}..{end} is outside the object"),
            });
        }
        Ok(bytes.slice(start..end))
    }
    /// Starts writing an object in parts (S3: a multipart upload). Nothing
    /// appears under `key` until [`PartWriter::finish`]; [`PartWriter::abort`]
    /// leaves no trace. The default collects the parts in memory and puts the
    /// object at the end: adapters override it.
    async fn put_parts(&self, key: &str) -> Result<Box<dyn PartWriter + '_>, StoreError> {
        Ok(Box::new(BufferedParts {
            store: self,
            key: key.to_string(),
            bytes: Vec::new(),
        }))
    }
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

/// S3's smallest part of a multipart upload (but the last).
pub const MIN_PART_BYTES: usize = 5 << 20;

/// An object being written in parts. Every part but the last is at least
/// [`MIN_PART_BYTES`], as S3 requires.
#[async_trait]
pub trait PartWriter: Send {
    /// Appends a part.
    async fn write_part(&mut self, part: Bytes) -> Result<(), StoreError>;
    /// Completes the object; returns its ETag.
    async fn finish(self: Box<Self>) -> Result<String, StoreError>;
    /// Abandons the object: nothing is left under the key.
    async fn abort(self: Box<Self>) -> Result<(), StoreError>;
}

/// The default [`ObjectStore::put_parts`]: the whole object in memory, one put.
struct BufferedParts<'a, S: ?Sized> {
    store: &'a S,
    key: String,
    bytes: Vec<u8>,
}

#[async_trait]
impl<S: ObjectStore + ?Sized> PartWriter for BufferedParts<'_, S> {
    async fn write_part(&mut self, part: Bytes) -> Result<(), StoreError> {
        self.bytes.extend_from_slice(&part);
        Ok(())
    }
    async fn finish(self: Box<Self>) -> Result<String, StoreError> {
        self.store
            .put(&self.key, Bytes::from(self.bytes), None)
            .await
    }
    async fn abort(self: Box<Self>) -> Result<(), StoreError> {
        Ok(())
    }
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
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            SqlValue::Int(i) => Some(*i as f64),
            SqlValue::Float(f) => Some(*f),
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
    /// Time the engine spent on the statement (Athena's engine execution time).
    pub engine_ms: Option<u64>,
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

    /// The first row's value of `column`, where it is text.
    pub fn text(&self, column: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c == column)?;
        match self.rows.first()?.get(i)? {
            SqlValue::Text(t) => Some(t),
            _ => None,
        }
    }

    /// The first row's value of `column`, as a number.
    pub fn float(&self, column: &str) -> Option<f64> {
        let i = self.columns.iter().position(|c| c == column)?;
        self.rows.first()?.get(i)?.as_f64()
    }
}

/// Athena, or DuckDB.
#[async_trait]
pub trait QueryEngine: Send + Sync {
    /// The SQL dialect statements for this engine are rendered in.
    fn dialect(&self) -> Arc<dyn Dialect>;
    /// Runs `sql` to the end, or returns [`EngineError::StillRunning`] when an
    /// engine that runs statements remotely must hand back before it finishes.
    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError>;
    /// Runs `statements` in one transaction, all of them or (on an error,
    /// or a kill) none, and returns each one's result. Only an engine whose
    /// dialect numbers rows ([`Dialect::row_position`]) is asked to, for
    /// its merge in steps; an engine that wraps another must hand it on whole.
    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError>;
    /// Waits again for a statement that [`QueryEngine::execute`] left running.
    async fn resume(&self, query_id: &str) -> Result<QueryResult, EngineError> {
        Err(EngineError::Query {
            statement: String::new(),
            message: format!(
                "this engine cannot resume query {query_id}: it never leaves one running"
            ),
        })
    }
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
    /// Digest of the statement that creates the `_current` view
    /// ([`view_digest`]): publish-catalog runs it again only when the
    /// catalog holds another digest or no view.
    #[serde(default)]
    pub view_digest: String,
}

/// The digest [`CatalogEntry::view_digest`] records for the view's statement.
pub fn view_digest(create_view: &str) -> String {
    format!(
        "{:032x}",
        xxhash_rust::xxh3::xxh3_128(create_view.as_bytes())
    )
}

/// Glue, or a file catalog.
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn publish(&self, entry: &CatalogEntry) -> Result<(), Error>;
    /// The [`CatalogEntry::view_digest`] the last publish of `entry`'s
    /// table recorded, if its view is still there as that publish left it;
    /// `None` (the view is created again) when the catalog cannot tell.
    async fn view_digest(&self, entry: &CatalogEntry) -> Result<Option<String>, Error> {
        let _ = entry;
        Ok(None)
    }
    /// Whether [`Catalog::swap_history`] is implemented (a rebuild is refused
    /// before it starts where it is not).
    fn swaps_history(&self) -> bool {
        false
    }
    /// Makes `staged` the history table `live` of `database` in one step
    /// that readers see whole, and keeps the replaced history as `previous`.
    /// Repeating it after it succeeded changes nothing (`staged` is gone).
    async fn swap_history(
        &self,
        database: &str,
        live: &str,
        staged: &str,
        previous: &str,
    ) -> Result<(), Error> {
        let _ = (live, staged, previous);
        Err(Error::InvalidInput(format!(
            "this catalog cannot swap a rebuilt history table into {database}"
        )))
    }
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
    /// Starts or resumes what the run's `tables` (with their modes) need,
    /// and reports its health; a replication none of them needs is left alone.
    async fn start(
        &self,
        event: &StartReplicationEvent,
        tables: &[(String, TableMode)],
    ) -> Result<ReplicationStatus, ReplicationError>;
    /// Asks for a fresh full load of the tables of a `reload` run, before
    /// [`Replication::start`] is called. Refused where the replication cannot.
    async fn reload(&self, request: &ReloadRequest) -> Result<(), ReplicationError> {
        Err(ReplicationError::Invalid(format!(
            "mode reload: this replication cannot take a fresh full load of {} (a replay of landed files has no source to read one from); nothing was changed. To recompute history from the files landed now, run mode rebuild",
            request.names().join(", ")
        )))
    }
    /// How the replication stands, for `tidemark status`: it only looks,
    /// starting or landing nothing.
    async fn observe(&self) -> Result<ReplicationStatus, ReplicationError> {
        Err(ReplicationError::Invalid(
            "this replication cannot report how it stands".into(),
        ))
    }
    /// Stops the replication for `tidemark pause --replication`, after the
    /// batch it is landing; [`Replication::start`] resumes it. Returns what
    /// it did, for the person who asked.
    async fn stop(&self) -> Result<String, ReplicationError> {
        Err(ReplicationError::Invalid(
            "this replication cannot be stopped from tidemark".into(),
        ))
    }
    /// Resumes what [`Replication::stop`] stopped, for `tidemark resume`.
    async fn resume(&self) -> Result<String, ReplicationError> {
        Err(ReplicationError::Invalid(
            "this replication cannot be resumed from tidemark".into(),
        ))
    }
    /// The tables of `request` whose fresh full load has not landed yet
    /// (the state machine waits while any has not).
    async fn reloading(&self, request: &ReloadRequest) -> Result<Vec<String>, ReplicationError> {
        let _ = request;
        Ok(Vec::new())
    }
}

/// The fresh full load a `reload` run asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadRequest {
    /// The source schema the tables are in.
    pub schema: String,
    pub tables: Vec<(String, TableMode)>,
    /// When the execution started: a full load that started earlier is not
    /// this run's.
    pub since: chrono::DateTime<chrono::Utc>,
}

impl ReloadRequest {
    pub fn names(&self) -> Vec<&str> {
        self.tables.iter().map(|(t, _)| t.as_str()).collect()
    }
}

/// Where the current schema of a source table comes from.
#[async_trait]
pub trait MetadataSource: Send + Sync {
    async fn read(&self, table: &str) -> Result<TableMetadata, SourceError>;

    /// The metadata, with what identifies the table's storage at the source
    /// when the source can say, in one visit to the source. The identity
    /// changes when the table is emptied by `TRUNCATE`, dropped and
    /// re-created, or rewritten, none of which DMS lands as changes.
    /// `None`: not known (metadata documents).
    async fn read_with_storage(
        &self,
        table: &str,
    ) -> Result<(TableMetadata, Option<String>), SourceError> {
        Ok((self.read(table).await?, None))
    }

    /// The source's log of schema changes, where it keeps one (DMS's
    /// `awsdms_ddl_audit` on PostgreSQL): its newest entry, and per table
    /// the newest entry after `after`. `None`: the source keeps no such log.
    async fn ddl_log(&self, after: i64) -> Result<Option<DdlLog>, SourceError> {
        let _ = after;
        Ok(None)
    }
}

/// Where a source's DDL log stands ([`MetadataSource::ddl_log`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DdlLog {
    /// The newest entry's position (0: the log is empty).
    pub position: i64,
    /// Tables with entries after the position asked about, each with its newest.
    pub tables: std::collections::BTreeMap<String, i64>,
}

/// What a run used outside its steps: Step Functions' record of the
/// execution, and where cost metrics go (docs/cost.md).
#[async_trait]
pub trait Metering: Send + Sync {
    /// The execution's state transitions so far (`execution`: its ARN).
    async fn transitions(&self, execution: &str) -> Result<crate::cost::Transitions, Error>;
    /// Publishes CloudWatch Embedded Metric Format documents, one per table.
    async fn publish(&self, documents: &[serde_json::Value]) -> Result<(), Error>;
}

/// Secrets the pipeline keeps outside the lake's data.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// The key of the erasure log's hashes, created (32 random bytes) the
    /// first time it is asked for; the same key on every later call.
    async fn erasure_key(&self) -> Result<crate::erasure::ErasureKey, Error>;
}

/// The end of the current invocation (a Lambda's), shared by the runtime
/// glue, which sets it per event, and whatever must hand back before it: the
/// Athena engine stops waiting for a statement; `forget` stops between files.
/// Unset (the CLI, the local pipeline): no end.
#[derive(Debug, Clone, Default)]
pub struct Deadline(Arc<AtomicU64>);

impl Deadline {
    /// Sets the deadline, in milliseconds since the Unix epoch (Lambda's `Context::deadline`).
    pub fn set_epoch_ms(&self, ms: u64) {
        self.0.store(ms, Ordering::Relaxed);
    }

    /// Time left, or `None` when no deadline is set.
    pub fn remaining(&self) -> Option<Duration> {
        let deadline = self.0.load(Ordering::Relaxed);
        if deadline == 0 {
            return None;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        Some(Duration::from_millis(deadline.saturating_sub(now)))
    }
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
    pub metering: Arc<dyn Metering>,
    pub secrets: Arc<dyn Secrets>,
    /// When the current invocation ends (unset locally).
    pub deadline: Deadline,
}
