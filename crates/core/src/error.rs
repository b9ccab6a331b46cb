//! Error kinds and the stable names Step Functions matches on.
//!
//! Every error that leaves a pipeline step carries one of the [`ErrorName`]s
//! from DESIGN.md. Those strings are an API: `Retry` and `Catch` in
//! `statemachines/daily-pipeline.asl.json` match them, so they never change
//! when a Rust type is renamed.

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

/// Errors of the object-store port.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("object {key} does not exist")]
    NotFound { key: String },
    /// A conditional write lost: the object exists (create) or changed (replace).
    #[error("conditional write of {key} failed: {reason}")]
    PreconditionFailed { key: String, reason: String },
    #[error("object store I/O on {key}: {message}")]
    Io { key: String, message: String },
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
    #[error("replication: {0}")]
    Replication(String),
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
    #[error("catalog: {0}")]
    Catalog(String),
    #[error("notifier: {0}")]
    Notify(String),
}

impl Error {
    /// The stable name Step Functions matches on.
    pub fn name(&self) -> ErrorName {
        match self {
            Error::InvalidInput(_) | Error::Metadata(_) => ErrorName::InvalidInput,
            Error::SchemaDrift { .. } => ErrorName::SchemaDrift,
            Error::Validation(_) | Error::Format(_) => ErrorName::Validation,
            Error::Replication(_) => ErrorName::Replication,
            Error::Merge {
                source: EngineError::Transient(_) | EngineError::StillRunning { .. },
                ..
            }
            | Error::Engine(EngineError::Transient(_) | EngineError::StillRunning { .. }) => {
                ErrorName::Transient
            }
            Error::Merge { .. } | Error::Engine(_) => ErrorName::Merge,
            Error::Concurrency { .. } => ErrorName::Concurrency,
            Error::Timeout { .. } => ErrorName::Timeout,
            Error::Store(StoreError::PreconditionFailed { .. }) => ErrorName::Concurrency,
            Error::Transient(_) | Error::Store(StoreError::Io { .. }) | Error::Notify(_) => {
                ErrorName::Transient
            }
            Error::Store(StoreError::NotFound { .. }) | Error::Catalog(_) => {
                ErrorName::InvalidInput
            }
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
