//! The query-engine port on Athena: start a statement in the workgroup, poll
//! it with backoff, read its rows. When the Lambda invocation is about to run
//! out of time, hand the running query back ([`EngineError::StillRunning`])
//! so the state machine's next `merge-history` invocation waits for it.

use crate::error::{describe, is_transient};
use async_trait::async_trait;
use aws_sdk_athena::Client;
use aws_sdk_athena::types::{QueryExecution, QueryExecutionState};
use std::sync::Arc;
use std::time::Duration;
use tidemark_core::config::MaintenanceConfig;
use tidemark_core::error::EngineError;
use tidemark_core::ports::{QueryEngine, QueryResult, SqlValue};
use tidemark_core::scd2::{Athena, Dialect};

pub use tidemark_core::ports::Deadline;

/// How the engine polls a running statement.
#[derive(Debug, Clone)]
pub struct Polling {
    pub first: Duration,
    pub max: Duration,
    /// Hand back while at least this much of the invocation is left, so the
    /// step can save its progress and return.
    pub reserve: Duration,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            first: Duration::from_millis(250),
            max: Duration::from_secs(5),
            reserve: Duration::from_secs(30),
        }
    }
}

pub struct AthenaEngine {
    client: Client,
    workgroup: String,
    /// `s3://bucket[/prefix]` of the lake: where the Iceberg tables and change logs live.
    lake_uri: String,
    polling: Polling,
    deadline: Deadline,
    /// The Iceberg properties history tables are created with.
    maintenance: MaintenanceConfig,
}

impl AthenaEngine {
    pub fn new(
        client: Client,
        workgroup: String,
        lake_uri: String,
        polling: Polling,
        deadline: Deadline,
    ) -> Self {
        AthenaEngine {
            client,
            workgroup,
            lake_uri,
            polling,
            deadline,
            maintenance: MaintenanceConfig::default(),
        }
    }

    /// History tables get these maintenance properties when created.
    pub fn with_maintenance(self, maintenance: MaintenanceConfig) -> Self {
        AthenaEngine {
            maintenance,
            ..self
        }
    }

    async fn wait(&self, query_id: &str, statement: &str) -> Result<QueryResult, EngineError> {
        let mut delay = self.polling.first;
        loop {
            let execution = self
                .client
                .get_query_execution()
                .query_execution_id(query_id)
                .send()
                .await
                .map_err(|e| sdk_error(statement, e))?;
            let execution = execution.query_execution().cloned().ok_or_else(|| {
                EngineError::Transient(format!("Athena described no query {query_id}"))
            })?;
            let state = execution
                .status()
                .and_then(|s| s.state())
                .cloned()
                .unwrap_or(QueryExecutionState::Queued);
            match state {
                QueryExecutionState::Succeeded => return self.results(&execution, statement).await,
                QueryExecutionState::Failed | QueryExecutionState::Cancelled => {
                    return Err(failure(&execution, statement));
                }
                _ => {}
            }
            if let Some(left) = self.deadline.remaining()
                && left < self.polling.reserve + delay
            {
                return Err(EngineError::StillRunning {
                    query_id: query_id.to_string(),
                });
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.polling.max);
        }
    }

    async fn results(
        &self,
        execution: &QueryExecution,
        statement: &str,
    ) -> Result<QueryResult, EngineError> {
        let query_id = execution.query_execution_id().unwrap_or_default();
        let stats = execution.statistics();
        let mut out = QueryResult {
            bytes_scanned: stats
                .and_then(|s| s.data_scanned_in_bytes())
                .map(|b| b.max(0) as u64),
            engine_ms: stats
                .and_then(|s| s.engine_execution_time_in_millis())
                .map(|ms| ms.max(0) as u64),
            ..QueryResult::default()
        };
        let mut pages = self
            .client
            .get_query_results()
            .query_execution_id(query_id)
            .into_paginator()
            .send();
        let mut types = Vec::new();
        let mut first_page = true;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk_error(statement, e))?;
            let Some(set) = page.result_set() else {
                continue;
            };
            let mut rows = set.rows().iter();
            if first_page {
                if let Some(meta) = set.result_set_metadata() {
                    for c in meta.column_info() {
                        out.columns.push(c.name().to_string());
                        types.push(c.r#type().to_ascii_lowercase());
                    }
                }
                // A SELECT's first row repeats the column names.
                let names = out.columns.iter().map(|c| Some(c.as_str()));
                if !out.columns.is_empty()
                    && rows
                        .clone()
                        .next()
                        .is_some_and(|r| r.data().iter().map(|d| d.var_char_value()).eq(names))
                {
                    rows.next();
                }
            }
            first_page = false;
            for row in rows {
                out.rows.push(
                    row.data()
                        .iter()
                        .enumerate()
                        .map(|(i, d)| value(d.var_char_value(), types.get(i).map(String::as_str)))
                        .collect(),
                );
            }
        }
        Ok(out)
    }
}

/// A cell as Athena returns it (text), typed by its column's type.
fn value(text: Option<&str>, column_type: Option<&str>) -> SqlValue {
    let Some(text) = text else {
        return SqlValue::Null;
    };
    match column_type.unwrap_or("varchar") {
        "boolean" => match text {
            "true" => SqlValue::Bool(true),
            "false" => SqlValue::Bool(false),
            _ => SqlValue::Text(text.into()),
        },
        "tinyint" | "smallint" | "integer" | "int" | "bigint" => text
            .parse()
            .map(SqlValue::Int)
            .unwrap_or_else(|_| SqlValue::Text(text.into())),
        "double" | "float" | "real" => text
            .parse()
            .map(SqlValue::Float)
            .unwrap_or_else(|_| SqlValue::Text(text.into())),
        _ => SqlValue::Text(text.into()),
    }
}

/// Athena's own failure reasons that a retry can cure: Iceberg commit
/// conflicts (another writer committed first), throttling, and its internal errors.
const TRANSIENT_REASONS: &[&str] = &[
    "ICEBERG_COMMIT_ERROR",
    "CONCURRENT_MODIFICATION",
    "TOO_MANY_REQUESTS",
    "ThrottlingException",
    "SlowDown",
    "INTERNAL_ERROR",
    "GENERIC_INTERNAL_ERROR",
];

fn failure(execution: &QueryExecution, statement: &str) -> EngineError {
    let status = execution.status();
    let reason = status
        .and_then(|s| s.state_change_reason())
        .unwrap_or("no reason given")
        .to_string();
    let error = status.and_then(|s| s.athena_error());
    let retryable = error.is_some_and(|e| e.retryable());
    let cancelled = status.and_then(|s| s.state()) == Some(&QueryExecutionState::Cancelled);
    let id = execution.query_execution_id().unwrap_or_default();
    let message = if cancelled {
        format!("query {id} was cancelled: {reason}")
    } else {
        format!("query {id} failed: {reason}")
    };
    if retryable || TRANSIENT_REASONS.iter().any(|r| reason.contains(r)) {
        EngineError::Transient(message)
    } else {
        EngineError::Query {
            statement: statement.to_string(),
            message,
        }
    }
}

fn sdk_error<E>(
    statement: &str,
    e: aws_sdk_athena::error::SdkError<E, aws_sdk_athena::config::http::HttpResponse>,
) -> EngineError
where
    E: aws_sdk_athena::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let message = format!("Athena: {}", describe(&e));
    if is_transient(&e) {
        EngineError::Transient(message)
    } else {
        EngineError::Query {
            statement: statement.to_string(),
            message,
        }
    }
}

#[async_trait]
impl QueryEngine for AthenaEngine {
    /// Athena runs one statement at a time, each its own transaction; its
    /// merge is one MERGE ([`tidemark_core::scd2::MergePlan::merge`]).
    async fn transaction(&self, statements: &[String]) -> Result<Vec<QueryResult>, EngineError> {
        Err(EngineError::Query {
            statement: statements.join(";\n"),
            message: "Athena runs no transaction of several statements".into(),
        })
    }

    fn dialect(&self) -> Arc<dyn Dialect> {
        Arc::new(Athena {
            lake_uri: self.lake_uri.clone(),
            maintenance: self.maintenance.clone(),
        })
    }

    async fn execute(&self, sql: &str) -> Result<QueryResult, EngineError> {
        let started = self
            .client
            .start_query_execution()
            .query_string(sql)
            .work_group(&self.workgroup)
            .send()
            .await
            .map_err(|e| sdk_error(sql, e))?;
        let query_id = started
            .query_execution_id()
            .ok_or_else(|| EngineError::Transient("Athena returned no query execution id".into()))?
            .to_string();
        tracing::debug!(query_id, "athena query started");
        self.wait(&query_id, sql).await
    }

    async fn resume(&self, query_id: &str) -> Result<QueryResult, EngineError> {
        self.wait(query_id, &format!("(query {query_id})")).await
    }
}
