//! The merge plan of one batch into one history table, rendered for a dialect.

use super::dialect::{Dialect, HistoryColumn, Statement, quote_ident, string_literal};
use crate::batch_id::BatchId;
use crate::error::EngineError;
use crate::metadata::{Column, ColumnType, RowHashFormat, TableMetadata};
use crate::ports::{QueryEngine, QueryResult, SqlValue};

/// `valid_to` of a current row.
pub const VALID_TO_OPEN: &str = "9999-12-31 23:59:59.999999";

/// The history table's control columns, after the business columns.
pub const HISTORY_CONTROL_COLUMNS: [&str; 8] = [
    "valid_from",
    "change_seq",
    "valid_to",
    "is_current",
    "is_deleted",
    "op",
    "batch_id",
    "row_hash",
];

/// A column as the engine's `information_schema.columns` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingColumn {
    pub table: String,
    pub name: String,
    pub data_type: String,
}

impl ExistingColumn {
    /// The rows of [`MergePlan::columns_query`].
    pub fn from_listing(listing: &QueryResult) -> Vec<ExistingColumn> {
        let text = |row: &[SqlValue], i: usize| match row.get(i) {
            Some(SqlValue::Text(t)) => t.clone(),
            _ => String::new(),
        };
        listing
            .rows
            .iter()
            .map(|row| ExistingColumn {
                table: text(row, 0),
                name: text(row, 1),
                data_type: text(row, 2),
            })
            .collect()
    }
}

/// `change_seq` of a delete a snapshot synthesised for a missing key.
const SNAPSHOT_DELETE_SEQ: &str = "snapshot-delete";

/// A change's columns after its business columns, in the change log and the timeline.
const CHANGE_COLUMNS: [&str; 5] = ["op", "valid_from", "change_seq", "row_hash", "batch_id"];

/// The change columns a lean `held` keeps of a key's current version
/// ([`MergePlan::versions_ctes`]), beside `is_deleted`.
const LEAN_HELD: [&str; 2] = ["valid_from", "row_hash"];

/// [`CHANGE_COLUMNS`], quoted, of the rows `alias` names (`h.`, `l.`, or
/// none: `""`).
fn change_columns_of(alias: &str) -> String {
    CHANGE_COLUMNS
        .map(|c| format!("{alias}{}", quote_ident(c)))
        .join(", ")
}

/// A snapshot table's extract: keys missing from it are deleted at `extract_time`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SnapshotParams {
    /// Microseconds since the epoch.
    pub extract_time: i64,
    pub max_delete_fraction: f64,
    /// The extract holds each key once ([`crate::ledger::Batch::distinct_keys`]).
    pub distinct_keys: bool,
    /// Read the batch's diff ([`crate::ledger::DiffRecord`]) instead of
    /// joining the extract with the current rows, where the engine reads
    /// one ([`Dialect::snapshot_diff`]). Only once the current rows are
    /// checked to be those the diff was found against
    /// ([`MergePlan::current_digest`]).
    pub diff: bool,
}

impl SnapshotParams {
    /// Whether an extract may delete `deletes` of the `current` rows.
    pub fn allows(&self, deletes: u64, current: u64) -> bool {
        current == 0 || deletes as f64 <= self.max_delete_fraction * current as f64
    }
}

/// Which history table a plan writes, and which change log it reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryTarget {
    /// The history generation whose change log the merge reads (0 until the
    /// table's first rebuild).
    pub generation: u32,
    /// A rebuild's staged table ([`staged_table_name`]) instead of the live one.
    pub staged: bool,
}

/// The table a rebuild builds before it swaps it in for `table`.
pub fn staged_table_name(table: &str) -> String {
    format!("{table}__rebuild")
}

/// What the live table becomes when a rebuild swaps in its staged table:
/// the history as it was, kept until the next rebuild (the way back).
pub fn previous_table_name(table: &str) -> String {
    format!("{table}__previous")
}

/// Merging batch `batch_id` of `meta`'s table.
#[derive(Debug, Clone)]
pub struct MergePlan<'a> {
    pub database: &'a str,
    pub meta: &'a TableMetadata,
    pub batch_id: BatchId,
    pub snapshot: Option<SnapshotParams>,
    pub target: HistoryTarget,
    /// How far back the batch reaches, when the ledger knows it.
    pub since: Option<Since>,
    /// The table's retention (`retain_closed_years`): closed versions that
    /// ended before this instant (µs since the epoch) are removed by
    /// maintenance, and a merge never writes one back from the change log.
    pub retained_from: Option<i64>,
    /// How the generation's files and history table store `row_hash`
    /// ([`crate::ledger::Ledger::row_hash_format`]).
    pub row_hash: RowHashFormat,
}

/// What a merge changed in a history table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MergeCounts {
    /// Versions inserted.
    pub inserted: u64,
    /// Versions whose validity (`valid_to`, `is_current`) was updated.
    pub updated: u64,
    /// Versions deleted: no-ops after a late change.
    pub removed: u64,
}

/// The temporary table a staged merge keeps its versions in.
const MERGE_SOURCE: &str = "\"merge_source\"";

/// How a batch is applied to its history table ([`MergePlan::merge`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeStatements {
    /// One MERGE (Athena's reports nothing of what it changed).
    Merge(String),
    /// Steps run in one transaction, each reporting the rows it changed
    /// ([`Dialect::changed_rows_column`]).
    Staged {
        stage: String,
        /// A snapshot's delete guard, over the staged versions: it fails
        /// the transaction ([`refused_deletes`]) before anything changed.
        guard: Option<String>,
        delete: String,
        update: String,
        insert: String,
        unstage: String,
    },
    /// A snapshot merged from its diff where every change follows the
    /// history's versions ([`MergePlan::merge`]): steps in one transaction,
    /// each reporting the rows it changed. The guard goes first, as in
    /// `Staged`.
    Diffed {
        guard: String,
        /// The delete versions of the keys the extract lacks.
        deletes: String,
        /// The current versions of the changed and missing keys, ended.
        close: String,
        /// The changed rows, as the keys' current versions.
        insert: String,
    },
}

impl MergeStatements {
    /// Every statement, in the order they run.
    pub fn all(&self) -> Vec<String> {
        match self {
            MergeStatements::Merge(merge) => vec![merge.clone()],
            MergeStatements::Staged {
                stage,
                guard,
                delete,
                update,
                insert,
                unstage,
            } => std::iter::once(stage)
                .chain(guard)
                .chain([delete, update, insert, unstage])
                .cloned()
                .collect(),
            MergeStatements::Diffed {
                guard,
                deletes,
                close,
                insert,
            } => vec![
                guard.clone(),
                deletes.clone(),
                close.clone(),
                insert.clone(),
            ],
        }
    }

    /// The one MERGE, where the merge is not staged.
    pub fn single(self) -> Option<String> {
        match self {
            MergeStatements::Merge(merge) => Some(merge),
            _ => None,
        }
    }

    /// Runs the merge on `engine` (a staged one in one transaction): each
    /// statement's result, and what it changed where the engine reports that.
    pub async fn apply(
        &self,
        engine: &dyn QueryEngine,
    ) -> Result<(Vec<QueryResult>, Option<MergeCounts>), EngineError> {
        let results = match self {
            MergeStatements::Merge(sql) => vec![engine.execute(sql).await?],
            _ => engine.transaction(&self.all()).await?,
        };
        let counts = engine
            .dialect()
            .changed_rows_column()
            .and_then(|column| self.counts(&results, column));
        Ok((results, counts))
    }

    /// What a staged merge changed, from its statements' results (in the
    /// order of [`Self::all`]) and the column they report it in.
    fn counts(&self, results: &[QueryResult], column: &str) -> Option<MergeCounts> {
        let changed = |i: usize| {
            results
                .get(i)
                .and_then(|r| r.int(column))
                .map(|n| n.max(0) as u64)
        };
        match self {
            MergeStatements::Merge(_) => None,
            MergeStatements::Staged { guard, .. } => {
                let first = 1 + usize::from(guard.is_some());
                Some(MergeCounts {
                    removed: changed(first)?,
                    updated: changed(first + 1)?,
                    inserted: changed(first + 2)?,
                })
            }
            MergeStatements::Diffed { .. } => Some(MergeCounts {
                removed: 0,
                updated: changed(2)?,
                inserted: changed(1)? + changed(3)?,
            }),
        }
    }
}

/// What a staged merge's delete guard fails with, before its counts.
const GUARD_REFUSED: &str = "tidemark delete guard refused:";

/// The deletes and current rows of a snapshot extract that a staged
/// merge's guard refused (`MergeStatements::Staged::guard`), from the
/// error it failed the transaction with.
pub fn refused_deletes(error: &EngineError) -> Option<(u64, u64)> {
    let EngineError::Query { message, .. } = error else {
        return None;
    };
    let (_, counts) = message.split_once(GUARD_REFUSED)?;
    let mut words = counts.split_whitespace();
    let deletes = words.next()?.parse().ok()?;
    let current = words.nth(1)?.parse().ok()?;
    Some((deletes, current))
}

/// A history table's maintenance: with a retention, the closed versions that
/// ended before its cutoff are deleted first (current rows never: they end
/// in 9999); then the dialect's housekeeping.
pub fn maintenance(
    d: &dyn Dialect,
    database: &str,
    table: &str,
    keys: &[String],
    retained_from: Option<i64>,
) -> Vec<Statement> {
    let expire = retained_from.map(|at| {
        Statement::sql(format!(
            "DELETE FROM {}.{} WHERE \"valid_to\" < {}",
            quote_ident(database),
            quote_ident(table),
            timestamp_literal(at)
        ))
    });
    expire
        .into_iter()
        .chain(d.maintenance(database, table, keys))
        .collect()
}

/// How far back a batch reaches (docs/merge.md, "What a merge reads"): no
/// history row that ended before `at`, and no logged change older than it,
/// can be affected by the batch, and only `batches` hold a change from `at`
/// on. The MERGE says so with literals the engine prunes by (file names,
/// row-group and file statistics, partitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The batch's earliest change, µs since the epoch.
    pub at: i64,
    /// The batches of the generation, up to the merged one and including
    /// it, whose latest change is at or after `at`, in order.
    pub batches: Vec<BatchId>,
}

impl Since {
    /// How far back `batch`, whose earliest change is `at`, reaches among
    /// the batches of its generation, each given with its latest change.
    pub fn of(batch: BatchId, at: i64, latest: impl IntoIterator<Item = (BatchId, i64)>) -> Since {
        let mut batches: Vec<BatchId> = latest
            .into_iter()
            .filter(|&(id, last)| last >= at && id < batch)
            .map(|(id, _)| id)
            .chain([batch])
            .collect();
        batches.sort();
        batches.dedup();
        Since { at, batches }
    }
}

/// `valid_to` of a current row, as a literal. Current rows are selected by
/// it rather than by `is_current` (the same rows): Iceberg keeps them in a
/// partition of their own, `month(valid_to)` of the year 9999.
fn open_literal() -> String {
    format!("TIMESTAMP '{VALID_TO_OPEN}'")
}

fn timestamp_literal(micros: i64) -> String {
    let ts = chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .naive_utc();
    format!("TIMESTAMP '{}'", ts.format("%Y-%m-%d %H:%M:%S%.6f"))
}

impl MergePlan<'_> {
    /// The name of the history table this plan writes.
    pub fn history_name(&self) -> String {
        if self.target.staged {
            staged_table_name(&self.meta.name)
        } else {
            self.meta.name.clone()
        }
    }

    /// Where the history table's files go, under `history/<database>/`:
    /// `<table>` for the live table, `<table>.g<n>` for the table a rebuild
    /// stages for generation n. A swapped-in table keeps its files where it
    /// was staged, so each rebuild needs a folder no earlier generation
    /// holds: a fixed one would put the next rebuild's Iceberg table in the
    /// folder of the live one.
    pub fn history_folder(&self) -> String {
        if self.target.staged {
            format!("{}.g{}", self.meta.name, self.target.generation)
        } else {
            self.meta.name.clone()
        }
    }

    fn table(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(self.database),
            quote_ident(&self.history_name())
        )
    }

    /// The change log as far as the batch reaches (all of it when unknown).
    fn change_log(&self, d: &dyn Dialect) -> String {
        match &self.since {
            Some(since) => d.change_log_of(
                self.database,
                self.meta,
                self.target.generation,
                &since.batches,
            ),
            None => d.change_log_through(
                self.database,
                self.meta,
                self.target.generation,
                self.batch_id,
            ),
        }
    }

    /// Business columns, quoted (`q`): the keys as `key(q)`, the others as
    /// `other(q)`.
    fn keys_and_others(
        &self,
        key: impl Fn(&str) -> String,
        other: impl Fn(&str) -> String,
    ) -> String {
        self.meta
            .columns
            .iter()
            .map(|c| {
                let q = quote_ident(&c.name);
                match self.meta.primary_key.contains(&c.name) {
                    true => key(&q),
                    false => other(&q),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Business columns, quoted, each prefixed with `alias.` when given.
    fn business(&self, alias: &str) -> String {
        let prefixed = |q: &str| format!("{alias}{q}");
        self.keys_and_others(prefixed, prefixed)
    }

    fn key_match(&self, left: &str, right: &str) -> String {
        self.meta
            .primary_key
            .iter()
            .map(|k| format!("{left}.{q} = {right}.{q}", q = quote_ident(k)))
            .collect::<Vec<_>>()
            .join(" AND ")
    }

    /// The first key column, quoted: NULL on the outer side of a join
    /// on the keys exactly when no row matched.
    fn first_key(&self) -> String {
        quote_ident(self.meta.primary_key.first().map_or("", String::as_str))
    }

    fn keys(&self) -> String {
        self.keys_of("")
    }

    fn keys_of(&self, alias: &str) -> String {
        self.meta
            .primary_key
            .iter()
            .map(|k| format!("{alias}{}", quote_ident(k)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Each key column `k` of the current rows in a snapshot's `diff`:
    /// `h."k" AS "held_k"`, or (`to_held = false`) back, `"held_k" AS "k"`.
    fn held_key_aliases(&self, to_held: bool) -> String {
        self.held_key_aliases_of("h.", to_held)
    }

    /// [`Self::held_key_aliases`] of the rows `alias` names.
    fn held_key_aliases_of(&self, alias: &str, to_held: bool) -> String {
        self.meta
            .primary_key
            .iter()
            .map(|k| {
                let (key, held) = (quote_ident(k), quote_ident(&format!("held_{k}")));
                match to_held {
                    true => format!("{alias}{key} AS {held}"),
                    false => format!("{held} AS {key}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `columns` of the batch's rows in the change log.
    fn batch_rows(&self, d: &dyn Dialect, columns: &str) -> String {
        format!(
            "SELECT {columns} FROM {log} WHERE \"batch_id\" = {batch}",
            log = self.change_log(d),
            batch = string_literal(&self.batch_id.to_string()),
        )
    }

    /// The history table's columns and their engine types.
    pub fn history_columns(&self, d: &dyn Dialect) -> Vec<HistoryColumn> {
        let mut cols: Vec<HistoryColumn> = self
            .meta
            .columns
            .iter()
            .map(|c| HistoryColumn {
                name: c.name.clone(),
                engine_type: d.column_type(c.column_type),
            })
            .collect();
        let ts = d.timestamp_type().to_string();
        let text = d.string_type().to_string();
        for (name, ty) in [
            ("valid_from", ts.clone()),
            ("change_seq", text.clone()),
            ("valid_to", ts),
            ("is_current", "boolean".to_string()),
            ("is_deleted", "boolean".to_string()),
            ("op", text.clone()),
            ("batch_id", text.clone()),
            ("row_hash", self.row_hash_type(d)),
        ] {
            cols.push(HistoryColumn {
                name: name.to_string(),
                engine_type: ty,
            });
        }
        cols
    }

    /// The engine type of `row_hash`.
    fn row_hash_type(&self, d: &dyn Dialect) -> String {
        if self.row_hash.is_bigint() {
            d.column_type(ColumnType::Int64)
        } else {
            d.string_type().to_string()
        }
    }

    /// What a join compares in place of `row_hash` (`column`): the
    /// dialect's shorter digest of the text, or the 64 bits themselves.
    fn compared_hash(&self, d: &dyn Dialect, column: &str) -> Option<String> {
        if self.row_hash.is_bigint() {
            None
        } else {
            d.row_hash_digest(column)
        }
    }

    /// Lists the columns the history table (and the change-log table, where
    /// the dialect has one) have now: `table_name`, `column_name`, `data_type`.
    pub fn columns_query(&self, d: &dyn Dialect) -> String {
        let tables: Vec<String> = std::iter::once(self.history_name())
            .chain(d.change_log_table(self.meta, self.target.generation))
            .map(|t| string_literal(&t))
            .collect();
        format!(
            "SELECT table_name, column_name, data_type FROM information_schema.columns\nWHERE table_schema = {} AND table_name IN ({})\nORDER BY table_name, ordinal_position",
            string_literal(self.database),
            tables.join(", ")
        )
    }

    /// The DDL that brings the history table (and the change log's table)
    /// from `existing` (what [`Self::columns_query`] returned) to the
    /// metadata: create them, or add the new nullable columns. Anything else
    /// (a dropped or retyped column, a new column that is not nullable) is a
    /// breaking change: the reasons are returned and nothing is to be run.
    pub fn schema_statements(
        &self,
        d: &dyn Dialect,
        existing: &[ExistingColumn],
    ) -> Result<Vec<Statement>, Vec<String>> {
        let name = self.history_name();
        let table = name.as_str();
        let history: Vec<&ExistingColumn> = existing.iter().filter(|c| c.table == table).collect();
        let mut statements = Vec::new();
        if history.is_empty() {
            statements.extend(d.create_schema(self.database));
            statements.push(d.create_table(
                self.database,
                table,
                &self.history_folder(),
                &self.history_columns(d),
            ));
        } else {
            let has = |name: &str| history.iter().any(|c| c.name.eq_ignore_ascii_case(name));
            let mut reasons = Vec::new();
            for c in &history {
                if HISTORY_CONTROL_COLUMNS.contains(&c.name.as_str()) {
                    continue;
                }
                match self.meta.column(&c.name) {
                    None => reasons.push(format!(
                        "column {} is in the history table but not in the metadata",
                        c.name
                    )),
                    Some(m)
                        if !d
                            .column_type(m.column_type)
                            .eq_ignore_ascii_case(&c.data_type) =>
                    {
                        reasons.push(format!(
                            "column {} is {} in the history table, but the metadata says {} ({})",
                            c.name,
                            c.data_type,
                            m.column_type,
                            d.column_type(m.column_type)
                        ))
                    }
                    Some(_) => {}
                }
            }
            let added: Vec<&Column> = self.meta.columns.iter().filter(|c| !has(&c.name)).collect();
            for c in added.iter().filter(|c| !c.nullable) {
                reasons.push(format!(
                    "new column {} is not nullable, so earlier versions have no value for it",
                    c.name
                ));
            }
            if !reasons.is_empty() {
                return Err(reasons);
            }
            if !added.is_empty() {
                statements.extend(d.add_columns(self.database, table, &added));
            }
        }
        if let Some(log) = d.change_log_table(self.meta, self.target.generation) {
            let columns: Vec<String> = existing
                .iter()
                .filter(|c| c.table == log)
                .map(|c| c.name.clone())
                .collect();
            let existing = (!columns.is_empty()).then_some(columns.as_slice());
            statements.extend(d.change_log_ddl(
                self.database,
                self.meta,
                self.target.generation,
                self.row_hash,
                existing,
            ));
        }
        Ok(statements)
    }

    /// Snapshot tables: how many current rows the extract would delete, and how
    /// many there are (`deletes`, `current_rows`). Checked before the merge.
    /// The deletes are an anti-join on the keys alone: no `DISTINCT` of the
    /// extract's keys (a 2M-key extract: 0.17 s against 0.08 s on DuckDB).
    /// `None` where the merge is staged: its guard counts the staged
    /// deletes inside the merge's transaction instead (0.01 s against 0.1 s).
    pub fn delete_guard(&self, d: &dyn Dialect) -> Option<String> {
        self.snapshot?;
        if self.target_position(d, false).is_some() {
            return None;
        }
        Some(format!(
            "SELECT {current_rows}, count(*) AS deletes\nFROM {table} h\nLEFT JOIN ({keys}) b ON {m}\nWHERE h.\"valid_to\" = {open} AND NOT h.\"is_deleted\" AND b.{absent} IS NULL",
            current_rows = self.current_rows(),
            absent = self.first_key(),
            keys = self.batch_rows(d, &self.keys()),
            m = self.key_match("b", "h"),
            table = self.table(),
            open = open_literal(),
        ))
    }

    /// Rows in the history table (for the reconciliation record).
    pub fn count_rows(&self) -> String {
        format!("SELECT count(*) AS row_count FROM {}", self.table())
    }

    /// The current rows' number and the sum and exclusive or of their row
    /// hashes, as text ([`crate::validate::CurrentDigest::of_listing`]):
    /// whether a snapshot diff stands for the join ([`SnapshotParams::diff`]).
    /// `row_hash` as a `bigint` only, which DuckDB sums as a `hugeint`
    /// (cast first, each row: 0.015 against 0.009 s on 2M rows).
    pub fn current_digest(&self) -> String {
        format!(
            "SELECT CAST(count(*) AS VARCHAR) AS \"rows\", CAST(COALESCE(sum(\"row_hash\"), 0) AS VARCHAR) AS \"hash_sum\", CAST(COALESCE(bit_xor(\"row_hash\"), 0) AS VARCHAR) AS \"hash_xor\" FROM {} WHERE \"valid_to\" = {} AND NOT \"is_deleted\"",
            self.table(),
            open_literal()
        )
    }

    /// A batch that is the only one of its generation to reach its
    /// changes' instants, merged into a history table that holds
    /// `history_rows = 0` rows (a table's first batch, usually the full
    /// load, or the first batch a rebuild merges): the versions come from
    /// the batch alone, so a plain INSERT writes what the MERGE would,
    /// without joining history, re-reading the log or matching rows.
    /// `None` when the history has rows or another batch may contribute.
    pub fn first_load(&self, d: &dyn Dialect, history_rows: u64) -> Option<String> {
        let alone = self
            .since
            .as_ref()
            .is_some_and(|s| s.batches == [self.batch_id]);
        (alone && history_rows == 0).then(|| {
            format!(
                "INSERT INTO {table} ({all})\n{ctes}\nSELECT {columns}\nFROM versions\nWHERE NOT is_noop{kept}",
                table = self.table(),
                all = self.history_column_names(d).join(", "),
                ctes = self.versions_ctes(d, true),
                columns = self.version_columns(),
                kept = self.kept().map(|c| format!(" AND ({c})")).unwrap_or_default(),
            )
        })
    }

    /// How many keys the batch holds more than once (`repeated`), asked
    /// before a [`Self::first_load`].
    pub fn repeated_keys(&self, d: &dyn Dialect) -> String {
        format!(
            "SELECT count(*) AS repeated FROM ({rows} GROUP BY {keys} HAVING count(*) > 1) r",
            rows = self.batch_rows(d, &self.keys()),
            keys = self.keys(),
        )
    }

    /// A [`Self::first_load`] whose keys each occur once: every row is its
    /// key's current version, so the rows are inserted as they are, without
    /// the timeline's windows (a 2M-key extract: 1.8 s against 3.5 s).
    pub fn first_load_distinct(&self, d: &dyn Dialect) -> String {
        let no_next = format!(
            "{}, {}, CAST(NULL AS {}) AS next_from",
            self.business(""),
            change_columns_of(""),
            d.timestamp_type()
        );
        format!(
            "INSERT INTO {table} ({all})\nSELECT {columns}\nFROM ({rows}) batch",
            table = self.table(),
            all = self.history_column_names(d).join(", "),
            columns = self.version_columns(),
            rows = self.batch_rows(d, &no_next),
        )
    }

    /// The statements that apply the batch: one MERGE, or where the
    /// engine numbers rows ([`Dialect::row_position`]), the versions into a
    /// temporary table and the history changed from there.
    pub fn merge(&self, d: &dyn Dialect) -> MergeStatements {
        if let Some(diffed) = self.diffed_merge(d) {
            return diffed;
        }
        match self.target_position(d, false) {
            Some(position) => self.staged_merge(d, position),
            None => MergeStatements::Merge(self.one_merge(d)),
        }
    }

    /// A snapshot merged from its diff ([`SnapshotParams::diff`]) whose
    /// extract holds each key once and comes after every version in the
    /// history ([`Self::reaches_back`]): each changed row is its key's one
    /// change, after the key's current version, and never repeats it (the
    /// diff holds only rows whose hash differs from that version's, or
    /// whose key has none), and each missing key's current version is the
    /// extract's row before. So the current versions of those keys end at
    /// the extract, the missing keys get a delete version, and the changed
    /// rows are inserted: no timeline, no windows, no staged versions (a
    /// 2M-key day: 0.31 -> 0.26 s). `None` otherwise (the staged merge reads
    /// the diff then).
    fn diffed_merge(&self, d: &dyn Dialect) -> Option<MergeStatements> {
        let s = self.snapshot.filter(|s| s.diff && s.distinct_keys)?;
        let position = self.target_position(d, false)?;
        if self.reaches_back() {
            return None;
        }
        let [changed, gone] = d.snapshot_diff(
            self.database,
            self.meta,
            self.target.generation,
            self.batch_id,
        )?;
        let table = self.table();
        let all = self.history_column_names(d).join(", ");
        let open = open_literal();
        let ts = timestamp_literal(s.extract_time);
        let batch = string_literal(&self.batch_id.to_string());
        Some(MergeStatements::Diffed {
            guard: self.delete_guard_over(s, &format!("SELECT count(*) FROM {gone}")),
            // The missing keys' rows found by the key columns alone, then
            // read whole by their position: a join that read every column
            // of the history took twice as long.
            deletes: format!(
                "INSERT INTO {table} ({all})\nSELECT {hb}, {ts}, {seq}, {open}, TRUE, TRUE, 'D', {batch}, h.\"row_hash\"\nFROM {table} h\nWHERE h.{position} IN (SELECT c.{position} FROM {table} c JOIN {gone} g ON {mg} WHERE c.\"valid_to\" = {open} AND NOT c.\"is_deleted\")",
                hb = self.business("h."),
                seq = string_literal(SNAPSHOT_DELETE_SEQ),
                mg = self.key_match("g", "c"),
            ),
            // Before the extract: not the delete versions just inserted.
            close: format!(
                "UPDATE {table} AS t SET \"valid_to\" = {ts}, \"is_current\" = FALSE\nFROM (SELECT {keys} FROM {changed} UNION ALL SELECT {keys} FROM {gone}) k\nWHERE {mk} AND t.\"valid_to\" = {open} AND t.\"valid_from\" < {ts}",
                keys = self.keys(),
                mk = self.key_match("t", "k"),
            ),
            insert: format!(
                "INSERT INTO {table} ({all})\nSELECT {b}, \"valid_from\", \"change_seq\", {open}, TRUE, \"op\" = 'D', \"op\", \"batch_id\", \"row_hash\" FROM {changed}",
                b = self.business(""),
            ),
        })
    }

    /// The source of the merge: every version of the batch's keys' timeline,
    /// `drop_row` on the history rows a late change made no-ops.
    fn merge_source(&self, d: &dyn Dialect, position: Option<&str>) -> String {
        format!(
            "{ctes}\n  SELECT {columns}, is_noop AS drop_row{position}{src}\n  FROM versions{kept}",
            ctes = self.versions_ctes(d, false),
            position = position.map(|_| ", target_row").unwrap_or_default(),
            // For the staged guard's count of deletes.
            src = if position.is_some() && self.snapshot.is_some() {
                ", src"
            } else {
                ""
            },
            columns = self.version_columns(),
            kept = self
                .kept()
                .map(|c| format!("\n  WHERE {c}"))
                .unwrap_or_default(),
        )
    }

    /// The one MERGE that applies the batch, where the engine numbers no
    /// rows: a version matches the history row it came from by (keys,
    /// `valid_from`, `change_seq`).
    fn one_merge(&self, d: &dyn Dialect) -> String {
        let table = self.table();
        let all_cols = self.history_column_names(d);
        format!(
            "MERGE INTO {table} AS t
USING (
  {source}
) AS s
ON {on} AND t.\"valid_from\" = s.\"valid_from\" AND t.\"change_seq\" = s.\"change_seq\"{target_bound}
WHEN MATCHED AND s.drop_row THEN DELETE
WHEN MATCHED AND (t.\"valid_to\" <> s.\"valid_to\" OR t.\"is_current\" <> s.\"is_current\") THEN
  UPDATE SET \"valid_to\" = s.\"valid_to\", \"is_current\" = s.\"is_current\"
WHEN NOT MATCHED AND NOT s.drop_row THEN
  INSERT ({all}) VALUES ({values})",
            source = self.merge_source(d, None),
            on = self.key_match("t", "s"),
            target_bound = self.since_bound("t.\"valid_to\""),
            all = all_cols.join(", "),
            values = all_cols
                .iter()
                .map(|c| format!("s.{c}"))
                .collect::<Vec<_>>()
                .join(", "),
        )
    }

    /// The merge in steps, by row number (`position`): the versions into
    /// [`MERGE_SOURCE`], then the history rows that became no-ops deleted,
    /// those whose validity changed updated, and the new versions inserted
    /// from it. Each step scans the history in storage order and joins
    /// the few columns it changes, where DuckDB's MERGE held its whole
    /// source and the target's join at once (docs/merge.md, "The merge in
    /// steps"). A version's number (`target_row`) names the same history
    /// row as (keys, `valid_from`, `change_seq`) in [`Self::one_merge`]: a
    /// change the history already holds is in `held` too (that row ends no
    /// earlier than the key's earliest incoming change), so it makes its key
    /// tangled and the timeline's deduplication keeps the history row
    /// instead; a version without a number is new.
    fn staged_merge(&self, d: &dyn Dialect, position: &str) -> MergeStatements {
        let table = self.table();
        let all = self.history_column_names(d).join(", ");
        let bound = self.since_bound("\"valid_to\"");
        MergeStatements::Staged {
            stage: format!(
                "CREATE TEMPORARY TABLE {MERGE_SOURCE} AS\n  {}",
                self.merge_source(d, Some(position))
            ),
            guard: self.snapshot.map(|s| {
                self.delete_guard_over(
                    s,
                    &format!("SELECT count(*) FROM {MERGE_SOURCE} WHERE src = 2 AND NOT drop_row"),
                )
            }),
            delete: format!(
                "DELETE FROM {table}\nWHERE {position} IN (SELECT target_row FROM {MERGE_SOURCE} WHERE drop_row AND target_row IS NOT NULL){bound}"
            ),
            update: format!(
                "UPDATE {table} AS t SET \"valid_to\" = s.\"valid_to\", \"is_current\" = s.\"is_current\"
FROM (SELECT target_row, \"valid_to\", \"is_current\" FROM {MERGE_SOURCE} WHERE target_row IS NOT NULL AND NOT drop_row) s
WHERE t.{position} = s.target_row{t_bound} AND (t.\"valid_to\" <> s.\"valid_to\" OR t.\"is_current\" <> s.\"is_current\")",
                t_bound = self.since_bound("t.\"valid_to\""),
            ),
            insert: format!(
                "INSERT INTO {table} ({all})\nSELECT {all} FROM {MERGE_SOURCE} WHERE target_row IS NULL AND NOT drop_row"
            ),
            unstage: format!("DROP TABLE {MERGE_SOURCE}"),
        }
    }

    /// A snapshot merge's delete guard inside its transaction: the deletes
    /// `deletes` counts (the staged delete versions, `src = 2`, or the diff's missing
    /// keys) against the current rows, which [`SnapshotParams::allows`]
    /// compares; refused, DuckDB's `error` fails the transaction with
    /// [`GUARD_REFUSED`] and the counts.
    fn delete_guard_over(&self, s: SnapshotParams, deletes: &str) -> String {
        format!(
            "SELECT CASE WHEN current_rows > 0 AND deletes > CAST('{fraction:?}' AS DOUBLE) * current_rows
  THEN error('{GUARD_REFUSED} ' || deletes || ' of ' || current_rows) END AS refused
FROM (SELECT ({deletes}) AS deletes,
  {current_rows}) g",
            fraction = s.max_delete_fraction,
            current_rows = self.current_rows(),
        )
    }

    /// The delete guards' count of the history's current, not deleted rows
    /// (`current_rows`), which the extract's deletes are weighed against.
    fn current_rows(&self) -> String {
        format!(
            "(SELECT count(*) FROM {} WHERE \"valid_to\" = {} AND NOT \"is_deleted\") AS current_rows",
            self.table(),
            open_literal()
        )
    }

    /// The engine's row position, carried by the timeline as `target_row`
    /// (history rows: where they are stored; others: null) so that the
    /// MERGE ends versions in storage order ([`Dialect::row_position`]).
    fn target_position(&self, d: &dyn Dialect, first_load: bool) -> Option<&'static str> {
        d.row_position().filter(|_| !first_load)
    }

    /// Whether an earlier batch holds changes from the batch's earliest
    /// one on (or the ledger does not know). Unless it does, or a later
    /// batch has merged, the batch's changes come after every version in
    /// the history but its own (a batch merged again), so the merge removes
    /// nothing: a change that repeats the version before it leaves the next
    /// one as it was.
    fn reaches_back(&self) -> bool {
        self.since
            .as_ref()
            .is_none_or(|s| s.batches != [self.batch_id])
    }

    /// The history table's columns, quoted, in order.
    fn history_column_names(&self, d: &dyn Dialect) -> Vec<String> {
        self.history_columns(d)
            .into_iter()
            .map(|c| quote_ident(&c.name))
            .collect()
    }

    /// ` AND <column> >= <the batch's earliest change>`, when the ledger
    /// knows it: every row the MERGE's source can match ends at or after
    /// it, so the versions it rewrites are those from then on and the one
    /// before them.
    fn since_bound(&self, column: &str) -> String {
        self.since
            .as_ref()
            .map(|since| format!(" AND {column} >= {}", timestamp_literal(since.at)))
            .unwrap_or_default()
    }

    /// The history columns of a row of `versions` ([`Self::versions_ctes`]).
    fn version_columns(&self) -> String {
        format!(
            "{}, \"valid_from\", \"change_seq\",
         COALESCE(next_from, TIMESTAMP '{VALID_TO_OPEN}') AS \"valid_to\",
         next_from IS NULL AS \"is_current\",
         \"op\" = 'D' AS \"is_deleted\", \"op\", \"batch_id\", \"row_hash\"",
            self.business("")
        )
    }

    /// The rows of `versions` a retention keeps: a logged change whose
    /// version ended before the retention cutoff was removed (or is due to
    /// be), and late data re-reading the log must not write it back.
    /// Versions from the history stay in, so their ends are rewritten like
    /// any other. (A logged no-op left out changes nothing: only a history
    /// row is removed.)
    fn kept(&self) -> Option<String> {
        self.retained_from.map(|at| {
            format!(
                "src = 0 OR COALESCE(next_from, TIMESTAMP '{VALID_TO_OPEN}') >= {}",
                timestamp_literal(at)
            )
        })
    }

    /// The `WITH` clause that puts the batch's keys' timeline in order:
    /// `flagged` is every change and version once, with `is_noop` set on a
    /// change that repeats the one before it; `versions` the same rows, each
    /// with the start of the next version, no-ops skipped (`next_from`: the
    /// earliest that follows, which is `lead` ignoring the no-ops, in a form
    /// both engines parse). Keeping the no-ops in `versions`, where the
    /// MERGE deletes them, reads `flagged` once: read twice, DuckDB held it
    /// in memory (a 200,000-change CDC day: peak buffer 322 -> 235 MB).
    /// The timeline is the touched keys' history from the batch's earliest
    /// change on and their logged changes since; for a `first_load`, the
    /// batch alone. A history row is never inserted (it matches itself), so
    /// it carries its keys and change columns only.
    ///
    /// Unless the batch reaches back ([`Self::reaches_back`]), most keys
    /// get one change that follows their current version: for those
    /// (`paired`), the change and that version are joined, and only the
    /// other keys (`tangled`) go through the windows, which were two thirds
    /// of a 200,000-change CDC day's MERGE (CPU 1.08 -> 0.53 s, wall 0.92 -> 0.66).
    fn versions_ctes(&self, d: &dyn Dialect, first_load: bool) -> String {
        let log = self.change_log(d);
        let table = self.table();
        let batch = string_literal(&self.batch_id.to_string());
        let number = self.batch_id.number();
        let log_number = BatchId::sql_number("l.\"batch_id\"");
        let row_number = BatchId::sql_number("\"batch_id\"");
        let keys = self.keys();
        let order = format!("PARTITION BY {keys} ORDER BY \"valid_from\", \"change_seq\"");
        let changes = change_columns_of("");
        let read_batch = self.batch_rows(d, &format!("{}, {changes}", self.business("")));
        let snapshot = self.snapshot.filter(|_| !first_load);
        let position = self.target_position(d, first_load);
        let no_position = position.map(|_| ", NULL AS target_row").unwrap_or_default();
        let with_position = position.map(|_| ", target_row").unwrap_or_default();
        let open = open_literal();
        // One join of the extract with the current rows, on the keys alone,
        // finds both what can change history: the extract's rows that differ
        // from their key's current version (`batch`) and the keys it lacks
        // (`gone`), whose current rows are then read. A 2M-key day: CPU 2.0
        // -> 1.8 s against an anti-join per side, each building a hash table
        // of every current key and reading the extract again. `diff` holds
        // the few rows that differ, so an engine may keep it.
        // Where validation found those already (a diff against the extract
        // whose rows the current ones are), the join is left out: the
        // changed rows and the missing keys are read as they are (2M-key
        // snapshots: merge-history 2.92 -> 2.19 s over five days).
        let diff_files = snapshot.filter(|s| s.diff).and_then(|_| {
            d.snapshot_diff(
                self.database,
                self.meta,
                self.target.generation,
                self.batch_id,
            )
        });
        let diff = match diff_files {
            Some([changed, gone]) => format!(
                "diff AS (\n    SELECT * FROM {changed}\n    UNION ALL BY NAME\n    SELECT {held} FROM {gone}\n  )",
                held = self.held_key_aliases_of("", true),
            ),
            None => format!(
                "diff AS (\n    SELECT e.*, {held_keys} FROM ({read_batch}) e\n    FULL JOIN (SELECT {keys}, {held_hash} FROM {table} WHERE \"valid_to\" = {open} AND NOT \"is_deleted\") h ON {m}\n    WHERE h.{first} IS NULL OR e.{first} IS NULL OR h.\"row_hash\" <> {extract_hash}\n  )",
                held_keys = self.held_key_aliases(true),
                held_hash = self
                    .compared_hash(d, "\"row_hash\"")
                    .map_or("\"row_hash\"".into(), |h| format!("{h} AS \"row_hash\"")),
                extract_hash = self
                    .compared_hash(d, "e.\"row_hash\"")
                    .unwrap_or("e.\"row_hash\"".into()),
                m = self.key_match("h", "e"),
                first = self.first_key(),
            ),
        };
        let (batch_rows, snapshot_deletes) = match snapshot {
            Some(s) => (
                format!(
                    "{diff},\n  batch AS (\n    SELECT {b}, {changes} FROM diff WHERE {first} IS NOT NULL\n  )",
                    first = self.first_key(),
                    b = self.business(""),
                ),
                format!(
                    ",\n  gone AS (\n    SELECT {gone_keys} FROM diff WHERE {first} IS NULL\n  ),\n  snapshot_deletes AS (\n    SELECT {hb}, 'D' AS \"op\", {ts} AS \"valid_from\", {seq} AS \"change_seq\", h.\"row_hash\", {batch} AS \"batch_id\"\n    FROM {table} h JOIN gone g ON {mg}\n    WHERE h.\"valid_to\" = {open} AND NOT h.\"is_deleted\"\n  )",
                    gone_keys = self.held_key_aliases(false),
                    first = self.first_key(),
                    hb = self.business("h."),
                    ts = timestamp_literal(s.extract_time),
                    seq = string_literal(SNAPSHOT_DELETE_SEQ),
                    mg = self.key_match("g", "h"),
                ),
            ),
            None => (format!("batch AS (\n    {read_batch}\n  )"), String::new()),
        };
        let windows = format!(
            "timeline AS (
    SELECT * FROM (
      SELECT *, row_number() OVER (PARTITION BY {keys}, \"valid_from\", \"change_seq\" ORDER BY src, {row_number}, \"op\", \"row_hash\") AS occurrence
      FROM timeline_all
    ) deduplicated WHERE occurrence = 1
  ),
  flagged AS (
    SELECT *,
      COALESCE(lag(\"row_hash\") OVER ({order}) = \"row_hash\"
               AND lag(\"op\" = 'D') OVER ({order}) = (\"op\" = 'D'), FALSE) AS is_noop
    FROM timeline
  )"
        );
        let versions = format!(
            "SELECT {b}, {changes}, src{with_position}, is_noop, min(CASE WHEN NOT is_noop THEN \"valid_from\" END) OVER ({order} ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_from
    FROM flagged",
            b = self.business(""),
        );
        if first_load {
            return format!(
                "WITH {batch_rows},
  timeline_all AS (
    SELECT *, 1 AS src FROM batch
  ),
  {windows},
  versions AS (
    {versions}
  )"
            );
        }
        let (incoming, logged_deletes) = match snapshot {
            Some(_) => (
                format!(
                    "SELECT {keys}, \"valid_from\" FROM batch UNION ALL SELECT {keys}, \"valid_from\" FROM snapshot_deletes"
                ),
                format!(
                    "\n    UNION ALL\n    SELECT {b}, {changes}, 2 AS src FROM snapshot_deletes",
                    b = self.business("")
                ),
            ),
            None => (
                format!("SELECT {keys}, \"valid_from\" FROM batch"),
                String::new(),
            ),
        };
        // A snapshot's changes are in `diff` already, with every column;
        // unless the extract repeats a key (then `diff` may lack a row of
        // it that equals the current version) or the log before it
        // contributes, an engine that keeps `diff` reads them there rather
        // than the whole extract again (a 2M-key day: 0.4 of 1.8 CPU s).
        // There, not from `batch`: DuckDB would keep `batch` too, read twice
        // (+25 to 35 MiB on that day).
        let logged_changes = match snapshot {
            Some(s) if s.distinct_keys && d.holds_ctes() && !self.reaches_back() => format!(
                "SELECT {b}, {changes}, 1 AS src FROM diff WHERE {first} IS NOT NULL",
                b = self.business(""),
                first = self.first_key(),
            ),
            _ => format!(
                "SELECT {lb}, {lc}, 1 AS src
    FROM {log} l JOIN touched k ON {ml}
    WHERE {log_number} <= {number} AND l.\"valid_from\" >= k.since{log_bound}",
                lb = self.business("l."),
                lc = change_columns_of("l."),
                ml = self.key_match("k", "l"),
                log_bound = self.since_bound("l.\"valid_from\""),
            ),
        };
        // Where versions are matched by their position and the batch does
        // not reach back, `held` keeps of a key's current version only
        // what pairing it with its change needs: the rest of its change
        // columns are read again for the tangled keys alone. Read for
        // every touched key, those strings were a third of a 200,000-change
        // day's staging on a 2M-key history (0.46 -> 0.29 s).
        let lean = position.filter(|_| !self.reaches_back());
        let touched = format!(
            "touched AS (
    SELECT {keys}, min(\"valid_from\") AS since, count(*) AS incoming FROM ({incoming}) incoming GROUP BY {keys}
  ),
  held AS (
    SELECT {hk}, {hc}{position},
      k.incoming = 1 AND h.\"valid_to\" = {open} AND h.\"valid_from\" < k.since AS in_order
    FROM {table} h JOIN touched k ON {mh}
    WHERE h.\"valid_to\" >= k.since{history_bound}
  ),
  logged AS {inline}(
    {logged_changes}{logged_deletes}
  )",
            hk = self.keys_of("h."),
            hc = match lean {
                Some(_) => LEAN_HELD
                    .map(|c| format!("h.{}, ", quote_ident(c)))
                    .concat()
                    + "h.\"is_deleted\"",
                None => change_columns_of("h."),
            },
            mh = self.key_match("k", "h"),
            position = position
                .map(|p| format!(", h.{p} AS target_row"))
                .unwrap_or_default(),
            history_bound = self.since_bound("h.\"valid_to\""),
            inline = d.read_twice(),
        );
        // A history row's business columns: its keys, the rest null.
        let held_business = self.keys_and_others(|q| format!("h.{q}"), |q| format!("NULL AS {q}"));
        let held_changes = format!("{}, 0 AS src", change_columns_of("h."));
        if self.reaches_back() {
            return format!(
                "WITH {batch_rows}{snapshot_deletes},
  {touched},
  timeline_all AS (
    SELECT {held_business}, {held_changes}{with_position} FROM held h
    UNION ALL
    SELECT *{no_position} FROM logged
  ),
  {windows},
  versions AS (
    {versions}
  )"
            );
        }
        let pick =
            |logged: &str, held: &str| format!("CASE WHEN side = 1 THEN {logged} ELSE {held} END");
        let paired_business = self.keys_and_others(str::to_string, |q| {
            format!("CASE WHEN side = 1 THEN {q} END")
        });
        // Of a current version a lean `held` lacks, nothing is written:
        // its position is matched, and only its end rewritten.
        let held_has = |c: &str| lean.is_none() || LEAN_HELD.contains(&c);
        let paired_changes = CHANGE_COLUMNS
            .map(|c| match held_has(c) {
                true => pick(&quote_ident(c), &format!("held_{c}")),
                false => format!("CASE WHEN side = 1 THEN {} END", quote_ident(c)),
            })
            .join(", ");
        let held_as = CHANGE_COLUMNS
            .iter()
            .filter(|c| held_has(c))
            .map(|c| format!("h.{} AS held_{c}", quote_ident(c)))
            .collect::<Vec<_>>()
            .join(", ");
        let held_deleted = match lean {
            Some(_) => "h.\"is_deleted\"",
            None => "(h.\"op\" = 'D')",
        };
        let tangled_held = match lean {
            Some(p) => format!(
                "SELECT {held_business}, {held_changes}, h.{p} AS target_row FROM {table} h
    JOIN (SELECT {tk}, x.target_row FROM held x JOIN tangled g ON {mgx}) t ON {mth} AND h.{p} = t.target_row{history_bound}",
                tk = self.keys_of("x."),
                mgx = self.key_match("g", "x"),
                mth = self.key_match("t", "h"),
                history_bound = self.since_bound("h.\"valid_to\""),
            ),
            None => format!(
                "SELECT {held_business}, {held_changes} FROM held h JOIN tangled g ON {mgh}",
                mgh = self.key_match("g", "h"),
            ),
        };
        format!(
            "WITH {batch_rows}{snapshot_deletes},
  {touched},
  tangled AS (
    SELECT {keys} FROM touched WHERE incoming > 1
    UNION
    SELECT {keys} FROM held WHERE NOT in_order
  ),
  timeline_all AS (
    {tangled_held}
    UNION ALL
    SELECT l.*{no_position} FROM logged l JOIN tangled g ON {mgl}
  ),
  {windows},
  paired AS (
    SELECT l.*, {held_as}{hposition},
      COALESCE(h.\"row_hash\" = l.\"row_hash\" AND {held_deleted} = (l.\"op\" = 'D'), FALSE) AS is_noop
    FROM logged l LEFT JOIN held h ON {mhl} LEFT JOIN tangled g ON {mgl}
    WHERE g.{first} IS NULL
  ),
  versions AS (
    {versions}
    UNION ALL
    SELECT {paired_business}, {paired_changes}, {src}{pposition}, side = 1 AND is_noop, CASE WHEN side = 0 AND NOT is_noop THEN \"valid_from\" END
    FROM paired CROSS JOIN (VALUES (0), (1)) AS sides (side)
    WHERE side = 1 OR held_valid_from IS NOT NULL
  )",
            hposition = position.map(|_| ", h.target_row").unwrap_or_default(),
            pposition = position
                .map(|_| ", CASE WHEN side = 0 THEN target_row END")
                .unwrap_or_default(),
            src = pick("src", "0"),
            mgl = self.key_match("g", "l"),
            mhl = self.key_match("h", "l"),
            first = self.first_key(),
        )
    }

    /// Housekeeping of the history table ([`crate::config::MaintenanceConfig`]).
    /// With a retention, the closed versions that ended before its cutoff
    /// are deleted first (current rows never: they end in 9999).
    pub fn maintenance(&self, d: &dyn Dialect) -> Vec<Statement> {
        maintenance(
            d,
            self.database,
            &self.history_name(),
            &self.meta.primary_key,
            self.retained_from,
        )
    }

    /// Every statement a run of this plan executes, in order, on an engine
    /// where the history table does not exist yet (but the count of
    /// repeated keys, when validation found them distinct): for `tidemark
    /// sql`, the golden files and the grammar checks.
    pub fn first_run_statements(&self, d: &dyn Dialect) -> Vec<Statement> {
        let mut statements = vec![Statement::sql(self.columns_query(d))];
        statements.extend(
            self.schema_statements(d, &[])
                .expect("creating the tables cannot be a breaking change"),
        );
        statements.extend(self.delete_guard(d).map(Statement::sql));
        match self.first_load(d, 0) {
            Some(insert) => {
                statements.extend([self.repeated_keys(d), insert].map(Statement::sql));
            }
            None => statements.extend(self.merge(d).all().into_iter().map(Statement::sql)),
        }
        statements.push(Statement::sql(self.count_rows()));
        statements.push(Statement::sql(self.current_view()));
        statements.push(d.file_layout(self.database, &self.history_name()));
        statements.extend(self.maintenance(d));
        statements
    }

    /// The `_current` view: the latest version of every key that is not
    /// deleted (always over the live table), by `valid_to`, so Athena
    /// reads only the current rows' partition.
    pub fn current_view(&self) -> String {
        format!(
            "CREATE OR REPLACE VIEW {}.{} AS\nSELECT {}, \"valid_from\", \"op\", \"batch_id\"\nFROM {}.{}\nWHERE \"valid_to\" = {} AND NOT \"is_deleted\"",
            quote_ident(self.database),
            quote_ident(&format!("{}_current", self.meta.name)),
            self.business(""),
            quote_ident(self.database),
            quote_ident(&self.meta.name),
            open_literal(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scd2::{DuckDb, Grammar};

    fn meta(columns: &str) -> TableMetadata {
        TableMetadata::from_json(
            "t.json",
            &format!(r#"{{"name":"t","primary_key":["id"],"columns":[{columns}]}}"#),
        )
        .unwrap()
    }

    /// The table as the DuckDB engine lists it: `id BIGINT, v VARCHAR` plus the control columns.
    fn existing() -> Vec<ExistingColumn> {
        let created =
            meta(r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"string"}"#);
        let plan = MergePlan {
            row_hash: Default::default(),
            retained_from: None,
            since: None,
            database: "db",
            meta: &created,
            batch_id: BatchId::FIRST,
            snapshot: None,
            target: HistoryTarget::default(),
        };
        plan.history_columns(&duckdb())
            .into_iter()
            .map(|c| ExistingColumn {
                table: "t".into(),
                name: c.name,
                data_type: c.engine_type,
            })
            .collect()
    }

    fn duckdb() -> DuckDb {
        DuckDb {
            lake_root: "/lake".into(),
        }
    }

    fn changes(columns: &str) -> Result<Vec<Statement>, Vec<String>> {
        let m = meta(columns);
        let plan = MergePlan {
            row_hash: Default::default(),
            retained_from: None,
            since: None,
            database: "db",
            meta: &m,
            batch_id: BatchId::FIRST,
            snapshot: None,
            target: HistoryTarget::default(),
        };
        plan.schema_statements(&duckdb(), &existing())
    }

    #[test]
    fn each_generation_a_rebuild_stages_has_a_folder_of_its_own() {
        let athena = crate::scd2::Athena {
            lake_uri: "s3://lake".into(),
            ..Default::default()
        };
        let m = meta(r#"{"name":"id","type":"int64","nullable":false}"#);
        let location = |target: HistoryTarget| {
            let plan = MergePlan {
                row_hash: Default::default(),
                retained_from: None,
                since: None,
                database: "db",
                meta: &m,
                batch_id: BatchId::FIRST,
                snapshot: None,
                target,
            };
            let ddl = plan.schema_statements(&athena, &[]).unwrap();
            let create = ddl
                .iter()
                .find(|s| s.sql.starts_with("CREATE TABLE"))
                .unwrap();
            let (_, rest) = create.sql.split_once("location = '").unwrap();
            format!(
                "{} {}",
                plan.history_name(),
                rest.split_once('\'').unwrap().0
            )
        };
        assert_eq!(
            location(HistoryTarget::default()),
            "t s3://lake/history/db/t/"
        );
        for generation in [1, 2] {
            assert_eq!(
                location(HistoryTarget {
                    generation,
                    staged: true
                }),
                format!("t__rebuild s3://lake/history/db/t.g{generation}/")
            );
        }
    }

    #[test]
    fn only_a_batch_no_other_reaches_is_a_first_load() {
        let m = meta(r#"{"name":"id","type":"int64","nullable":false}"#);
        let plan = |batch: u64, since: Option<Vec<u64>>| MergePlan {
            row_hash: Default::default(),
            retained_from: None,
            since: since.map(|batches| Since {
                at: 0,
                batches: batches.into_iter().map(BatchId::new).collect(),
            }),
            database: "db",
            meta: &m,
            batch_id: BatchId::new(batch),
            snapshot: None,
            target: HistoryTarget::default(),
        };
        let insert = plan(1, Some(vec![1])).first_load(&duckdb(), 0).unwrap();
        assert!(insert.starts_with(r#"INSERT INTO "db"."t" ("id", "valid_from""#));
        assert!(!insert.contains("MERGE") && !insert.contains("touched"));
        let distinct = plan(1, Some(vec![1])).first_load_distinct(&duckdb());
        assert!(distinct.starts_with(r#"INSERT INTO "db"."t" ("id", "valid_from""#));
        assert!(!distinct.contains("OVER"));
        // The history has rows, another batch reaches its changes, or the
        // ledger does not know.
        assert_eq!(plan(1, Some(vec![1])).first_load(&duckdb(), 1), None);
        assert_eq!(plan(2, Some(vec![1, 2])).first_load(&duckdb(), 0), None);
        assert_eq!(plan(1, None).first_load(&duckdb(), 0), None);
        // A later batch whose changes no earlier batch reaches stands alone.
        assert!(plan(2, Some(vec![2])).first_load(&duckdb(), 0).is_some());
    }

    #[test]
    fn the_same_schema_needs_no_ddl_and_a_new_nullable_column_is_added() {
        let id_v = r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"string"}"#;
        assert_eq!(changes(id_v), Ok(vec![]));
        let added = changes(&format!(r#"{id_v},{{"name":"w","type":"date32"}}"#)).unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(added[0].grammar, Grammar::Sql);
        assert_eq!(
            added[0].sql,
            r#"ALTER TABLE "db"."t" ADD COLUMN IF NOT EXISTS "w" DATE"#
        );
    }

    #[test]
    fn anything_but_an_added_nullable_column_is_breaking_and_names_the_column() {
        let retyped =
            changes(r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"int32"}"#);
        assert_eq!(
            retyped,
            Err(vec![
                "column v is VARCHAR in the history table, but the metadata says int32 (INTEGER)"
                    .to_string()
            ])
        );
        let dropped = changes(r#"{"name":"id","type":"int64","nullable":false}"#).unwrap_err();
        assert!(dropped[0].contains("column v is in the history table but not in the metadata"));
        let required = changes(
            r#"{"name":"id","type":"int64","nullable":false},{"name":"v","type":"string"},{"name":"w","type":"string","nullable":false}"#,
        )
        .unwrap_err();
        assert!(
            required[0].contains("new column w is not nullable"),
            "{required:?}"
        );
    }
}
