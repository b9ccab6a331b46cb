//! SCD2 history: the merge plan and the SQL it renders to.
//!
//! History of a key is a pure function of the set of its changes (DESIGN.md,
//! "SCD2 semantics"). The merge therefore rebuilds the whole timeline of every
//! key a batch touches — from the table's change log (every validated batch,
//! including changes that were no-ops when they arrived) plus the existing
//! history rows (which hold the deletes a snapshot synthesised) — and applies
//! the difference with one `MERGE`. Re-reading the log is what makes a late
//! change land correctly even next to a change that was dropped as a no-op.

mod dialect;
mod plan;

pub use dialect::{
    Athena, CHANGE_LOG_CONTROL_COLUMNS, CHANGE_LOG_PARTITION, Dialect, DuckDb, Grammar,
    HistoryColumn, Statement, quote_ident, string_literal,
};
pub use plan::{
    ExistingColumn, HISTORY_CONTROL_COLUMNS, HistoryTarget, MergeCounts, MergePlan,
    MergeStatements, Since, SnapshotParams, VALID_TO_OPEN, maintenance, previous_table_name,
    refused_deletes, staged_table_name,
};
