//! The typed events the pipeline steps take and return. The state machine
//! passes them between Lambda invocations as JSON; field names are the
//! contract with `statemachines/daily-pipeline.asl.json`.

use crate::batch_id::BatchId;
use crate::config::TableMode;
use crate::metadata::Drift;
pub use crate::run_plan::{ExecutionInput, RunMode, RunPlan, RunRequest, TableSelection};
use crate::validate::OpCounts;
use serde::{Deserialize, Serialize};

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
    /// What the source holds that has not landed yet, in bytes (a
    /// PostgreSQL slot's WAL behind its confirmed position).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_bytes: Option<u64>,
    #[serde(default)]
    pub tables_in_error: Vec<String>,
    pub message: String,
}

impl ReplicationStatus {
    /// A replication with nothing to wait for, in `state`.
    pub fn ready(state: &str, message: String) -> ReplicationStatus {
        ReplicationStatus {
            state: state.into(),
            ready: true,
            wait_seconds: 0,
            cdc_latency_seconds: None,
            lag_bytes: None,
            tables_in_error: Vec::new(),
            message,
        }
    }
}

/// Input of `start-replication`, the first step: it builds the run plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StartReplicationEvent {
    /// The execution input (`$`), which the first call turns into the plan.
    #[serde(default)]
    pub input: ExecutionInput,
    /// The execution's name: a `reload` records under it what had landed
    /// before the fresh full load was asked for.
    #[serde(default)]
    pub run_id: String,
    /// When the execution started (RFC 3339, `$$.Execution.StartTime`): a
    /// snapshot reload that started after it belongs to this run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// This step's output from the last call, while the state machine waits
    /// for the replication to be ready: the plan is not built again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<StartReplicationOutput>,
}

/// Output of `start-replication`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StartReplicationOutput {
    pub plan: RunPlan,
    pub status: ReplicationStatus,
    /// How long this execution has waited for the replication so far, and
    /// how many times the step was called.
    #[serde(default)]
    pub waited_seconds: u64,
    #[serde(default)]
    pub calls: u32,
}

/// Input of `extract-metadata`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractMetadataEvent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub plan: RunPlan,
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
    /// `forget`: the keys and who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forget: Option<crate::run_plan::ForgetRequest>,
    /// The table's storage at the source now, and — when it changed since a
    /// run last took the table's changes — what it was (a TRUNCATE, a
    /// re-creation or a rewrite, which DMS does not land as changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_storage: Option<SourceStorage>,
    /// A frequent run that did not read the metadata at the source: when a
    /// run last did (RFC 3339). validate-landed defers the table when a
    /// landed file's columns say the schema changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_read_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStorage {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_from: Option<String>,
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
    /// The history generation the batches belong to: the live one, or for a
    /// rebuild the next (merged into the staged table, then swapped in).
    #[serde(default)]
    pub generation: u32,
    /// The batches to merge, oldest first (empty: nothing new landed).
    pub batches: Vec<BatchId>,
    pub files_landed: u64,
    pub files_accepted: u64,
    pub files_quarantined: u64,
    pub ops: OpCounts,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    pub started_at: String,
    /// Nothing landed, nothing is pending and the catalog is current: the
    /// table is finished without merge-history or publish-catalog, so it
    /// costs no query (the state machine's `AnythingToMerge`).
    #[serde(default)]
    pub idle: bool,
    /// A frequent run that reused the metadata found a landed file whose
    /// columns differ from it: why the table waits, unvalidated, for the
    /// next run, which reads the metadata first (the state machine's `TableDeferred`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred: Option<String>,
}

impl ValidateOutput {
    /// No file validated (yet), no batch to merge.
    pub fn nothing(table: &str, generation: u32, started_at: String) -> ValidateOutput {
        ValidateOutput {
            table: table.to_string(),
            generation,
            batches: Vec::new(),
            files_landed: 0,
            files_accepted: 0,
            files_quarantined: 0,
            ops: OpCounts::default(),
            report: None,
            started_at,
            idle: false,
            deferred: None,
        }
    }
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
    /// Started by a schedule: a table another execution holds is given up
    /// at once, not waited for.
    #[serde(default)]
    pub scheduled: bool,
}

/// Output of `merge-history`: the state machine calls it again until `done`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MergeOutput {
    pub done: bool,
    /// Batches merged so far in this run.
    pub merged: Vec<BatchId>,
    /// Those of them that were snapshot extracts holding the rows of the
    /// last one merged: no MERGE ran for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<BatchId>,
    /// Those whose merge read what validation found the extract changed
    /// ([`crate::ledger::DiffRecord`]) instead of joining all of it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffed: Vec<BatchId>,
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
    /// Invocations of merge-history for this table so far, and when the first began.
    #[serde(default)]
    pub invocations: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// A rebuild's history was swapped in by this run.
    #[serde(default)]
    pub rebuilt: bool,
    /// A merge of this run brought the live history table's columns to the
    /// metadata: publish-catalog need not list them again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub schema_synced: bool,
    /// The table's maintenance in this run, when it was due: what it did,
    /// or why it failed (which does not fail the table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<Maintenance>,
    /// Mode `forget`: what the erasure removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<ErasureOutput>,
    /// A manual run found the table held by another execution: the state
    /// machine waits this long, then calls again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_wait_seconds: Option<u64>,
    /// Waits for the lease so far (at most [`LEASE_WAITS`]`.len()`).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub lease_waits: u32,
}

/// How long a manual run waits for a table another execution holds, before
/// each call again: about 7 minutes, then it fails naming the holder.
pub const LEASE_WAITS: [u64; 3] = [60, 120, 240];

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a `forget` removed from a table (docs/erasure.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErasureOutput {
    /// Distinct keys forgotten.
    pub keys: u64,
    /// Rows removed, by where (a history table, `change_log`, `quarantine`, `landed`).
    pub removed: std::collections::BTreeMap<String, u64>,
    /// The erasure log's entry.
    pub log: String,
    /// Files that could not be read to be checked: a person must look at them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// What a table's maintenance did ([`crate::config::MaintenanceConfig`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Maintenance {
    Done,
    /// A statement outlived the invocation: the engine goes on with it.
    Running {
        query_id: String,
    },
    Failed {
        message: String,
    },
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
    /// Another execution held the table (a scheduled run): the next run picks it up.
    Skipped,
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
    /// The execution input, as it arrived (echoed in the alert).
    #[serde(default)]
    pub input: ExecutionInput,
    /// Absent when the input was refused before a plan existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RunPlan>,
    #[serde(default)]
    pub replication: Option<ReplicationStatus>,
    pub results: Vec<TableResult>,
    /// The state machine's ARN (`$$.StateMachine.Id`), for the rerun command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_machine: Option<String>,
    /// The execution's ARN (`$$.Execution.Id`): its history counts the run's
    /// state transitions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
}

/// Output of `notify`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyOutput {
    pub failed_tables: u32,
    pub succeeded_tables: u32,
    pub alert_sent: bool,
    pub delivered_to: Vec<String>,
}

impl crate::cost::StepEvent for StartReplicationEvent {
    fn run_id(&self) -> Option<&str> {
        Some(&self.run_id)
    }
}

impl crate::cost::StepEvent for ExtractMetadataEvent {
    fn run_id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }
}

impl crate::cost::StepEvent for ValidateEvent {
    fn run_id(&self) -> Option<&str> {
        Some(&self.run_id)
    }
    fn table(&self) -> Option<&str> {
        Some(&self.work.table)
    }
}

impl crate::cost::StepEvent for MergeEvent {
    fn run_id(&self) -> Option<&str> {
        Some(&self.run_id)
    }
    fn table(&self) -> Option<&str> {
        Some(&self.work.table)
    }
}

impl crate::cost::StepEvent for PublishEvent {
    fn run_id(&self) -> Option<&str> {
        Some(&self.run_id)
    }
    fn table(&self) -> Option<&str> {
        Some(&self.work.table)
    }
}

impl crate::cost::StepEvent for NotifyEvent {
    fn run_id(&self) -> Option<&str> {
        Some(&self.run_id)
    }
}
