//! Error kinds and the stable names Step Functions matches on.
//!
//! Every error that leaves a pipeline step carries one of the [`ErrorName`]s
//! from DESIGN.md. Those strings are an API: `Retry` and `Catch` in
//! `statemachines/daily-pipeline.asl.json` match them, so they never change
//! when a Rust type is renamed.

pub use crate::invalid::Invalid;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable error names of DESIGN.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorName {
    /// Worth retrying with backoff: throttling, a lost race on a conditional write, I/O hiccups.
    #[serde(rename = "Tidemark.Transient")]
    Transient,
    /// The execution input, configuration or a request is wrong; a person must fix it.
    #[serde(rename = "Tidemark.InvalidInput")]
    InvalidInput,
    /// The source schema changed in a way the history table cannot absorb.
    #[serde(rename = "Tidemark.SchemaDrift")]
    SchemaDrift,
    /// Landed data broke the metadata's rules (the bad files are quarantined).
    #[serde(rename = "Tidemark.Validation")]
    Validation,
    /// The replication (DMS or the local replicator) is not healthy.
    #[serde(rename = "Tidemark.Replication")]
    Replication,
    /// The history merge failed.
    #[serde(rename = "Tidemark.Merge")]
    Merge,
    /// Another run holds the table's lease.
    #[serde(rename = "Tidemark.Concurrency")]
    Concurrency,
    /// A bounded wait or loop ran out.
    #[serde(rename = "Tidemark.Timeout")]
    Timeout,
}

impl ErrorName {
    pub const ALL: [ErrorName; 8] = [
        ErrorName::Transient,
        ErrorName::InvalidInput,
        ErrorName::SchemaDrift,
        ErrorName::Validation,
        ErrorName::Replication,
        ErrorName::Merge,
        ErrorName::Concurrency,
        ErrorName::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorName::Transient => "Tidemark.Transient",
            ErrorName::InvalidInput => "Tidemark.InvalidInput",
            ErrorName::SchemaDrift => "Tidemark.SchemaDrift",
            ErrorName::Validation => "Tidemark.Validation",
            ErrorName::Replication => "Tidemark.Replication",
            ErrorName::Merge => "Tidemark.Merge",
            ErrorName::Concurrency => "Tidemark.Concurrency",
            ErrorName::Timeout => "Tidemark.Timeout",
        }
    }

    pub fn parse(name: &str) -> Option<ErrorName> {
        ErrorName::ALL.into_iter().find(|n| n.as_str() == name)
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a port's failure means for its caller: whether trying again can
/// help, and who must act. Every port's error has one ([`StoreError`],
/// [`EngineError`], [`CatalogError`], [`NotifyError`], [`ReplicationError`],
/// [`SourceError`]); adapters decide it from the service's error code and
/// HTTP status, never from message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Throttling, a 5xx, a timeout, a reset connection: the same call may
    /// work in a moment.
    Transient,
    /// Another writer won: a lease, a conditional write, a concurrent update.
    Concurrency,
    /// The request is wrong (a bad parameter, no permission): a person must act.
    InvalidInput,
    /// What the request names does not exist.
    NotFound,
    /// Anything else the service refused: retrying will not help.
    Fatal,
}

impl ErrorKind {
    /// The one mapping from a kind to the name Step Functions sees. `fatal`
    /// is the port's own name for what only a fix can cure (the engine's is
    /// `Tidemark.Merge`).
    pub fn name(self, fatal: ErrorName) -> ErrorName {
        match self {
            ErrorKind::Transient => ErrorName::Transient,
            ErrorKind::Concurrency => ErrorName::Concurrency,
            ErrorKind::InvalidInput | ErrorKind::NotFound => ErrorName::InvalidInput,
            ErrorKind::Fatal => fatal,
        }
    }
}

/// Errors of the object-store port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {key} does not exist")]
    NotFound { key: String },
    /// A conditional write lost: the object exists (create) or changed (replace).
    #[error("conditional write of {key} failed: {reason}")]
    PreconditionFailed { key: String, reason: String },
    /// Throttled, a server error, or no answer: worth retrying.
    #[error("object store on {key}: {message} (transient: retried)")]
    Transient { key: String, message: String },
    /// Refused or failed for good (no permission, a full disk, a bad request).
    #[error("object store on {key}: {message}")]
    Io { key: String, message: String },
}

impl StoreError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::PreconditionFailed { .. } => ErrorKind::Concurrency,
            StoreError::Transient { .. } => ErrorKind::Transient,
            StoreError::Io { .. } => ErrorKind::Fatal,
        }
    }
}

/// Errors of the catalog port: which operation on which table, what the
/// catalog said, and what that means.
#[derive(Debug, thiserror::Error)]
#[error("catalog {operation} of {table}: {message}")]
pub struct CatalogError {
    pub operation: &'static str,
    /// `database.table`.
    pub table: String,
    pub message: String,
    pub kind: ErrorKind,
}

/// Errors of the notifier port.
#[derive(Debug, thiserror::Error)]
#[error("notifier {target}: {message}")]
pub struct NotifyError {
    /// The topic or webhook the alert was for.
    pub target: String,
    pub message: String,
    pub kind: ErrorKind,
}

/// Errors of the replication port (DMS, or a local replicator).
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The replication needs a person: failed, deleted, a table in error.
    #[error("replication: {0}")]
    Unhealthy(String),
    /// What the configuration names is wrong, or does not exist.
    #[error("replication: {0}")]
    Invalid(String),
    /// No answer, throttled, or a connection lost: worth retrying.
    #[error("replication: {0} (transient: retried)")]
    Transient(String),
    /// Reading or writing the landing area or the replicator's state.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReplicationError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReplicationError::Unhealthy(_) => ErrorKind::Fatal,
            ReplicationError::Invalid(_) => ErrorKind::InvalidInput,
            ReplicationError::Transient(_) => ErrorKind::Transient,
            ReplicationError::Store(e) => e.kind(),
        }
    }
}

/// Errors of the metadata-source port (documents, or the source's catalog).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The table's metadata is not there: no document, no such table.
    #[error("metadata for {table}: {message}")]
    NotFound { table: String, message: String },
    /// What the source holds is not valid metadata.
    #[error(transparent)]
    Invalid(#[from] crate::metadata::MetadataError),
    /// The source could not be read (an unreachable database, a lost connection).
    #[error("metadata source: {message}")]
    Unreadable { message: String, kind: ErrorKind },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SourceError {
    /// The error, its message naming `table` (a connection's failure does not).
    pub fn for_table(self, table: &str) -> SourceError {
        match self {
            SourceError::Unreadable { message, kind } => SourceError::Unreadable {
                message: format!("{table}: {message}"),
                kind,
            },
            other => other,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            SourceError::NotFound { .. } => ErrorKind::NotFound,
            SourceError::Invalid(_) => ErrorKind::InvalidInput,
            SourceError::Unreadable { kind, .. } => *kind,
            SourceError::Store(e) => e.kind(),
        }
    }
}

/// Errors of the query-engine port.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Worth retrying (throttling, commit conflicts).
    #[error("query engine (transient): {0}")]
    Transient(String),
    #[error("query failed: {message}\n  statement: {statement}")]
    Query { statement: String, message: String },
    /// The statement is still running and this invocation's time is nearly
    /// up: the caller records `query_id` and resumes it in its next invocation
    /// (Athena; DuckDB always finishes).
    #[error("query {query_id} is still running")]
    StillRunning { query_id: String },
}

impl EngineError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            EngineError::Transient(_) | EngineError::StillRunning { .. } => ErrorKind::Transient,
            EngineError::Query { .. } => ErrorKind::Fatal,
        }
    }

    /// The error without its statement's text (a statement that names
    /// forgotten keys must not reach an alert).
    pub fn without_statement(self) -> EngineError {
        match self {
            EngineError::Query { message, .. } => EngineError::Query {
                statement: "(not shown: it names keys being forgotten)".into(),
                message,
            },
            other => other,
        }
    }
}

/// The error every pipeline step returns. [`Error::name`] is what Step Functions sees.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error(transparent)]
    Metadata(#[from] crate::metadata::MetadataError),
    #[error("schema drift on {table}: {details}")]
    SchemaDrift { table: String, details: String },
    #[error("{0}")]
    Validation(String),
    #[error(transparent)]
    Replication(#[from] ReplicationError),
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A service answered "try again": throttling, a server error, a timeout.
    #[error("{0} (transient: retried)")]
    Transient(String),
    #[error("merge of {table} failed: {source}")]
    Merge {
        table: String,
        #[source]
        source: EngineError,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "table {table} is locked by run {owner} until {expires_at}; try again after that or wait for that run to finish"
    )]
    Concurrency {
        table: String,
        owner: String,
        expires_at: String,
    },
    /// A bounded wait or loop of the state machine ran out.
    #[error(
        "{step}{}: gave up after {waited_seconds} s and {attempts} attempt(s), the bound set by [pipeline] {setting} = {bound}",
        table.as_deref().map(|t| format!(" of {t}")).unwrap_or_default()
    )]
    Timeout {
        step: &'static str,
        table: Option<String>,
        waited_seconds: u64,
        attempts: u32,
        setting: &'static str,
        bound: u64,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Format(#[from] crate::dms::FormatError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

impl Error {
    /// The stable name Step Functions matches on.
    pub fn name(&self) -> ErrorName {
        match self {
            Error::InvalidInput(_) | Error::Metadata(_) => ErrorName::InvalidInput,
            Error::SchemaDrift { .. } => ErrorName::SchemaDrift,
            Error::Validation(_) | Error::Format(_) => ErrorName::Validation,
            Error::Concurrency { .. } => ErrorName::Concurrency,
            Error::Timeout { .. } => ErrorName::Timeout,
            Error::Transient(_) => ErrorName::Transient,
            // The ports' errors: by kind, each port naming its own fatal failures.
            Error::Merge { source, .. } | Error::Engine(source) => {
                source.kind().name(ErrorName::Merge)
            }
            Error::Catalog(e) => e.kind.name(ErrorName::Merge),
            Error::Replication(e) => e.kind().name(ErrorName::Replication),
            Error::Source(e) => e.kind().name(ErrorName::InvalidInput),
            Error::Store(e) => e.kind().name(ErrorName::InvalidInput),
            Error::Notify(e) => e.kind.name(ErrorName::InvalidInput),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_serde_and_parse() {
        for name in ErrorName::ALL {
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
            assert_eq!(ErrorName::parse(name.as_str()), Some(name));
        }
        assert_eq!(ErrorName::parse("Tidemark.Nope"), None);
    }

    #[test]
    fn transient_engine_errors_are_retryable() {
        let e = Error::Merge {
            table: "t".into(),
            source: EngineError::Transient("throttled".into()),
        };
        assert_eq!(e.name(), ErrorName::Transient);
        assert_eq!(
            Error::Transient("DMS: throttled".into()).name(),
            ErrorName::Transient
        );
        let e = Error::Merge {
            table: "t".into(),
            source: EngineError::Query {
                statement: "x".into(),
                message: "boom".into(),
            },
        };
        assert_eq!(e.name(), ErrorName::Merge);
    }
}
