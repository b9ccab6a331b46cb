//! The typed events the pipeline steps take and return. The state machine
//! passes them between Lambda invocations as JSON; field names are the
//! contract with `statemachines/daily-pipeline.asl.json`.

use crate::config::TableMode;
use crate::metadata::Drift;
use crate::validate::OpCounts;
use serde::{Deserialize, Serialize};

/// What an execution does: the daily schedule sends `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Consume what landed since the last run.
    #[default]
    Incremental,
    /// Merge again the batches whose changes fall in `from`..`to` (idempotent).
    Reprocess,
    /// Recompute the table's history from every landed file.
    Rebuild,
}

/// An execution's input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// Tables to process; all configured tables when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    #[serde(default)]
    pub mode: RunMode,
    /// Inclusive date range (`YYYY-MM-DD`) for `reprocess`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<chrono::NaiveDate>,
}

impl RunMode {
    /// The name executions and `tidemark rerun --mode` use.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Incremental => "incremental",
            RunMode::Reprocess => "reprocess",
            RunMode::Rebuild => "rebuild",
        }
    }
}

impl RunRequest {
    /// The rules an execution input must meet, checked before it is submitted.
    pub fn check(&self) -> Result<(), String> {
        if let Some(tables) = &self.tables {
            if tables.is_empty() {
                return Err("--tables names no table (leave it out to run every table)".into());
            }
            for t in tables {
                crate::metadata::check_identifier(t).map_err(|e| format!("--tables: {e}"))?;
            }
        }
        match (self.mode, self.from, self.to) {
            (RunMode::Reprocess, Some(from), Some(to)) if from > to => {
                Err(format!("--from {from} is after --to {to}"))
            }
            (RunMode::Reprocess, Some(_), Some(_)) => Ok(()),
            (RunMode::Reprocess, _, _) => Err(
                "--mode reprocess needs --from and --to (the dates of the changes to merge again)"
                    .into(),
            ),
            (_, None, None) => Ok(()),
            (mode, _, _) => Err(format!(
                "--from and --to apply to --mode reprocess only, not {}",
                mode.as_str()
            )),
        }?;
        if self.mode == RunMode::Rebuild && self.tables.is_none() {
            return Err("--mode rebuild recomputes history from every landed file: name the --tables to rebuild".into());
        }
        Ok(())
    }
}

/// The replication's health, and whether the pipeline may go on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    /// e.g. `running`, `reloading`, `stopped`, `replayed`.
    pub state: String,
    /// False while a reload runs: the state machine waits `wait_seconds` and asks again.
    pub ready: bool,
    pub wait_seconds: u64,
    #[serde(default)]
    pub cdc_latency_seconds: Option<u64>,
    #[serde(default)]
    pub tables_in_error: Vec<String>,
    pub message: String,
}

/// Input of `start-replication`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartReplicationEvent {
    pub request: RunRequest,
    /// When the execution started (RFC 3339, `$$.Execution.StartTime`): a
    /// snapshot reload that started after it belongs to this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
}

/// Input of `extract-metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractMetadataEvent {
    pub request: RunRequest,
}

/// One table's work for this run (an item of the Map state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableWork {
    pub table: String,
    pub table_mode: TableMode,
    pub run_mode: RunMode,
    pub metadata_version: u32,
    pub drift: Drift,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<chrono::NaiveDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<chrono::NaiveDate>,
}

/// Output of `extract-metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractMetadataOutput {
    pub tables: Vec<TableWork>,
}

/// Input of `validate-landed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidateEvent {
    pub run_id: String,
    pub work: TableWork,
}

/// Output of `validate-landed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidateOutput {
    pub table: String,
    /// The batches to merge, oldest first (empty: nothing new landed).
    pub batches: Vec<String>,
    pub files_landed: u64,
    pub files_accepted: u64,
    pub files_quarantined: u64,
    pub ops: OpCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub started_at: String,
}

/// Input of `merge-history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeEvent {
    pub run_id: String,
    pub work: TableWork,
    pub validation: ValidateOutput,
    /// Progress of an earlier invocation of this step for the same table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeOutput>,
}

/// Output of `merge-history`: the state machine calls it again until `done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeOutput {
    pub done: bool,
    /// Batches merged so far in this run.
    pub merged: Vec<String>,
    pub versions_inserted: u64,
    pub versions_updated: u64,
    pub versions_removed: u64,
    pub rows_before: Option<u64>,
    pub rows_after: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_scanned: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_ms: Option<u64>,
    /// The MERGE of the next batch, still running when the last invocation
    /// handed back (Athena): this invocation waits for it instead of starting another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running_query: Option<String>,
}

/// Input of `publish-catalog`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublishEvent {
    pub run_id: String,
    pub work: TableWork,
    pub validation: ValidateOutput,
    #[serde(default)]
    pub merge: Option<MergeOutput>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    Succeeded,
    Failed,
}

/// A table's outcome in this run: what the Map state collects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableResult {
    pub table: String,
    pub status: TableStatus,
    /// The `Tidemark.*` error name, when failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Step Functions' Cause: for Lambda errors a JSON document with `errorMessage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// Input of `notify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyEvent {
    pub run_id: String,
    pub request: RunRequest,
    #[serde(default)]
    pub replication: Option<ReplicationStatus>,
    pub results: Vec<TableResult>,
    /// The state machine's ARN (`$$.StateMachine.Id`), for the rerun command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine: Option<String>,
}

/// Output of `notify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyOutput {
    pub failed_tables: u32,
    pub succeeded_tables: u32,
    pub alert_sent: bool,
    pub delivered_to: Vec<String>,
}
