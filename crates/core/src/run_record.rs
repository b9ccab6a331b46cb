//! The reconciliation record each run writes per table.

use crate::batch_id::BatchId;
use crate::events::TableStatus;
use crate::validate::OpCounts;
use serde::{Deserialize, Serialize};

/// What one run did to one table: files in / accepted / quarantined, rows by
/// op, versions inserted / updated / removed, row counts before and after.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub run_id: String,
    pub database: String,
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TableStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub batches: Vec<BatchId>,
    /// Nothing had landed and nothing was pending: the run checked the
    /// table and ran no query for it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub idle: bool,
    pub files_landed: u64,
    pub files_accepted: u64,
    pub files_quarantined: u64,
    pub ops: OpCounts,
    pub versions_inserted: u64,
    pub versions_updated: u64,
    pub versions_removed: u64,
    pub rows_before: Option<u64>,
    pub rows_after: Option<u64>,
    pub bytes_scanned: Option<u64>,
    /// Snapshot extracts that held the rows of the last one merged, so no
    /// MERGE ran for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unchanged: Vec<BatchId>,
    /// Snapshot extracts whose merge read what validation found changed
    /// instead of joining the whole extract with the current rows.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diffed: Vec<BatchId>,
    /// The table's maintenance in this run, when it was due.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maintenance: Option<crate::events::Maintenance>,
    /// Mode `forget`: what the erasure removed (docs/erasure.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub erasure: Option<crate::events::ErasureOutput>,
    /// Engine time of the run's statements on this table (Athena's engine execution time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// What the table cost in this run (docs/cost.md); written by `notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<crate::cost::Cost>,
    /// The validation report (the HTML page; `.json` and `.md` beside it), when one was written.
    pub report: Option<String>,
}
