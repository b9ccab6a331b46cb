//! The SCD2 contract (DESIGN.md, "SCD2 semantics") as a plain in-memory
//! model, and a lake that runs the real merge on a real DuckDB, so property
//! tests can compare the two.
//!
//! The table is `db.t (id bigint primary key, v varchar)`. Changes are
//! written as validated (normalised) Parquet files, exactly the schema the
//! merge reads, and merged one batch at a time as `merge-history` does.

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::SchemaRef;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use tidemark_core::batch_id::BatchId;
use tidemark_core::dms::ChangeSeqKind;
use tidemark_core::layout::{change_log_prefix, snapshot_diff_prefix};
use tidemark_core::metadata::{RowHashFormat, TableMetadata};
use tidemark_core::ports::{Catalog, QueryEngine, QueryResult, SqlValue};
use tidemark_core::scd2::{
    Dialect, ExistingColumn, HistoryTarget, MergePlan, MergeStatements, Since, SnapshotParams,
    previous_table_name, refused_deletes, staged_table_name,
};
use tidemark_core::validate::{
    CurrentDigest, PendingBase, SnapshotBase, SnapshotDiffer, normalised_schema, write_parquet,
};
use tidemark_local::catalog::FileCatalog;
use tidemark_local::duckdb::DuckDbEngine;
use tidemark_local::fs_store::FsStore;

/// `valid_to` of a current row, in the model's seconds.
pub const OPEN: i64 = 253_402_300_799;

/// One change of one key, as DMS delivers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Change {
    pub key: i64,
    /// `valid_from`, in seconds since the epoch.
    pub at: i64,
    /// The change's position within its timestamp (see [`landed_seq`]).
    pub seq: u32,
    /// `I`, `U`, `D` (before-image), or `L` (full load / snapshot row).
    pub op: char,
    pub value: Option<String>,
}

/// The change-seq DMS would land for position `seq` under `kind`: six
/// zero-padded digits (text), the bare number (integer: its width varies,
/// so "12" sorts before "5" as text), or an LSN `X/Y` ("0/1C" sorts before
/// "0/A" as text). Each increases with `seq`.
pub fn landed_seq(kind: ChangeSeqKind, seq: u32) -> String {
    match kind {
        ChangeSeqKind::Integer => (seq * 7 + 5).to_string(),
        ChangeSeqKind::Lsn => format!("{:X}/{:X}", seq / 3, (seq % 3) * 9 + 10),
        ChangeSeqKind::Auto | ChangeSeqKind::Text => format!("{seq:06}"),
    }
}

impl Change {
    /// The change-seq validation writes: the landed one, normalised.
    fn change_seq(&self, kind: ChangeSeqKind) -> String {
        kind.normalise(&landed_seq(kind, self.seq))
            .expect("a value of its kind")
            .into_owned()
    }
}

/// A snapshot table's full extract taken at `at`, as `L` changes.
pub fn extract(at: i64, rows: &[(i64, Option<String>)]) -> Vec<Change> {
    rows.iter()
        .map(|(key, value)| Change {
            key: *key,
            at,
            seq: 0,
            op: 'L',
            value: value.clone(),
        })
        .collect()
}

/// The hash validation gives the business columns: any injective function
/// of them will do for the merge, which only compares hashes.
pub fn row_hash(key: i64, value: &Option<String>) -> String {
    format!("{key}|{value:?}")
}

/// One row of a history table, without `batch_id` (which says which batch
/// wrote the row: provenance, not state).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistoryRow {
    pub key: i64,
    pub valid_from: i64,
    pub change_seq: String,
    pub value: Option<String>,
    pub op: String,
    pub valid_to: i64,
    pub is_current: bool,
    pub is_deleted: bool,
    pub row_hash: String,
}

/// A change in the model's timeline of a key.
#[derive(Debug, Clone)]
struct Event {
    valid_from: i64,
    /// Its place among the key's changes at `valid_from`, by the change's
    /// position itself, not by any text the table stores.
    order: String,
    change_seq: String,
    op: String,
    value: Option<String>,
    row_hash: String,
}

impl Event {
    fn deleted(&self) -> bool {
        self.op == "D"
    }
}

/// The contract, written as plainly as possible: every change a key ever
/// had, deduplicated and ordered, no-ops dropped, windows from the next
/// version. Snapshot deletes are events too.
#[derive(Debug, Clone, Default)]
pub struct Model {
    events: BTreeMap<i64, BTreeMap<(i64, String), Event>>,
    /// What the table's change-seqs are.
    seq_kind: ChangeSeqKind,
}

impl Model {
    /// A model of a table whose change-seqs are `seq_kind`.
    pub fn of(seq_kind: ChangeSeqKind) -> Model {
        Model {
            seq_kind,
            ..Model::default()
        }
    }

    /// Adds changes (a set: a change delivered twice counts once).
    pub fn apply_changes(&mut self, changes: &[Change]) {
        for c in changes {
            self.insert(
                c.key,
                Event {
                    valid_from: c.at,
                    order: format!("{:010}", c.seq),
                    change_seq: c.change_seq(self.seq_kind),
                    op: c.op.to_string(),
                    value: c.value.clone(),
                    row_hash: row_hash(c.key, &c.value),
                },
            );
        }
    }

    fn insert(&mut self, key: i64, event: Event) {
        self.events
            .entry(key)
            .or_default()
            .entry((event.valid_from, event.order.clone()))
            .or_insert(event);
    }

    /// Applies a full extract of a snapshot table taken at `at`: its rows
    /// are `L` changes, and every key that is current and not deleted but
    /// missing from it gets a delete — unless that would delete more than
    /// `max_delete_fraction` of the current rows: then nothing changes and
    /// the error says how many.
    pub fn apply_extract(
        &mut self,
        at: i64,
        rows: &[(i64, Option<String>)],
        max_delete_fraction: f64,
    ) -> Result<(), (u64, u64)> {
        let live: Vec<(i64, HistoryRow)> = self
            .history()
            .into_iter()
            .filter(|r| r.is_current && !r.is_deleted)
            .map(|r| (r.key, r))
            .collect();
        let present: BTreeSet<i64> = rows.iter().map(|(k, _)| *k).collect();
        let missing: Vec<&HistoryRow> = live
            .iter()
            .filter(|(k, _)| !present.contains(k))
            .map(|(_, r)| r)
            .collect();
        let guard = SnapshotParams {
            extract_time: 0,
            max_delete_fraction,
            distinct_keys: false,
            diff: false,
        };
        if !guard.allows(missing.len() as u64, live.len() as u64) {
            return Err((missing.len() as u64, live.len() as u64));
        }
        let deletes: Vec<(i64, Event)> = missing
            .iter()
            .map(|r| {
                (
                    r.key,
                    Event {
                        valid_from: at,
                        order: "snapshot-delete".into(),
                        change_seq: "snapshot-delete".into(),
                        op: "D".into(),
                        value: r.value.clone(),
                        row_hash: r.row_hash.clone(),
                    },
                )
            })
            .collect();
        for (key, event) in deletes {
            self.insert(key, event);
        }
        self.apply_changes(&extract(at, rows));
        Ok(())
    }

    /// The history table the contract demands.
    pub fn history(&self) -> Vec<HistoryRow> {
        let mut out = Vec::new();
        for (key, events) in &self.events {
            // Rule 3: a change equal to the previous one adds no version.
            let mut versions: Vec<&Event> = Vec::new();
            let mut previous: Option<&Event> = None;
            for e in events.values() {
                let noop = previous
                    .is_some_and(|p| p.row_hash == e.row_hash && p.deleted() == e.deleted());
                if !noop {
                    versions.push(e);
                }
                previous = Some(e);
            }
            for (i, e) in versions.iter().enumerate() {
                let next = versions.get(i + 1);
                out.push(HistoryRow {
                    key: *key,
                    valid_from: e.valid_from,
                    change_seq: e.change_seq.clone(),
                    value: e.value.clone(),
                    op: e.op.clone(),
                    valid_to: next.map_or(OPEN, |n| n.valid_from),
                    is_current: next.is_none(),
                    is_deleted: e.deleted(),
                    row_hash: e.row_hash.clone(),
                });
            }
        }
        out.sort();
        out
    }
}

/// The metadata of `db.t`.
pub fn metadata() -> TableMetadata {
    TableMetadata::from_json(
        "t.json",
        r#"{"name":"t","primary_key":["id"],"columns":[
            {"name":"id","type":"int64","nullable":false},{"name":"v","type":"string"}]}"#,
    )
    .expect("the test metadata is valid")
}

/// A lake folder with a DuckDB warehouse, merging batches into `db.t`.
pub struct Lake {
    dir: tempfile::TempDir,
    pub engine: DuckDbEngine,
    meta: TableMetadata,
    snapshot: bool,
    batches: u32,
    /// Each landed batch's earliest and latest change (µs), by generation, as
    /// the ledger records them.
    reach: std::collections::BTreeMap<(u32, BatchId), (i64, i64)>,
    /// The landed batches whose changes hold each key once.
    distinct: BTreeSet<(u32, BatchId)>,
    /// Where merges go: the live table of generation 0 until [`Lake::rebuild`].
    target: HistoryTarget,
    /// The retention cutoff (µs) merges and [`Lake::maintain`] apply.
    pub retained_from: Option<i64>,
    /// What the table's change-seqs are: landed files are written as
    /// validation normalises them.
    pub seq_kind: ChangeSeqKind,
    /// How the live generation's files and table store `row_hash`; a
    /// rebuild's generation stores the newest format, as validation's does.
    pub row_hash: RowHashFormat,
    /// The `bigint` standing for each model hash: any injective map will do.
    bigints: BTreeMap<String, i64>,
    /// Snapshot extracts: each is compared with the one landed before it,
    /// as validation does, and merged from that diff where the current
    /// rows are that extract's (`row_hash` as a `bigint` only).
    pub diffs: bool,
    /// The extract landed last, for the next one's diff.
    last_extract: Option<RecordBatch>,
    /// The batches that have a diff, and the current rows it applies to.
    diffed: BTreeMap<BatchId, CurrentDigest>,
    /// Merges that read their batch's diff.
    pub diffs_read: std::sync::atomic::AtomicUsize,
    /// Of those, the merges that read nothing else: no timeline, no staged
    /// versions ([`MergeStatements::Diffed`]).
    pub diffs_alone: std::sync::atomic::AtomicUsize,
    /// Plans as a ledger that cannot tell how far a batch reaches
    /// (`since: None`): every merge takes the way a late batch takes.
    pub reach_unknown: bool,
}

impl Lake {
    /// `snapshot`: the table is a snapshot table (missing keys are deleted).
    pub fn new(snapshot: bool) -> Lake {
        let dir = tempfile::tempdir().expect("a temporary lake");
        let engine =
            DuckDbEngine::open(&dir.path().join("warehouse.duckdb"), dir.path()).expect("DuckDB");
        Lake {
            dir,
            engine,
            meta: metadata(),
            snapshot,
            batches: 0,
            reach: Default::default(),
            distinct: Default::default(),
            target: HistoryTarget::default(),
            retained_from: None,
            seq_kind: ChangeSeqKind::Text,
            row_hash: RowHashFormat::default(),
            bigints: BTreeMap::new(),
            diffs: false,
            last_extract: None,
            diffed: BTreeMap::new(),
            diffs_read: Default::default(),
            diffs_alone: Default::default(),
            reach_unknown: false,
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    fn plan(&self, batch_id: BatchId, extract_time: i64, fraction: f64) -> MergePlan<'_> {
        let generation = self.target.generation;
        MergePlan {
            retained_from: self.retained_from,
            since: self
                .reach
                .get(&(generation, batch_id))
                .filter(|_| !self.reach_unknown)
                .map(|&(at, _)| {
                    let latest = self
                        .reach
                        .iter()
                        .filter(|((g, _), _)| *g == generation)
                        .map(|(&(_, id), &(_, last))| (id, last));
                    Since::of(batch_id, at, latest)
                }),
            target: self.target,
            row_hash: self.row_hash,
            database: "db",
            meta: &self.meta,
            batch_id,
            snapshot: self.snapshot.then_some(SnapshotParams {
                extract_time: extract_time * 1_000_000,
                max_delete_fraction: fraction,
                distinct_keys: self.distinct.contains(&(generation, batch_id)),
                diff: false,
            }),
        }
    }

    /// Writes `changes` as the validated file of a new batch; returns its id.
    pub fn land(&mut self, changes: &[Change]) -> BatchId {
        self.batches += 1;
        let batch_id = BatchId::new(self.batches as u64);
        let dir = self
            .dir
            .path()
            .join(change_log_prefix("db", "t", self.target.generation))
            .join(batch_id.to_string());
        std::fs::create_dir_all(&dir).expect("the batch folder");
        let times = changes.iter().map(|c| c.at * 1_000_000);
        // Validation records distinct keys for one full-load file; claimed
        // for every other batch that has them, so that merges take both
        // forms.
        let keys: BTreeSet<i64> = changes.iter().map(|c| c.key).collect();
        if keys.len() == changes.len() && self.batches % 2 == 1 {
            self.distinct.insert((self.target.generation, batch_id));
        }
        if let (Some(earliest), Some(latest)) = (times.clone().min(), times.max()) {
            self.reach
                .insert((self.target.generation, batch_id), (earliest, latest));
        }
        let text = |f: &dyn Fn(&Change) -> Option<String>| -> ArrayRef {
            Arc::new(StringArray::from(changes.iter().map(f).collect::<Vec<_>>()))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(changes.iter().map(|c| c.key))),
            text(&|c| c.value.clone()),
            text(&|c| Some(c.op.to_string())),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                changes.iter().map(|c| c.at * 1_000_000),
            )),
            text(&|c| Some(c.change_seq(self.seq_kind))),
            match self.row_hash {
                RowHashFormat::Hex => text(&|c| Some(row_hash(c.key, &c.value))),
                RowHashFormat::Bigint | RowHashFormat::Typed => {
                    Arc::new(Int64Array::from_iter_values(changes.iter().map(|c| {
                        let next = self.bigints.len() as i64;
                        // Spread over the whole range, negatives included.
                        *self
                            .bigints
                            .entry(row_hash(c.key, &c.value))
                            .or_insert(next.wrapping_mul(0x9E37_79B9_7F4A_7C15_u64 as i64))
                    })))
                }
            },
            text(&|_| Some(batch_id.to_string())),
        ];
        let schema = normalised_schema(&self.meta, self.row_hash);
        let batch = RecordBatch::try_new(schema.clone(), columns).expect("a record batch");
        let bytes = write_parquet(&schema, std::slice::from_ref(&batch)).expect("a Parquet file");
        std::fs::write(dir.join("part-0.parquet"), bytes).expect("the file written");
        if self.snapshot && self.diffs {
            self.write_diff(batch_id, &schema, batch);
        }
        batch_id
    }

    /// What validation leaves of a snapshot extract: its diff against the
    /// extract landed before it, if both hold each key once.
    fn write_diff(&mut self, batch_id: BatchId, schema: &SchemaRef, extract: RecordBatch) {
        let base = self
            .last_extract
            .replace(extract.clone())
            .and_then(|last| SnapshotBase::from_batches(&self.meta, self.row_hash, &[last]));
        let Some(base) = base else { return };
        let pending = PendingBase::default();
        pending.setter().set(Some(base));
        let mut differ = SnapshotDiffer::new(pending);
        differ.add(&extract);
        let Some(diff) = differ.finish() else { return };
        let dir = self.dir.path().join(snapshot_diff_prefix(
            "db",
            "t",
            self.target.generation,
            batch_id,
        ));
        std::fs::create_dir_all(&dir).expect("the diff folder");
        let [changed, gone] = diff.encode(schema).expect("the diff encoded");
        std::fs::write(dir.join("changed.parquet"), changed).expect("the diff written");
        std::fs::write(dir.join("gone.parquet"), gone).expect("the diff written");
        self.diffed.insert(batch_id, diff.base);
    }

    async fn run(&self, sql: &str) -> QueryResult {
        self.engine
            .execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates the history table when it does not exist yet.
    pub async fn ensure_table(&self, d: &dyn Dialect) {
        let plan = self.plan(BatchId::FIRST, 0, 0.5);
        let listed = self.run(&plan.columns_query(d)).await;
        for s in plan
            .schema_statements(d, &ExistingColumn::from_listing(&listed))
            .expect("the test table never drifts")
        {
            self.run(&s.sql).await;
        }
    }

    /// Merges batch `batch_id` as `merge-history` does. Snapshot tables:
    /// `extract_time` is the extract's time, and the delete guard runs
    /// first, or in the staged merge; `Err((deletes, current))` when it
    /// refuses.
    pub async fn merge(
        &self,
        batch_id: BatchId,
        extract_time: i64,
        fraction: f64,
    ) -> Result<(), (u64, u64)> {
        let d = self.engine.dialect();
        self.ensure_table(d.as_ref()).await;
        let plan = self.plan(batch_id, extract_time, fraction);
        if let (Some(guard), Some(params)) = (plan.delete_guard(d.as_ref()), plan.snapshot) {
            let r = self.run(&guard).await;
            let count = |c: &str| r.int(c).unwrap_or_default() as u64;
            let (deletes, current) = (count("deletes"), count("current_rows"));
            if !params.allows(deletes, current) {
                return Err((deletes, current));
            }
        }
        let mut plan = plan;
        if let (Some(s), Some(base)) = (plan.snapshot, self.diffed.get(&batch_id)) {
            let r = self.run(&plan.current_digest()).await;
            if CurrentDigest::of_listing(&r) == Some(*base) {
                plan.snapshot = Some(SnapshotParams { diff: true, ..s });
            }
        }
        let rows = self.run(&plan.count_rows()).await.int("row_count");
        // As merge-history chooses: a first load whose keys are distinct is
        // inserted as it is.
        let claimed = self.distinct.contains(&(self.target.generation, batch_id));
        let insert = match rows.and_then(|n| plan.first_load(d.as_ref(), n as u64)) {
            Some(_) if claimed => Some(plan.first_load_distinct(d.as_ref())),
            Some(windowed) => match self
                .run(&plan.repeated_keys(d.as_ref()))
                .await
                .int("repeated")
            {
                Some(0) => Some(plan.first_load_distinct(d.as_ref())),
                _ => Some(windowed),
            },
            None => None,
        };
        let diffed = insert.is_none() && plan.snapshot.is_some_and(|s| s.diff);
        let merge = plan.merge(d.as_ref());
        let alone = matches!(merge, MergeStatements::Diffed { .. });
        let statements = insert.map_or_else(|| merge.all(), |i| vec![i]);
        match self.engine.transaction(&statements).await {
            Ok(_) => {
                let relaxed = std::sync::atomic::Ordering::Relaxed;
                self.diffs_read.fetch_add(usize::from(diffed), relaxed);
                self.diffs_alone
                    .fetch_add(usize::from(diffed && alone), relaxed);
                Ok(())
            }
            // A staged merge's guard refused inside the transaction.
            Err(e) => Err(refused_deletes(&e).unwrap_or_else(|| panic!("{e}"))),
        }
    }

    /// The table's maintenance, as `merge-history` runs it when it is due
    /// (with a retention, expired versions are deleted first).
    pub async fn maintain(&self) {
        let d = self.engine.dialect();
        self.ensure_table(d.as_ref()).await;
        for s in self.plan(BatchId::FIRST, 0, 0.5).maintenance(d.as_ref()) {
            self.run(&s.sql).await;
        }
    }

    /// What `rebuild` does: every change as one batch of the next generation,
    /// merged into the staged table, which the file catalog then swaps in.
    pub async fn rebuild(&mut self, changes: &[Change]) {
        let generation = self.target.generation + 1;
        self.target = HistoryTarget {
            generation,
            staged: true,
        };
        self.row_hash = RowHashFormat::default();
        let id = self.land(changes);
        self.merge(id, 0, 0.5).await.expect("CDC has no guard");
        let catalog = FileCatalog {
            store: Arc::new(FsStore::new(self.root()).expect("the lake folder")),
            engine: self.engine.clone(),
        };
        catalog
            .swap_history(
                "db",
                "t",
                &staged_table_name("t"),
                &previous_table_name("t"),
            )
            .await
            .expect("the swap");
        self.target = HistoryTarget {
            generation,
            staged: false,
        };
    }

    /// Runs `sql` (a MERGE in another rendering) for the history table.
    pub async fn execute(&self, sql: &str) -> QueryResult {
        self.run(sql).await
    }

    /// The model's hash a stored `row_hash` (as text) stands for.
    fn model_hash(&self, stored: String) -> String {
        match self.row_hash {
            RowHashFormat::Hex => stored,
            RowHashFormat::Bigint | RowHashFormat::Typed => self
                .bigints
                .iter()
                .find(|(_, b)| b.to_string() == stored)
                .map(|(model, _)| model.clone())
                .unwrap_or_else(|| panic!("row_hash {stored} was never landed")),
        }
    }

    /// The history table, in the model's terms.
    pub async fn history(&self) -> Vec<HistoryRow> {
        let r = self
            .run(
                "SELECT id, epoch_us(valid_from) // 1000000, change_seq, v, op, epoch_us(valid_to) // 1000000, \
                 is_current, is_deleted, row_hash::VARCHAR FROM db.t",
            )
            .await;
        let mut rows: Vec<HistoryRow> = r
            .rows
            .iter()
            .map(|row| {
                let int = |i: usize| row[i].as_i64().unwrap_or_else(|| panic!("{row:?}"));
                let text = |i: usize| match &row[i] {
                    SqlValue::Text(t) => Some(t.clone()),
                    SqlValue::Null => None,
                    other => panic!("{other:?}"),
                };
                let flag = |i: usize| matches!(row[i], SqlValue::Bool(true));
                HistoryRow {
                    key: int(0),
                    valid_from: int(1),
                    change_seq: text(2).unwrap_or_default(),
                    value: text(3),
                    op: text(4).unwrap_or_default(),
                    valid_to: int(5),
                    is_current: flag(6),
                    is_deleted: flag(7),
                    row_hash: self.model_hash(text(8).unwrap_or_default()),
                }
            })
            .collect();
        rows.sort();
        rows
    }
}
